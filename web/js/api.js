// The appliance's API as the console uses it: JSON calls with the token, the token dialog on
// 401, URLs for images, and the shared WebSocket feed with reconnection.

import { $ } from "./ui.js";

const TOKEN_KEY = "edgesight.token";

export const getToken = () => localStorage.getItem(TOKEN_KEY) || "";
export function setToken(token) {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
  feed.reconnect();
}

/** An error from the API: `status`, the stable `code` and the `message`. */
export class ApiError extends Error {
  constructor(status, code, message, body = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

let asking = null;
/** The person cancelled the dialog: reads stop asking until they choose to enter a token. */
let declined = false;
export const tokenDeclined = () => declined;

/** Opens the token dialog (once, whoever asks); resolves true when a token was entered. */
export function askToken(why) {
  if (asking) return asking;
  const dialog = $("#token-dialog");
  const input = $("#token-input");
  $("#token-why").textContent = why || "";
  input.value = "";
  asking = new Promise((resolve) => {
    const done = (ok) => {
      dialog.removeEventListener("close", onClose);
      $("#token-cancel").removeEventListener("click", onCancel);
      asking = null;
      resolve(ok);
    };
    const onClose = () => {
      const token = input.value.trim();
      if (dialog.returnValue === "save" && token) {
        declined = false;
        setToken(token);
        done(true);
      } else {
        declined = true;
        done(false);
      }
    };
    const onCancel = () => { dialog.returnValue = "cancel"; dialog.close(); };
    dialog.addEventListener("close", onClose);
    $("#token-cancel").addEventListener("click", onCancel);
    dialog.returnValue = "";
    dialog.showModal();
    input.focus();
  });
  return asking;
}

/**
 * Calls the API. `body` (an object) is sent as JSON, `text` as TOML text. Returns the parsed
 * JSON (or the Response with `raw: true`). On 401 asks for the token and tries once more.
 */
export async function api(path, { method = "GET", body, text, raw = false, retry = true } = {}) {
  const headers = {};
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  } else if (text !== undefined) {
    headers["Content-Type"] = "application/toml";
    payload = text;
  }
  const res = await fetch(path, { method, headers, body: payload, cache: "no-store" });
  const read = method === "GET" || method === "HEAD";
  if (res.status === 401 && retry && !(read && declined)) {
    const detail = await res.json().catch(() => ({}));
    const why = detail?.error?.code === "token_invalid"
      ? "The stored token was refused."
      : method === "GET" ? "This appliance needs the token for every call." : "Changes need the API token.";
    if (await askToken(why)) return api(path, { method, body, text, raw, retry: false });
    throw new ApiError(401, "token_required", "no API token given");
  }
  if (!res.ok) {
    const detail = await res.json().catch(() => null);
    const e = detail?.error;
    throw new ApiError(res.status, e?.code || `http_${res.status}`, e?.message || `${path}: HTTP ${res.status}`, detail);
  }
  if (raw) return res;
  return res.status === 204 ? null : res.json();
}

/** A URL for `<img>` and the like, with the token as `access_token` when one is stored. */
export function mediaUrl(path) {
  const token = getToken();
  if (!token) return path;
  return `${path}${path.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(token)}`;
}

/** Server clock minus this browser's clock, in ms (from the feed's hello and stats). */
export let clockSkewMs = 0;
export function noteServerTime(serverMs) {
  if (Number.isFinite(serverMs)) clockSkewMs = serverMs - Date.now();
}
export const serverNow = () => Date.now() + clockSkewMs;

/**
 * The one WebSocket of the page. Views subscribe by message type ("frame", "event", "hello",
 * "dropped", "state"); it reconnects with backoff and says how it stands through "state".
 */
class Feed {
  constructor() {
    this.handlers = new Map();
    this.socket = null;
    this.backoff = 1000;
    this.timer = null;
    this.state = "connecting";
    this.dropped = 0;
  }

  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(fn);
    return () => this.handlers.get(type).delete(fn);
  }

  emit(type, message) {
    for (const fn of this.handlers.get(type) || []) {
      try { fn(message); } catch (e) { console.error(e); }
    }
  }

  setState(state) {
    this.state = state;
    this.emit("state", state);
  }

  start() {
    if (this.socket) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const token = getToken();
    const protocols = token ? ["edgesight", `bearer.${token}`] : ["edgesight"];
    let socket;
    try {
      socket = new WebSocket(`${scheme}://${location.host}/api/ws`, protocols);
    } catch (e) {
      this.retry();
      return;
    }
    this.socket = socket;
    this.setState("connecting");
    socket.onopen = () => { this.backoff = 1000; this.setState("live"); };
    socket.onmessage = (m) => {
      let message;
      try { message = JSON.parse(m.data); } catch { return; }
      if (message.type === "hello") noteServerTime(message.server_time_ms);
      if (message.type === "dropped") this.dropped += message.messages;
      this.emit(message.type, message);
    };
    socket.onclose = () => {
      if (this.socket === socket) {
        this.socket = null;
        this.retry();
      }
    };
  }

  retry() {
    this.setState("offline");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.start(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, 10000);
  }

  reconnect() {
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close();
    clearTimeout(this.timer);
    this.backoff = 1000;
    this.start();
  }
}

export const feed = new Feed();
