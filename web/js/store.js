// What the views share: the camera list (polled), each camera's rules (from its config), the
// model, the latest stats (polled), and the newest frame results from the feed. Views subscribe
// with `on(name, fn)`; every poll is bounded and backs off while the appliance is unreachable.

import { api, feed, noteServerTime } from "./api.js";

/** Results kept per camera, to match a frame's detections to the frame shown. */
const RESULTS_KEPT = 40;

export const store = {
  cameras: [],
  /** camera name → its `rules` table (zones, lines), from `/api/cameras/{name}/config`. */
  rules: new Map(),
  model: null,
  stats: null,
  /** camera name → the most recent frame results, oldest first. */
  results: new Map(),
  online: true,
};

const listeners = new Map();

export function on(name, fn) {
  if (!listeners.has(name)) listeners.set(name, new Set());
  listeners.get(name).add(fn);
  return () => listeners.get(name).delete(fn);
}

function emit(name, value) {
  for (const fn of listeners.get(name) || []) {
    try { fn(value); } catch (e) { console.error(e); }
  }
}

/** The result of `camera`'s frame `seq`, or the newest one not after it. */
export function resultFor(camera, seq) {
  const list = store.results.get(camera) || [];
  let best = null;
  for (const r of list) {
    if (r.frame === seq) return r;
    if (r.frame < seq && (!best || r.frame > best.frame)) best = r;
  }
  return best || list[list.length - 1] || null;
}

export function rememberResult(result) {
  let list = store.results.get(result.camera);
  if (!list) store.results.set(result.camera, (list = []));
  list.push(result);
  if (list.length > RESULTS_KEPT) list.shift();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function pollCameras() {
  let wait = 2000;
  for (;;) {
    try {
      const cameras = await api("/api/cameras");
      const names = (list) => list.map((c) => c.name).join("\n");
      const changed = names(cameras) !== names(store.cameras);
      store.cameras = cameras;
      if (!store.online) { store.online = true; emit("online", true); }
      emit("cameras", cameras);
      if (changed) refreshRules();
      wait = 2000;
    } catch (e) {
      if (store.online) { store.online = false; emit("online", false); }
      wait = Math.min(wait * 2, 10000);
    }
    await sleep(wait);
  }
}

/** Reloads every camera's rules (after a change, or when the list changes). */
export async function refreshRules() {
  const pairs = await Promise.all(store.cameras.map(async (c) => {
    try {
      const spec = await api(`/api/cameras/${encodeURIComponent(c.name)}/config`);
      return [c.name, spec.rules || { zones: [], lines: [] }];
    } catch {
      return [c.name, store.rules.get(c.name) || null];
    }
  }));
  store.rules = new Map(pairs);
  emit("rules", store.rules);
}

async function pollStats() {
  for (;;) {
    try {
      const stats = await api("/api/stats");
      noteServerTime(stats.time_ms);
      store.stats = stats;
      emit("stats", stats);
    } catch { /* the camera poll reports being offline */ }
    await sleep(2000);
  }
}

async function loadModel() {
  for (let wait = 1000; ; wait = Math.min(wait * 2, 15000)) {
    try {
      store.model = await api("/api/model");
      emit("model", store.model);
      return;
    } catch { await sleep(wait); }
  }
}

export function startStore() {
  feed.on("frame", (message) => {
    rememberResult(message);
    emit("frame", message);
  });
  feed.on("event", (message) => emit("event", message));
  feed.start();
  pollCameras();
  pollStats();
  loadModel();
  setInterval(refreshRules, 15000);
}
