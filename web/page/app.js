// app.js: the fieldbrain-web page, a Foxglove WebSocket client
// (foxglove.websocket.v1) of the server it was loaded from, drawing with
// plain canvas. The server decimates; the page only keeps and draws.
"use strict";

const HISTORY_S = 300;          // rate, lateness, energy, saturation: the last 5 minutes
const MOTOR_HISTORY_S = 60;     // motor traces: the last minute
const MAX_POINTS = 20000;       // a bound on every history, whatever the rate
const MAX_EVENTS = 30;
const COLORS = ["#58a6ff", "#f0883e", "#3fb950", "#d2a8ff", "#ff7b72", "#e3b341", "#79c0ff", "#56d4dd"];
const TOPICS = ["/fieldbrain/stats", "/fieldbrain/events", "/fieldbrain/slice", "/fieldbrain/slice_info",
                "/fieldbrain/source"];

const $ = (id) => document.getElementById(id);
const decoder = new TextDecoder();

const state = {
  ws: null, retryMs: 500, lastFrameS: 0, open: false,
  subs: new Map(),              // subscription id -> topic
  nextSub: 1,
  brainReachable: null, brainStatus: "", endpoint: "",
  stats: null, target: 0,
  rate: [], p50: [], p99: [], energy: [], saturated: [],
  robots: new Map(),            // robot id -> {motors: [[t, values]], latest, link, el}
  events: [],
  dirty: true,
};

function nowS() { return performance.now() / 1000; }

function push(arr, t, v, keepS) {
  arr.push([t, v]);
  while (arr.length > MAX_POINTS || (arr.length && arr[0][0] < t - keepS)) arr.shift();
}

function fmtNs(ns) {
  if (ns == null || ns < 0) return "-";
  if (ns < 1e3) return ns.toFixed(0) + " ns";
  if (ns < 1e6) return (ns / 1e3).toFixed(1) + " us";
  if (ns < 1e9) return (ns / 1e6).toFixed(2) + " ms";
  return (ns / 1e9).toFixed(2) + " s";
}

// --- the connection -------------------------------------------------------

function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/";
  let ws;
  try {
    ws = new WebSocket(url, ["foxglove.websocket.v1"]);
  } catch (e) {
    retry(url);
    return;
  }
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  state.subs.clear();
  ws.onopen = () => { state.open = true; state.retryMs = 500; state.lastFrameS = nowS(); state.dirty = true; };
  ws.onmessage = (ev) => {
    state.lastFrameS = nowS();
    if (typeof ev.data === "string") onControl(JSON.parse(ev.data));
    else onData(ev.data);
  };
  ws.onclose = () => {
    if (state.ws !== ws) return;
    state.open = false;
    state.ws = null;
    state.dirty = true;
    retry(url);
  };
  ws.onerror = () => {};
}

function retry(url) {
  state.serverDown = url;
  setTimeout(connect, state.retryMs);
  state.retryMs = Math.min(state.retryMs * 2, 5000);
}

function onControl(msg) {
  if (msg.op === "serverInfo") {
    state.endpoint = (msg.metadata && msg.metadata.telemetry) || "";
  } else if (msg.op === "advertise") {
    const subscriptions = [];
    for (const ch of msg.channels) {
      if (TOPICS.includes(ch.topic) || ch.topic.startsWith("/fieldbrain/robot/")) {
        const id = state.nextSub++;
        state.subs.set(id, ch.topic);
        subscriptions.push({ id, channelId: ch.id });
      }
    }
    if (subscriptions.length) state.ws.send(JSON.stringify({ op: "subscribe", subscriptions }));
  } else if (msg.op === "status" && msg.id === "telemetry") {
    state.brainReachable = false;
    state.brainStatus = msg.message;
  } else if (msg.op === "removeStatus" && msg.statusIds.includes("telemetry")) {
    state.brainReachable = true;
  }
  state.dirty = true;
}

function onData(buf) {
  const view = new DataView(buf);
  if (view.byteLength < 13 || view.getUint8(0) !== 1) return;
  const topic = state.subs.get(view.getUint32(1, true));
  if (!topic) return;
  // Drawn against this machine's clock: the server's may differ from it.
  const t = Date.now() / 1000;
  const msg = JSON.parse(decoder.decode(new Uint8Array(buf, 13)));
  if (topic === "/fieldbrain/stats") onStats(t, msg);
  else if (topic === "/fieldbrain/events") onEvent(msg);
  else if (topic === "/fieldbrain/slice") $("slice").src = "data:image/" + msg.format + ";base64," + msg.data;
  else if (topic === "/fieldbrain/slice_info") onSliceInfo(msg);
  else if (topic === "/fieldbrain/source") { state.brainReachable = msg.reachable; state.endpoint = msg.endpoint; }
  else {
    const m = topic.match(/^\/fieldbrain\/robot\/(\d+)\/(motors|link)$/);
    if (m) onRobot(Number(m[1]), m[2], t, msg);
  }
  state.dirty = true;
}

function onStats(t, s) {
  if (state.stats && s.cycle < state.stats.cycle) {   // a brain that restarted
    for (const a of [state.rate, state.p50, state.p99, state.energy, state.saturated]) a.length = 0;
    for (const r of state.robots.values()) r.motors.length = 0;
  }
  state.stats = s;
  state.brainReachable = true;
  state.target = s.rate_hz_target || 0;
  if (s.rate_hz != null) push(state.rate, t, s.rate_hz, HISTORY_S);
  if (s.lateness) {
    push(state.p50, t, s.lateness.p50_ns / 1e6, HISTORY_S);
    push(state.p99, t, s.lateness.p99_ns / 1e6, HISTORY_S);
  }
  if (s.energy != null) push(state.energy, t, s.energy, HISTORY_S);
  if (s.saturated != null) push(state.saturated, t, 100 * s.saturated, HISTORY_S);
}

function onEvent(e) {
  let text = "cycle " + e.cycle + "  " + e.kind + "  robot " + e.robot_id;
  if (e.reason) text += "  " + e.reason;
  if (e.count) text += "  count " + e.count;
  if (e.detail) text += "  " + e.detail;
  state.events.unshift({ text, kind: e.kind, at: new Date().toLocaleTimeString() });
  state.events.length = Math.min(state.events.length, MAX_EVENTS);
}

function onSliceInfo(h) {
  const ch = h.channel === "mean" ? "channel mean" : "channel " + h.channel;
  $("slice-text").textContent = "cycle " + h.cycle;
  $("slice-info").textContent = h.axis + " = " + h.index + ", " + ch + ", " + h.width + " x " + h.height +
    " (" + h.horizontal + " left to right, " + h.vertical + " top to bottom); dark " +
    Number(h.min).toPrecision(3) + " to light " + Number(h.max).toPrecision(3);
}

function robot(id) {
  let r = state.robots.get(id);
  if (!r) {
    if (state.robots.size === 0) $("robots").textContent = "";
    const el = document.createElement("div");
    el.className = "robot";
    el.innerHTML = '<h2>robot ' + id + ' <small class="robot-link"></small></h2>' +
      '<canvas width="560" height="150" class="motor-chart"></canvas><div class="bars"></div>';
    $("robots").appendChild(el);
    r = { motors: [], latest: null, link: null, el, bars: [] };
    state.robots.set(id, r);
  }
  return r;
}

function onRobot(id, kind, t, msg) {
  const r = robot(id);
  if (kind === "link") { r.link = msg; return; }
  r.latest = msg.motors;
  push(r.motors, t, msg.motors, MOTOR_HISTORY_S);
}

// --- drawing ----------------------------------------------------------------

// Lines over time on a canvas: series = [{data: [[t, v]], color, dash, label}].
function chart(canvas, series, opt) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(w * ratio)) { canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio); }
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, w, h);
  const left = 58, right = 8, top = 8, bottom = 18;
  const t1 = opt.now, t0 = t1 - opt.spanS;
  let lo = opt.min, hi = opt.max;
  if (lo === undefined || hi === undefined) {
    let a = Infinity, b = -Infinity;
    for (const s of series) for (const [t, v] of s.data) if (t >= t0 && isFinite(v)) { a = Math.min(a, v); b = Math.max(b, v); }
    if (!isFinite(a)) { a = 0; b = 1; }
    if (lo === undefined) lo = a;
    if (hi === undefined) hi = b;
    if (opt.floor0) lo = Math.min(lo, 0);
    const minSpan = opt.minSpan || 1e-9;
    if (hi - lo < minSpan) { const mid = (hi + lo) / 2; lo = opt.floor0 ? Math.max(0, mid - minSpan / 2) : mid - minSpan / 2; hi = lo + minSpan; }
    const pad = (hi - lo) * 0.08;
    hi += pad; if (!opt.floor0) lo -= pad;
  }
  const x = (t) => left + (t - t0) / (t1 - t0) * (w - left - right);
  const y = (v) => top + (1 - (v - lo) / (hi - lo)) * (h - top - bottom);
  g.strokeStyle = "#2a3440"; g.fillStyle = "#8796a8"; g.lineWidth = 1; g.font = "11px system-ui, sans-serif";
  for (let k = 0; k <= 3; k++) {
    const v = lo + (hi - lo) * k / 3, yy = y(v);
    g.beginPath(); g.moveTo(left, yy); g.lineTo(w - right, yy); g.stroke();
    g.fillText(opt.fmt ? opt.fmt(v) : v.toPrecision(3), 2, yy + 4);
  }
  g.fillText("-" + Math.round(opt.spanS) + " s", left, h - 4);
  g.fillText("now", w - right - 22, h - 4);
  let lx = left + 60;
  for (const s of series) {
    g.strokeStyle = s.color; g.lineWidth = s.width || 1.5; g.setLineDash(s.dash || []);
    g.beginPath();
    let started = false;
    for (const [t, v] of s.data) {
      if (t < t0 || !isFinite(v)) continue;
      if (started) g.lineTo(x(t), y(v)); else { g.moveTo(x(t), y(v)); started = true; }
    }
    g.stroke();
    g.setLineDash([]);
    if (s.label) { g.fillStyle = s.color; g.fillText(s.label, lx, h - 4); lx += g.measureText(s.label).width + 14; }
  }
}

function flat(value, t0, t1) { return [[t0, value], [t1, value]]; }

// The time shown grows with the history, from 30 s up to `most`.
function span(arr, now, most) {
  return arr.length ? Math.min(most, Math.max(30, Math.ceil((now - arr[0][0]) / 30) * 30)) : 30;
}

function render() {
  const t = Date.now() / 1000;
  const s = state.stats;
  const banner = $("banner"), pill = $("status");
  let problem = "";
  if (!state.open) {
    problem = "fieldbrain-web is not reachable at " + location.host + ": retrying. Is fieldbrain-web running?";
    pill.textContent = "server not reachable"; pill.className = "pill bad";
  } else if (state.brainReachable === false) {
    problem = state.brainStatus || ("The brain is not reachable: no telemetry from " + (state.endpoint || "its endpoint") +
      ". Is fieldbrain running with telemetry.enabled?");
    pill.textContent = "brain not reachable"; pill.className = "pill bad";
  } else if (!s) {
    pill.textContent = "waiting for telemetry"; pill.className = "pill wait";
  } else {
    pill.textContent = "live"; pill.className = "pill ok";
  }
  banner.textContent = problem;
  banner.className = problem ? "banner" : "banner hidden";
  $("endpoint").textContent = state.endpoint ? "telemetry " + state.endpoint : "";
  if (!s) return;

  $("cycle").textContent = String(s.cycle);
  $("device").textContent = (s.device || "") + (s.backend ? " (" + s.backend + ")" : "");
  const target = state.target;
  const rate = s.rate_hz == null ? "-" : s.rate_hz.toFixed(1);
  $("rate-text").textContent = target > 0 ? rate + " Hz of " + target + " Hz" : rate + " Hz (lockstep)";
  const spanS = span(state.rate.length ? state.rate : state.energy, t, HISTORY_S);
  const rateSeries = [{ data: state.rate, color: COLORS[0], label: "achieved" }];
  if (target > 0) rateSeries.push({ data: flat(target, t - spanS, t), color: "#8796a8", dash: [5, 4], label: "target" });
  chart($("rate-chart"), rateSeries, { now: t, spanS, floor0: true, fmt: (v) => v.toFixed(1) });

  const periodMs = target > 0 ? 1000 / target : 0;
  $("lateness-text").textContent = "p50 " + fmtNs(s.lateness && s.lateness.p50_ns) + ", p99 " +
    fmtNs(s.lateness && s.lateness.p99_ns) + (periodMs ? " (period " + periodMs.toFixed(1) + " ms)" : "");
  const lat = [{ data: state.p50, color: COLORS[2], label: "p50" }, { data: state.p99, color: COLORS[1], label: "p99" }];
  if (periodMs) lat.push({ data: flat(periodMs, t - spanS, t), color: "#f85149", dash: [5, 4], label: "period" });
  chart($("lateness-chart"), lat, { now: t, spanS, floor0: true, fmt: (v) => v.toFixed(2) + " ms" });
  $("work-text").textContent = "work p50 " + fmtNs(s.work && s.work.p50_ns) + ", p99 " + fmtNs(s.work && s.work.p99_ns) +
    "; overruns " + s.overruns + ", skipped ticks " + s.skipped_ticks + (s.gpu_ms != null ? "; gpu " + s.gpu_ms.toFixed(3) + " ms" : "");

  $("energy-text").textContent = s.energy == null ? "-" : Number(s.energy).toPrecision(4);
  chart($("energy-chart"), [{ data: state.energy, color: COLORS[3] }], { now: t, spanS, fmt: (v) => v.toPrecision(3) });
  $("saturated-text").textContent = s.saturated == null ? "-" : (100 * s.saturated).toPrecision(3) + " %";
  chart($("saturated-chart"), [{ data: state.saturated, color: COLORS[4] }],
        { now: t, spanS, floor0: true, minSpan: 1, fmt: (v) => v.toPrecision(2) + " %" });
  const steps = s.steps ? Object.keys(s.steps).filter((k) => s.steps[k]) : [];
  $("steps-text").textContent = "steps this cycle: " + (steps.length ? steps.join(", ") : "none") +
    "; brain cycle " + s.brain_cycle + (s.activity != null ? "; activity " + Number(s.activity).toPrecision(3) : "");

  for (const [id, r] of state.robots) drawRobot(id, r, t);
  drawLinks();
  const inp = s.input || {}, tel = s.telemetry || {};
  $("input-text").textContent = "received " + inp.received + ", skipped " + inp.skipped + ", bad " + inp.bad_total +
    "; motors published " + inp.published + " (failed " + inp.publish_failed + "); telemetry dropped stats " +
    tel.dropped_stats + ", events " + tel.dropped_events + ", slices " + tel.dropped_slices +
    "; " + (s.decimated || 1) + " brain stats per message here";
  const ev = $("events");
  ev.textContent = "";
  if (!state.events.length) ev.innerHTML = '<li class="small">none yet</li>';
  for (const e of state.events) {
    const li = document.createElement("li");
    li.textContent = e.at + "  " + e.text;
    if (e.kind === "link_lost" || e.kind.endsWith("_failed") || e.kind.endsWith("_burst")) li.className = "lost";
    ev.appendChild(li);
  }
}

function drawRobot(id, r, t) {
  if (!r.latest) return;
  const n = r.latest.length;
  const series = [];
  for (let k = 0; k < n; k++)
    series.push({ data: r.motors.map(([tt, v]) => [tt, v[k]]), color: COLORS[k % COLORS.length], label: "m" + k });
  chart(r.el.querySelector(".motor-chart"), series, { now: t, spanS: span(r.motors, t, MOTOR_HISTORY_S), min: -1.05, max: 1.05,
                                                       fmt: (v) => v.toFixed(2) });
  const bars = r.el.querySelector(".bars");
  if (r.bars.length !== n) {
    bars.textContent = "";
    r.bars = [];
    for (let k = 0; k < n; k++) {
      const name = document.createElement("span"); name.textContent = "motor " + k;
      const bar = document.createElement("div"); bar.className = "bar";
      const mid = document.createElement("div"); mid.className = "mid";
      const fill = document.createElement("div"); fill.className = "fill";
      fill.style.background = COLORS[k % COLORS.length];
      bar.append(mid, fill);
      const val = document.createElement("span"); val.className = "motor-value";
      bars.append(name, bar, val);
      r.bars.push({ fill, val });
    }
  }
  r.latest.forEach((v, k) => {
    const x = Math.max(-1, Math.min(1, Number(v) || 0));
    const b = r.bars[k];
    b.fill.style.left = (x < 0 ? 50 + 50 * x : 50) + "%";
    b.fill.style.width = (50 * Math.abs(x)) + "%";
    b.val.textContent = (x >= 0 ? "+" : "") + Number(v).toFixed(3);
  });
  const link = r.el.querySelector(".robot-link");
  if (r.link) { link.textContent = "link " + r.link.state; link.className = "robot-link " + r.link.state; }
}

function drawLinks() {
  const body = $("links").querySelector("tbody");
  body.textContent = "";
  for (const [id, r] of state.robots) {
    if (!r.link) continue;
    const tr = document.createElement("tr");
    const cells = [String(id), r.link.state, fmtNs(r.link.sensor_age_ns), String(r.link.answer_seq)];
    cells.forEach((c, k) => {
      const td = document.createElement("td");
      td.textContent = c;
      if (k === 1) td.className = c;
      tr.appendChild(td);
    });
    body.appendChild(tr);
  }
}

// Redraw at most ten times a second, and only when something changed; a
// server that goes silent for 3 s counts as gone (the socket may not say).
let lastDraw = 0;
function frame(ts) {
  if (state.open && nowS() - state.lastFrameS > 3 && state.ws) { state.ws.close(); }
  if (ts - lastDraw >= 100 && (state.dirty || ts - lastDraw >= 1000)) {
    lastDraw = ts;
    state.dirty = false;
    render();
  }
  requestAnimationFrame(frame);
}

connect();
requestAnimationFrame(frame);
