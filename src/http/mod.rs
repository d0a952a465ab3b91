//! The web server (warp): the JSON API under `/api/`, Prometheus metrics at `/metrics`, and the
//! console from `web/`, embedded into the binary (`console.rs`).
//!
//! Routes: `GET /api/health`, the camera routes (`cameras.rs`), frames as JPEG and MJPEG
//! (`frames.rs`), the event routes (`events.rs`), the webhook delivery routes (`webhooks.rs`),
//! the WebSocket (`live.rs`), statistics (`stats.rs`), config (`config_api.rs`), model info
//! (`model.rs`), the OpenAPI document (`openapi.rs`), `GET /metrics`. Every API route sits behind
//! the token guard (`auth.rs`). Errors are JSON `{"error": {"code", "message"}}` with a stable
//! code; JSON bodies are limited to [`MAX_BODY_BYTES`], config bodies to [`MAX_CONFIG_BYTES`].
//! Read handlers only read shared state; they never wait on ingest or analysis. Long-lived
//! replies (MJPEG, WebSocket) end when [`ApiState::close`] is called, so shutdown does not wait
//! on them.

pub mod auth;
mod cameras;
mod config_api;
mod console;
mod events;
mod frames;
mod live;
mod model;
mod openapi;
mod stats;
mod webhooks;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::cameras::{CameraSet, CameraState};
use crate::config::Config;
use crate::control::Control;
use crate::detector::ModelInfo;

/// Largest JSON request body accepted, in bytes.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;
/// Largest config (TOML) body accepted by `/api/config/validate` and `/api/config/apply`.
pub const MAX_CONFIG_BYTES: u64 = 256 * 1024;

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
    /// The model's label names, in class-id order.
    pub labels: Vec<String>,
    /// The configuration the appliance started with (cameras change at run time; see
    /// [`ApiState::cameras`]).
    pub config: Config,
    pub auth: Arc<auth::Auth>,
    pub started: Instant,
    media: frames::Media,
    live: live::Live,
    closing: tokio::sync::watch::Sender<bool>,
}

/// What the API is built from.
pub struct ApiParts {
    pub control: Arc<Control>,
    pub store: StoreAccess,
    pub bus: Arc<crate::events::EventBus>,
    pub sinks: Vec<Arc<crate::sinks::SinkStats>>,
    pub model: ModelInfo,
    pub backends: crate::infer::select::SharedStatus,
    pub labels: Vec<String>,
    pub config: Config,
    pub auth: Arc<auth::Auth>,
}

impl ApiState {
    pub fn new(p: ApiParts) -> Self {
        Self {
            media: frames::Media::new(p.config.http.max_streams),
            live: live::Live::new(p.config.http.max_live_clients),
            control: p.control,
            store: p.store,
            bus: p.bus,
            sinks: p.sinks,
            model: p.model,
            backends: p.backends,
            labels: p.labels,
            config: p.config,
            auth: p.auth,
            started: Instant::now(),
            closing: tokio::sync::watch::channel(false).0,
        }
    }

    pub fn cameras(&self) -> &Arc<CameraSet> {
        self.control.cameras()
    }

    /// Ends long-lived replies (MJPEG streams, WebSockets); call before stopping the server.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Completes once [`ApiState::close`] was called.
    fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.closing.subscribe();
        async move {
            let _ = rx.wait_for(|closing| *closing).await;
        }
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

/// Query parameters of type `T`; a query that does not fit answers 400 `bad_query` from this
/// route itself, so a later route with a wider path (`/api/events/{id}` after
/// `/api/events/counts`) cannot take the request instead.
pub(crate) fn query_or_error<T>()
-> impl Filter<Extract = (Result<T, Response>,), Error = Infallible> + Clone
where
    T: serde::de::DeserializeOwned + Send + 'static,
{
    warp::query::<T>()
        .map(Ok)
        .or_else(|rejection: warp::Rejection| async move {
            let problem = rejection
                .find::<warp::reject::InvalidQuery>()
                .map(|e| e.to_string())
                .unwrap_or_else(|| "unreadable".into());
            Ok::<_, Infallible>((Err(error_reply(
                StatusCode::BAD_REQUEST,
                "bad_query",
                format!("the query string is not what this route takes: {problem}"),
            )),))
        })
}

/// A JSON error reply with a stable `code`.
pub fn error_reply(status: StatusCode, code: &str, message: String) -> Response {
    let body = ErrorBody {
        error: ErrorDetail { code, message },
    };
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

/// All routes: the console's files, then the API behind the token guard.
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

    let api: BoxedFilter<(Response,)> = health
        .boxed()
        .or(cameras::routes(state.clone()).boxed())
        .unify()
        .or(frames::routes(state.clone()).boxed())
        .unify()
        .or(events::routes(state.clone()).boxed())
        .unify()
        .or(webhooks::routes(state.clone()).boxed())
        .unify()
        .or(live::routes(state.clone()).boxed())
        .unify()
        .or(stats::routes(state.clone()).boxed())
        .unify()
        .or(config_api::routes(state.clone()).boxed())
        .unify()
        .or(model::routes(state.clone()).boxed())
        .unify()
        .or(openapi::routes().boxed())
        .unify()
        .or(metrics.boxed())
        .unify()
        .boxed();

    console::routes()
        .or(auth::guard(state.auth.clone()).and(api))
        .unify()
        .recover(|rejection: warp::Rejection| async move {
            Ok::<_, Infallible>(rejection_reply(&rejection))
        })
        .unify()
}

/// The JSON error for a request no route accepted.
fn rejection_reply(rejection: &warp::Rejection) -> Response {
    use warp::reject;
    if let Some(denied) = rejection.find::<auth::Denied>() {
        let mut reply = error_reply(denied.status, denied.code, denied.message.clone());
        let headers = reply.headers_mut();
        if let Some(s) = denied.retry_after_s {
            headers.insert("retry-after", s.into());
        }
        if denied.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                "www-authenticate",
                warp::http::HeaderValue::from_static("Bearer realm=\"edgesight\""),
            );
        }
        reply
    } else if rejection.is_not_found() {
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
    } else if let Some(e) = rejection.find::<reject::InvalidQuery>() {
        error_reply(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("the query string is not what this route takes: {e}"),
        )
    } else if let Some(e) = rejection.find::<reject::MissingHeader>() {
        error_reply(
            StatusCode::BAD_REQUEST,
            "bad_header",
            format!("header `{}` is missing{}", e.name(), ws_hint(e.name())),
        )
    } else if let Some(e) = rejection.find::<reject::InvalidHeader>() {
        error_reply(
            StatusCode::BAD_REQUEST,
            "bad_header",
            format!(
                "header `{}` is not valid here{}",
                e.name(),
                ws_hint(e.name())
            ),
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

fn ws_hint(header: &str) -> &'static str {
    if matches!(header, "connection" | "upgrade" | "sec-websocket-key") {
        " (this route takes a WebSocket upgrade)"
    } else {
        ""
    }
}

/// The kernel send buffer of every connection, in bytes (Linux doubles it for its own
/// bookkeeping). Fixed rather than autotuned (which grows it to several MiB): a live client that
/// stops reading fills it within seconds, so its own queue starts dropping (and the client is
/// told) instead of the kernel holding minutes of stale frames for it. Plenty for a LAN.
pub const SEND_BUFFER_BYTES: u32 = 128 * 1024;

/// Binds `addr` and serves until `shutdown` completes. Returns the bound address through
/// `on_bound` (useful with port 0) before serving.
pub async fn serve(
    state: Arc<ApiState>,
    addr: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    // Accepted connections inherit it.
    socket.set_send_buffer_size(SEND_BUFFER_BYTES)?;
    socket.bind(addr)?;
    let listener = socket.listen(1024)?;
    on_bound(listener.local_addr()?);
    warp::serve(routes(state))
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
    Ok(())
}
