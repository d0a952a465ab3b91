//! The web server (warp): the JSON API under `/api/` and the console page from `web/`,
//! embedded into the binary.
//!
//! Routes: `GET /api/health`, `GET /api/cameras`, `GET /api/cameras/{name}/detections/latest`,
//! `GET /` (console). Errors are JSON `{"error": {"code", "message"}}` with a stable code.
//! Handlers only read shared state; they never wait on ingest or analysis.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::cameras::{CameraRecord, CameraState};
use crate::detector::ModelInfo;

const INDEX_HTML: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const STYLE_CSS: &str = include_str!("../../web/style.css");

/// What the API reads.
pub struct ApiState {
    pub cameras: Vec<Arc<CameraRecord>>,
    pub model: ModelInfo,
    pub started: Instant,
}

#[derive(Serialize)]
struct Health<'a> {
    status: &'static str,
    version: &'static str,
    uptime_s: u64,
    model: &'a ModelInfo,
    cameras_total: usize,
    cameras_streaming: usize,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
}

/// A JSON error reply with a stable `code`.
pub fn error_reply(status: StatusCode, code: &str, message: String) -> Response {
    let body = ErrorBody {
        error: ErrorDetail { code, message },
    };
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

/// All routes.
pub fn routes(
    state: Arc<ApiState>,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    let with_state = warp::any().map(move || state.clone());

    let health = warp::path!("api" / "health")
        .and(warp::get())
        .and(with_state.clone())
        .map(|s: Arc<ApiState>| {
            let streaming = s
                .cameras
                .iter()
                .filter(|c| c.health().state == CameraState::Streaming)
                .count();
            warp::reply::json(&Health {
                status: "ok",
                version: env!("CARGO_PKG_VERSION"),
                uptime_s: s.started.elapsed().as_secs(),
                model: &s.model,
                cameras_total: s.cameras.len(),
                cameras_streaming: streaming,
            })
            .into_response()
        });

    let cameras = warp::path!("api" / "cameras")
        .and(warp::get())
        .and(with_state.clone())
        .map(|s: Arc<ApiState>| {
            let views: Vec<_> = s.cameras.iter().map(|c| c.view()).collect();
            warp::reply::json(&views).into_response()
        });

    let latest = warp::path!("api" / "cameras" / String / "detections" / "latest")
        .and(warp::get())
        .and(with_state.clone())
        .map(|name: String, s: Arc<ApiState>| {
            let Some(camera) = s.cameras.iter().find(|c| c.name() == name) else {
                return error_reply(
                    StatusCode::NOT_FOUND,
                    "camera_not_found",
                    format!("no camera named `{name}`"),
                );
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

    let index = warp::get().and(warp::path::end()).map(|| {
        warp::reply::with_header(INDEX_HTML, "content-type", "text/html; charset=utf-8")
            .into_response()
    });
    let app_js = warp::get()
        .and(warp::path("app.js"))
        .and(warp::path::end())
        .map(|| {
            warp::reply::with_header(APP_JS, "content-type", "text/javascript").into_response()
        });
    let style = warp::get()
        .and(warp::path("style.css"))
        .and(warp::path::end())
        .map(|| warp::reply::with_header(STYLE_CSS, "content-type", "text/css").into_response());

    health
        .or(cameras)
        .unify()
        .or(latest)
        .unify()
        .or(index)
        .unify()
        .or(app_js)
        .unify()
        .or(style)
        .unify()
        .recover(|rejection: warp::Rejection| async move {
            let reply = if rejection.is_not_found() {
                error_reply(StatusCode::NOT_FOUND, "not_found", "no such route".into())
            } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
                error_reply(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "this route does not accept that method".into(),
                )
            } else {
                error_reply(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("{rejection:?}"),
                )
            };
            Ok::<_, Infallible>(reply)
        })
        .unify()
}

/// Binds `addr` and serves until `shutdown` completes. Returns the bound address through
/// `on_bound` (useful with port 0) before serving.
pub async fn serve(
    state: Arc<ApiState>,
    addr: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    on_bound(listener.local_addr()?);
    warp::serve(routes(state))
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
    Ok(())
}
