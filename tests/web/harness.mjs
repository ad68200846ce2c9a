// harness.mjs: real processes for the fieldbrain-web tests: a small CPU
// brain with telemetry on fresh loopback ports, the simulated rover,
// fieldbrain-web itself, and Foxglove WebSocket clients.
import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
let ws, foxglove;
try {
  ws = require("ws");
  foxglove = require("@foxglove/ws-protocol");
} catch (e) {
  console.error("tests/web: the npm packages are missing: run scripts/setup-deps.sh (npm ci in tests/web)");
  process.exit(1);
}
export const WebSocket = ws;
export const { FoxgloveClient } = foxglove;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function assert(cond, what) {
  if (!cond) throw new Error("assertion failed: " + what);
}

export async function until(pred, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out after " + timeoutMs + " ms waiting for " + what);
    await sleep(50);
  }
}

// A port on 127.0.0.1 that was free a moment ago, outside the kernel's range
// for outgoing connections: one the kernel picks (port 0) lies inside it, and
// a connection opened before the program binds it (the tests run side by
// side) may take it as its local port. From PORT_FIRST (above the configs'
// defaults, 5555-5558) up to that range, each process walking the ports from
// its own start in steps of a prime, as tests/proc.c does.
const PORT_FIRST = 20000;
let picks = 0; // this process's picks so far

function ephemeralRange() {
  try {
    const [lo, hi] = fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (lo > 0 && lo <= hi) return [lo, hi];
  } catch {
    // not Linux: its default
  }
  return [32768, 60999];
}

async function bindable(port) {
  const s = net.createServer();
  const ok = await new Promise((resolve) => {
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => resolve(true));
  });
  if (ok) {
    s.close();
    await once(s, "close");
  }
  return ok;
}

export async function freePort() {
  const [lo, hi] = ephemeralRange();
  let first = PORT_FIRST, last = lo - 1;
  if (last - first < 1000) [first, last] = 65535 - (hi + 1) >= 1000 ? [hi + 1, 65535] : [0, 0];
  for (let i = 0; first && i < 200; i++) {
    const port = first + Number((BigInt(process.pid) * 2654435761n + BigInt(picks++) * 7919n) % BigInt(last - first + 1));
    if (await bindable(port)) return port;
  }
  const s = net.createServer();
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  const port = s.address().port;
  s.close();
  await once(s, "close");
  return port;
}

const children = new Set();
const dirs = [];
// Logs stay behind only when a test fails.
process.on("exit", (code) => {
  for (const c of children) c.kill("SIGKILL");
  if (code === 0) for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "fbweb-"));
  dirs.push(d);
  return d;
}

function track(proc, name, dir) {
  const log = fs.openSync(path.join(dir, name + ".log"), "w");
  proc.stderr.on("data", (d) => fs.writeSync(log, d));
  children.add(proc);
  proc.on("exit", () => children.delete(proc));
  proc.logFile = path.join(dir, name + ".log");
  return proc;
}

async function stopProc(proc, sig = "SIGTERM") {
  if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
  proc.kill(sig);
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20000);
  const [code] = await once(proc, "exit");
  clearTimeout(timer);
  return code;
}

// A fieldbrain on a small CPU field at `rate` Hz, stats every `every` cycles,
// a slice every `sliceEvery`; fixed ports may be given to bring a brain
// back where another one was.
export class Brain {
  constructor(build, opt = {}) {
    this.build = path.resolve(build);
    this.opt = Object.assign({ rate: 100, every: 1, sliceEvery: 20, size: 8, channels: 16, gain: 400 }, opt);
  }

  async start(ports) {
    this.dir = tempDir();
    this.ports = ports || { sensor: await freePort(), motor: await freePort(), tele: await freePort() };
    this.tele = "tcp://127.0.0.1:" + this.ports.tele;
    const o = this.opt;
    this.config = path.join(this.dir, "brain.yaml");
    fs.writeFileSync(this.config,
      `brain:\n  size: ${o.size}\n  channels: ${o.channels}\n  backend: cpu\n  threads: 1\n  motor_gain: ${o.gain}\n` +
      `loop:\n  mode: fixed_rate\n  rate_hz: ${o.rate}\n  stats_window: 50\n` +
      `link:\n  sensor_endpoint: "tcp://127.0.0.1:${this.ports.sensor}"\n` +
      `  motor_endpoint: "tcp://127.0.0.1:${this.ports.motor}"\n  timeout_ms: 500\n` +
      `telemetry:\n  enabled: true\n  endpoint: "${this.tele}"\n  every: ${o.every}\n  slice_every: ${o.sliceEvery}\n` +
      `checkpoint:\n  on_exit: false\ncontrol:\n  enabled: false\n` +
      `sim:\n  mode: realtime\n  sensor_hz: 100\n  duration_s: 0\n` +
      (o.robots ? "robots:\n" + o.robots.map((id) => `  - id: ${id}\n`).join("") : ""));
    this.proc = track(spawn(path.join(this.build, "fieldbrain"), ["run", "--config", this.config],
                            { stdio: ["ignore", "ignore", "pipe"] }), "brain", this.dir);
    return this;
  }

  // The MuJoCo rover as the brain's robot, from the same file.
  startSim() {
    this.sim = track(spawn(path.join(this.build, "fieldbrain-sim"), ["--config", this.config],
                           { cwd: this.dir, stdio: ["ignore", "ignore", "pipe"] }), "sim", this.dir);
  }

  async stop() {
    if (this.sim) await stopProc(this.sim);
    const code = await stopProc(this.proc);
    assert(code === 0, "the brain exits 0 (got " + code + "); log " + this.proc.logFile);
  }
}

// fieldbrain-web on a port of its own choosing (or the one given).
export class Web {
  constructor(build, endpoint, args = [], dir) {
    this.build = path.resolve(build);
    this.endpoint = endpoint;
    this.args = args;
    this.dir = dir || tempDir();
  }

  async start(port = 0) {
    this.proc = track(spawn(path.join(this.build, "fieldbrain-web"),
                            [this.endpoint, "--port", String(port), ...this.args],
                            { stdio: ["ignore", "pipe", "pipe"] }), "web", this.dir);
    let out = "";
    this.proc.stdout.on("data", (d) => { out += d; });
    await until(() => /http:\/\/[\d.]+:(\d+)\//.test(out) || this.proc.exitCode !== null, 10000, "fieldbrain-web to listen");
    const m = out.match(/http:\/\/([\d.]+):(\d+)\//);
    assert(m, "fieldbrain-web prints where it listens (log " + this.proc.logFile + ")");
    this.port = Number(m[2]);
    this.http = "http://127.0.0.1:" + this.port + "/";
    this.ws = "ws://127.0.0.1:" + this.port;
    return this;
  }

  rssKiB() {
    const s = fs.readFileSync("/proc/" + this.proc.pid + "/status", "utf8");
    return Number(s.match(/VmRSS:\s+(\d+)/)[1]);
  }

  async stop() {
    const code = await stopProc(this.proc);
    assert(code === 0, "fieldbrain-web exits 0 on SIGTERM (got " + code + "); log " + this.proc.logFile);
  }
}

// A Foxglove client that records what it gets: channels by topic, messages
// per topic (decoded JSON, with the frame's timestamp), status messages.
export class Viewer {
  constructor(url) {
    this.ws = new WebSocket(url, [FoxgloveClient.SUPPORTED_SUBPROTOCOL]);
    this.client = new FoxgloveClient({ ws: this.ws });
    this.channels = new Map();
    this.subs = new Map();
    this.got = new Map();
    this.status = [];
    this.removed = [];
    this.serverInfo = null;
    this.closed = null;
    this.client.on("serverInfo", (i) => { this.serverInfo = i; });
    this.client.on("advertise", (chs) => { for (const c of chs) this.channels.set(c.topic, c); });
    this.client.on("status", (s) => this.status.push(s));
    this.client.on("removeStatus", (r) => this.removed.push(...r.statusIds));
    this.client.on("close", (e) => { this.closed = e; });
    this.client.on("error", () => {});
    this.client.on("message", ({ subscriptionId, timestamp, data }) => {
      const topic = this.subs.get(subscriptionId);
      const text = new TextDecoder().decode(data);
      if (!this.got.has(topic)) this.got.set(topic, []);
      this.got.get(topic).push({ timestamp, msg: JSON.parse(text), bytes: data.byteLength });
    });
  }

  async ready(topics = [], timeoutMs = 10000) {
    await until(() => this.serverInfo && topics.every((t) => this.channels.has(t)), timeoutMs,
                "serverInfo and channels " + topics.join(", "));
    return this;
  }

  subscribe(topic) {
    const id = this.client.subscribe(this.channels.get(topic).id);
    this.subs.set(id, topic);
    return id;
  }

  unsubscribe(id) { this.client.unsubscribe(id); }

  messages(topic) { return this.got.get(topic) || []; }

  close() { this.client.close(); }
}
