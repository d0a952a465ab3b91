// Minimal console: lists the cameras with their health and latest detections, refreshed every second.
"use strict";

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

async function getJson(path) {
  const res = await fetch(path, { cache: "no-store" });
  if (!res.ok) throw Object.assign(new Error(`${path}: HTTP ${res.status}`), { status: res.status });
  return res.json();
}

function cameraCard(cam, latest) {
  const card = el("section", { class: "camera", "data-camera": cam.name });
  card.append(el("h2", {}, cam.name, el("span", { class: `state ${cam.state}` }, cam.state)));
  card.append(el("div", { class: "muted" },
    `${cam.url} · ${cam.fps_in} fps in · ${cam.fps_analysed} analysed · ${cam.frames_dropped} dropped`));
  if (cam.last_error && cam.state !== "streaming") card.append(el("div", { class: "error" }, cam.last_error));
  if (latest) {
    const rows = latest.detections.map((d) =>
      el("tr", { class: "detection" }, el("td", {}, d.label), el("td", { class: "score" }, d.score.toFixed(2)),
        el("td", { class: "muted" }, `${Math.round(d.box.x1)},${Math.round(d.box.y1)} – ${Math.round(d.box.x2)},${Math.round(d.box.y2)}`)));
    card.append(el("div", { class: "muted" }, `frame ${latest.frame}, ${latest.width}×${latest.height}, ${latest.detections.length} detections, ${latest.latency_ms} ms`));
    if (rows.length) card.append(el("table", {}, ...rows));
  }
  return card;
}

async function refresh() {
  try {
    const cameras = await getJson("/api/cameras");
    const latest = await Promise.all(cameras.map((c) =>
      getJson(`/api/cameras/${encodeURIComponent(c.name)}/detections/latest`).catch(() => null)));
    $("#cameras").replaceChildren(...cameras.map((c, i) => cameraCard(c, latest[i])));
    $("#status").textContent = cameras.length ? "" : "no cameras configured";
  } catch (e) {
    $("#status").textContent = `cannot reach the appliance: ${e.message}`;
  }
}

getJson("/api/health").then((h) => {
  $("#model").textContent = `v${h.version} · ${h.model.family} ${h.model.input_width}×${h.model.input_height} on ${h.model.backend}`;
}).catch(() => {});
refresh();
setInterval(refresh, 1000);
