// physres dashboard page: panels drawn from the server's snapshots, controls over HTTP.
// Snapshots arrive on one WebSocket; each panel keeps only the newest one and draws it on
// the next animation frame (latest wins), so a busy page never queues work. The e-stop
// is a plain HTTP request of its own: it never waits behind panel data.
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token");
const authHeaders = token ? { Authorization: "Bearer " + token } : {};
const panels = new Map();       // id -> {kind, el, draw(snapshot)}
const pending = new Map();      // id -> newest undrawn snapshot
const latencies = [];           // ms, frame-to-screen, not yet reported
const $ = (id) => document.getElementById(id);

// what tests and the benchmark read
window.physres = { drawn: {}, score: null, scores: 0, connected: false, errors: [], lastPrompt: null, estop: null };

function now() { return performance.timeOrigin + performance.now(); }

// ------------------------------------------------------------------ decoding
const TYPED = { u1: Uint8Array, i1: Int8Array, u2: Uint16Array, i2: Int16Array, u4: Uint32Array,
                i4: Int32Array, f4: Float32Array, f8: Float64Array };

function decode(buf) {
  const n = new DataView(buf).getUint32(0, true);
  const head = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
  const base = 4 + n;
  head.a = {};
  for (const [name, dt, shape, off, nbytes] of head.arrays) {
    const T = TYPED[dt];
    if (!T) continue;
    head.a[name] = { data: new T(buf, base + off, nbytes / T.BYTES_PER_ELEMENT), shape };
  }
  return head;
}

// ----------------------------------------------------------------- panels
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function drawImage(canvas, a) {
  const [h, w, c0] = a.shape;
  const c = c0 || 1;
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  const src = a.data, dst = img.data;
  for (let i = 0, j = 0; i < w * h; i++, j += c) {
    dst[4 * i] = src[j];
    dst[4 * i + 1] = c >= 3 ? src[j + 1] : src[j];
    dst[4 * i + 2] = c >= 3 ? src[j + 2] : src[j];
    dst[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function colour(v) {  // 0..1 -> a dark-blue to yellow ramp
  const r = Math.round(255 * Math.min(1, Math.max(0, 1.8 * v - 0.5)));
  const g = Math.round(255 * Math.min(1, Math.max(0, v * 1.1)));
  const b = Math.round(255 * Math.min(1, Math.max(0, 0.6 - v * 0.6 + (v < 0.2 ? v : 0))));
  return [r, g, b];
}

function drawHeat(canvas, a, lo, hi) {
  const [rows, cols] = a.shape;
  canvas.width = cols; canvas.height = rows;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(cols, rows);
  const span = hi - lo || 1;
  for (let i = 0; i < rows * cols; i++) {
    const [r, g, b] = colour((a.data[i] - lo) / span);
    img.data.set([r, g, b, 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
}

function linePlot(parent, labels) {
  const colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
  const series = [{}].concat(labels.map((l, i) => ({ label: l, stroke: colours[i % colours.length], width: 1 })));
  return new uPlot({ width: 440, height: 180, series, scales: { x: { time: false } },
                     legend: { show: labels.length <= 8 } }, [[]].concat(labels.map(() => [])), parent);
}

const RENDERERS = {
  image(p, s) {
    if (s.a.frame) drawImage(p.canvas, s.a.frame);
  },
  robot(p, s) {
    if (s.a.frame) drawImage(p.canvas, s.a.frame);
    const pr = s.prompt || {};
    const acts = Object.entries(s.actions || {}).map(([k, v]) => `${k}: [${v.join(", ")}]`).join("\n");
    p.prompt.textContent = pr.text ? `prompt: “${pr.text}” — ${pr.accepted ? "accepted" : "refused"}` +
      (pr.similarity !== undefined ? ` (similarity ${Number(pr.similarity).toFixed(2)})` : "") +
      (pr.error ? ` — ${pr.error}` : "") : "no prompt yet";
    p.prompt.className = pr.text ? (pr.accepted ? "accepted" : "refused") : "";
    p.actions.textContent = acts || "no actions yet";
  },
  traces(p, s) {
    if (!s.a.y) return;
    const [n] = s.a.y.shape;
    const len = s.a.x.data.length;
    if (!p.plot || p.n !== n) {
      p.box.textContent = "";
      p.plot = linePlot(p.box, Array.from({ length: n }, (_, i) => "ch " + i));
      p.n = n;
    }
    const data = [Array.from(s.a.x.data)];
    for (let i = 0; i < n; i++) data.push(Array.from(s.a.y.data.subarray(i * len, (i + 1) * len)));
    p.plot.setData(data);
    p.meta.textContent = `${s.shown} of ${s.channels} channels, x in ${s.x_unit}`;
  },
  readout(p, s) {
    if (!p.plot) p.plot = linePlot(p.box, ["prediction", "target"]);
    const pr = s.a.prediction.data, ta = s.a.target.data;
    p.plot.setData([Array.from(pr, (_, i) => i), Array.from(pr), Array.from(ta)]);
    const score = s.score === null || s.score === undefined ? "–" : Number(s.score).toFixed(4);
    p.meta.innerHTML = "";
    p.meta.append(el("span", "score", `running ${s.metric}: ${score}`), ` over ${s.pairs} samples`);
    window.physres.score = s.score;
    window.physres.scores += 1;
  },
  heatmap(p, s) {
    if (s.a.z) drawHeat(p.canvas, s.a.z, s.lo, s.hi);
    p.meta.textContent = `${s.width} values per row, newest at the bottom; range ${Number(s.lo).toPrecision(3)} … ${Number(s.hi).toPrecision(3)}`;
  },
  raster(p, s) {
    const ctx = p.canvas.getContext("2d");
    const W = p.canvas.width = 440, H = p.canvas.height = 160;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
    const nch = Math.max(1, s.channels), t = s.a.t.data, ch = s.a.ch.data;
    ctx.fillStyle = "#000";
    for (let i = 0; i < t.length; i++) {
      ctx.fillRect(W * (1 + t[i] / s.window_s) - 1, H * ch[i] / nch, 2, Math.max(1, H / nch - 1));
    }
    const rc = p.rates.getContext("2d");
    const RW = p.rates.width = 440, RH = p.rates.height = 60;
    rc.fillStyle = "#fff"; rc.fillRect(0, 0, RW, RH);
    const rates = s.a.rates.data, top = Math.max(1e-9, ...rates);
    rc.fillStyle = "#1f77b4";
    for (let i = 0; i < rates.length; i++) {
      const h = RH * rates[i] / top;
      rc.fillRect(RW * i / rates.length, RH - h, Math.max(1, RW / rates.length - 1), h);
    }
    p.meta.textContent = `${t.length} events in the last ${s.window_s} s; rates up to ${top.toFixed(1)} Hz per channel`;
  },
  text(p, s) { p.pre.textContent = (s.lines || []).join("\n"); },
  value(p, s) { p.pre.textContent = s.text || ""; },
};

function makePanel(spec) {
  const box = el("div", "panel");
  box.dataset.id = spec.id; box.dataset.kind = spec.kind;
  box.append(el("h3", "", `${spec.title} — ${spec.kind}`));
  const p = { kind: spec.kind, el: box, meta: el("div", "meta") };
  if (spec.kind === "image" || spec.kind === "robot" || spec.kind === "heatmap") {
    p.canvas = el("canvas", "img"); box.append(p.canvas);
  }
  if (spec.kind === "robot") {
    p.prompt = el("div", "", "no prompt yet"); p.actions = el("pre", "", "no actions yet");
    box.append(p.prompt, p.actions);
  }
  if (spec.kind === "traces" || spec.kind === "readout") { p.box = el("div"); box.append(p.box); }
  if (spec.kind === "raster") { p.canvas = el("canvas"); p.rates = el("canvas"); box.append(p.canvas, p.rates); }
  if (spec.kind === "text" || spec.kind === "value") { p.pre = el("pre"); box.append(p.pre); }
  box.append(p.meta);
  $("panels").append(box);
  panels.set(spec.id, p);
}

function applyLayout(msg) {
  $("source").textContent = msg.source;
  for (const spec of msg.panels) {
    const old = panels.get(spec.id);
    if (old && old.kind !== spec.kind) { old.el.remove(); panels.delete(spec.id); }  // re-chosen
    if (!panels.has(spec.id)) makePanel(spec);
  }
}

function applyNodes(msg) {
  const body = $("node-rows");
  body.textContent = "";
  for (const n of msg.nodes) {
    const tr = el("tr");
    const rates = Object.entries(n.rates_hz).map(([k, v]) => `${k} ${v}`).join(", ");
    for (const [text, cls] of [[n.name], [n.kind], [n.state], [n.health, "health-" + n.health], [rates],
                               [n.dropped], [n.garbage], [n.errors]]) {
      tr.append(el("td", cls || "", String(text)));
    }
    body.append(tr);
  }
  if (msg.replay) showReplay(msg.replay);
}

// ------------------------------------------------------------- draw loop
function drawPending() {
  for (const [id, snap] of pending) {
    const p = panels.get(id);
    if (!p) continue;  // its layout comes first; keep it for the next frame
    pending.delete(id);
    try {
      RENDERERS[p.kind](p, snap);
      window.physres.drawn[id] = (window.physres.drawn[id] || 0) + 1;
      if (snap.t_host) latencies.push(now() - snap.t_host / 1e6);
    } catch (e) {
      window.physres.errors.push(String(e));
    }
  }
  requestAnimationFrame(drawPending);
}
requestAnimationFrame(drawPending);

// ----------------------------------------------------------- WebSocket
let ws = null;
function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
              location.pathname.replace(/[^/]*$/, "") + "ws" + (token ? "?token=" + encodeURIComponent(token) : "");
  ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => { $("conn").textContent = "live"; window.physres.connected = true; };
  ws.onclose = () => {
    $("conn").textContent = "disconnected; retrying…"; window.physres.connected = false;
    setTimeout(connect, 1000);
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data !== "string") {
      const snap = decode(ev.data);
      pending.set(snap.id, snap);
      return;
    }
    const msg = JSON.parse(ev.data);
    if (msg.type === "layout") applyLayout(msg);
    else if (msg.type === "nodes") applyNodes(msg);
    else if (msg.type === "replay") showReplay(msg);
    else if (msg.type === "error") window.physres.errors.push(msg.error);
  };
}
connect();

setInterval(() => {
  if (latencies.length && ws && ws.readyState === 1) {
    ws.send(JSON.stringify({ op: "latency", ms: latencies.splice(0, 1000) }));
  }
}, 1000);

// ------------------------------------------------------------- controls
async function post(path, body) {
  try {
    const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json", ...authHeaders },
                                  body: JSON.stringify(body || {}) });
    return await r.json();
  } catch (e) {
    return { ok: false, error: String(e) };
  }
}

$("estop").addEventListener("click", async () => {
  $("estop-result").textContent = "stopping…";
  const r = await post("api/estop");
  window.physres.estop = r;
  $("estop-result").className = r.ok ? "ok" : "fail";
  $("estop-result").textContent = r.ok
    ? `stopped: ${r.nodes.map((n) => n.node).join(", ")} (${r.ms} ms)`
    : `E-STOP FAILED: ${r.error || r.nodes.filter((n) => !n.ok).map((n) => `${n.node}: ${n.error}`).join("; ")}`;
});

$("prompt-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const r = await post("api/prompt", { text: $("prompt").value });
  window.physres.lastPrompt = r;
  const res = r.result || {};
  $("prompt-result").className = r.ok && r.accepted ? "accepted" : "refused";
  $("prompt-result").textContent = !r.ok ? `error: ${r.error}`
    : (r.accepted ? "accepted" : "refused") + (res.similarity !== undefined ? ` (similarity ${Number(res.similarity).toFixed(2)})` : "") +
      (res.reason ? `: ${res.reason}` : "");
});

$("run-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const r = await post("api/run/start", { config: $("run-config").value });
  $("run-result").textContent = r.ok ? `running (pid ${r.pid}) → ${r.out}` : `error: ${r.error}`;
});
$("run-stop").addEventListener("click", async () => {
  const r = await post("api/run/stop");
  $("run-result").textContent = r.ok ? `stopped (exit ${r.returncode})` : `error: ${r.error}`;
});

// --------------------------------------------------------------- replay
let replay = null;
function showReplay(state) {
  replay = state;
  $("replay").hidden = false;
  $("controls").querySelectorAll("form").forEach((f) => { f.hidden = true; });
  const span = Math.max(1, state.end_ns - state.start_ns);
  if (!$("replay-slider").matches(":active")) $("replay-slider").value = Math.round(1000 * (state.t_ns - state.start_ns) / span);
  $("replay-time").textContent = `${((state.t_ns - state.start_ns) / 1e9).toFixed(2)} s of ${(span / 1e9).toFixed(2)} s`;
  $("replay-play").textContent = state.playing ? "pause" : "play";
}
$("replay-slider").addEventListener("input", () => {
  if (!replay || !ws) return;
  const t = replay.start_ns + ($("replay-slider").value / 1000) * (replay.end_ns - replay.start_ns);
  ws.send(JSON.stringify({ op: "seek", t_ns: Math.round(t) }));
});
$("replay-play").addEventListener("click", () => {
  if (replay && ws) ws.send(JSON.stringify({ op: replay.playing ? "pause" : "play" }));
});
