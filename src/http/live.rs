//! `GET /api/ws`: a WebSocket that streams each analysed frame's detections and tracks and
//! every event change, as JSON text messages.
//!
//! Query: `cameras=a,b` (only these cameras; default all), `frames=false` (no frame messages),
//! `events=false` (no event messages). The token, where reads need it, travels as a
//! `Sec-WebSocket-Protocol` entry `bearer.TOKEN` next to `edgesight` (see `auth.rs`).
//!
//! Messages, server to client (every one has `type`):
//! - `{"type":"hello","version":1,"cameras":[…],"server_time_ms":…}` once, first;
//! - `{"type":"frame","camera":…,"frame":…,"timestamp_ms":…,"width":…,"height":…,"latency_ms":…,
//!   "stages":{…},"detections":[…],"tracks":[…]}` per analysed frame (as
//!   `GET /api/cameras/{name}/detections/latest`);
//! - `{"type":"event","kind":"new"|"update"|"end","event":{…},"best_improved":…}` per event
//!   change (the event contract of `event.rs`);
//! - `{"type":"dropped","messages":N}` before the next message after this client missed N.
//!
//! Messages from the client are read and ignored (at most [`MAX_CLIENT_MESSAGE`] bytes each;
//! larger ones close the connection); pings are answered.
//!
//! Back-pressure: the analysis thread hands results to two bounded broadcast rings
//! (`events::bus`, [`crate::events::bus::LIVE_CAPACITY`] messages each) and never waits. For each
//! client a task reads the rings as they fill and puts what the client asked for into the
//! client's own queue of at most [`CLIENT_QUEUE`] messages; a second task writes the queue to the
//! socket at the client's pace. A full queue drops its oldest message. Every message lost
//! (queue full, or the ring overtaking the reader) is counted and the client is told with a
//! `dropped` message before the next one it gets. A client that takes no data for
//! [`SEND_TIMEOUT`] is disconnected. At most `http.max_live_clients` clients (503
//! `too_many_clients` beyond). Connections end when the server closes.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;
use warp::filters::ws::{Message, WebSocket, Ws};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{ApiState, auth, error_reply, with_state};
use crate::frame::unix_ms;

/// Version of the message shapes above.
pub const VERSION: u32 = 1;
/// Largest message a client may send.
pub const MAX_CLIENT_MESSAGE: usize = 4096;
/// A client that takes nothing for this long is disconnected.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages queued for one client at most; beyond, the oldest is dropped.
pub const CLIENT_QUEUE: usize = 64;

/// Clients and counters, shared by all connections.
pub struct Live {
    max_clients: usize,
    clients: Arc<AtomicUsize>,
    sent: AtomicU64,
    dropped: AtomicU64,
}

/// Counters for `/api/stats`.
#[derive(Serialize)]
pub struct LiveStats {
    pub ws_clients: usize,
    pub max_live_clients: usize,
    pub ws_messages_sent: u64,
    /// Messages clients missed because they fell behind.
    pub ws_messages_dropped: u64,
}

impl Live {
    pub fn new(max_clients: usize) -> Self {
        Self {
            max_clients,
            clients: Arc::new(AtomicUsize::new(0)),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    pub fn stats(&self) -> LiveStats {
        LiveStats {
            ws_clients: self.clients.load(Ordering::Relaxed),
            max_live_clients: self.max_clients,
            ws_messages_sent: self.sent.load(Ordering::Relaxed),
            ws_messages_dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    fn join(&self) -> Option<ClientSlot> {
        self.clients
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_clients).then_some(n + 1)
            })
            .ok()
            .map(|_| ClientSlot(self.clients.clone()))
    }
}

struct ClientSlot(Arc<AtomicUsize>);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    cameras: Option<String>,
    frames: Option<bool>,
    events: Option<bool>,
    #[serde(rename = "access_token")]
    _access_token: Option<String>,
}

/// What one client asked for.
struct Wants {
    cameras: Option<HashSet<String>>,
    frames: bool,
    events: bool,
}

impl Wants {
    fn camera(&self, name: &str) -> bool {
        self.cameras.as_ref().is_none_or(|c| c.contains(name))
    }
}

/// A message with its `type` beside the body's own fields.
#[derive(Serialize)]
struct Typed<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

fn text<T: Serialize>(kind: &'static str, body: &T) -> Option<Message> {
    serde_json::to_string(&Typed { kind, body })
        .ok()
        .map(Message::text)
}

/// The WebSocket route.
pub fn routes(
    state: Arc<ApiState>,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    warp::path!("api" / "ws")
        .and(warp::get())
        .and(warp::query::<Params>())
        .and(warp::header::optional::<String>("sec-websocket-protocol"))
        .and(warp::ws())
        .and(with_state(&state))
        .map(
            |p: Params, protocol: Option<String>, ws: Ws, s: Arc<ApiState>| {
                let Some(slot) = s.live.join() else {
                    return error_reply(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "too_many_clients",
                        format!(
                            "{} live clients are connected, the most allowed (`http.max_live_clients`)",
                            s.live.max_clients
                        ),
                    );
                };
                let wants = Wants {
                    cameras: p.cameras.map(|c| {
                        c.split(',')
                            .filter(|n| !n.is_empty())
                            .map(str::to_string)
                            .collect()
                    }),
                    frames: p.frames.unwrap_or(true),
                    events: p.events.unwrap_or(true),
                };
                let reply = ws
                    .max_message_size(MAX_CLIENT_MESSAGE)
                    .max_frame_size(MAX_CLIENT_MESSAGE)
                    .on_upgrade(move |socket| session(socket, s, wants, slot));
                if auth::offers_edgesight_protocol(protocol.as_deref()) {
                    warp::reply::with_header(reply, "sec-websocket-protocol", "edgesight")
                        .into_response()
                } else {
                    reply.into_response()
                }
            },
        )
}

#[derive(Serialize)]
struct Hello {
    version: u32,
    cameras: Vec<String>,
    server_time_ms: u64,
}

#[derive(Serialize)]
struct Dropped {
    messages: u64,
}

/// One client's outgoing messages: bounded; when full, the oldest goes and is counted.
struct ClientQueue {
    messages: Mutex<VecDeque<Message>>,
    ready: Notify,
    dropped: AtomicU64,
}

impl ClientQueue {
    fn new() -> Self {
        Self {
            messages: Mutex::new(VecDeque::with_capacity(CLIENT_QUEUE)),
            ready: Notify::new(),
            dropped: AtomicU64::new(0),
        }
    }

    /// Queues `message`; returns how many were dropped to make room (0 or 1).
    fn push(&self, message: Message) -> u64 {
        let mut messages = self.messages.lock().unwrap_or_else(|p| p.into_inner());
        let dropped = if messages.len() >= CLIENT_QUEUE {
            messages.pop_front();
            1
        } else {
            0
        };
        messages.push_back(message);
        drop(messages);
        self.dropped.fetch_add(dropped, Ordering::Relaxed);
        self.ready.notify_one();
        dropped
    }

    /// Counts messages lost before they reached the queue.
    fn lost(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        self.ready.notify_one();
    }

    /// Everything queued, preceded by a `dropped` notice when messages were lost since the last
    /// call.
    fn take(&self) -> Vec<Message> {
        let mut out = Vec::new();
        let missed = self.dropped.swap(0, Ordering::Relaxed);
        if missed > 0
            && let Some(notice) = text("dropped", &Dropped { messages: missed })
        {
            out.push(notice);
        }
        out.extend(
            self.messages
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain(..),
        );
        out
    }
}

/// Reads the broadcast rings as fast as they fill and queues what the client wants.
async fn forward(s: Arc<ApiState>, wants: Wants, queue: Arc<ClientQueue>) {
    let mut frames = s.bus.subscribe_frames();
    let mut events = s.bus.subscribe();
    let count = |dropped: u64| {
        s.live.dropped.fetch_add(dropped, Ordering::Relaxed);
    };
    loop {
        let open = tokio::select! {
            frame = frames.recv(), if wants.frames => {
                relay(frame, "frame", |f| &f.camera, &wants, &queue, count)
            }
            change = events.recv(), if wants.events => {
                relay(change, "event", |c| &c.event.camera, &wants, &queue, count)
            }
            else => std::future::pending::<bool>().await,
        };
        if !open {
            return;
        }
    }
}

/// Queues one message of a broadcast ring as `kind` when the client wants its camera; counts
/// (in the client's queue and through `count`) what the ring lost while the client lagged.
/// `false` once the ring is closed.
fn relay<T: Serialize>(
    got: Result<Arc<T>, RecvError>,
    kind: &'static str,
    camera: impl Fn(&T) -> &str,
    wants: &Wants,
    queue: &ClientQueue,
    count: impl Fn(u64),
) -> bool {
    match got {
        Ok(item) if wants.camera(camera(&item)) => {
            if let Some(m) = text(kind, &*item) {
                count(queue.push(m));
            }
            true
        }
        Ok(_) => true,
        Err(RecvError::Lagged(n)) => {
            queue.lost(n);
            count(n);
            true
        }
        Err(RecvError::Closed) => false,
    }
}

/// One client's connection, until it closes, falls silent or the server closes.
async fn session(socket: WebSocket, s: Arc<ApiState>, wants: Wants, _slot: ClientSlot) {
    let (mut tx, mut rx) = socket.split();
    let queue = Arc::new(ClientQueue::new());
    let hello = Hello {
        version: VERSION,
        cameras: s
            .cameras()
            .list()
            .iter()
            .map(|c| c.name().to_string())
            .collect(),
        server_time_ms: unix_ms(),
    };
    if let Some(hello) = text("hello", &hello) {
        queue.push(hello);
    }
    let forwarder = tokio::spawn(forward(s.clone(), wants, queue.clone()));
    let closed = s.closed();
    tokio::pin!(closed);
    'session: loop {
        tokio::select! {
            () = &mut closed => {
                let _ = tx.send(Message::close()).await;
                break;
            }
            incoming = rx.next() => match incoming {
                Some(Ok(m)) if !m.is_close() => {}
                _ => break,
            },
            () = queue.ready.notified() => {
                for message in queue.take() {
                    if !send(&mut tx, message, &s).await {
                        break 'session;
                    }
                }
            }
        }
    }
    forwarder.abort();
    let _ = tx.close().await;
}

/// Sends one message; false when the client is gone or took nothing for [`SEND_TIMEOUT`].
async fn send(
    tx: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    message: Message,
    s: &ApiState,
) -> bool {
    match tokio::time::timeout(SEND_TIMEOUT, tx.send(message)).await {
        Ok(Ok(())) => {
            s.live.sent.fetch_add(1, Ordering::Relaxed);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_the_oldest_and_the_client_is_told_how_many() {
        let queue = ClientQueue::new();
        let mut dropped = 0;
        for i in 0..CLIENT_QUEUE + 5 {
            dropped += queue.push(Message::text(i.to_string()));
        }
        assert_eq!(dropped, 5);
        queue.lost(3);
        let out = queue.take();
        assert_eq!(out.len(), CLIENT_QUEUE + 1);
        let notice: serde_json::Value =
            serde_json::from_str(out[0].to_str().expect("text")).expect("json");
        assert_eq!(
            notice,
            serde_json::json!({"type": "dropped", "messages": 8})
        );
        // The newest survive, in order.
        assert_eq!(out[1].to_str(), Ok("5"));
        assert_eq!(
            out[CLIENT_QUEUE].to_str(),
            Ok((CLIENT_QUEUE + 4).to_string().as_str())
        );
        assert!(queue.take().is_empty(), "nothing left, no second notice");
    }
}
