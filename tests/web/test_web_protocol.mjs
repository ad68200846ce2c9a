// test_web_protocol.mjs: fieldbrain-web at the protocol level, with the
// Foxglove WebSocket client from npm (@foxglove/ws-protocol) against a real
// brain: advertise, subscribe, typed messages with increasing cycles,
// decimation, slices as foxglove.CompressedImage, unsubscribe, a viewer
// that never reads, malformed, oversized and flooding clients, a brain
// that goes away and comes back.
// Usage: node test_web_protocol.mjs BUILD_DIR TEST
import net from "node:net";
import { Brain, Web, Viewer, WebSocket, assert, sleep, until } from "./harness.mjs";

const [build, name] = process.argv.slice(2);
const STATS = "/fieldbrain/stats", MOTORS = "/fieldbrain/robot/1/motors", LINK = "/fieldbrain/robot/1/link";
const SLICE = "/fieldbrain/slice", SLICE_INFO = "/fieldbrain/slice_info", SOURCE = "/fieldbrain/source";

async function withBrainAndWeb(brainOpt, webArgs, body) {
  const brain = await new Brain(build, brainOpt).start();
  const web = await new Web(build, brain.tele, webArgs).start();
  try {
    await body(brain, web);
  } finally {
    await web.stop();
    await brain.stop();
  }
}

// The status code of the first close frame in what a server sent after its
// handshake, or 0.
function closeCode(buf) {
  let i = buf.indexOf("\r\n\r\n");
  if (i < 0) return 0;
  for (i += 4; i + 2 <= buf.length;) {
    const op = buf[i] & 0x0f;
    let len = buf[i + 1] & 0x7f, at = i + 2;
    if (len === 126) { if (at + 2 > buf.length) return 0; len = buf.readUInt16BE(at); at += 2; }
    else if (len === 127) { if (at + 8 > buf.length) return 0; len = Number(buf.readBigUInt64BE(at)); at += 8; }
    if (at + len > buf.length) return 0;
    if (op === 8) return len >= 2 ? buf.readUInt16BE(at) : 1005;
    i = at + len;
  }
  return 0;
}

const tests = {
  // A fleet: its stats come on per-robot topics (stats/ID/); each robot
  // gets its own motors and link channels.
  async a_fleet_shows_every_robot() {
    await withBrainAndWeb({ every: 1, robots: [1, 2, 3] }, ["--max-hz", "10"], async (brain, web) => {
      const topics = [1, 2, 3].flatMap((id) => ["/fieldbrain/robot/" + id + "/motors", "/fieldbrain/robot/" + id + "/link"]);
      const v = await new Viewer(web.ws).ready([STATS, ...topics]);
      for (const t of topics) v.subscribe(t);
      await until(() => topics.every((t) => v.messages(t).length >= 2), 15000, "motors and link of every robot");
      for (const id of [1, 2, 3]) {
        const m = v.messages("/fieldbrain/robot/" + id + "/motors").at(-1).msg;
        assert(m.robot_id === id && m.motors.length === 5, "robot " + id + "'s own motors");
      }
      v.close();
    });
  },

  async advertise_subscribe_typed_messages() {
    await withBrainAndWeb({ every: 1 }, ["--max-hz", "10"], async (brain, web) => {
      const v = await new Viewer(web.ws).ready([STATS, MOTORS, LINK, SLICE, SOURCE]);
      assert(v.serverInfo.name === "fieldbrain-web", "serverInfo names the server");
      assert(v.serverInfo.metadata.telemetry === brain.tele, "serverInfo says where telemetry comes from");
      for (const [topic, ch] of v.channels) {
        assert(ch.encoding === "json" && ch.schemaEncoding === "jsonschema", topic + " is JSON with a JSON schema");
        const schema = JSON.parse(ch.schema);
        assert(schema.type === "object" && schema.properties, topic + "'s schema is an object schema");
      }
      assert(v.channels.get(SLICE).schemaName === "foxglove.CompressedImage", "slices are foxglove.CompressedImage");
      v.subscribe(STATS);
      v.subscribe(MOTORS);
      v.subscribe(LINK);
      await until(() => v.messages(STATS).length >= 25, 15000, "25 stats");
      const stats = v.messages(STATS);
      for (let i = 1; i < stats.length; i++) {
        assert(stats[i].msg.cycle > stats[i - 1].msg.cycle, "cycles increase: " + stats[i - 1].msg.cycle + ", " + stats[i].msg.cycle);
        assert(stats[i].timestamp > stats[i - 1].timestamp, "timestamps increase");
      }
      const s = stats[stats.length - 1].msg;
      for (const key of ["rate_hz", "rate_hz_target", "lateness", "work", "energy", "saturated", "steps", "overruns"])
        assert(key in s, "stats has " + key);
      assert(s.rate_hz_target === 100 && "p99_ns" in s.lateness && "p50_ns" in s.work, "the documented fields");
      assert(!("motors" in s) && !("lateness_hist_log2" in s), "motors have their own channel, the histogram stays out");
      // Decimated in the server: the brain sends 100 stats a second, a viewer gets at most 10.
      const span = Number(stats[stats.length - 1].timestamp - stats[1].timestamp) / 1e9;
      const rate = (stats.length - 2) / span;
      assert(rate <= 13, "at most --max-hz 10 stats a second (got " + rate.toFixed(1) + ")");
      assert(s.decimated >= 5, "each stands for several brain stats (" + s.decimated + ")");
      const wall = Date.now() * 1e6;
      assert(Math.abs(Number(stats[0].timestamp) - wall) < 60e9, "timestamps are wall-clock nanoseconds");
      const m = v.messages(MOTORS).at(-1).msg;
      assert(m.robot_id === 1 && m.motors.length === 5 && m.motors.every((x) => x >= -1 && x <= 1), "five motors in range");
      const l = v.messages(LINK).at(-1).msg;
      assert(l.robot_id === 1 && (l.state === "up" || l.state === "lost") && "answer_seq" in l, "the link state");
      // Every field a message carries is in its channel's schema.
      for (const [topic, msg] of [[STATS, s], [MOTORS, m], [LINK, l]]) {
        const props = JSON.parse(v.channels.get(topic).schema).properties;
        for (const key of Object.keys(msg))
          assert(key in props, topic + ": " + key + " is in the advertised schema");
      }
      const ev = JSON.parse(v.channels.get("/fieldbrain/events").schema).properties;
      for (const kind of ["start", "shutdown", "link_lost", "link_restored", "overrun_burst", "bad_input_burst",
                          "brain_fault", "checkpoint_written", "checkpoint_failed", "param_changed", "paused",
                          "resumed", "reset"])
        assert(ev.kind.enum.includes(kind), "the event schema lists " + kind);
      assert(ev.robot_id.type.includes("null"), "a fleet's event has robot_id null");
      v.close();
    });
  },

  async slice_is_a_compressed_png() {
    await withBrainAndWeb({ sliceEvery: 10 }, [], async (brain, web) => {
      const v = await new Viewer(web.ws).ready([SLICE, SLICE_INFO]);
      v.subscribe(SLICE);
      v.subscribe(SLICE_INFO);
      await until(() => v.messages(SLICE).length >= 2 && v.messages(SLICE_INFO).length >= 2, 15000, "two slices");
      const img = v.messages(SLICE).at(-1).msg;
      assert(img.format === "png" && typeof img.frame_id === "string", "a png with a frame id");
      assert(Number.isInteger(img.timestamp.sec) && img.timestamp.nsec < 1e9, "a foxglove timestamp");
      const png = Buffer.from(img.data, "base64");
      assert(png.subarray(1, 4).toString() === "PNG", "the data is a base64 PNG");
      assert(png.readUInt32BE(16) === 8 && png.readUInt32BE(20) === 8, "8 x 8, the plane's size");
      const info = v.messages(SLICE_INFO).at(-1).msg;
      assert(info.width === 8 && info.axis === "z" && info.cycle % 10 === 0, "the slice header");
      v.close();
    });
  },

  async unsubscribe_stops_messages() {
    await withBrainAndWeb({}, [], async (brain, web) => {
      const v = await new Viewer(web.ws).ready([STATS]);
      const id = v.subscribe(STATS);
      await until(() => v.messages(STATS).length >= 5, 10000, "stats");
      v.unsubscribe(id);
      await sleep(300);
      const n = v.messages(STATS).length;
      await sleep(1500);
      assert(v.messages(STATS).length === n, "no stats after unsubscribe (" + (v.messages(STATS).length - n) + " came)");
      // subscribing again works, and an unknown channel is a warning, not a close
      v.client.subscribe(9999);
      v.subscribe(STATS);
      await until(() => v.messages(STATS).length > n, 10000, "stats again");
      await until(() => v.status.some((s) => /no channel 9999/.test(s.message)), 5000, "a status for the unknown channel");
      v.client.unsubscribe(777);
      await until(() => v.status.some((s) => /no subscription 777/.test(s.message)), 5000,
                  "a status for an unknown subscription id");
      assert(v.closed === null, "still open");
      v.close();
    });
  },

  // A viewer that subscribes to everything and never reads: the others get
  // their stats as before and the server's memory stays bounded.
  async stalled_viewer_does_not_hold_up_others() {
    await withBrainAndWeb({ every: 1, sliceEvery: 1, size: 32 }, ["--max-hz", "1000", "--slice-hz", "100"],
                          async (brain, web) => {
      const good = await new Viewer(web.ws).ready([STATS, SLICE, SOURCE]);
      good.subscribe(STATS);
      good.subscribe(SOURCE);
      const stall = await new Viewer(web.ws).ready([STATS, SLICE, MOTORS]);
      for (const t of [STATS, SLICE, SLICE_INFO, MOTORS, LINK]) stall.subscribe(t);
      await sleep(300);
      stall.ws._socket.pause();               // the kernel buffers fill, then the server's queue
      const rss0 = web.rssKiB();
      const drops = () => (good.messages(SOURCE).at(-1) || { msg: {} }).msg.viewer_drops || 0;
      await until(() => drops() > 0, 40000, "the stalled viewer's queue to overflow (its oldest messages go)");
      const before = good.messages(STATS).length;
      await sleep(3000);
      const got = good.messages(STATS).length - before;
      assert(got >= 100, "the reading viewer still gets its stats at ~100 Hz (" + got + " in 3 s)");
      const rss1 = web.rssKiB();
      assert(rss1 - rss0 < 40 * 1024, "memory bounded: RSS grew " + (rss1 - rss0) + " KiB");
      assert(drops() > 0 && good.closed === null, "drops counted; the reading viewer stays connected");
      stall.ws._socket.destroy();
      good.close();
    });
  },

  // Garbage, oversized, binary and flooding clients get a close and nothing
  // else: a viewer beside them keeps getting stats, the server keeps running.
  async malformed_clients_get_a_close() {
    await withBrainAndWeb({}, [], async (brain, web) => {
      const good = await new Viewer(web.ws).ready([STATS]);
      good.subscribe(STATS);
      const closeOf = async (send) => {
        const s = new WebSocket(web.ws, ["foxglove.websocket.v1"]);
        s.on("error", () => {});
        const data = [];
        await new Promise((r) => s.on("open", r));
        s.on("message", (d, binary) => data.push(binary ? "binary" : JSON.parse(d.toString()).op));
        await sleep(100);
        const after = data.length;
        send(s);
        const [code] = await new Promise((r) => s.on("close", (...a) => r(a)));
        return { code, extra: data.slice(after) };
      };
      const cases = [
        ["not JSON", (s) => s.send("not json at all"), 1007],
        ["JSON but no op", (s) => s.send('{"subscriptions": []}'), 1007],
        ["bad subscribe", (s) => s.send('{"op":"subscribe","subscriptions":[{"id":-1,"channelId":"x"}]}'), 1007],
        ["binary", (s) => s.send(Buffer.from([1, 2, 3, 4])), 1003],
        ["oversized", (s) => s.send("x".repeat(100000)), 1009],
        ["16385 bytes", (s) => s.send('{"op":"unsubscribe","subscriptionIds":[]}'.padEnd(16385, " ")), 1009],
        ["oversized in fragments", (s) => { for (let i = 0; i < 17; i++) s.send("y".repeat(1000), { fin: false }); }, 1009],
        ["flood", (s) => { for (let i = 0; i < 51; i++) s.send('{"op":"unsubscribe","subscriptionIds":[]}'); }, 1008],
      ];
      {
        // 16384 bytes, the most it takes: an answer, not a close
        const s16 = new WebSocket(web.ws, ["foxglove.websocket.v1"]);
        s16.on("error", () => {});
        const ops = [];
        await new Promise((r) => s16.on("open", r));
        s16.on("message", (d, binary) => { if (!binary) ops.push(JSON.parse(d.toString())); });
        let closed = null;
        s16.on("close", (code) => { closed = code; });
        s16.send('{"op":"unsubscribe","subscriptionIds":[5]}'.padEnd(16384, " "));
        await until(() => ops.some((m) => m.op === "status" && /no subscription 5/.test(m.message)), 5000,
                    "an answer to 16384 bytes");
        assert(closed === null, "16384 bytes are taken (closed with " + closed + ")");
        s16.close();
      }
      for (const [what, send, want] of cases) {
        const { code, extra } = await closeOf(send);
        assert(code === want, what + ": closed with " + want + " (got " + code + ")");
        assert(extra.every((op) => op !== "binary"), what + ": no data after the bad frame");
      }
      // Below the WebSocket layer: a bad frame gets a close frame; a frame
      // cut off by a disconnect and HTTP garbage are just dropped.
      const raw = (bytes, keep) => new Promise((resolve) => {
        const c = net.connect(web.port, "127.0.0.1", () => {
          c.write("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
                  "Sec-WebSocket-Protocol: foxglove.websocket.v1\r\n\r\n");
          setTimeout(() => { c.write(bytes); if (!keep) { c.destroy(); resolve(null); } }, 200);
        });
        let got = Buffer.alloc(0);
        c.on("error", () => {});
        c.on("data", (d) => {
          got = Buffer.concat([got, d]);
          const code = closeCode(got);
          if (code) { c.destroy(); resolve(code); }
        });
        setTimeout(() => { c.destroy(); resolve(null); }, 5000);
      });
      assert(await raw(Buffer.from([0x8f, 0x80, 1, 2, 3, 4]), true) === 1002, "a reserved opcode: close 1002");
      assert(await raw(Buffer.from([0x81, 0x83, 1, 2, 3, 4, 0xff ^ 1, 0xfe ^ 2, 0x41 ^ 3]), true) === 1007,
             "text that is not UTF-8: close 1007");
      await raw(Buffer.from([0x81, 0xfe, 0x40, 0x00, 1, 2, 3, 4, 5, 6]), false);   // cut off mid-frame
      await new Promise((resolve) => {
        const c = net.connect(web.port, "127.0.0.1", () => c.write(Buffer.alloc(8192, 0xff)));
        c.on("data", () => {});   // read, or the end never shows
        c.on("error", () => {});
        c.on("close", resolve);
      });
      const n = good.messages(STATS).length;
      await until(() => good.messages(STATS).length >= n + 10, 5000, "stats still flowing to the good viewer");
      assert(good.closed === null, "the good viewer stays connected");
      const res = await fetch(web.http);
      assert(res.ok && (await res.text()).includes("fieldbrain"), "the page is still served");
      good.close();
    });
  },

  // The brain goes away: viewers are told (a status with id "telemetry",
  // the source channel); it comes back on the same endpoint: removeStatus,
  // and its cycles, which start over, flow again.
  async brain_gone_and_back() {
    const brain = await new Brain(build).start();
    const web = await new Web(build, brain.tele, ["--timeout", "1"]).start();
    try {
      const v = await new Viewer(web.ws).ready([STATS, SOURCE]);
      v.subscribe(STATS);
      v.subscribe(SOURCE);
      await until(() => v.messages(STATS).length >= 5, 10000, "stats");
      await brain.stop();
      await until(() => v.status.some((s) => s.id === "telemetry" && s.level === 1), 5000, "a status saying so");
      await until(() => v.messages(SOURCE).some((m) => m.msg.reachable === false), 5000, "source: unreachable");
      const lastCycle = v.messages(STATS).at(-1).msg.cycle;
      const again = await new Brain(build).start(brain.ports);
      try {
        await until(() => v.removed.includes("telemetry"), 15000, "removeStatus when it is back");
        await until(() => v.messages(STATS).at(-1).msg.cycle < lastCycle, 10000, "the new brain's cycles");
        const n = v.messages(STATS).length;
        await until(() => v.messages(STATS).length >= n + 5, 5000, "stats flowing again");
      } finally {
        await again.stop();
      }
      v.close();
    } finally {
      await web.stop();
    }
  },
};

if (!tests[name]) {
  console.error("unknown test " + name + "; known: " + Object.keys(tests).join(" "));
  process.exit(2);
}
const timer = setTimeout(() => { console.error(name + ": timed out"); process.exit(1); }, 100000);
tests[name]().then(() => {
  clearTimeout(timer);
  console.log(name + ": ok");
  process.exit(0);
}, (e) => {
  console.error(name + ": " + (e.stack || e));
  process.exit(1);
});
