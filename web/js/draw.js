// Drawing over a frame on a canvas: boxes with labels and track ids, zones and lines.
// Boxes come in source pixels (the result's width × height); zones and lines in fractions of
// the frame. Everything is scaled to the canvas's own pixels.

import { colourFor } from "./ui.js";

function iou(a, b) {
  const x1 = Math.max(a.x1, b.x1), y1 = Math.max(a.y1, b.y1);
  const x2 = Math.min(a.x2, b.x2), y2 = Math.min(a.y2, b.y2);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

function tag(ctx, x, y, text, colour, scale) {
  ctx.font = `600 ${Math.round(12 * scale)}px system-ui, sans-serif`;
  const pad = 4 * scale;
  const w = ctx.measureText(text).width + 2 * pad;
  const h = 16 * scale;
  const top = y - h < 0 ? y : y - h;
  ctx.fillStyle = colour;
  ctx.fillRect(x, top, w, h);
  ctx.fillStyle = "#0b0f14";
  ctx.textBaseline = "middle";
  ctx.fillText(text, x + pad, top + h / 2 + 0.5);
}

/**
 * Draws a frame result's tracks (solid, "label #id score") and the detections no track covers
 * (dashed). Returns how many boxes were drawn.
 */
export function drawDetections(ctx, result, width, height, scale = 1) {
  if (!result || !result.width || !result.height) return 0;
  const sx = width / result.width;
  const sy = height / result.height;
  const tracks = result.tracks || [];
  const loose = (result.detections || []).filter((d) => !tracks.some((t) => iou(t.box, d.box) > 0.3));
  let drawn = 0;
  const box = (b, colour, dashed) => {
    ctx.save();
    ctx.strokeStyle = colour;
    ctx.lineWidth = (dashed ? 1.5 : 2.5) * scale;
    if (dashed) ctx.setLineDash([5 * scale, 4 * scale]);
    ctx.strokeRect(b.x1 * sx, b.y1 * sy, (b.x2 - b.x1) * sx, (b.y2 - b.y1) * sy);
    ctx.restore();
    drawn += 1;
  };
  // Small pictures get short tags: the score is left out.
  const small = width < 560;
  const score = (s) => (small ? "" : ` ${s.toFixed(2)}`);
  for (const d of loose) {
    const colour = colourFor(d.label);
    box(d.box, colour, true);
    tag(ctx, d.box.x1 * sx, d.box.y1 * sy, `${d.label}${score(d.score)}`, colour, scale);
  }
  for (const t of tracks) {
    const colour = colourFor(t.label);
    box(t.box, colour, false);
    tag(ctx, t.box.x1 * sx, t.box.y1 * sy, `${t.label} #${t.id}${score(t.score)}`, colour, scale);
  }
  return drawn;
}

/** The arrow across a line, from its left-hand side to its right-hand side (as seen from `from` facing `to`). */
export function lineArrow(line, width, height) {
  const [fx, fy] = [line.from[0] * width, line.from[1] * height];
  const [tx, ty] = [line.to[0] * width, line.to[1] * height];
  const len = Math.hypot(tx - fx, ty - fy) || 1;
  // The right-hand normal in screen coordinates (y down) of the direction from → to.
  const nx = -(ty - fy) / len;
  const ny = (tx - fx) / len;
  const mx = (fx + tx) / 2, my = (fy + ty) / 2;
  return { mx, my, nx, ny };
}

/**
 * Draws zones (filled, outlined, named) and lines (with an arrow from their left to their right
 * side, named). `selected` names a shape to highlight as `{kind, index}`.
 */
export function drawRules(ctx, rules, width, height, scale = 1, selected = null) {
  if (!rules) return;
  ctx.save();
  ctx.font = `600 ${Math.round(12 * scale)}px system-ui, sans-serif`;
  (rules.zones || []).forEach((zone, i) => {
    if (!zone.polygon || zone.polygon.length < 2) return;
    const colour = colourFor(`zone:${zone.name}`);
    const chosen = selected && selected.kind === "zone" && selected.index === i;
    ctx.beginPath();
    zone.polygon.forEach(([x, y], j) => (j ? ctx.lineTo(x * width, y * height) : ctx.moveTo(x * width, y * height)));
    ctx.closePath();
    ctx.globalAlpha = chosen ? 0.3 : 0.16;
    ctx.fillStyle = colour;
    ctx.fill();
    ctx.globalAlpha = 1;
    ctx.lineWidth = (chosen ? 3 : 2) * scale;
    ctx.strokeStyle = colour;
    ctx.stroke();
    const [x0, y0] = zone.polygon[0];
    tag(ctx, x0 * width, y0 * height + 16 * scale, zone.name, colour, scale);
  });
  (rules.lines || []).forEach((line, i) => {
    const colour = colourFor(`line:${line.name}`);
    const chosen = selected && selected.kind === "line" && selected.index === i;
    const [fx, fy, tx, ty] = [line.from[0] * width, line.from[1] * height, line.to[0] * width, line.to[1] * height];
    ctx.lineCap = "round";
    ctx.strokeStyle = "rgb(0 0 0 / .55)";
    ctx.lineWidth = (chosen ? 7 : 5) * scale;
    ctx.beginPath(); ctx.moveTo(fx, fy); ctx.lineTo(tx, ty); ctx.stroke();
    ctx.strokeStyle = colour;
    ctx.lineWidth = (chosen ? 4 : 3) * scale;
    ctx.beginPath(); ctx.moveTo(fx, fy); ctx.lineTo(tx, ty); ctx.stroke();
    const { mx, my, nx, ny } = lineArrow(line, width, height);
    const a = 18 * scale;
    ctx.beginPath();
    ctx.moveTo(mx - nx * a, my - ny * a);
    ctx.lineTo(mx + nx * a, my + ny * a);
    ctx.lineTo(mx + nx * a - (nx * 7 - ny * 5) * scale, my + ny * a - (ny * 7 + nx * 5) * scale);
    ctx.moveTo(mx + nx * a, my + ny * a);
    ctx.lineTo(mx + nx * a - (nx * 7 + ny * 5) * scale, my + ny * a - (ny * 7 - nx * 5) * scale);
    ctx.lineWidth = 2 * scale;
    ctx.stroke();
    tag(ctx, fx + 6 * scale, fy - 6 * scale, line.name, colour, scale);
  });
  ctx.restore();
}

/** Draws the handles (corners, ends) of one shape, for editing. */
export function drawHandles(ctx, points, width, height, scale = 1) {
  ctx.save();
  for (const [x, y] of points) {
    ctx.beginPath();
    ctx.arc(x * width, y * height, 6 * scale, 0, Math.PI * 2);
    ctx.fillStyle = "#ffffff";
    ctx.fill();
    ctx.lineWidth = 2 * scale;
    ctx.strokeStyle = "#0b62d6";
    ctx.stroke();
  }
  ctx.restore();
}
