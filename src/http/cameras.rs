//! Camera routes: list, one camera, its latest detections, and changes at run time.
//!
//! | route | does |
//! |---|---|
//! | `GET /api/cameras` | every camera's state and counters |
//! | `GET /api/cameras/{name}` | one camera |
//! | `GET /api/cameras/{name}/detections/latest` | the newest analysed frame |
//! | `POST /api/cameras` | adds a camera (body: a camera as in the config file, JSON) → 201 |
//! | `PUT /api/cameras/{name}` | replaces that camera's settings → 200 |
//! | `DELETE /api/cameras/{name}` | removes it → 200 |
//!
//! Changes run on the blocking pool (stopping a pipeline waits for its thread) and go through
//! [`crate::control::Control`]: validated, written to the config file, applied to that camera
//! alone.

use std::convert::Infallible;
use std::sync::Arc;

use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{ApiState, MAX_BODY_BYTES, error_reply, with_state};
use crate::config::CameraSpec;
use crate::control::{Change, ControlError};

/// The camera routes.
pub fn routes(
    state: Arc<ApiState>,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    let list = warp::path!("api" / "cameras")
        .and(warp::get())
        .and(with_state(&state))
        .map(|s: Arc<ApiState>| {
            let views: Vec<_> = s.cameras().list().iter().map(|c| c.view()).collect();
            warp::reply::json(&views).into_response()
        });

    let one = warp::path!("api" / "cameras" / String)
        .and(warp::get())
        .and(with_state(&state))
        .map(
            |name: String, s: Arc<ApiState>| match s.cameras().get(&name) {
                Some(c) => warp::reply::json(&c.view()).into_response(),
                None => not_found(&name),
            },
        );

    let latest = warp::path!("api" / "cameras" / String / "detections" / "latest")
        .and(warp::get())
        .and(with_state(&state))
        .map(|name: String, s: Arc<ApiState>| {
            let Some(camera) = s.cameras().get(&name) else {
                return not_found(&name);
            };
            match camera.latest() {
                Some(result) => warp::reply::json(&*result).into_response(),
                None => error_reply(
                    StatusCode::NOT_FOUND,
                    "no_detections_yet",
                    format!("camera `{name}` has no analysed frame yet"),
                ),
            }
        });

    let body = warp::body::content_length_limit(MAX_BODY_BYTES).and(warp::body::json());

    let add = warp::path!("api" / "cameras")
        .and(warp::post())
        .and(body)
        .and(with_state(&state))
        .and_then(|spec: CameraSpec, s: Arc<ApiState>| {
            change(StatusCode::CREATED, move || s.control.add(spec))
        });

    let replace = warp::path!("api" / "cameras" / String)
        .and(warp::put())
        .and(body)
        .and(with_state(&state))
        .and_then(|name: String, spec: CameraSpec, s: Arc<ApiState>| {
            change(StatusCode::OK, move || s.control.replace(&name, spec))
        });

    let remove = warp::path!("api" / "cameras" / String)
        .and(warp::delete())
        .and(with_state(&state))
        .and_then(|name: String, s: Arc<ApiState>| {
            change(StatusCode::OK, move || s.control.remove(&name))
        });

    list.or(one)
        .unify()
        .or(latest)
        .unify()
        .or(add)
        .unify()
        .or(replace)
        .unify()
        .or(remove)
        .unify()
}

fn not_found(name: &str) -> Response {
    error_reply(
        StatusCode::NOT_FOUND,
        "camera_not_found",
        format!("no camera named `{name}`"),
    )
}

/// Runs a change on the blocking pool and turns its outcome into a reply.
async fn change(
    ok: StatusCode,
    f: impl FnOnce() -> Result<Change, ControlError> + Send + 'static,
) -> Result<Response, Infallible> {
    let outcome = tokio::task::spawn_blocking(f).await;
    Ok(match outcome {
        Ok(Ok(change)) => warp::reply::with_status(warp::reply::json(&change), ok).into_response(),
        Ok(Err(e)) => control_error(&e),
        Err(e) => error_reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the change did not finish: {e}"),
        ),
    })
}

/// The one place that maps a refused change to its HTTP status and stable code.
fn control_error(e: &ControlError) -> Response {
    let (status, code) = match e {
        ControlError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_camera"),
        ControlError::NameMismatch { .. } => (StatusCode::BAD_REQUEST, "name_mismatch"),
        ControlError::Exists(_) => (StatusCode::CONFLICT, "camera_exists"),
        ControlError::NotFound(_) => (StatusCode::NOT_FOUND, "camera_not_found"),
        ControlError::Persist(_) => (StatusCode::INTERNAL_SERVER_ERROR, "config_write_failed"),
        ControlError::Start(_) => (StatusCode::INTERNAL_SERVER_ERROR, "camera_start_failed"),
    };
    error_reply(status, code, e.to_string())
}
