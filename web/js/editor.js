// The zone and line editor: draws on the camera's newest frame and saves the camera's `rules`
// with `PUT /api/cameras/{name}` (which validates, writes the config file and restarts that
// camera). Shapes are kept in fractions of the frame. Lines: one drag. Zones: a click per corner,
// closed by clicking the first corner, a double-click or Enter. Select: drag a corner or an end;
// Delete removes the selected shape. Every value can also be typed in the side panel.

import { api } from "./api.js";
import { drawHandles, drawRules } from "./draw.js";
import { store, on, refreshRules } from "./store.js";
import { $, el, colourFor, fillSelect, fitCanvas, toast } from "./ui.js";

const NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;
const HIT_PX = 12;
const round = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;
const clone = (v) => JSON.parse(JSON.stringify(v));

export class EditorView {
  constructor() {
    this.canvas = $("#editor-canvas");
    this.select = $("#editor-camera");
    this.camera = null;
    this.spec = null;
    this.rules = { zones: [], lines: [] };
    this.saved = "";
    this.tool = "select";
    this.selected = null;
    this.draft = null;
    this.drag = null;
    this.image = null;
    this.aspect = 4 / 3;
    this.pointer = null;
    this.active = false;

    on("cameras", (cameras) => {
      fillSelect(this.select, cameras.map((c) => c.name));
      if (this.active && !this.camera && cameras.length) this.load(this.select.value);
    });
    on("model", () => this.panel());
    this.select.addEventListener("change", () => {
      if (this.dirty() && !confirm("Discard the unsaved changes?")) {
        this.select.value = this.camera;
        return;
      }
      this.load(this.select.value);
    });
    for (const button of document.querySelectorAll("[data-tool]")) {
      button.addEventListener("click", () => this.setTool(button.dataset.tool));
    }
    $("#editor-refresh").addEventListener("click", () => this.loadFrame());
    $("#editor-save").addEventListener("click", () => this.save());
    $("#editor-revert").addEventListener("click", () => {
      this.rules = JSON.parse(this.saved);
      this.selected = null;
      this.changed();
    });
    this.canvas.addEventListener("pointerdown", (e) => this.down(e));
    this.canvas.addEventListener("pointermove", (e) => this.move(e));
    this.canvas.addEventListener("pointerup", (e) => this.up(e));
    this.canvas.addEventListener("dblclick", () => this.closeZone());
    this.canvas.addEventListener("keydown", (e) => this.key(e));
    new ResizeObserver(() => this.draw()).observe(this.canvas);
  }

  show() {
    this.active = true;
    if (!this.camera && this.select.value) this.load(this.select.value);
    else this.draw();
  }

  hide() {
    this.active = false;
  }

  dirty() {
    return this.saved !== "" && JSON.stringify(this.rules) !== this.saved;
  }

  async load(name) {
    if (!name) return;
    this.camera = name;
    this.selected = null;
    this.draft = null;
    this.status("Loading…");
    try {
      this.spec = await api(`/api/cameras/${encodeURIComponent(name)}/config`);
      const rules = this.spec.rules || {};
      this.rules = { ...rules, zones: rules.zones || [], lines: rules.lines || [] };
      this.saved = JSON.stringify(this.rules);
      this.status("");
    } catch (e) {
      this.status(`Cannot load the camera's settings: ${e.message}`, "error");
    }
    this.changed();
    this.loadFrame();
  }

  async loadFrame() {
    if (!this.camera) return;
    try {
      const res = await api(`/api/cameras/${encodeURIComponent(this.camera)}/frame.jpg?width=1280`, { raw: true });
      const image = await createImageBitmap(await res.blob());
      // The old picture may be drawn while the new one decodes: close it only once replaced.
      const old = this.image;
      this.image = image;
      old?.close?.();
      this.aspect = this.image.width / this.image.height;
      this.canvas.parentElement.style.setProperty("--aspect", String(this.aspect));
      this.canvas.dataset.ready = "1";
    } catch (e) {
      this.image = null;
      this.hint(e.code === "no_frame_yet" ? "No frame yet: the camera has not delivered one. Try “New frame” in a moment." : `No frame: ${e.message}`);
    }
    this.draw();
  }

  setTool(tool) {
    this.tool = tool;
    this.draft = null;
    for (const b of document.querySelectorAll("[data-tool]")) b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
    this.hint({
      select: "Select a shape to edit it; drag its corners or ends. Delete removes it.",
      line: "Drag across the frame to draw a counting line.",
      zone: "Click each corner of the zone; click the first corner, double-click or press Enter to close it. Escape cancels.",
    }[tool]);
    this.canvas.focus();
    this.draw();
  }

  hint(text) {
    $("#editor-hint").textContent = text || "";
  }

  status(text, tone = "") {
    const s = $("#editor-status");
    s.textContent = text;
    s.className = `small ${tone}`;
  }

  point(e) {
    const rect = this.canvas.getBoundingClientRect();
    return [round((e.clientX - rect.left) / rect.width), round((e.clientY - rect.top) / rect.height)];
  }

  /** Distance in CSS pixels between two normalised points. */
  px(a, b) {
    const rect = this.canvas.getBoundingClientRect();
    return Math.hypot((a[0] - b[0]) * rect.width, (a[1] - b[1]) * rect.height);
  }

  handles(sel) {
    if (!sel) return [];
    if (sel.kind === "line") {
      const l = this.rules.lines[sel.index];
      return l ? [l.from, l.to] : [];
    }
    return this.rules.zones[sel.index]?.polygon || [];
  }

  hitHandle(p) {
    const candidates = [];
    if (this.selected) candidates.push(this.selected);
    this.rules.lines.forEach((_, index) => candidates.push({ kind: "line", index }));
    this.rules.zones.forEach((_, index) => candidates.push({ kind: "zone", index }));
    for (const sel of candidates) {
      const points = this.handles(sel);
      const i = points.findIndex((q) => this.px(p, q) <= HIT_PX);
      if (i >= 0) return { ...sel, point: i };
    }
    return null;
  }

  hitShape(p) {
    const lines = this.rules.lines;
    for (let index = lines.length - 1; index >= 0; index--) {
      const { from: a, to: b } = lines[index];
      const ab = [b[0] - a[0], b[1] - a[1]];
      const t = Math.max(0, Math.min(1, ((p[0] - a[0]) * ab[0] + (p[1] - a[1]) * ab[1]) / (ab[0] ** 2 + ab[1] ** 2 || 1)));
      if (this.px(p, [a[0] + t * ab[0], a[1] + t * ab[1]]) <= HIT_PX) return { kind: "line", index };
    }
    const zones = this.rules.zones;
    for (let index = zones.length - 1; index >= 0; index--) {
      const poly = zones[index].polygon;
      let inside = false;
      for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
        const [xi, yi] = poly[i], [xj, yj] = poly[j];
        if ((yi > p[1]) !== (yj > p[1]) && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) inside = !inside;
      }
      if (inside) return { kind: "zone", index };
    }
    return null;
  }

  down(e) {
    if (e.button !== 0) return;
    const p = this.point(e);
    this.canvas.focus();
    if (this.tool === "line") {
      this.draft = { from: p, to: p };
      this.canvas.setPointerCapture(e.pointerId);
    } else if (this.tool === "zone") {
      const points = this.draft?.points || [];
      if (points.length >= 3 && this.px(p, points[0]) <= HIT_PX) {
        this.closeZone();
        return;
      }
      this.draft = { points: [...points, p] };
    } else {
      const handle = this.hitHandle(p);
      if (handle) {
        this.selected = { kind: handle.kind, index: handle.index };
        this.drag = handle;
        this.canvas.setPointerCapture(e.pointerId);
      } else {
        this.selected = this.hitShape(p);
      }
      this.panel();
    }
    this.draw();
  }

  move(e) {
    const p = this.point(e);
    this.pointer = p;
    if (this.tool === "line" && this.draft) {
      this.draft.to = p;
    } else if (this.drag) {
      const { kind, index, point } = this.drag;
      if (kind === "line") this.rules.lines[index][point === 0 ? "from" : "to"] = p;
      else this.rules.zones[index].polygon[point] = p;
    } else if (this.tool !== "zone") {
      return;
    }
    this.draw();
  }

  up(e) {
    if (this.tool === "line" && this.draft) {
      const { from, to } = this.draft;
      this.draft = null;
      if (this.px(from, to) >= 15) {
        this.rules.lines.push({ name: this.uniqueName("line"), from, to, labels: [] });
        this.selected = { kind: "line", index: this.rules.lines.length - 1 };
        this.setTool("select");
        this.changed(true);
      }
      this.draw();
    }
    if (this.drag) {
      this.drag = null;
      this.changed();
    }
    if (this.canvas.hasPointerCapture?.(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
  }

  closeZone() {
    const points = this.draft?.points || [];
    if (this.tool !== "zone" || points.length < 3) return;
    this.draft = null;
    this.rules.zones.push({ name: this.uniqueName("zone"), polygon: points, labels: [] });
    this.selected = { kind: "zone", index: this.rules.zones.length - 1 };
    this.setTool("select");
    this.changed(true);
  }

  key(e) {
    if (e.key === "Escape") {
      this.draft = null;
      this.draw();
    } else if (e.key === "Enter") {
      this.closeZone();
    } else if ((e.key === "Delete" || e.key === "Backspace") && this.selected) {
      e.preventDefault();
      this.remove(this.selected);
    }
  }

  uniqueName(prefix) {
    const used = new Set([...this.rules.zones, ...this.rules.lines].map((s) => s.name));
    for (let i = 1; ; i++) if (!used.has(`${prefix}-${i}`)) return `${prefix}-${i}`;
  }

  remove(sel) {
    (sel.kind === "line" ? this.rules.lines : this.rules.zones).splice(sel.index, 1);
    this.selected = null;
    this.changed();
  }

  /** After any change: redraw, refresh the panel, enable Save when something differs. */
  changed(focusName = false) {
    this.draw();
    this.panel();
    const dirty = this.dirty();
    $("#editor-save").disabled = !dirty;
    $("#editor-revert").disabled = !dirty;
    if (focusName) $("#shape-name")?.select();
  }

  draw() {
    if (!this.canvas.isConnected || !this.active) return;
    const ctx = fitCanvas(this.canvas, this.aspect);
    const { width, height } = this.canvas;
    const scale = Math.max(0.75, width / 800);
    ctx.fillStyle = "#0b0f14";
    ctx.fillRect(0, 0, width, height);
    if (this.image) ctx.drawImage(this.image, 0, 0, width, height);
    drawRules(ctx, this.rules, width, height, scale, this.selected);
    drawHandles(ctx, this.handles(this.selected), width, height, scale);
    const d = this.draft;
    if (d) {
      ctx.save();
      ctx.strokeStyle = "#ffffff";
      ctx.setLineDash([6 * scale, 4 * scale]);
      ctx.lineWidth = 2 * scale;
      const pts = d.points ? [...d.points, ...(this.pointer ? [this.pointer] : [])] : [d.from, d.to];
      ctx.beginPath();
      pts.forEach(([x, y], i) => (i ? ctx.lineTo(x * width, y * height) : ctx.moveTo(x * width, y * height)));
      ctx.stroke();
      ctx.restore();
      drawHandles(ctx, d.points || [d.from], width, height, scale);
    }
  }

  panel() {
    const list = $("#shape-list");
    const items = [];
    this.rules.lines.forEach((l, index) => items.push(this.listItem("line", index, l.name)));
    this.rules.zones.forEach((z, index) => items.push(this.listItem("zone", index, z.name)));
    list.replaceChildren(...(items.length ? items : [el("li", { class: "muted small" }, "No zones or lines yet.")]));
    $("#shape-detail").replaceChildren(...(this.selected ? [this.detail(this.selected)] : []));
  }

  listItem(kind, index, name) {
    const current = this.selected?.kind === kind && this.selected.index === index;
    const swatch = el("span", { class: "swatch", "aria-hidden": "true" });
    swatch.style.setProperty("--swatch", colourFor(`${kind}:${name}`));
    return el("li", {}, el("button", {
      type: "button", "aria-current": current ? "true" : "false",
      onclick: () => { this.selected = { kind, index }; this.changed(); },
    }, swatch, `${kind === "line" ? "Line" : "Zone"} ${name}`));
  }

  detail(sel) {
    const shape = sel.kind === "line" ? this.rules.lines[sel.index] : this.rules.zones[sel.index];
    if (!shape) return el("div");
    const name = el("input", { id: "shape-name", type: "text", value: shape.name, required: true, pattern: "[A-Za-z0-9_-]{1,64}", autocomplete: "off", spellcheck: "false" });
    name.addEventListener("input", () => {
      shape.name = name.value.trim();
      name.setAttribute("aria-invalid", String(!NAME_RE.test(shape.name)));
      this.draw();
      $("#editor-save").disabled = !this.dirty();
      $("#editor-revert").disabled = !this.dirty();
    });
    name.addEventListener("change", () => this.changed());
    const parts = [el("label", { for: "shape-name" }, "Name (letters, digits, - and _)", name), this.labelPicker(shape)];
    if (sel.kind === "line") {
      parts.push(el("p", { class: "small muted" },
        "The arrow points from the line's left side to its right side: crossings that way count as left→right."));
      parts.push(this.coords(shape));
      parts.push(el("button", { type: "button", onclick: () => { [shape.from, shape.to] = [shape.to, shape.from]; this.changed(); } }, "Swap direction"));
    } else {
      const loiter = el("input", { type: "number", min: "0", step: "1", value: shape.loiter_s ?? "", placeholder: "off" });
      loiter.addEventListener("change", () => {
        const v = Number(loiter.value);
        if (loiter.value === "" || v <= 0) delete shape.loiter_s;
        else shape.loiter_s = v;
        this.changed();
      });
      parts.push(el("label", {}, "Loitering after (seconds; empty for none)", loiter));
      parts.push(el("p", { class: "small muted" }, `${shape.polygon.length} corners`));
    }
    parts.push(el("button", { type: "button", class: "danger", onclick: () => this.remove(sel) }, `Delete ${sel.kind}`));
    return el("div", { class: "detail" }, ...parts);
  }

  coords(line) {
    const input = (point, axis, label) => {
      const field = el("input", { type: "number", min: "0", max: "1", step: "0.01", value: line[point][axis], "aria-label": label });
      field.addEventListener("change", () => {
        line[point] = [...line[point]];
        line[point][axis] = round(Number(field.value));
        this.changed();
      });
      return field;
    };
    return el("div", {}, el("span", { class: "small muted" }, "From (x, y) → to (x, y), fractions of the frame"),
      el("div", { class: "coords" }, input("from", 0, "from x"), input("from", 1, "from y"), input("to", 0, "to x"), input("to", 1, "to y")));
  }

  labelPicker(shape) {
    const labels = store.model?.labels || [];
    const chips = (shape.labels || []).map((label) => {
      const chip = el("span", { class: "chip" }, label,
        el("button", { type: "button", "aria-label": `Remove ${label}`, onclick: () => { shape.labels = shape.labels.filter((l) => l !== label); this.changed(); } }, "✕"));
      chip.style.setProperty("--chip", colourFor(label));
      return chip;
    });
    const add = el("select", { "aria-label": "Add a label" },
      el("option", { value: "" }, shape.labels?.length ? "add a label…" : "all labels (add one to limit)"),
      ...labels.filter((l) => !(shape.labels || []).includes(l)).map((l) => el("option", { value: l }, l)));
    add.addEventListener("change", () => {
      if (!add.value) return;
      shape.labels = [...(shape.labels || []), add.value];
      this.changed();
    });
    return el("div", {}, el("span", { class: "small muted" }, "Labels"), el("div", { class: "label-picker" }, ...chips), add);
  }

  problems() {
    const names = new Map();
    for (const [kind, list] of [["line", this.rules.lines], ["zone", this.rules.zones]]) {
      for (const s of list) {
        if (!NAME_RE.test(s.name)) return `The ${kind} name “${s.name}” is not valid: use 1 to 64 letters, digits, - or _.`;
        if (names.get(kind + s.name)) return `Two ${kind}s are named “${s.name}”: give each a unique name.`;
        names.set(kind + s.name, true);
      }
    }
    return null;
  }

  async save() {
    const problem = this.problems();
    if (problem) {
      this.status(problem, "error");
      return;
    }
    const button = $("#editor-save");
    button.disabled = true;
    this.status("Saving…");
    try {
      const body = { ...this.spec, rules: this.rules };
      const change = await api(`/api/cameras/${encodeURIComponent(this.camera)}`, { method: "PUT", body });
      this.spec = body;
      this.saved = JSON.stringify(this.rules);
      const where = change.persisted_to ? `written to ${change.persisted_to}` : "not persisted: the appliance runs without a config file";
      this.status(`Saved: ${this.rules.zones.length} zone(s), ${this.rules.lines.length} line(s); ${where}. The camera restarted with them.`, "ok");
      toast(`Saved the rules of ${this.camera}`);
      refreshRules();
    } catch (e) {
      this.status(`Not saved: ${e.message}`, "error");
    }
    this.changed();
  }
}
