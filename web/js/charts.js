// Charts, drawn by hand on canvases: objects in view per label (live, from the feed), events per
// label (from `/api/events/counts`) and per-stage latency (from `/api/stats`). The live series
// are collected from page load on, in fixed-size rings, so the charts have history when opened.

import { api, serverNow } from "./api.js";
import { on } from "./store.js";
import { $, el, colourFor, cssVar, fillSelect, fitCanvas, fmtTime } from "./ui.js";

const WINDOW_MS = 5 * 60 * 1000;
const BUCKET_MS = 5000;
const BUCKETS = WINDOW_MS / BUCKET_MS;
const STAGES = ["queue", "preprocess", "infer", "postprocess", "track", "rules"];
const STAGE_COLOURS = ["#8e8cd8", "#4c9bff", "#f0883e", "#57d17b", "#e3b341", "#ff7b72"];

/** A "nice" step for about `n` ticks up to `max`. */
function niceStep(max, n = 4) {
  const raw = max / n;
  const p = 10 ** Math.floor(Math.log10(raw || 1));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw) || raw;
}

/**
 * Draws series over time. `kind`: "lines", "bars" (stacked) or "area" (stacked).
 * `times` are bucket starts (ms); each series has `values` aligned with them.
 */
function plot(canvas, { times, series, kind, unit = "" }) {
  const ctx = fitCanvas(canvas);
  const { width, height } = canvas;
  const r = window.devicePixelRatio || 1;
  const pad = { l: 44 * r, r: 10 * r, t: 10 * r, b: 24 * r };
  const w = width - pad.l - pad.r, h = height - pad.t - pad.b;
  ctx.clearRect(0, 0, width, height);
  const stacked = kind !== "lines";
  const totals = times.map((_, i) => (stacked
    ? series.reduce((s, x) => s + (x.values[i] || 0), 0)
    : Math.max(0, ...series.map((x) => x.values[i] || 0))));
  const top = Math.max(...totals, 0);
  const step = niceStep(top || 1);
  const ymax = Math.max(step, Math.ceil((top || 1) / step) * step);
  const y = (v) => pad.t + h - (v / ymax) * h;
  const x = (i) => pad.l + (times.length <= 1 ? 0 : (i / (times.length - 1)) * w);
  ctx.font = `${11 * r}px system-ui, sans-serif`;
  ctx.fillStyle = cssVar("--muted");
  ctx.strokeStyle = cssVar("--border");
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (let v = 0; v <= ymax + 1e-9; v += step) {
    ctx.beginPath(); ctx.moveTo(pad.l, y(v)); ctx.lineTo(pad.l + w, y(v)); ctx.stroke();
    ctx.fillText(`${+v.toFixed(2)}${unit}`, pad.l - 6 * r, y(v));
  }
  ctx.textBaseline = "top";
  const labels = 4;
  const span = times.length ? times[times.length - 1] - times[0] : 0;
  const stamp = (t) => (span < 10 * 60 * 1000 ? fmtTime(t) : fmtTime(t).slice(0, 5));
  for (let k = 0; k <= labels && times.length > 1; k++) {
    const i = Math.round((k / labels) * (times.length - 1));
    ctx.textAlign = k === 0 ? "left" : k === labels ? "right" : "center";
    ctx.fillText(stamp(times[i]), x(i), pad.t + h + 6 * r);
  }
  if (!series.length) {
    ctx.fillText("no data yet", pad.l + w / 2, pad.t + h / 2);
    return;
  }
  const base = times.map(() => 0);
  for (const s of series) {
    ctx.fillStyle = s.colour;
    ctx.strokeStyle = s.colour;
    if (kind === "bars") {
      const bw = Math.max(1, (w / times.length) * 0.8);
      s.values.forEach((v, i) => {
        if (!v) return;
        const x0 = pad.l + (i / times.length) * w;
        ctx.fillRect(x0, y(base[i] + v), bw, y(base[i]) - y(base[i] + v));
        base[i] += v;
      });
    } else if (kind === "area") {
      ctx.beginPath();
      s.values.forEach((v, i) => (i ? ctx.lineTo(x(i), y(base[i] + (v || 0))) : ctx.moveTo(x(i), y(base[i] + (v || 0)))));
      for (let i = times.length - 1; i >= 0; i--) ctx.lineTo(x(i), y(base[i]));
      ctx.closePath();
      ctx.globalAlpha = 0.75;
      ctx.fill();
      ctx.globalAlpha = 1;
      s.values.forEach((v, i) => { base[i] += v || 0; });
    } else {
      ctx.lineWidth = 2 * r;
      ctx.beginPath();
      let started = false;
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) { started = false; return; }
        if (started) ctx.lineTo(x(i), y(v)); else ctx.moveTo(x(i), y(v));
        started = true;
      });
      ctx.stroke();
    }
  }
}

function legend(node, series) {
  node.replaceChildren(...series.map((s) => {
    const swatch = el("span", { class: "swatch", "aria-hidden": "true" });
    swatch.style.setProperty("--swatch", s.colour);
    return el("span", {}, swatch, s.name);
  }));
}

export class ChartsView {
  constructor() {
    this.active = false;
    this.select = $("#chart-camera");
    /** camera → Map(bucketStart → {frames, counts: Map(label → n)}) */
    this.detections = new Map();
    /** camera → [{t, latency}] */
    this.latency = new Map();
    this.eventsTimer = null;
    on("cameras", (cameras) => fillSelect(this.select, cameras.map((c) => c.name)));
    on("frame", (f) => this.collectFrame(f));
    on("stats", (s) => this.collectStats(s));
    this.select.addEventListener("change", () => this.draw(true));
    $("#events-range").addEventListener("change", () => this.loadEvents());
    new ResizeObserver(() => this.active && this.draw(false)).observe($("#view-charts"));
  }

  show() {
    this.active = true;
    this.draw(true);
    this.eventsTimer = setInterval(() => this.loadEvents(), 30000);
    this.drawTimer = setInterval(() => this.draw(false), 2000);
  }

  hide() {
    this.active = false;
    clearInterval(this.eventsTimer);
    clearInterval(this.drawTimer);
  }

  collectFrame(f) {
    let buckets = this.detections.get(f.camera);
    if (!buckets) this.detections.set(f.camera, (buckets = new Map()));
    const start = Math.floor(f.timestamp_ms / BUCKET_MS) * BUCKET_MS;
    let b = buckets.get(start);
    if (!b) {
      buckets.set(start, (b = { frames: 0, counts: new Map() }));
      for (const key of buckets.keys()) if (key < start - WINDOW_MS) buckets.delete(key);
    }
    b.frames += 1;
    for (const d of f.detections) b.counts.set(d.label, (b.counts.get(d.label) || 0) + 1);
  }

  collectStats(stats) {
    for (const c of stats.cameras) {
      let ring = this.latency.get(c.name);
      if (!ring) this.latency.set(c.name, (ring = []));
      if (c.latency.frames) ring.push({ t: stats.time_ms, latency: c.latency });
      while (ring.length && ring[0].t < stats.time_ms - WINDOW_MS) ring.shift();
    }
  }

  draw(withEvents) {
    if (!this.active) return;
    this.drawDetections();
    this.drawLatency();
    if (withEvents) this.loadEvents();
  }

  drawDetections() {
    const buckets = this.detections.get(this.select.value) || new Map();
    const end = Math.floor(serverNow() / BUCKET_MS) * BUCKET_MS;
    const times = Array.from({ length: BUCKETS }, (_, i) => end - (BUCKETS - 1 - i) * BUCKET_MS);
    const totals = new Map();
    for (const b of buckets.values()) for (const [l, n] of b.counts) totals.set(l, (totals.get(l) || 0) + n);
    const labels = [...totals].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([l]) => l);
    const series = labels.map((label) => ({
      name: label,
      colour: colourFor(label),
      values: times.map((t) => {
        const b = buckets.get(t);
        return b ? (b.counts.get(label) || 0) / b.frames : null;
      }),
    }));
    plot($("#chart-detections"), { times, series, kind: "lines" });
    legend($("#legend-detections"), series);
  }

  drawLatency() {
    const ring = this.latency.get(this.select.value) || [];
    const times = ring.map((p) => p.t);
    const series = STAGES.map((stage, i) => ({
      name: stage,
      colour: STAGE_COLOURS[i],
      values: ring.map((p) => p.latency[stage].mean),
    }));
    plot($("#chart-latency"), { times, series: ring.length ? series : [], kind: "area", unit: "" });
    legend($("#legend-latency"), series);
    const now = ring[ring.length - 1]?.latency;
    const table = $("#latency-table");
    const head = el("tr", {}, ...["stage", "last", "mean", "p95", "max"].map((h) => el("th", { scope: "col" }, h)));
    const rows = [...STAGES, "total"].map((stage) => el("tr", {}, el("td", {}, stage),
      ...["last", "mean", "p95", "max"].map((k) => el("td", {}, now ? `${now[stage][k].toFixed(1)} ms` : "—"))));
    table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
  }

  async loadEvents() {
    if (!this.active) return;
    const range = Number($("#events-range").value);
    const bucket = range / 60;
    const to = Math.ceil(serverNow() / bucket) * bucket;
    const from = to - range;
    const q = new URLSearchParams({ from_ms: String(from), to_ms: String(to), bucket_ms: String(bucket) });
    if (this.select.value) q.set("camera", this.select.value);
    try {
      const rows = await api(`/api/events/counts?${q}`);
      const times = Array.from({ length: 60 }, (_, i) => from + i * bucket);
      const byLabel = new Map();
      for (const row of rows) {
        if (!byLabel.has(row.label)) byLabel.set(row.label, new Array(60).fill(0));
        const i = Math.round((row.bucket_start_ms - from) / bucket);
        if (i >= 0 && i < 60) byLabel.get(row.label)[i] += row.count;
      }
      const series = [...byLabel].map(([label, values]) => ({ name: label, colour: colourFor(label), values }));
      plot($("#chart-events"), { times, series, kind: "bars" });
      legend($("#legend-events"), series);
    } catch (e) {
      $("#legend-events").textContent = `Cannot load event counts: ${e.message}`;
    }
  }
}
