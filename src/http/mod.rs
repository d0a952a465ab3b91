//! The web server (warp): the JSON API under `/api/`, Prometheus metrics at `/metrics`, and the
//! console page from `web/`, embedded into the binary.
//!
//! Routes: `GET /api/health`, the camera routes (`cameras.rs`), the event routes
//! (`events.rs`), the webhook delivery routes (`webhooks.rs`), `GET /metrics`, `GET /`
//! (console). Errors are JSON `{"error": {"code", "message"}}` with a stable code; bodies are
//! limited to [`MAX_BODY_BYTES`]. Read handlers only read shared state; they never wait on ingest
//! or analysis.

mod cameras;
mod events;
mod webhooks;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::cameras::{CameraSet, CameraState};
use crate::control::Control;
use crate::detector::ModelInfo;

const INDEX_HTML: &str = include_str!("../../web/index.html");
const APP_JS: &str = include_str!("../../web/app.js");
const STYLE_CSS: &str = include_str!("../../web/style.css");

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;

/// How the API reaches the event store.
pub struct StoreAccess {
    /// Readers open their own connections here.
    pub data_dir: std::path::PathBuf,
    /// Deletions go through the one writer.
    pub writer: crate::store::StoreWriter,
}

/// What the API reads and changes.
pub struct ApiState {
    pub control: Arc<Control>,
    pub store: StoreAccess,
    pub bus: Arc<crate::events::EventBus>,
    /// Counters of the configured sinks (webhooks, MQTT), in config order.
    pub sinks: Vec<Arc<crate::sinks::SinkStats>>,
    pub model: ModelInfo,
    /// `model.backends` and where each stands (serving, building, unavailable + reason).
    pub backends: crate::infer::select::SharedStatus,
    pub started: Instant,
}

impl ApiState {
    pub fn cameras(&self) -> &Arc<CameraSet> {
        self.control.cameras()
    }
}

fn with_state(
    state: &Arc<ApiState>,
) -> impl Filter<Extract = (Arc<ApiState>,), Error = Infallible> + Clone + use<> {
    let state = state.clone();
    warp::any().map(move || state.clone())
}

#[derive(Serialize)]
struct Health<'a> {
    status: &'static str,
    version: &'static str,
    uptime_s: u64,
    model: &'a ModelInfo,
    backends: Vec<crate::infer::select::BackendStatus>,
    cameras_total: usize,
    cameras_streaming: usize,
    /// Where camera changes made through the API are written; `null` without a config file.
    config_file: Option<String>,
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
    let health = warp::path!("api" / "health")
        .and(warp::get())
        .and(with_state(&state))
        .map(|s: Arc<ApiState>| {
            let cameras = s.cameras().list();
            let streaming = cameras
                .iter()
                .filter(|c| c.health().state == CameraState::Streaming)
                .count();
            warp::reply::json(&Health {
                status: "ok",
                version: env!("CARGO_PKG_VERSION"),
                uptime_s: s.started.elapsed().as_secs(),
                model: &s.model,
                backends: s.backends.lock().unwrap_or_else(|p| p.into_inner()).clone(),
                cameras_total: cameras.len(),
                cameras_streaming: streaming,
                config_file: s.control.config_file(),
            })
            .into_response()
        });

    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_state(&state))
        .map(|s: Arc<ApiState>| {
            warp::reply::with_header(
                crate::metrics::render(s.cameras().list(), &s.sinks),
                "content-type",
                crate::metrics::CONTENT_TYPE,
            )
            .into_response()
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
        .or(cameras::routes(state.clone()))
        .unify()
        .or(events::routes(state.clone()))
        .unify()
        .or(webhooks::routes(state.clone()))
        .unify()
        .or(metrics)
        .unify()
        .or(index)
        .unify()
        .or(app_js)
        .unify()
        .or(style)
        .unify()
        .recover(|rejection: warp::Rejection| async move {
            Ok::<_, Infallible>(rejection_reply(&rejection))
        })
        .unify()
}

/// The JSON error for a request no route accepted.
fn rejection_reply(rejection: &warp::Rejection) -> Response {
    use warp::reject;
    if rejection.is_not_found() {
        error_reply(StatusCode::NOT_FOUND, "not_found", "no such route".into())
    } else if let Some(e) = rejection.find::<warp::filters::body::BodyDeserializeError>() {
        error_reply(
            StatusCode::BAD_REQUEST,
            "bad_json",
            format!("the body is not what this route takes: {e}"),
        )
    } else if rejection.find::<reject::PayloadTooLarge>().is_some() {
        error_reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("bodies are limited to {MAX_BODY_BYTES} bytes"),
        )
    } else if rejection.find::<reject::LengthRequired>().is_some() {
        error_reply(
            StatusCode::LENGTH_REQUIRED,
            "length_required",
            "send a Content-Length header".into(),
        )
    } else if rejection.find::<reject::UnsupportedMediaType>().is_some() {
        error_reply(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send JSON with Content-Type: application/json".into(),
        )
    } else if rejection.find::<reject::MethodNotAllowed>().is_some() {
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
    }
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
