// The live view: one tile per camera with its newest analysed frame, the boxes, labels and
// track ids detected in that very frame, its zones and lines, its health in words, and its
// counters. Frames are fetched as JPEG (`frame.jpg`, sized to the tile) one after the other at
// most FPS times a second; the detections come from the WebSocket feed and are matched to the
// frame by its number (`x-frame`). Tiles off screen or in a hidden tab fetch nothing.

import { api, feed } from "./api.js";
import { drawDetections, drawRules } from "./draw.js";
import { describe } from "./health.js";
import { store, on, resultFor, rememberResult } from "./store.js";
import { $, el, colourFor, fitCanvas } from "./ui.js";

const FPS = 5;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Tile {
  constructor(name, view) {
    this.name = name;
    this.view = view;
    this.alive = true;
    this.visible = false;
    this.aspect = 4 / 3;
    this.canvas = el("canvas", { "aria-label": `Camera ${name}: newest frame with detections`, role: "img" });
    this.placeholder = el("div", { class: "placeholder" }, "Waiting for the first frame…");
    this.badge = el("span", { class: "badge", hidden: true });
    this.video = el("div", { class: "video" }, this.canvas, this.placeholder, this.badge);
    this.pill = el("span", { class: "pill muted" }, "…");
    this.health = el("p", { class: "health" });
    this.numbers = el("div", { class: "numbers" });
    this.chips = el("div", { class: "chips", "aria-label": "Objects in view" });
    this.counters = el("div", { class: "counters" });
    const link = el("a", { href: `#/live/${encodeURIComponent(name)}` }, name);
    this.node = el("article", { class: "tile", "data-camera": name, "aria-label": `Camera ${name}` },
      el("div", { class: "tile-head" }, el("h2", {}, link), this.pill),
      this.video,
      el("div", { class: "tile-body" }, this.health, this.numbers, this.chips, this.counters));
    this.observer = new IntersectionObserver((entries) => {
      this.visible = entries.some((e) => e.isIntersecting);
    });
    this.observer.observe(this.video);
    this.loop();
  }

  destroy() {
    this.alive = false;
    this.observer.disconnect();
    this.node.remove();
  }

  active() {
    return this.visible && this.view.active && !document.hidden;
  }

  async loop() {
    while (this.alive) {
      if (!this.active()) { await sleep(300); continue; }
      if (!this.camera?.frames_analysed) {
        // Nothing analysed yet: the health line says why; look again later.
        await sleep(1000);
        continue;
      }
      const started = performance.now();
      try {
        await this.fetchFrame();
      } catch (e) {
        this.showMessage(e.code === "no_frame_yet" ? this.waiting() : `No frame: ${e.message}`);
        await sleep(2000);
      }
      await sleep(Math.max(0, 1000 / FPS - (performance.now() - started)));
    }
  }

  async fetchFrame() {
    const ratio = window.devicePixelRatio || 1;
    const want = Math.min(1280, Math.ceil((this.video.clientWidth * ratio) / 160) * 160 || 640);
    const path = `/api/cameras/${encodeURIComponent(this.name)}`;
    // Without the feed, the detections are read alongside the frame.
    const latest = feed.state === "live" ? null : api(`${path}/detections/latest`).catch(() => null);
    const res = await api(`${path}/frame.jpg?width=${want}`, { raw: true });
    const seq = Number(res.headers.get("x-frame"));
    const bitmap = await createImageBitmap(await res.blob());
    const polled = latest ? await latest : null;
    if (polled) rememberResult(polled);
    this.render(bitmap, seq);
    bitmap.close();
  }

  render(bitmap, seq) {
    const result = resultFor(this.name, seq);
    const aspect = result && result.height ? result.width / result.height : bitmap.width / bitmap.height;
    if (Math.abs(aspect - this.aspect) > 0.01) {
      this.aspect = aspect;
      this.video.style.setProperty("--aspect", String(aspect));
    }
    const ctx = fitCanvas(this.canvas, this.aspect);
    const { width, height } = this.canvas;
    const scale = width / 640;
    ctx.drawImage(bitmap, 0, 0, width, height);
    drawRules(ctx, store.rules.get(this.name), width, height, Math.max(scale, 0.75));
    const boxes = drawDetections(ctx, result, width, height, Math.max(scale, 0.75));
    this.canvas.dataset.boxes = String(boxes);
    this.canvas.dataset.frame = String(seq);
    this.placeholder.hidden = true;
    this.badge.textContent = result ? `frame ${seq} · ${result.latency_ms.toFixed(0)} ms` : `frame ${seq}`;
    this.badge.hidden = false;
    this.showObjects(result);
    this.objects = result?.detections.length || 0;
    this.view.summary();
  }

  /** What the empty frame area says: the health when the camera is not streaming. */
  waiting() {
    const h = this.camera ? describe(this.camera) : null;
    return h && h.tone !== "ok" ? `${h.state}: ${h.short}` : "Waiting for the first frame…";
  }

  showMessage(text) {
    this.placeholder.hidden = false;
    this.placeholder.textContent = text;
  }

  showObjects(result) {
    const counts = new Map();
    for (const d of result?.detections || []) counts.set(d.label, (counts.get(d.label) || 0) + 1);
    const chips = [...counts].sort((a, b) => b[1] - a[1]).map(([label, n]) => {
      const chip = el("span", { class: "chip" }, `${n} ${label}`);
      chip.style.setProperty("--chip", colourFor(label));
      return chip;
    });
    this.chips.replaceChildren(...(chips.length ? chips : [el("span", { class: "muted small" }, "nothing in view")]));
  }

  update(camera) {
    this.camera = camera;
    const h = describe(camera);
    this.pill.className = `pill ${h.tone}`;
    this.pill.textContent = h.state;
    this.health.className = `health ${h.tone}`;
    this.health.textContent = h.text;
    const parts = [
      `${camera.frames_analysed} analysed`,
      camera.frames_dropped ? `${camera.frames_dropped} dropped (detector busy)` : null,
      camera.frames_skipped ? `${camera.frames_skipped} unchanged (motion gate)` : null,
      camera.reconnects ? `${camera.reconnects} reconnects` : null,
      camera.decoder,
    ];
    this.numbers.replaceChildren(...parts.filter(Boolean).map((p) => el("span", {}, p)));
    if (!this.placeholder.hidden) this.showMessage(this.waiting());
    this.badge.hidden = !this.badge.textContent;
  }

  updateCounters(stats) {
    const rules = stats?.rules;
    const rows = [];
    for (const [zone, z] of Object.entries(rules?.zones || {})) {
      const inside = Object.entries(z.occupancy).map(([l, n]) => `${n} ${l}`).join(", ") || "empty";
      const entries = Object.values(z.entries).reduce((a, b) => a + b, 0);
      rows.push(el("div", {}, el("b", {}, `Zone ${zone}: `), `${inside} · ${entries} entries`));
    }
    for (const [line, l] of Object.entries(rules?.lines || {})) {
      const sum = (m) => Object.values(m).reduce((a, b) => a + b, 0);
      rows.push(el("div", {}, el("b", {}, `Line ${line}: `), `${sum(l.left_to_right)} left→right · ${sum(l.right_to_left)} right→left`));
    }
    this.counters.replaceChildren(...rows);
  }
}

/** The live view. */
export class LiveView {
  constructor() {
    this.tiles = new Map();
    this.active = false;
    this.focus = null;
    on("cameras", (cameras) => this.sync(cameras));
    on("stats", (stats) => {
      for (const c of stats.cameras) this.tiles.get(c.name)?.updateCounters(c);
    });
    on("online", (online) => {
      $("#live-summary").textContent = online ? "" : "The appliance does not answer; retrying…";
    });
  }

  show(rest) {
    this.active = true;
    this.focus = rest ? decodeURIComponent(rest) : null;
    this.sync(store.cameras);
  }

  hide() {
    this.active = false;
  }

  sync(cameras) {
    const grid = $("#grid");
    const names = new Set(cameras.map((c) => c.name));
    for (const [name, tile] of this.tiles) {
      if (!names.has(name)) {
        tile.destroy();
        this.tiles.delete(name);
      }
    }
    for (const camera of cameras) {
      let tile = this.tiles.get(camera.name);
      if (!tile) {
        tile = new Tile(camera.name, this);
        this.tiles.set(camera.name, tile);
      }
      tile.update(camera);
      tile.node.hidden = Boolean(this.focus && this.focus !== camera.name);
    }
    // Keep the configuration order.
    const order = cameras.map((c) => this.tiles.get(c.name).node);
    if (order.some((node, i) => grid.children[i] !== node)) grid.replaceChildren(...order);
    grid.classList.toggle("focused", Boolean(this.focus));
    $("#live-empty").hidden = cameras.length > 0;
    this.summary();
  }

  /** The line under the title: cameras, how many stream, objects in view now. */
  summary() {
    const cameras = store.cameras;
    if (!store.online) return;
    const streaming = cameras.filter((c) => c.state === "streaming").length;
    // What the tiles show, so the count agrees with the pictures.
    const objects = cameras.reduce((n, c) => n + (this.tiles.get(c.name)?.objects || 0), 0);
    $("#live-summary").textContent = this.focus
      ? `Camera ${this.focus} · back to all: click Live`
      : `${cameras.length} camera${cameras.length === 1 ? "" : "s"} · ${streaming} streaming · ${objects} object${objects === 1 ? "" : "s"} in view`;
  }
}
