//! Event routes, read from the store (each request opens its own read-only SQLite connection
//! on the blocking pool, so a slow query never holds up the server).
//!
//! | route | does |
//! |---|---|
//! | `GET /api/events` | query: `camera`, `label`, `zone`, `from_ms`, `to_ms`, `ended`, `limit` (≤ 500), `cursor` → `{events, next_cursor}`, newest first |
//! | `GET /api/events/counts` | events per time bucket, camera and label: `from_ms`, `to_ms`, `bucket_ms`, `camera`, `label` |
//! | `GET /api/events/{id}` | one event |
//! | `GET /api/events/{id}/snapshot.jpg` | the best frame with the box drawn |
//! | `GET /api/events/{id}/crop.jpg` | the object alone |
//! | `DELETE /api/events/{id}` | removes the event and its files |
//!
//! Ids are checked (`[A-Za-z0-9_-]`) before any lookup, and file paths come only from the
//! database, so a request cannot name a file.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{ApiState, error_reply, query_or_error, with_state};
use crate::store::{CountQuery, EventQuery, StoreError, StoreReader, valid_id};

/// Query parameters of `GET /api/events`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    camera: Option<String>,
    label: Option<String>,
    zone: Option<String>,
    from_ms: Option<u64>,
    to_ms: Option<u64>,
    ended: Option<bool>,
    limit: Option<u32>,
    cursor: Option<String>,
    /// The token, for clients that cannot send headers (see `auth.rs`); read there.
    #[serde(rename = "access_token")]
    _access_token: Option<String>,
}

/// Query parameters of `GET /api/events/counts`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountParams {
    from_ms: u64,
    to_ms: u64,
    bucket_ms: Option<u64>,
    camera: Option<String>,
    label: Option<String>,
    #[serde(rename = "access_token")]
    _access_token: Option<String>,
}

/// The event routes.
pub fn routes(
    state: Arc<ApiState>,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    let list = warp::path!("api" / "events")
        .and(warp::get())
        .and(warp::query::<ListParams>())
        .and(with_state(&state))
        .and_then(|p: ListParams, s: Arc<ApiState>| {
            let query = EventQuery {
                camera: p.camera,
                label: p.label,
                zone: p.zone,
                from_ms: p.from_ms,
                to_ms: p.to_ms,
                ended: p.ended,
                limit: p.limit,
                cursor: p.cursor,
            };
            read(s, move |r| {
                r.list(&query)
                    .map(|page| warp::reply::json(&page).into_response())
            })
        });

    let counts = warp::path!("api" / "events" / "counts")
        .and(warp::get())
        .and(query_or_error::<CountParams>())
        .and(with_state(&state))
        .and_then(
            |p: Result<CountParams, Response>, s: Arc<ApiState>| async move {
                let p = match p {
                    Ok(p) => p,
                    Err(reply) => return Ok(reply),
                };
                let query = CountQuery {
                    from_ms: p.from_ms,
                    to_ms: p.to_ms,
                    bucket_ms: p.bucket_ms,
                    camera: p.camera,
                    label: p.label,
                };
                read(s, move |r| {
                    r.counts(&query)
                        .map(|rows| warp::reply::json(&rows).into_response())
                })
                .await
            },
        );

    let one = warp::path!("api" / "events" / String)
        .and(warp::get())
        .and(with_state(&state))
        .and_then(|id: String, s: Arc<ApiState>| {
            read(s, move |r| {
                Ok(match r.get(&id)? {
                    Some(event) => warp::reply::json(&event).into_response(),
                    None => event_not_found(&id),
                })
            })
        });

    let snapshot = warp::path!("api" / "events" / String / String)
        .and(warp::get())
        .and(with_state(&state))
        .and_then(|id: String, file: String, s: Arc<ApiState>| {
            read(s, move |r| {
                let crop = match file.as_str() {
                    "snapshot.jpg" => false,
                    "crop.jpg" => true,
                    _ => {
                        return Ok(error_reply(
                            StatusCode::NOT_FOUND,
                            "not_found",
                            "an event has snapshot.jpg and crop.jpg".into(),
                        ));
                    }
                };
                Ok(match r.snapshot_paths(&id)? {
                    Some(paths) => jpeg_file(if crop { paths.crop } else { paths.full }),
                    None => error_reply(
                        StatusCode::NOT_FOUND,
                        "no_snapshot",
                        format!("event `{id}` has no snapshot"),
                    ),
                })
            })
        });

    let delete = warp::path!("api" / "events" / String)
        .and(warp::delete())
        .and(with_state(&state))
        .and_then(|id: String, s: Arc<ApiState>| async move {
            let writer = s.store.writer.clone();
            let deleted = tokio::task::spawn_blocking(move || {
                if !valid_id(&id) {
                    return Err(StoreError::InvalidId(id));
                }
                writer
                    .delete(&id, Duration::from_secs(10))
                    .map(|found| (id, found))
            })
            .await;
            Ok::<_, Infallible>(match deleted {
                Ok(Ok((id, true))) => {
                    warp::reply::json(&serde_json::json!({ "deleted": id })).into_response()
                }
                Ok(Ok((id, false))) => event_not_found(&id),
                Ok(Err(e)) => store_error(&e),
                Err(e) => internal(e),
            })
        });

    counts
        .or(list)
        .unify()
        .or(snapshot)
        .unify()
        .or(one)
        .unify()
        .or(delete)
        .unify()
}

fn event_not_found(id: &str) -> Response {
    error_reply(
        StatusCode::NOT_FOUND,
        "event_not_found",
        format!("no event with id `{id}`"),
    )
}

pub(super) fn internal(e: impl std::fmt::Display) -> Response {
    error_reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        format!("the request did not finish: {e}"),
    )
}

/// The one place that maps a store error to its HTTP status and code.
pub(super) fn store_error(e: &StoreError) -> Response {
    if e.is_bad_request() {
        error_reply(StatusCode::BAD_REQUEST, "bad_query", e.to_string())
    } else {
        tracing::warn!("event store: {e}");
        error_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        )
    }
}

/// Runs a read on the blocking pool with a fresh reader.
pub(super) async fn read(
    state: Arc<ApiState>,
    f: impl FnOnce(&StoreReader) -> Result<Response, StoreError> + Send + 'static,
) -> Result<Response, Infallible> {
    let data_dir = state.store.data_dir.clone();
    let outcome = tokio::task::spawn_blocking(move || f(&StoreReader::open(&data_dir)?)).await;
    Ok(match outcome {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => store_error(&e),
        Err(e) => internal(e),
    })
}

fn jpeg_file(path: PathBuf) -> Response {
    match std::fs::read(&path) {
        Ok(bytes) => warp::reply::with_header(bytes, "content-type", "image/jpeg").into_response(),
        Err(e) => error_reply(
            StatusCode::NOT_FOUND,
            "no_snapshot",
            format!("the snapshot file is gone: {e}"),
        ),
    }
}
