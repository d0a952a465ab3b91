//! Raw config → typed [`Config`]: defaults filled in, every value checked, no I/O (files named
//! in the config are checked when they are opened, with their own clear errors).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;

use std::time::Duration;

use super::raw::RawHttp;
use super::raw::{CameraSpec, RawConfig, RawModel, RawRtspReplay};
use super::{
    BackendKind, CameraConfig, Config, ConfigError, Credentials, HttpConfig, ModelConfig,
    ModelFamily, RtspReplayConfig, RtspTransport, Secret, SourceUrl,
};

/// Default bind address of the console and API.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// Checks a raw config and fills in defaults. `base` resolves relative paths.
pub fn validate(raw: RawConfig, source: &str, base: &Path) -> Result<Config, ConfigError> {
    let bind_text = raw.http.bind.as_deref().unwrap_or(DEFAULT_BIND);
    let bind: SocketAddr = bind_text.parse().map_err(|_| {
        ConfigError::new(
            source,
            "http.bind",
            format!("`{bind_text}` is not an address:port"),
        )
        .fix("write it like \"127.0.0.1:8080\" or \"0.0.0.0:8080\"")
    })?;
    let public_url = super::sinks::validate_public_url(raw.http.public_url.as_deref(), source)?;
    let http = validate_http(raw.http, bind, public_url.clone(), source)?;
    let model = match raw.model {
        Some(m) => validate_model(m, source, base)?,
        None => {
            return Err(
                ConfigError::new(source, "model", "the [model] section is missing")
                    .fix("add [model] with path, family and labels (see configs/reference.toml)"),
            );
        }
    };
    let mut names = HashSet::new();
    let mut cameras = Vec::with_capacity(raw.cameras.len());
    for (i, cam) in raw.cameras.iter().enumerate() {
        let cam = validate_camera(cam, &format!("cameras[{i}]"), source, base)?;
        if !names.insert(cam.name.clone()) {
            return Err(ConfigError::new(
                source,
                format!("cameras[{i}].name"),
                format!("`{}` is used by another camera", cam.name),
            )
            .fix("give every camera a unique name"));
        }
        cameras.push(cam);
    }
    let rtsp_replay = raw
        .rtsp_replay
        .into_iter()
        .enumerate()
        .map(|(i, r)| validate_replay(r, i, source, base))
        .collect::<Result<_, _>>()?;
    let webhooks = super::sinks::validate_webhooks(&raw.webhooks, source, public_url.as_ref())?;
    let mqtt = raw
        .mqtt
        .as_ref()
        .map(|m| super::sinks::validate_mqtt(m, source))
        .transpose()?;
    let mut store = raw.store.unwrap_or_default();
    store
        .validate()
        .map_err(|m| table_error(source, "store", &m))?;
    store.path = base.join(&store.path);
    Ok(Config {
        source: source.to_string(),
        store,
        file: None,
        base: base.to_path_buf(),
        http,
        webhooks,
        mqtt,
        model,
        cameras,
        rtsp_replay,
    })
}

/// Shortest API token accepted.
pub const MIN_TOKEN_LEN: usize = 16;
/// Largest `max_streams` / `max_live_clients` accepted.
const MAX_CLIENTS: usize = 1024;

fn validate_http(
    h: RawHttp,
    bind: SocketAddr,
    public_url: Option<url::Url>,
    source: &str,
) -> Result<HttpConfig, ConfigError> {
    let token = match &h.token {
        None => None,
        Some(text) => {
            let token = substitute_env(text).map_err(|var| {
                ConfigError::new(
                    source,
                    "http.token",
                    format!("environment variable `{var}` is not set"),
                )
                .fix(format!(
                    "set {var}, or remove `token` to use a generated one"
                ))
            })?;
            check_token(&token).map_err(|problem| {
                ConfigError::new(source, "http.token", problem)
                    .fix("use a long random string, e.g. the output of `openssl rand -hex 20`")
            })?;
            Some(Secret(token))
        }
    };
    let clients = |field: &str, v: Option<usize>, default: usize| match v.unwrap_or(default) {
        n @ 1..=MAX_CLIENTS => Ok(n),
        n => Err(ConfigError::new(
            source,
            format!("http.{field}"),
            format!("{n} is out of range"),
        )
        .fix(format!("use 1 to {MAX_CLIENTS}, e.g. {default}"))),
    };
    Ok(HttpConfig {
        bind,
        public_url,
        token,
        require_token_for_reads: h.require_token_for_reads,
        max_streams: clients("max_streams", h.max_streams, 8)?,
        max_live_clients: clients("max_live_clients", h.max_live_clients, 16)?,
    })
}

/// Whether `token` is usable as an API token: long enough, printable ASCII without spaces (it
/// travels in an HTTP header).
pub fn check_token(token: &str) -> Result<(), String> {
    if token.len() < MIN_TOKEN_LEN {
        return Err(format!(
            "the token has {} characters; use at least {MIN_TOKEN_LEN}",
            token.len()
        ));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the token has spaces or characters outside printable ASCII".into());
    }
    Ok(())
}

fn validate_model(m: RawModel, source: &str, base: &Path) -> Result<ModelConfig, ConfigError> {
    let family = match m.family.as_str() {
        "ssd" => ModelFamily::Ssd,
        "yolox" => ModelFamily::Yolox,
        other => {
            return Err(ConfigError::new(
                source,
                "model.family",
                format!("`{other}` is not a supported model family"),
            )
            .fix("use \"ssd\" or \"yolox\""));
        }
    };
    let unit = |field: &str, v: Option<f32>, default: f32| -> Result<f32, ConfigError> {
        let v = v.unwrap_or(default);
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            Err(ConfigError::new(
                source,
                format!("model.{field}"),
                format!("{v} is outside 0..1"),
            )
            .fix(format!("use a value between 0 and 1, e.g. {default}")))
        }
    };
    if let Some([w, h]) = m.input_size
        && (w == 0 || h == 0 || w > 8192 || h > 8192)
    {
        return Err(ConfigError::new(
            source,
            "model.input_size",
            format!("[{w}, {h}] is not a usable input size"),
        )
        .fix("give [width, height] between 1 and 8192, or remove it to read it from the model"));
    }
    if let Some(hash) = &m.sha256
        && (hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(
            ConfigError::new(source, "model.sha256", "not a sha256 hex digest")
                .fix("give the 64 hex digits printed by `sha256sum MODEL`"),
        );
    }
    let threads = m.threads.unwrap_or(1);
    if threads == 0 || threads > 256 {
        return Err(
            ConfigError::new(source, "model.threads", format!("{threads} threads"))
                .fix("use 1 up to the number of CPU cores"),
        );
    }
    let workers = m.workers.unwrap_or_else(|| default_workers(threads));
    if !(1..=64).contains(&workers) {
        return Err(
            ConfigError::new(source, "model.workers", format!("{workers} workers"))
                .fix("use 1 up to the number of CPU cores (workers × threads ≤ cores is best)"),
        );
    }
    let max_detections = m.max_detections.unwrap_or(100);
    if max_detections == 0 {
        return Err(
            ConfigError::new(source, "model.max_detections", "0 detections").fix("use at least 1"),
        );
    }
    let backends = match &m.backends {
        None => vec![BackendKind::Tensorrt, BackendKind::Cpu],
        Some(list) => {
            let mut kinds = Vec::new();
            for (i, name) in list.iter().enumerate() {
                let kind = match name.as_str() {
                    "tensorrt" => BackendKind::Tensorrt,
                    "cpu" => BackendKind::Cpu,
                    other => {
                        return Err(ConfigError::new(
                            source,
                            format!("model.backends[{i}]"),
                            format!("`{other}` is not a backend"),
                        )
                        .fix("use \"tensorrt\" and/or \"cpu\", in order of preference"));
                    }
                };
                if kinds.contains(&kind) {
                    return Err(ConfigError::new(
                        source,
                        format!("model.backends[{i}]"),
                        format!("`{name}` is listed twice"),
                    )
                    .fix("name each backend once"));
                }
                kinds.push(kind);
            }
            if kinds.is_empty() {
                return Err(
                    ConfigError::new(source, "model.backends", "the list is empty")
                        .fix("list at least one backend, e.g. [\"cpu\"]"),
                );
            }
            kinds
        }
    };
    let max_batch = m.max_batch.unwrap_or(8);
    if !(1..=32).contains(&max_batch) {
        return Err(
            ConfigError::new(source, "model.max_batch", format!("{max_batch} frames"))
                .fix("use 1 to 32"),
        );
    }
    let max_wait_ms = m.max_wait_ms.unwrap_or(10);
    if max_wait_ms > 1000 {
        return Err(
            ConfigError::new(source, "model.max_wait_ms", format!("{max_wait_ms} ms"))
                .fix("use 0 to 1000; a batch should not hold frames back for long"),
        );
    }
    Ok(ModelConfig {
        backends,
        max_batch,
        max_wait: Duration::from_millis(max_wait_ms),
        path: resolve(base, &m.path),
        family,
        labels: resolve(base, &m.labels),
        input_size: m.input_size.map(|[w, h]| (w, h)),
        score_threshold: unit("score_threshold", m.score_threshold, 0.5)?,
        nms_iou: unit("nms_iou", m.nms_iou, 0.45)?,
        max_detections,
        only_labels: m.only_labels.unwrap_or_default(),
        sha256: m.sha256.map(|h| h.to_ascii_lowercase()),
        threads,
        workers,
    })
}

/// Detection workers when the config says nothing: the CPU cores / `threads`, at most 4.
/// (Measured on 2 cores: two sessions of one thread each infer 196 frames/s side by side, one
/// session of two threads 147; see PERFORMANCE.md.)
pub fn default_workers(threads: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / threads.max(1)).clamp(1, 4)
}

/// Checks one camera. `prefix` names it in errors (`cameras[2]` in a file, `camera` in the API).
pub fn validate_camera(
    c: &CameraSpec,
    prefix: &str,
    source: &str,
    base: &Path,
) -> Result<CameraConfig, ConfigError> {
    let err = |field: &str, problem: String| {
        ConfigError::new(source, format!("{prefix}.{field}"), problem)
    };
    if !valid_name(&c.name) {
        return Err(
            err("name", format!("`{}` is not a valid camera name", c.name))
                .fix("use 1-64 letters, digits, `-` or `_`, e.g. \"front-door\""),
        );
    }
    let env = |field: &str, text: &str| {
        substitute_env(text).map_err(|var| {
            err(field, format!("environment variable `{var}` is not set")).fix(format!(
                "export {var}=… before starting, or write the value"
            ))
        })
    };
    let url_text = resolve_file_url(base, &env("url", &c.url)?);
    let url = SourceUrl::parse(&url_text).map_err(|problem| {
        err("url", problem).fix("write e.g. \"rtsp://user:pass@192.168.1.20:554/stream1\", \"file:///videos/clip.mp4\" or \"test://ball\"")
    })?;
    let detect_fps = c.detect_fps.unwrap_or(5.0);
    if !(detect_fps > 0.0 && detect_fps <= 120.0) {
        return Err(err("detect_fps", format!("{detect_fps} frames per second"))
            .fix("use a rate above 0 and at most 120, e.g. 5"));
    }
    let transport = match c.transport.as_deref().unwrap_or("tcp") {
        "tcp" => RtspTransport::Tcp,
        "udp" => RtspTransport::Udp,
        "auto" => RtspTransport::Auto,
        other => {
            return Err(err("transport", format!("`{other}` is not a transport"))
                .fix("use \"tcp\", \"udp\" or \"auto\""));
        }
    };
    let credentials = match (&c.username, &c.password) {
        (None, None) => None,
        (Some(user), password) => Some(Credentials {
            username: env("username", user)?,
            password: match password {
                Some(p) => env("password", p)?,
                None => String::new(),
            },
        }),
        (None, Some(_)) => {
            return Err(err("password", "a password without a username".into())
                .fix("add `username`, or put both in the URL"));
        }
    };
    for (field, v) in [
        ("detect_width", c.detect_width),
        ("detect_height", c.detect_height),
    ] {
        if let Some(v) = v
            && !(16..=8192).contains(&v)
        {
            return Err(err(field, format!("{v} pixels")).fix("use 16 to 8192, or remove it"));
        }
    }
    let seconds = |field: &str, v: Option<f32>, default: f32| -> Result<Duration, ConfigError> {
        let v = v.unwrap_or(default);
        if (0.5..=3600.0).contains(&v) {
            Ok(Duration::from_secs_f32(v))
        } else {
            Err(err(field, format!("{v} seconds")).fix(format!("use 0.5 to 3600, e.g. {default}")))
        }
    };
    let tracker = c.tracker.clone().unwrap_or_default();
    tracker
        .validate()
        .map_err(|m| table_error(source, &format!("{prefix}.tracker"), &m))?;
    let rules = c.rules.clone().unwrap_or_default();
    rules
        .validate()
        .map_err(|m| table_error(source, &format!("{prefix}.rules"), &m))?;
    if let Some(motion) = &c.motion {
        motion
            .validate()
            .map_err(|m| table_error(source, &format!("{prefix}.motion"), &m))?;
    }
    Ok(CameraConfig {
        name: c.name.clone(),
        source: url,
        enabled: c.enabled.unwrap_or(true),
        detect_fps,
        transport,
        credentials,
        decoder: c.decoder.clone(),
        detect_size: (c.detect_width, c.detect_height),
        loop_file: c.loop_file.unwrap_or(true),
        stall_timeout: seconds("stall_timeout_s", c.stall_timeout_s, 5.0)?,
        reconnect_max: seconds("reconnect_max_s", c.reconnect_max_s, 3.0)?,
        tracker,
        rules,
        motion: c.motion.clone(),
        spec: c.clone(),
    })
}

/// Whether `name` is a usable name (cameras, webhooks, MQTT client ids): 1 to 64 of
/// `[A-Za-z0-9_-]`.
pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}

/// A sub-table's check result, `"field: problem; fix"`, as a [`ConfigError`] under `table`.
fn table_error(source: &str, table: &str, message: &str) -> ConfigError {
    let (field, rest) = message.split_once(": ").unwrap_or(("", message));
    let (problem, fix) = rest.split_once("; ").unwrap_or((rest, ""));
    let field = if field.is_empty() {
        table.to_string()
    } else {
        format!("{table}.{field}")
    };
    let e = ConfigError::new(source, field, problem);
    if fix.is_empty() { e } else { e.fix(fix) }
}

/// Replaces every `${NAME}` with the environment variable's value; `Err(NAME)` when unset.
pub fn substitute_env(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        let name = &rest[start + 2..start + 2 + len];
        out.push_str(&rest[..start]);
        out.push_str(&std::env::var(name).map_err(|_| name.to_string())?);
        rest = &rest[start + 3 + len..];
    }
    out.push_str(rest);
    Ok(out)
}

fn validate_replay(
    r: RawRtspReplay,
    i: usize,
    source: &str,
    base: &Path,
) -> Result<RtspReplayConfig, ConfigError> {
    let mount = r.mount.unwrap_or_else(|| "/replay".to_string());
    if !mount.starts_with('/') || mount.len() < 2 || mount.contains(char::is_whitespace) {
        return Err(ConfigError::new(
            source,
            format!("rtsp_replay[{i}].mount"),
            format!("`{mount}` is not a mount point"),
        )
        .fix("write it like \"/demo\""));
    }
    if r.port == 0 {
        return Err(
            ConfigError::new(source, format!("rtsp_replay[{i}].port"), "port 0")
                .fix("give a free TCP port, e.g. 8554"),
        );
    }
    Ok(RtspReplayConfig {
        file: resolve(base, &r.file),
        port: r.port,
        mount,
    })
}

fn resolve(base: &Path, path: &str) -> std::path::PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// `file:relative/clip.mp4` (no `//`) is resolved against the config's folder.
fn resolve_file_url(base: &Path, text: &str) -> String {
    match text.strip_prefix("file:") {
        Some(rest) if !rest.starts_with('/') => {
            let abs = resolve(base, rest);
            let abs = std::path::absolute(&abs).unwrap_or(abs);
            format!("file://{}", abs.display())
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use std::path::Path;

    const MODEL: &str = "[model]\npath = \"m.onnx\"\nfamily = \"ssd\"\nlabels = \"l.txt\"\n";

    fn parse(extra: &str) -> Result<Config, super::ConfigError> {
        Config::from_toml(&format!("{MODEL}{extra}"), "t.toml", Path::new("/base"))
    }

    #[test]
    fn defaults_are_filled_in() {
        let c = parse("[[cameras]]\nname = \"a\"\nurl = \"test://ball\"\n").expect("valid");
        assert_eq!(c.http.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.model.path, Path::new("/base/m.onnx"));
        assert_eq!(c.cameras[0].detect_fps, 5.0);
        assert!(c.cameras[0].enabled);
    }

    #[test]
    fn errors_name_the_field_and_the_fix() {
        let e = parse("[[cameras]]\nname = \"a\"\nurl = \"ftp://x\"\n").expect_err("bad scheme");
        assert_eq!(e.field, "cameras[0].url");
        assert!(e.to_string().contains("fix:"), "{e}");
        let e = parse("[[cameras]]\nname = \"a b\"\nurl = \"test://ball\"\n").expect_err("name");
        assert_eq!(e.field, "cameras[0].name");
        let e = parse("[[cameras]]\nname = \"a\"\nurl = \"test://ball\"\ndetect_fps = 0\n")
            .expect_err("fps");
        assert_eq!(e.field, "cameras[0].detect_fps");
        let e = parse("[http]\nbind = \"localhost\"\n").expect_err("bind");
        assert_eq!(e.field, "http.bind");
    }

    #[test]
    fn reads_need_the_token_off_loopback_unless_configured() {
        let mut c = parse("").expect("valid").http;
        assert!(!c.reads_need_token(), "127.0.0.1 by default");
        c.bind = "0.0.0.0:8080".parse().expect("addr");
        assert!(c.reads_need_token(), "decided on the final bind");
        c.bind = "[::1]:8080".parse().expect("addr");
        assert!(!c.reads_need_token());
        let forced = parse("[http]\nrequire_token_for_reads = true\n")
            .expect("valid")
            .http;
        assert!(forced.reads_need_token());
        assert_eq!((forced.max_streams, forced.max_live_clients), (8, 16));
        assert!(forced.token.is_none());
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let e = parse("[[cameras]]\nname = \"a\"\nurl = \"test://ball\"\ndetect_fsp = 2\n")
            .expect_err("typo");
        let text = e.to_string();
        assert!(text.contains("detect_fsp"), "{text}");
        assert!(text.contains("line 8"), "{text}");
    }

    #[test]
    fn credentials_are_redacted_in_display() {
        let c = parse("[[cameras]]\nname = \"a\"\nurl = \"rtsp://u:secret@h/s\"\n").expect("ok");
        let shown = format!("{} {:?}", c.cameras[0].source, c.cameras[0].source);
        assert!(!shown.contains("secret"), "{shown}");
        assert!(c.cameras[0].source.secret_str().contains("secret"));
    }

    #[test]
    fn passwords_in_free_text_are_redacted() {
        let t = super::super::redact_text(
            "rtspsrc: could not open rtsp://admin:hunter2@10.0.0.5:554/a and rtsp://h/b",
        );
        assert_eq!(
            t,
            "rtspsrc: could not open rtsp://admin:***@10.0.0.5:554/a and rtsp://h/b"
        );
    }

    #[test]
    fn environment_variables_are_substituted_and_a_missing_one_is_named() {
        // SAFETY-free: a variable name unique to this test.
        let e = parse(
            "[[cameras]]\nname = \"a\"\nurl = \"rtsp://h/s\"\nusername = \"u\"\npassword = \"${EDGESIGHT_TEST_SURELY_UNSET}\"\n",
        )
        .expect_err("unset variable");
        assert_eq!(e.field, "cameras[0].password");
        assert!(e.problem.contains("EDGESIGHT_TEST_SURELY_UNSET"), "{e}");
        let home = std::env::var("HOME").expect("HOME is set in tests");
        assert_eq!(
            super::substitute_env("a${HOME}b").expect("set"),
            format!("a{home}b")
        );
        assert_eq!(super::substitute_env("no vars").expect("plain"), "no vars");
    }

    #[test]
    fn camera_options_are_checked() {
        let c = parse("[[cameras]]\nname = \"a\"\nurl = \"rtsp://h/s\"\ntransport = \"udp\"\ndetect_width = 640\nloop = false\n")
            .expect("valid");
        assert_eq!(c.cameras[0].transport, super::RtspTransport::Udp);
        assert_eq!(c.cameras[0].detect_size, (Some(640), None));
        assert!(!c.cameras[0].loop_file);
        let e = parse("[[cameras]]\nname = \"a\"\nurl = \"rtsp://h/s\"\ntransport = \"quic\"\n")
            .expect_err("transport");
        assert_eq!(e.field, "cameras[0].transport");
        let e = parse("[[cameras]]\nname = \"a\"\nurl = \"rtsp://h/s\"\nstall_timeout_s = 0\n")
            .expect_err("timeout");
        assert_eq!(e.field, "cameras[0].stall_timeout_s");
    }

    #[test]
    fn tracker_and_rules_tables_are_checked_with_their_field_named() {
        let c = parse(
            "[[cameras]]\nname = \"a\"\nurl = \"test://ball\"\n[cameras.tracker]\nmin_hits = 2\n[cameras.rules]\nlabels = [\"person\"]\n[[cameras.rules.lines]]\nname = \"gate\"\nfrom = [0.0, 0.5]\nto = [1.0, 0.5]\n",
        )
        .expect("valid");
        assert_eq!(c.cameras[0].tracker.min_hits, 2);
        assert_eq!(c.cameras[0].rules.lines[0].name, "gate");
        let e = parse(
            "[[cameras]]\nname = \"a\"\nurl = \"test://ball\"\n[[cameras.rules.zones]]\nname = \"z\"\npolygon = [[0.0, 0.0], [1.0, 0.0]]\n",
        )
        .expect_err("two corners");
        assert_eq!(e.field, "cameras[0].rules.zones[0].polygon", "{e}");
        assert!(e.fix.is_some(), "{e}");
        let e = parse("[[cameras]]\nname = \"a\"\nurl = \"test://ball\"\n[cameras.tracker]\nhigh_score = 2.0\n")
            .expect_err("range");
        assert_eq!(e.field, "cameras[0].tracker.high_score", "{e}");
    }

    #[test]
    fn relative_file_urls_resolve_against_the_config() {
        let c = parse("[[cameras]]\nname = \"a\"\nurl = \"file:clips/x.mp4\"\n").expect("ok");
        assert_eq!(c.cameras[0].source.secret_str(), "file:///base/clips/x.mp4");
    }
}
