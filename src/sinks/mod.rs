//! Sinks: stored event changes out to webhooks (Standard Webhooks over HTTP) and MQTT, through
//! a persistent outbox in the store's database, so that an event accepted is an event
//! delivered, across receiver outages and restarts.
//!
//! ```text
//! store-writer ── same transaction as the change ──▶ outbox rows, one per matching sink
//!   │               (outbox.rs; filters in config.rs; messages built by payload.rs)
//!   │ wake-up (tokio Notify, after the commit)
//!   ▼
//! webhook task per endpoint: due rows (deliveries.rs, its own read-only connection)
//!     → sign.rs → POST → 2xx: delivered | else retry (retry.rs) … dead letter
//! mqtt task: due rows → QoS 1 publish → PUBACK: delivered; plus availability, counts,
//!     snapshots, camera states and Home Assistant discovery (topics.rs; link.rs drives
//!     the connection)
//!   │ attempt results and replays: commands on the store writer's queue — one writer
//!   ▼
//! outbox rows: pending → delivered | dead (→ pending again when replayed)
//! ```
//!
//! Back-pressure: the outbox is the queue, bounded per sink (`max_pending`; beyond it the
//! oldest waiting messages become dead letters, counted). A task reads at most a batch of due
//! rows at a time and has a bounded number in flight. Nothing here ever waits on the analysis
//! thread.
//!
//! Failure: a receiver that is down or refuses is retried with backoff; a message that failed
//! `max_attempts` times is a dead letter, kept and replayable through the API. A crash or
//! `kill -9` loses nothing committed: waiting rows are sent after the restart, with the same
//! message ids (a receiver may see a message twice, never two ids for one change).
//!
//! Threads: each sink is one tokio task, named in its tracing span (`webhook{name=…}`,
//! `mqtt`), plus `mqtt-link`, which alone polls the MQTT connection.

pub mod config;
pub mod deliveries;
mod link;
pub mod mqtt;
pub mod outbox;
pub mod payload;
pub mod retry;
pub mod sign;
pub mod stats;
mod topics;
pub mod webhook;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::cameras::CameraSet;
use crate::store::{StoreError, StoreReader, StoreWriter};
pub use config::{MQTT_SINK, MqttConfig, SinkFilter, SnapshotMode, WebhookConfig, webhook_sink};
pub use outbox::{Route, SinkKind};
pub use stats::{Outcome, SinkStats};

/// How long a sink waits for the store writer to record a result.
const WRITER_TIMEOUT: Duration = Duration::from_secs(10);

/// The configured sinks, before they start.
pub struct Sinks {
    routes: Vec<Route>,
    webhooks: Vec<WebhookConfig>,
    mqtt: Option<MqttConfig>,
}

/// What the running sinks need from the rest of the appliance.
pub struct SinkContext {
    /// The store's data folder (each task opens its own read-only connection).
    pub data_dir: PathBuf,
    /// Results and replays go through the one writer.
    pub writer: StoreWriter,
    /// `http.public_url`, for webhook snapshot links.
    pub public_url: Option<url::Url>,
    /// For MQTT camera state topics.
    pub cameras: Arc<CameraSet>,
}

impl Sinks {
    pub fn new(webhooks: &[WebhookConfig], mqtt: Option<&MqttConfig>) -> Self {
        let mut routes: Vec<Route> = webhooks
            .iter()
            .map(|w| Route::new(w.sink(), SinkKind::Webhook, w.filter.clone(), w.max_pending))
            .collect();
        if let Some(m) = mqtt {
            routes.push(Route::new(
                MQTT_SINK.to_string(),
                SinkKind::Mqtt,
                m.filter.clone(),
                m.max_pending,
            ));
        }
        Self {
            routes,
            webhooks: webhooks.to_vec(),
            mqtt: mqtt.cloned(),
        }
    }

    /// The routes the store writer fills (give them to `Store::open_with_routes`).
    pub fn routes(&self) -> Vec<Route> {
        self.routes.clone()
    }

    /// Every sink's counters, for `/metrics` and the API.
    pub fn stats(&self) -> Vec<Arc<SinkStats>> {
        self.routes.iter().map(|r| r.stats.clone()).collect()
    }

    /// Starts one task per sink on the current tokio runtime.
    pub fn start(self, ctx: SinkContext) -> RunningSinks {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let route_of = |sink: &str| {
            self.routes
                .iter()
                .find(|r| r.sink == sink)
                .cloned()
                .expect("every sink has its route")
        };
        for config in self.webhooks {
            let name = format!("webhook-{}", config.name);
            let span = tracing::info_span!("webhook", name = %config.name);
            let route = route_of(&config.sink());
            match webhook::WebhookTask::new(config, route, &ctx, stop_rx.clone()) {
                Ok(task) => tasks.push((name, tokio::spawn(task.run().instrument(span)))),
                Err(e) => tracing::error!("{name}: not started: {e}"),
            }
        }
        if let Some(config) = self.mqtt {
            let route = route_of(MQTT_SINK);
            let task = mqtt::MqttTask::new(config, route, &ctx, stop_rx.clone());
            let span = tracing::info_span!("mqtt");
            tasks.push((
                "mqtt".to_string(),
                tokio::spawn(task.run().instrument(span)),
            ));
        }
        RunningSinks {
            stop: stop_tx,
            tasks,
        }
    }
}

/// The running sink tasks.
pub struct RunningSinks {
    stop: watch::Sender<bool>,
    tasks: Vec<(String, JoinHandle<()>)>,
}

impl RunningSinks {
    /// Asks every task to send what is due now and stop (MQTT says `offline` first); a task
    /// still running after `grace` is aborted. What was not delivered stays in the outbox for
    /// the next start.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        for (name, mut task) in self.tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                tracing::warn!(
                    "{name}: still sending after {grace:?}; the rest waits in the outbox"
                );
                task.abort();
            }
        }
    }
}

/// A read-only connection to the store, used from async code on the blocking pool. Opened on
/// first use and again after a failure.
pub(crate) struct OutboxReader {
    data_dir: PathBuf,
    reader: Option<StoreReader>,
}

impl OutboxReader {
    pub(crate) fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            reader: None,
        }
    }

    /// Runs `f` on the connection in tokio's blocking pool.
    pub(crate) async fn run<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&StoreReader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let held = self.reader.take();
        let dir = self.data_dir.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let reader = match held {
                Some(r) => r,
                None => match StoreReader::open(&dir) {
                    Ok(r) => r,
                    Err(e) => return (None, Err(e)),
                },
            };
            let result = f(&reader);
            (Some(reader), result)
        })
        .await;
        match joined {
            Ok((reader, result)) => {
                // A failed query may mean a broken connection: open a new one next time.
                self.reader = reader.filter(|_| result.is_ok());
                result.map_err(|e| e.to_string())
            }
            Err(e) => Err(format!("outbox read did not finish: {e}")),
        }
    }
}

/// Hands `op` to the store writer from async code and waits for its answer.
pub(crate) async fn write_outbox(
    writer: &StoreWriter,
    op: outbox::OutboxOp,
) -> Result<u64, String> {
    let writer = writer.clone();
    tokio::task::spawn_blocking(move || writer.outbox(op, WRITER_TIMEOUT))
        .await
        .map_err(|e| format!("outbox write did not finish: {e}"))?
        .map_err(|e| e.to_string())
}

/// Waits up to `wait`, or until `stop` turns true (then returns true).
pub(crate) async fn sleep_or_stop(stop: &mut watch::Receiver<bool>, wait: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = stop.wait_for(|s| *s) => return true,
    }
    *stop.borrow()
}
