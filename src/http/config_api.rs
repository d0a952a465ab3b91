//! Config routes: the running configuration (secrets hidden), checking a config file, and
//! applying one.
//!
//! | route | does |
//! |---|---|
//! | `GET /api/config` | the running configuration as JSON; cameras as they are now (run-time changes included); passwords and the token shown as `***` |
//! | `GET /api/cameras/{name}/config` | one camera as written (the body `PUT /api/cameras/{name}` takes), password shown as `***` |
//! | `POST /api/config/validate` | body: a whole config file (TOML) → `{valid, error: {file, field, problem, fix}, warnings}` |
//! | `POST /api/config/apply` | body: a whole config file (TOML) → makes the running cameras those of the file |
//!
//! What apply changes at run time, exactly: the cameras. Each camera that is new is added, each
//! that differs is replaced (its stream restarts, its open events end), each running camera
//! the file lacks is removed — one at a time through [`crate::control::Control`], so each
//! change is validated and written into the config file the appliance was started with (its
//! `[[cameras]]` tables only) before it applies. Other sections (`[http]`, `[model]`,
//! `[store]`, `[[rtsp_replay]]`) are neither applied nor written: the reply names those that
//! differ from the running ones in `not_applied`; edit the file and restart for them. A config
//! that does not validate changes nothing (400 `invalid_config`). A camera change that fails
//! leaves the others applied: 500 `apply_incomplete` with the per-camera results.
//!
//! Bodies are limited to [`MAX_CONFIG_BYTES`]; they run on the blocking pool.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{ApiState, MAX_CONFIG_BYTES, error_reply, with_state};
use crate::config::{CameraSpec, Config, ConfigError, redact_text};

/// A camera spec as the API shows it: the password and any password in the URL as `***`.
pub fn redacted(spec: &CameraSpec) -> CameraSpec {
    let mut spec = spec.clone();
    spec.url = redact_text(&spec.url);
    if spec.password.is_some() {
        spec.password = Some("***".into());
    }
    spec
}

fn running_config(s: &ApiState) -> Value {
    let c = &s.config;
    let m = &c.model;
    let cameras: Vec<CameraSpec> = s
        .cameras()
        .list()
        .iter()
        .map(|cam| redacted(&cam.config.spec))
        .collect();
    json!({
        "source": c.source,
        "file": s.control.config_file(),
        "http": {
            "bind": c.http.bind.to_string(),
            "token": c.http.token.as_ref().map(|_| "***"),
            "require_token_for_reads": s.auth.reads_need_token(),
            "max_streams": c.http.max_streams,
            "max_live_clients": c.http.max_live_clients,
        },
        "model": {
            "path": m.path.display().to_string(),
            "family": m.family,
            "labels": m.labels.display().to_string(),
            "input_size": m.input_size.map(|(w, h)| [w, h]),
            "score_threshold": m.score_threshold,
            "nms_iou": m.nms_iou,
            "max_detections": m.max_detections,
            "only_labels": m.only_labels,
            "sha256": m.sha256,
            "threads": m.threads,
        },
        "store": c.store,
        "rtsp_replay": c.rtsp_replay.iter().map(|r| json!({
            "file": r.file.display().to_string(),
            "port": r.port,
            "mount": r.mount,
        })).collect::<Vec<_>>(),
        "cameras": cameras,
    })
}

#[derive(Serialize)]
struct ConfigProblem {
    file: String,
    field: String,
    problem: String,
    fix: Option<String>,
}

impl From<&ConfigError> for ConfigProblem {
    fn from(e: &ConfigError) -> Self {
        Self {
            file: e.file.clone(),
            field: e.field.clone(),
            problem: e.problem.clone(),
            fix: e.fix.clone(),
        }
    }
}

/// Parses and validates a config body; paths resolve as in the running config file.
fn parse(s: &ApiState, body: &[u8]) -> Result<Config, ConfigError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        ConfigError::new("request", "(document)", format!("not UTF-8 text: {e}"))
            .fix("send the config file's TOML text as it is")
    })?;
    Config::from_toml(text, "request", s.control.base())
}

/// Files the config names that do not exist (validation itself does no I/O).
fn warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for (field, path) in [
        ("model.path", &config.model.path),
        ("model.labels", &config.model.labels),
    ] {
        if !path.is_file() {
            out.push(format!("{field}: {} does not exist here", path.display()));
        }
    }
    for (i, r) in config.rtsp_replay.iter().enumerate() {
        if !r.file.is_file() {
            out.push(format!(
                "rtsp_replay[{i}].file: {} does not exist here",
                r.file.display()
            ));
        }
    }
    out
}

/// The sections of `new` that differ from the running config and apply does not change.
fn not_applied(running: &Config, new: &Config) -> Vec<&'static str> {
    let mut out = Vec::new();
    if running.http != new.http {
        out.push("http");
    }
    if running.model != new.model {
        out.push("model");
    }
    if running.store != new.store {
        out.push("store");
    }
    if running.rtsp_replay != new.rtsp_replay {
        out.push("rtsp_replay");
    }
    out
}

#[derive(Serialize)]
struct CameraResult {
    name: String,
    /// `added`, `changed`, `removed` or `unchanged`.
    action: &'static str,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn apply(s: &ApiState, config: &Config) -> Vec<CameraResult> {
    let running = s.cameras().list();
    let mut results = Vec::new();
    for camera in &config.cameras {
        let current = running.iter().find(|c| c.name() == camera.name);
        let (action, outcome) = match current {
            None => ("added", Some(s.control.add(camera.spec.clone()))),
            Some(c) if c.config.spec != camera.spec => (
                "changed",
                Some(s.control.replace(&camera.name, camera.spec.clone())),
            ),
            Some(_) => ("unchanged", None),
        };
        results.push(CameraResult {
            name: camera.name.clone(),
            action,
            ok: outcome.as_ref().is_none_or(|o| o.is_ok()),
            error: outcome.and_then(|o| o.err()).map(|e| e.to_string()),
        });
    }
    for gone in running
        .iter()
        .filter(|c| !config.cameras.iter().any(|n| n.name == c.name()))
    {
        let outcome = s.control.remove(gone.name());
        results.push(CameraResult {
            name: gone.name().to_string(),
            action: "removed",
            ok: outcome.is_ok(),
            error: outcome.err().map(|e| e.to_string()),
        });
    }
    results
}

fn invalid(e: &ConfigError) -> Response {
    let mut reply = warp::reply::json(&json!({
        "error": {
            "code": "invalid_config",
            "message": e.to_string(),
            "field": e.field,
            "fix": e.fix,
        }
    }))
    .into_response();
    *reply.status_mut() = StatusCode::BAD_REQUEST;
    reply
}

/// Runs `f` on the blocking pool.
async fn blocking(
    f: impl FnOnce() -> Response + Send + 'static,
) -> Result<Response, warp::Rejection> {
    Ok(tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        error_reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the request did not finish: {e}"),
        )
    }))
}

/// The config routes.
pub fn routes(
    state: Arc<ApiState>,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    let get = warp::path!("api" / "config")
        .and(warp::get())
        .and(with_state(&state))
        .map(|s: Arc<ApiState>| warp::reply::json(&running_config(&s)).into_response());

    let camera = warp::path!("api" / "cameras" / String / "config")
        .and(warp::get())
        .and(with_state(&state))
        .map(
            |name: String, s: Arc<ApiState>| match s.cameras().get(&name) {
                Some(c) => warp::reply::json(&redacted(&c.config.spec)).into_response(),
                None => error_reply(
                    StatusCode::NOT_FOUND,
                    "camera_not_found",
                    format!("no camera named `{name}`"),
                ),
            },
        );

    let body = warp::body::content_length_limit(MAX_CONFIG_BYTES).and(warp::body::bytes());

    let validate = warp::path!("api" / "config" / "validate")
        .and(warp::post())
        .and(body)
        .and(with_state(&state))
        .and_then(|body: bytes::Bytes, s: Arc<ApiState>| {
            blocking(move || {
                let reply = match parse(&s, &body) {
                    Ok(config) => json!({
                        "valid": true,
                        "warnings": warnings(&config),
                        "cameras": config.cameras.iter().map(|c| &c.name).collect::<Vec<_>>(),
                        "not_applied_at_run_time": not_applied(&s.config, &config),
                    }),
                    Err(e) => json!({
                        "valid": false,
                        "error": ConfigProblem::from(&e),
                        "message": e.to_string(),
                    }),
                };
                warp::reply::json(&reply).into_response()
            })
        });

    let apply_route = warp::path!("api" / "config" / "apply")
        .and(warp::post())
        .and(body)
        .and(with_state(&state))
        .and_then(|body: bytes::Bytes, s: Arc<ApiState>| {
            blocking(move || {
                let config = match parse(&s, &body) {
                    Ok(config) => config,
                    Err(e) => return invalid(&e),
                };
                let results = apply(&s, &config);
                let complete = results.iter().all(|r| r.ok);
                let not_applied = not_applied(&s.config, &config);
                let persisted_to = s.control.config_file();
                if complete {
                    warp::reply::json(&json!({
                        "cameras": results,
                        "not_applied": not_applied,
                        "persisted_to": persisted_to,
                    }))
                    .into_response()
                } else {
                    let mut reply = warp::reply::json(&json!({
                        "error": {
                            "code": "apply_incomplete",
                            "message": "some camera changes failed; the others were applied (see `cameras`)",
                        },
                        "cameras": results,
                        "not_applied": not_applied,
                        "persisted_to": persisted_to,
                    }))
                    .into_response();
                    *reply.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    reply
                }
            })
        });

    get.or(camera)
        .unify()
        .or(validate)
        .unify()
        .or(apply_route)
        .unify()
}
