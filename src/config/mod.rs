//! Configuration: TOML text → raw structs (`raw.rs`, unknown keys rejected) → [`validate`]
//! (no I/O) → the typed [`Config`] the rest of the appliance reads.
//!
//! Every error names the file, the field and the fix. Relative paths in a file are resolved
//! against the file's own folder, so a config works from any working directory.

mod persist;
mod raw;
mod sinks;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use persist::{PersistError, remove_camera, upsert_camera};
pub use raw::{CameraSpec, RawWebhook};
pub use sinks::validate_webhook;
pub use validate::{MIN_TOKEN_LEN, check_token, validate, validate_camera};

/// The embedded default configuration: the demo camera and the bundled detector.
pub const DEMO_TOML: &str = include_str!("../../configs/demo.toml");
/// Where the embedded demo config lives in the source tree; its relative paths resolve from here.
pub const DEMO_PATH: &str = "configs/demo.toml";

/// A validated configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Where this config came from (a file path, or `<embedded demo>`), for messages.
    pub source: String,
    /// The file it was read from (where camera changes made through the API are written);
    /// `None` for the embedded demo.
    pub file: Option<PathBuf>,
    /// Folder that relative paths resolve against.
    pub base: PathBuf,
    pub http: HttpConfig,
    pub model: ModelConfig,
    pub cameras: Vec<CameraConfig>,
    pub rtsp_replay: Vec<RtspReplayConfig>,
    /// The event store; `path` resolved against the config's folder.
    pub store: crate::store::StoreConfig,
    /// `[[webhooks]]` endpoints.
    pub webhooks: Vec<crate::sinks::WebhookConfig>,
    /// `[mqtt]`, when configured.
    pub mqtt: Option<crate::sinks::MqttConfig>,
}

/// The web server.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpConfig {
    pub bind: SocketAddr,
    /// How receivers reach the appliance (webhook snapshot links).
    pub public_url: Option<url::Url>,
    /// The configured API token (environment substituted); `None` when the token comes from
    /// `EDGESIGHT_API_TOKEN` or the data folder (see `http::auth`).
    pub token: Option<Secret>,
    /// Whether reads need the token, as configured; `None` decides by the bind address (see
    /// [`HttpConfig::reads_need_token`]).
    pub require_token_for_reads: Option<bool>,
    /// Most MJPEG streams served at once.
    pub max_streams: usize,
    /// Most WebSocket clients at once.
    pub max_live_clients: usize,
}

impl HttpConfig {
    /// Whether reads need the token (mutations always do): as configured, else unless `bind`
    /// is a loopback address. Decided on the final bind (after `--http`).
    pub fn reads_need_token(&self) -> bool {
        self.require_token_for_reads
            .unwrap_or(!self.bind.ip().is_loopback())
    }
}

/// A secret string; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Which output decoder a model needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFamily {
    /// SSD-style graph with NMS inside: boxes, classes, scores, count.
    Ssd,
    /// YOLOX anchor-free grid, decoded and NMS'd by us.
    Yolox,
}

impl ModelFamily {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelFamily::Ssd => "ssd",
            ModelFamily::Yolox => "yolox",
        }
    }
}

/// The detector.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub path: PathBuf,
    pub family: ModelFamily,
    /// One label per line, either `label` (id = line number) or `ID  label`.
    pub labels: PathBuf,
    /// Model input (width, height); `None` reads it from the model.
    pub input_size: Option<(u32, u32)>,
    pub score_threshold: f32,
    pub nms_iou: f32,
    pub max_detections: usize,
    /// Keep only these labels; empty keeps all.
    pub only_labels: Vec<String>,
    /// Expected sha256 of the model file (hex). `None`: a `<model>.sha256` file beside the model
    /// is used when present.
    pub sha256: Option<String>,
    /// ONNX Runtime intra-op threads of each detection worker.
    pub threads: usize,
    /// Detection workers on the CPU backend (a GPU backend runs one, and batches).
    pub workers: usize,
    /// Backends in order of preference; the first that loads serves.
    pub backends: Vec<BackendKind>,
    /// Most frames per inference (dynamic-batch models).
    pub max_batch: usize,
    /// Longest wait to fill a batch.
    pub max_wait: Duration,
}

/// An inference backend of `model.backends`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// TensorRT on an NVIDIA GPU (feature `tensorrt`).
    Tensorrt,
    /// ONNX Runtime on the CPU.
    Cpu,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Tensorrt => "tensorrt",
            BackendKind::Cpu => "cpu",
        }
    }
}

/// One camera.
#[derive(Clone, Debug, PartialEq)]
pub struct CameraConfig {
    pub name: String,
    pub source: SourceUrl,
    pub enabled: bool,
    /// Frames per second analysed (the camera may deliver more; the newest frame wins).
    pub detect_fps: f32,
    pub transport: RtspTransport,
    /// Credentials given apart from the URL (environment already substituted).
    pub credentials: Option<Credentials>,
    /// Decoder element named by the config, instead of the automatic choice.
    pub decoder: Option<String>,
    /// (width, height) frames are scaled to before analysis; a missing side keeps the aspect.
    pub detect_size: (Option<u32>, Option<u32>),
    /// Files: replay from the start at the end.
    pub loop_file: bool,
    /// No frame for this long: the stream is rebuilt.
    pub stall_timeout: Duration,
    /// Cap of the exponential reconnection backoff.
    pub reconnect_max: Duration,
    pub tracker: crate::track::TrackerConfig,
    pub rules: crate::rules::RulesConfig,
    /// Motion gate; `None` analyses every due frame.
    pub motion: Option<crate::batch::motion::MotionConfig>,
    /// The camera as written, for writing the config back and for the API.
    pub spec: CameraSpec,
}

/// How RTSP media travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtspTransport {
    Tcp,
    Udp,
    /// UDP, falling back to TCP (rtspsrc's own order).
    Auto,
}

impl RtspTransport {
    /// rtspsrc's `protocols` flags.
    pub fn protocols(self) -> &'static str {
        match self {
            RtspTransport::Tcp => "tcp",
            RtspTransport::Udp => "udp",
            RtspTransport::Auto => "udp+udp-mcast+tcp",
        }
    }
}

/// A user name and password. `Debug` never shows the password.
#[derive(Clone, PartialEq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

/// A clip served in a loop as an RTSP camera by a child `edgesight serve-rtsp` process.
#[derive(Clone, Debug, PartialEq)]
pub struct RtspReplayConfig {
    pub file: PathBuf,
    pub port: u16,
    pub mount: String,
}

/// A camera source address. Credentials are kept but never shown by `Display`.
#[derive(Clone, PartialEq)]
pub struct SourceUrl(url::Url);

impl SourceUrl {
    /// Parses and checks the scheme; the error says what is supported.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text)
            .map_err(|e| format!("`{}` is not a URL ({e})", redact_text(text)))?;
        match url.scheme() {
            "rtsp" | "rtsps" | "rtspt" | "file" | "test" | "v4l2" | "http" | "https" => {
                Ok(Self(url))
            }
            other => Err(format!(
                "scheme `{other}` is not supported; use rtsp://, file://, v4l2:///dev/videoN, http(s):// or test://PATTERN"
            )),
        }
    }

    /// The full URL, credentials included: for GStreamer only, never for logs.
    pub fn secret_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }

    pub fn scheme(&self) -> &str {
        self.0.scheme()
    }
}

/// Replaces the password of every `scheme://user:password@host` in a free text with `***`.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                out.push_str(&authority[..=colon]);
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

impl fmt::Display for SourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_text(self.0.as_str()))
    }
}

impl fmt::Debug for SourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceUrl({self})")
    }
}

/// A configuration error: which file, which field, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {field}: {problem}{}", fix.as_ref().map(|f| format!("; fix: {f}")).unwrap_or_default())]
pub struct ConfigError {
    /// The config file (or `command line`, `<embedded demo config>`).
    pub file: String,
    pub field: String,
    pub problem: String,
    pub fix: Option<String>,
}

impl ConfigError {
    pub(crate) fn new(source: &str, field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            file: source.to_string(),
            field: field.into(),
            problem: problem.into(),
            fix: None,
        }
    }

    pub(crate) fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

impl Config {
    /// Parses and validates TOML text; `source` names it in errors, `base` resolves relative paths.
    pub fn from_toml(text: &str, source: &str, base: &Path) -> Result<Self, ConfigError> {
        let raw: raw::RawConfig = toml::from_str(text).map_err(|e| toml_error(text, source, &e))?;
        validate(raw, source, base)
    }

    /// Reads, parses and validates a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(&source, "(file)", format!("cannot read: {e}"))
                .fix("give the path of an existing TOML file")
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut config = Self::from_toml(&text, &source, base)?;
        config.file = Some(path.to_path_buf());
        Ok(config)
    }

    /// The embedded demo config, with paths resolved against `home` (the project or install folder).
    pub fn demo(home: &Path) -> Result<Self, ConfigError> {
        let path = home.join(DEMO_PATH);
        let base = path.parent().unwrap_or(home).to_path_buf();
        Self::from_toml(DEMO_TOML, "<embedded demo config>", &base)
    }
}

/// Turns a TOML/serde error into a ConfigError naming the line and the offending key.
fn toml_error(text: &str, source: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim_end_matches('.').to_string();
    let location = e
        .span()
        .map(|span| {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let key = text[span.clone()].trim().to_string();
            if key.is_empty() || key.len() > 60 {
                format!("line {line}")
            } else {
                format!("line {line} (`{key}`)")
            }
        })
        .unwrap_or_else(|| "(document)".to_string());
    let fix = if message.starts_with("unknown field") {
        "remove or correct the key; the expected keys are listed above"
    } else if message.starts_with("missing field") {
        "add the key named above"
    } else {
        "see configs/reference.toml for the accepted keys and types"
    };
    ConfigError::new(source, location, message).fix(fix)
}

/// Finds the folder holding `configs/` and `models/`: `$EDGESIGHT_HOME`, else the nearest
/// ancestor of the executable that has `models/`, else the current directory.
pub fn find_home() -> PathBuf {
    if let Some(home) = std::env::var_os("EDGESIGHT_HOME") {
        return PathBuf::from(home);
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            if dir.join("models").is_dir() && dir.join("configs").is_dir() {
                return dir.to_path_buf();
            }
        }
    }
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}
