// Small DOM helpers shared by the views: element building, toasts, time formatting, colours.

/** Creates an element: `el("a", {href: "#"}, "text", child)`. `null` children are skipped. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** Shows a short message at the bottom right for a few seconds. */
export function toast(message, tone = "") {
  const box = $("#toasts");
  const item = el("div", { class: `toast ${tone}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), tone === "bad" ? 8000 : 4000);
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", year: "numeric" });
export const fmtTime = (ms) => timeFormat.format(new Date(ms));
export const fmtDay = (ms) => dayFormat.format(new Date(ms));

/** "3 s", "2 min 5 s", "1 h 4 min". */
export function fmtDuration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

/** A stable colour for a label or a name: same text, same hue. */
export function colourFor(text) {
  let h = 0;
  for (const ch of String(text)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  // Person, the most common label, gets a fixed, clearly visible hue.
  const hue = text === "person" ? 150 : h % 360;
  return `hsl(${hue} 85% 55%)`;
}

/** Reads a CSS custom property of the root element (theme colours for canvases). */
export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** Sizes a canvas's drawing buffer to its displayed size × device pixel ratio; returns its 2D context. */
export function fitCanvas(canvas, aspect) {
  const ratio = window.devicePixelRatio || 1;
  const rect = canvas.getBoundingClientRect();
  const width = Math.max(1, Math.round(rect.width * ratio));
  const height = Math.max(1, Math.round((aspect ? rect.width / aspect : rect.height) * ratio));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  return canvas.getContext("2d");
}

/** Fills a `<select>` with options, keeping the current choice when it still exists. */
export function fillSelect(select, values, { keep = true, first = null } = {}) {
  const current = select.value;
  const options = [];
  if (first) options.push(el("option", { value: first[0] }, first[1]));
  for (const v of values) options.push(el("option", { value: v }, v));
  select.replaceChildren(...options);
  if (keep && [...select.options].some((o) => o.value === current)) select.value = current;
}

/** Calls `fn` at most once per `ms`, with the latest arguments. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
