//! The config file as written: every key optional where a default exists, unknown keys rejected.
//! Field doc comments are the reference for users (mirrored in `configs/reference.toml`).

use serde::Deserialize;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub http: RawHttp,
    pub model: Option<RawModel>,
    #[serde(default)]
    pub cameras: Vec<RawCamera>,
    #[serde(default)]
    pub rtsp_replay: Vec<RawRtspReplay>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    /// Address and port of the web console and API, e.g. "127.0.0.1:8080".
    pub bind: Option<String>,
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
    /// ONNX Runtime intra-op threads; default: the CPU cores, at most 4.
    pub threads: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCamera {
    /// Unique name: letters, digits, `-` and `_`.
    pub name: String,
    /// rtsp://[user:pass@]host[:port]/path, file:///path/clip.mp4 or test://PATTERN.
    pub url: String,
    pub enabled: Option<bool>,
    /// Frames analysed per second.
    pub detect_fps: Option<f32>,
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
