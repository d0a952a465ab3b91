// A camera's health in words: "Unreachable — no route to 192.168.1.20; retrying in 3 s".

import { serverNow } from "./api.js";
import { fmtDuration } from "./ui.js";

/** What each stable reason means to a person. */
const REASONS = {
  "unreachable": "Unreachable",
  "not-found": "Stream not found",
  "unauthorized": "Wrong user name or password",
  "protocol-error": "Not a camera stream",
  "unsupported-codec": "Unsupported video format",
  "decode-error": "Video cannot be decoded",
  "eos": "Stream ended",
  "no-frames": "Connected, but no video arrives",
  "stalled": "Video stopped",
  "pipeline": "Internal video pipeline error",
  "blocked": "Video source not answering",
};

/** What to do about a reason that needs a person. */
const ADVICE = {
  "not-found": "check the stream path in the camera's URL",
  "unauthorized": "check the user name and password",
  "protocol-error": "check that the URL points at the camera's RTSP port",
  "unsupported-codec": "set the camera to H.264 or H.265",
  "blocked": "check that the device or named pipe in the URL is being fed",
};

function reasonMessage(camera) {
  const text = camera.last_error || "";
  const prefix = `${camera.reason}: `;
  const message = text.startsWith(prefix) ? text.slice(prefix.length) : text;
  return message.replace(/\.$/, "");
}

function retryIn(camera) {
  if (!camera.next_retry_ms) return "";
  const wait = camera.next_retry_ms - serverNow();
  return wait > 500 ? `retrying in ${fmtDuration(wait)}` : "retrying now";
}

/**
 * `{tone, state, text, short}`: tone is ok/warn/bad/muted; state the short word; text the
 * sentence with the details; short the sentence without the source's own message.
 */
export function describe(camera) {
  const h = sentence(camera);
  const title = REASONS[camera.reason] || camera.reason;
  const short = ["backoff", "failed"].includes(camera.state)
    ? [title, retryIn(camera)].filter(Boolean).join("; ")
    : h.text;
  return { ...h, short };
}

function sentence(camera) {
  const title = REASONS[camera.reason] || camera.reason || "Problem";
  const message = camera.reason ? reasonMessage(camera) : "";
  const because = message ? `${title} — ${message}` : title;
  switch (camera.state) {
    case "streaming": {
      const fps = camera.fps_in > 0
        ? `${camera.fps_in.toFixed(1)} fps in, ${camera.fps_analysed.toFixed(1)} analysed`
        : "measuring the frame rate…";
      return { tone: "ok", state: "Streaming", text: `Streaming · ${fps}` };
    }
    case "connecting":
      return {
        tone: "warn",
        state: "Connecting",
        text: camera.reason ? `Connecting… (last time: ${because})` : "Connecting…",
      };
    case "stalled": {
      const age = camera.last_frame_age_ms ? ` for ${fmtDuration(camera.last_frame_age_ms)}` : "";
      return { tone: "warn", state: "Stalled", text: `No new frame${age}; the stream is rebuilt if none comes` };
    }
    case "backoff":
      return { tone: "bad", state: "Retrying", text: [because, retryIn(camera)].filter(Boolean).join("; ") };
    case "failed": {
      const advice = ADVICE[camera.reason];
      const parts = [because, advice ? `${advice}` : "needs attention", retryIn(camera)];
      return { tone: "bad", state: "Failed", text: parts.filter(Boolean).join("; ") };
    }
    case "disabled":
      return { tone: "muted", state: "Disabled", text: "Disabled in the config (enabled = false)" };
    case "stopped":
      return { tone: "muted", state: "Stopped", text: "Stopped" };
    default:
      return { tone: "muted", state: camera.state, text: camera.state };
  }
}
