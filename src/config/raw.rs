//! The config file as written: every key optional where a default exists, unknown keys rejected.
//! Field doc comments are the reference for users (mirrored in `configs/reference.toml`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub http: RawHttp,
    pub model: Option<RawModel>,
    #[serde(default)]
    pub cameras: Vec<CameraSpec>,
    #[serde(default)]
    pub rtsp_replay: Vec<RawRtspReplay>,
    /// Where events and their snapshots are kept (`[store]`); defaults when absent.
    pub store: Option<crate::store::StoreConfig>,
    /// Endpoints every matching event change is POSTed to (`[[webhooks]]`).
    #[serde(default)]
    pub webhooks: Vec<RawWebhook>,
    /// The MQTT broker events and states are published to (`[mqtt]`).
    pub mqtt: Option<RawMqtt>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    /// Address and port of the web console and API, e.g. "127.0.0.1:8080".
    pub bind: Option<String>,
    /// The appliance's address as receivers reach it, e.g. "http://edgesight.local:8080"
    /// (webhook snapshot links).
    pub public_url: Option<String>,
    /// The API token (at least 16 characters; `${ENV_VAR}` keeps it out of the file). Without
    /// one (and without `EDGESIGHT_API_TOKEN`), a token is generated at first start, printed
    /// once to the log, and its sha256 kept in the data folder.
    pub token: Option<String>,
    /// Whether reads (GET) need the token too. Default: true unless `bind` is a loopback
    /// address. Mutating calls always need it.
    pub require_token_for_reads: Option<bool>,
    /// Most MJPEG streams served at once (default 8).
    pub max_streams: Option<usize>,
    /// Most WebSocket clients at once (default 16).
    pub max_live_clients: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    /// ONNX model file.
    pub path: String,
    /// "ssd" or "yolox".
    pub family: String,
    /// Labels file.
    pub labels: String,
    /// [width, height] of the model input; read from the model when absent.
    pub input_size: Option<[u32; 2]>,
    /// Minimum score to report a detection (0..1).
    pub score_threshold: Option<f32>,
    /// IoU above which overlapping boxes of a class are merged (0..1).
    pub nms_iou: Option<f32>,
    /// At most this many detections per frame.
    pub max_detections: Option<usize>,
    /// Report only these labels.
    pub only_labels: Option<Vec<String>>,
    /// Expected sha256 of the model file.
    pub sha256: Option<String>,
    /// ONNX Runtime intra-op threads of each detection worker; default 1.
    pub threads: Option<usize>,
    /// Detection workers (each its own inference session, frames of different cameras in
    /// parallel) on the CPU backend; default: the CPU cores / `threads`, at most 4.
    pub workers: Option<usize>,
    /// Inference backends in order of preference: "tensorrt" (NVIDIA GPU), "cpu" (ONNX
    /// Runtime); the first that loads serves. Default ["tensorrt", "cpu"].
    pub backends: Option<Vec<String>>,
    /// Most frames per inference for models with a dynamic batch dimension (1-32, default 8).
    pub max_batch: Option<usize>,
    /// Longest wait, in ms, for more cameras' frames to fill a batch (0-1000, default 10).
    pub max_wait_ms: Option<u64>,
}

/// One camera as written (in the file, or as a JSON body of the cameras API). Strings may hold
/// `${ENV_VAR}` (url, username, password), substituted when validated; what is written back to
/// the file is this, unsubstituted.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSpec {
    /// Unique name: letters, digits, `-` and `_`.
    pub name: String,
    /// rtsp://[user:pass@]host[:port]/path, file:///path/clip.mp4, v4l2:///dev/video0,
    /// http(s)://… (MJPEG or HLS) or test://PATTERN.
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Frames analysed per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detect_fps: Option<f32>,
    /// RTSP transport: "tcp" (default), "udp" or "auto".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// RTSP user name, when not in the URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// RTSP password, when not in the URL; `${ENV_VAR}` keeps it out of the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Decoder element to use instead of the automatic choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoder: Option<String>,
    /// Width frames are scaled to (in GStreamer) before analysis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detect_width: Option<u32>,
    /// Height frames are scaled to before analysis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detect_height: Option<u32>,
    /// Files: start again at the end (default true).
    #[serde(rename = "loop", skip_serializing_if = "Option::is_none")]
    pub loop_file: Option<bool>,
    /// Seconds without a frame before the stream is rebuilt (default 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stall_timeout_s: Option<f32>,
    /// Longest wait between reconnection attempts, seconds (default 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconnect_max_s: Option<f32>,
    /// How detections become tracks (`[cameras.tracker]`); defaults when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracker: Option<crate::track::TrackerConfig>,
    /// Zones, lines, filters and event options (`[cameras.rules]`, `[[cameras.rules.zones]]`,
    /// `[[cameras.rules.lines]]`); defaults (every object is an event) when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<crate::rules::RulesConfig>,
    /// Motion-gated detection (`[cameras.motion]`): frames without motion skip the detector,
    /// tracked objects are still refreshed. Off when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub motion: Option<crate::batch::motion::MotionConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRtspReplay {
    /// Video file served in a loop.
    pub file: String,
    /// TCP port on 127.0.0.1.
    pub port: u16,
    /// Mount point, e.g. "/demo".
    pub mount: Option<String>,
}

/// One `[[webhooks]]` endpoint. `url`, `secret` and header values may hold `${ENV_VAR}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    /// Unique name: letters, digits, `-` and `_`.
    pub name: String,
    /// http(s) URL messages are POSTed to.
    pub url: String,
    /// Signing secret, `whsec_` + base64 (Standard Webhooks).
    pub secret: String,
    /// Only events of these cameras (absent: all).
    pub cameras: Option<Vec<String>>,
    /// Only events of these labels.
    pub labels: Option<Vec<String>>,
    /// Only events that entered one of these zones.
    pub zones: Option<Vec<String>>,
    /// Kinds of change sent: "new", "update", "end" (absent: all three).
    pub types: Option<Vec<String>>,
    /// Only events whose best score reached this (0..1).
    pub min_score: Option<f32>,
    /// Extra request headers, e.g. { Authorization = "Bearer ${TOKEN}" }.
    pub headers: Option<BTreeMap<String, String>>,
    /// "none", "url" (needs http.public_url) or "inline".
    pub snapshot: Option<String>,
    /// Time limit of one request, seconds.
    pub timeout_s: Option<f32>,
    /// Attempts before a message becomes a dead letter.
    pub max_attempts: Option<u32>,
    /// Longest wait between two attempts of one message, seconds.
    pub backoff_max_s: Option<f32>,
    /// Messages waiting at most; the oldest beyond become dead letters.
    pub max_pending: Option<u64>,
}

/// The `[mqtt]` table. `host`, `username` and `password` may hold `${ENV_VAR}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMqtt {
    /// Broker host name or address.
    pub host: String,
    /// Broker TCP port (default 1883).
    pub port: Option<u16>,
    /// MQTT client id (default "edgesight"); also the Home Assistant node id.
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// First level of every topic (default "edgesight").
    pub topic_prefix: Option<String>,
    /// Seconds between keep-alive pings; the last will fires after 1.5 times this.
    pub keepalive_s: Option<u32>,
    /// Longest wait between reconnection attempts, seconds.
    pub reconnect_max_s: Option<f32>,
    /// Publish Home Assistant discovery configs (default true).
    pub discovery: Option<bool>,
    /// Topic prefix of the discovery configs (default "homeassistant").
    pub discovery_prefix: Option<String>,
    /// Publish each event's best crop as JPEG (default true).
    pub snapshots: Option<bool>,
    /// Filters of the `events` messages, as for webhooks.
    pub cameras: Option<Vec<String>>,
    pub labels: Option<Vec<String>>,
    pub zones: Option<Vec<String>>,
    pub types: Option<Vec<String>>,
    pub min_score: Option<f32>,
    /// Event messages waiting at most; the oldest beyond become dead letters.
    pub max_pending: Option<u64>,
}
