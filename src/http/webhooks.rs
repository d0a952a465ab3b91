//! Delivery routes: the outbox of the webhook and MQTT sinks, read from the store (a
//! read-only connection per request on the blocking pool); replays go through the store
//! writer.
//!
//! | route | does |
//! |---|---|
//! | `GET /api/webhooks` | every sink (`webhook:NAME`, `mqtt`) with its counters and waiting/dead rows |
//! | `GET /api/webhooks/deliveries` | outbox rows, newest first: `endpoint` (a webhook name) or `sink`, `state` (`pending`, `delivered`, `dead`), `limit` (≤ 500), `cursor` → `{deliveries, next_cursor}` |
//! | `GET /api/webhooks/dead-letters` | the same, `state=dead` |
//! | `POST /api/webhooks/dead-letters/{id}/replay` | that dead letter back to pending, due now, same message id |
//! | `POST /api/webhooks/replay?endpoint=NAME` (or `?sink=mqtt`) | every dead letter of that sink |
//!
//! Rows show the sink, message id, event id, type, state, attempts, times and `last_error`,
//! never an endpoint's URL, secret or headers. Error codes: `webhook_not_found`,
//! `delivery_not_found`, `not_dead` (409), `bad_query`, `store_unavailable`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::events::{internal, read, store_error};
use super::{ApiState, error_reply, with_state};
use crate::frame::unix_ms;
use crate::sinks::deliveries::{self, DeliveryQuery, State};
use crate::sinks::outbox::{OutboxOp, ReplayTarget};
use crate::sinks::{Outcome, webhook_sink};

/// How long a replay waits for the store writer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which sink a request means: `endpoint=NAME` (a webhook) or `sink=…` (as stored).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SinkParams {
    endpoint: Option<String>,
    sink: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    endpoint: Option<String>,
    sink: Option<String>,
    state: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct SinkView {
    sink: String,
    /// The webhook's name; `null` for MQTT.
    endpoint: Option<String>,
    enqueued_total: u64,
    delivered_total: u64,
    retried_total: u64,
    dead_total: u64,
    overflow_total: u64,
    pending: u64,
    dead: u64,
}

/// The delivery routes.
pub fn routes(
    state: Arc<ApiState>,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    let sinks = warp::path!("api" / "webhooks")
        .and(warp::get())
        .and(with_state(&state))
        .and_then(|s: Arc<ApiState>| {
            let stats = s.sinks.clone();
            read(s, move |r| {
                let mut views = Vec::with_capacity(stats.len());
                for st in &stats {
                    let sink = st.sink().to_string();
                    views.push(SinkView {
                        endpoint: sink.strip_prefix("webhook:").map(str::to_string),
                        enqueued_total: st.enqueued(),
                        delivered_total: st.count(Outcome::Delivered),
                        retried_total: st.count(Outcome::Retried),
                        dead_total: st.count(Outcome::Dead),
                        overflow_total: st.count(Outcome::Overflow),
                        pending: deliveries::count(r, &sink, State::Pending)?,
                        dead: deliveries::count(r, &sink, State::Dead)?,
                        sink,
                    });
                }
                Ok(warp::reply::json(&serde_json::json!({ "sinks": views })).into_response())
            })
        });

    let list = warp::path!("api" / "webhooks" / "deliveries")
        .and(warp::get())
        .and(warp::query::<ListParams>())
        .and(with_state(&state))
        .and_then(|p: ListParams, s: Arc<ApiState>| list_rows(s, p, None));

    let dead = warp::path!("api" / "webhooks" / "dead-letters")
        .and(warp::get())
        .and(warp::query::<ListParams>())
        .and(with_state(&state))
        .and_then(|p: ListParams, s: Arc<ApiState>| list_rows(s, p, Some(State::Dead)));

    let replay_one = warp::path!("api" / "webhooks" / "dead-letters" / i64 / "replay")
        .and(warp::post())
        .and(with_state(&state))
        .and_then(|id: i64, s: Arc<ApiState>| async move {
            let writer = s.store.writer.clone();
            let found = read(s, move |r| {
                Ok(match deliveries::get(r, id)? {
                    None => error_reply(
                        StatusCode::NOT_FOUND,
                        "delivery_not_found",
                        format!("no outbox row with id {id}"),
                    ),
                    Some(d) if d.state != State::Dead => error_reply(
                        StatusCode::CONFLICT,
                        "not_dead",
                        format!("row {id} is {}, not a dead letter", d.state.as_str()),
                    ),
                    Some(_) => StatusCode::OK.into_response(),
                })
            })
            .await?;
            if found.status() != StatusCode::OK {
                return Ok(found);
            }
            Ok::<_, Infallible>(replay(writer, ReplayTarget::One(id)).await)
        });

    let replay_sink = warp::path!("api" / "webhooks" / "replay")
        .and(warp::post())
        .and(warp::query::<SinkParams>())
        .and(with_state(&state))
        .and_then(|p: SinkParams, s: Arc<ApiState>| async move {
            let sink = match resolve_sink(&s, p.endpoint, p.sink) {
                Ok(Some(sink)) => sink,
                Ok(None) => {
                    return Ok(error_reply(
                        StatusCode::BAD_REQUEST,
                        "bad_query",
                        "name the sink: ?endpoint=NAME (a webhook) or ?sink=mqtt".into(),
                    ));
                }
                Err(refusal) => return Ok(refusal.reply()),
            };
            Ok::<_, Infallible>(replay(s.store.writer.clone(), ReplayTarget::Sink(sink)).await)
        });

    sinks
        .or(list)
        .unify()
        .or(dead)
        .unify()
        .or(replay_one)
        .unify()
        .or(replay_sink)
        .unify()
}

/// A request the API refuses: status, code, message.
struct Refusal(StatusCode, &'static str, String);

impl Refusal {
    fn reply(self) -> Response {
        error_reply(self.0, self.1, self.2)
    }
}

/// The sink named by `endpoint` or `sink`; `Ok(None)` when neither is given, `Err` when both
/// are, or when it is not configured.
fn resolve_sink(
    state: &ApiState,
    endpoint: Option<String>,
    sink: Option<String>,
) -> Result<Option<String>, Refusal> {
    let sink = match (endpoint, sink) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(Refusal(
                StatusCode::BAD_REQUEST,
                "bad_query",
                "give `endpoint` or `sink`, not both".into(),
            ));
        }
        (Some(name), None) => webhook_sink(&name),
        (None, Some(sink)) => sink,
    };
    if state.sinks.iter().any(|s| s.sink() == sink) {
        Ok(Some(sink))
    } else {
        let known: Vec<&str> = state.sinks.iter().map(|s| s.sink()).collect();
        Err(Refusal(
            StatusCode::NOT_FOUND,
            "webhook_not_found",
            format!(
                "no sink `{}` is configured; configured: {}",
                sink.chars().take(80).collect::<String>(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ))
    }
}

async fn list_rows(
    s: Arc<ApiState>,
    p: ListParams,
    forced: Option<State>,
) -> Result<Response, Infallible> {
    let sink = match resolve_sink(&s, p.endpoint, p.sink) {
        Ok(sink) => sink,
        Err(refusal) => return Ok(refusal.reply()),
    };
    let state = match (forced, p.state.as_deref()) {
        (Some(state), _) => Some(state),
        (None, None) => None,
        (None, Some(text)) => match State::parse(text) {
            Some(state) => Some(state),
            None => {
                return Ok(error_reply(
                    StatusCode::BAD_REQUEST,
                    "bad_query",
                    format!(
                        "state: `{}`; use pending, delivered or dead",
                        text.chars().take(40).collect::<String>()
                    ),
                ));
            }
        },
    };
    let query = DeliveryQuery {
        sink,
        state,
        limit: p.limit,
        cursor: p.cursor,
    };
    read(s, move |r| {
        deliveries::list(r, &query).map(|page| warp::reply::json(&page).into_response())
    })
    .await
}

async fn replay(writer: crate::store::StoreWriter, target: ReplayTarget) -> Response {
    let op = OutboxOp::Replay {
        target: target.clone(),
        now_ms: unix_ms(),
    };
    let done = tokio::task::spawn_blocking(move || writer.outbox(op, WRITE_TIMEOUT)).await;
    match done {
        Ok(Ok(n)) => {
            let body = match target {
                ReplayTarget::One(id) => serde_json::json!({ "replayed": n, "id": id }),
                ReplayTarget::Sink(sink) => serde_json::json!({ "replayed": n, "sink": sink }),
            };
            warp::reply::json(&body).into_response()
        }
        Ok(Err(e)) => store_error(&e),
        Err(e) => internal(e),
    }
}
