//! The MQTT sink: a tokio task (`mqtt`) that publishes the outbox's event messages with QoS 1
//! and keeps the appliance's retained topics current (layout in `topics.rs`); the connection
//! itself is `link.rs`.
//!
//! Inputs: outbox rows of sink `mqtt` (built by the store writer), the store's events in
//! progress (counted every [`STATE_PERIOD`] on its own read-only connection), the cameras'
//! ingest states, the stop signal. Outputs: `P/available` `online` at each connection (the
//! last will says `offline`, retained, when the appliance vanishes; a clean stop says it
//! itself), `P/events`, `P/<camera>/<label>` counts, `P/<camera>/<label>/snapshot` crops,
//! `P/<camera>/state`, and the Home Assistant discovery configs (retained), each republished
//! at every connection.
//!
//! Delivery: at most [`WINDOW`] event messages are in flight; a row is delivered when its
//! PUBACK arrives (recorded through the store writer, with its latency). While the broker is
//! unreachable nothing is published and the rows wait in the outbox, across restarts too; a
//! message sent but not acknowledged before a disconnection is sent again (QoS 1: at least
//! once). Only the outbox bound (`max_pending`) makes MQTT rows dead letters. The retained
//! state topics are QoS 0 and republished whenever they change or the connection is new.
//!
//! Failure: the password is never logged; connection errors are logged once, then retried.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{LastWill, MqttOptions, QoS};
use serde_json::Value;
use tokio::sync::watch;

use super::config::MqttConfig;
use super::deliveries;
use super::link::{Link, Tracked};
use super::outbox::{Attempt, OutboxOp, Route, Settlement};
use super::stats::Outcome;
use super::topics;
use super::{OutboxReader, SinkContext, write_outbox};
use crate::cameras::CameraSet;
use crate::frame::unix_ms;
use crate::store::{StoreError, StoreWriter};

/// Event messages published and not yet acknowledged, at most.
pub const WINDOW: usize = 32;
/// How often counts and camera states are looked at.
pub const STATE_PERIOD: Duration = Duration::from_secs(1);
/// The task looks at the outbox at least this often.
const TICK: Duration = Duration::from_millis(500);
/// Largest packet accepted from the broker (we subscribe to nothing).
const MAX_INCOMING: usize = 64 * 1024;
/// Largest packet sent: snapshots are JPEG crops, well below this.
const MAX_OUTGOING: usize = 8 * 1024 * 1024;
/// How long a clean stop waits for `offline` and the disconnection to go out.
const GOODBYE: Duration = Duration::from_secs(2);

/// What was published on the retained topics, to publish only changes.
#[derive(Default)]
struct Retained {
    /// Every (camera, label) the store knew at the first look is in `counts`.
    seeded: bool,
    counts: BTreeMap<(String, String), u64>,
    labels_announced: BTreeSet<(String, String)>,
    states: BTreeMap<String, String>,
    cameras_announced: BTreeSet<String>,
}

/// The MQTT sink task.
pub struct MqttTask {
    config: MqttConfig,
    route: Route,
    reader: OutboxReader,
    writer: StoreWriter,
    cameras: Arc<CameraSet>,
    stop: watch::Receiver<bool>,
    /// The Home Assistant node id (the client id, topic-safe).
    node: String,
}

impl MqttTask {
    pub fn new(
        config: MqttConfig,
        route: Route,
        ctx: &SinkContext,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            node: topics::topic_safe(&config.client_id),
            config,
            route,
            reader: OutboxReader::new(ctx.data_dir.clone()),
            writer: ctx.writer.clone(),
            cameras: ctx.cameras.clone(),
            stop,
        }
    }

    fn options(&self) -> MqttOptions {
        let c = &self.config;
        let mut o = MqttOptions::new(c.client_id.clone(), c.host.clone(), c.port);
        o.set_keep_alive(c.keepalive)
            .set_clean_session(true)
            .set_max_packet_size(MAX_INCOMING, MAX_OUTGOING)
            .set_last_will(LastWill::new(
                topics::available(&c.topic_prefix),
                "offline",
                QoS::AtLeastOnce,
                true,
            ));
        if let Some((user, password)) = &c.credentials {
            o.set_credentials(user.clone(), password.clone());
        }
        o
    }

    /// Publishes until stopped; on stop, publishes what is due, says `offline` and
    /// disconnects.
    pub async fn run(mut self) {
        tracing::info!(
            "publishing to mqtt://{}:{} under `{}/`",
            self.config.host,
            self.config.port,
            self.config.topic_prefix
        );
        let (link, link_task) = Link::start(self.options(), self.config.reconnect_max);
        let changed = link.changed();
        let wake = self.route.wake.clone();
        let mut retained = Retained::default();
        let mut session_seen = 0;
        let mut next_state = Instant::now();
        loop {
            let stopping = *self.stop.borrow();
            let (connected, session) = link.session();
            if connected && session != session_seen {
                session_seen = session;
                retained.labels_announced.clear();
                retained.cameras_announced.clear();
                self.announce(&link, &mut retained);
            }
            self.settle(&link).await;
            let mut due = 0;
            if connected {
                due = self.publish_due(&link).await;
                if Instant::now() >= next_state {
                    next_state = Instant::now() + STATE_PERIOD;
                    self.publish_state(&link, &mut retained).await;
                }
            }
            if stopping && (!connected || (due == 0 && link.rows_in_flight().is_empty())) {
                break;
            }
            let stop = &mut self.stop;
            tokio::select! {
                _ = changed.notified() => {}
                _ = wake.notified() => {}
                _ = tokio::time::sleep(TICK) => {}
                _ = stop.wait_for(|s| *s), if !stopping => {}
            }
        }
        self.goodbye(&link).await;
        link_task.abort();
    }

    /// At each new connection: `online`, then every retained topic again.
    fn announce(&self, link: &Link, retained: &mut Retained) {
        let prefix = &self.config.topic_prefix;
        link.publish(
            topics::available(prefix),
            QoS::AtLeastOnce,
            true,
            b"online".to_vec(),
            None,
        );
        let counts: Vec<_> = retained
            .counts
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for ((camera, label), n) in counts {
            self.announce_label(link, retained, &camera, &label);
            self.publish_retained(link, topics::count(prefix, &camera, &label), n.to_string());
        }
        let states: Vec<_> = retained
            .states
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (camera, state) in states {
            self.announce_camera(link, retained, &camera);
            self.publish_retained(link, topics::camera_state(prefix, &camera), state);
        }
    }

    fn announce_label(&self, link: &Link, retained: &mut Retained, camera: &str, label: &str) {
        let key = (camera.to_string(), label.to_string());
        if !self.config.discovery || retained.labels_announced.contains(&key) {
            return;
        }
        let c = &self.config;
        let all = topics::label_discovery(
            &c.discovery_prefix,
            &self.node,
            &c.topic_prefix,
            camera,
            label,
        )
        .into_iter()
        .all(|(topic, config)| self.publish_retained(link, topic, config.to_string()));
        if all {
            retained.labels_announced.insert(key);
        }
    }

    fn announce_camera(&self, link: &Link, retained: &mut Retained, camera: &str) {
        if !self.config.discovery || retained.cameras_announced.contains(camera) {
            return;
        }
        let c = &self.config;
        let (topic, config) =
            topics::camera_discovery(&c.discovery_prefix, &self.node, &c.topic_prefix, camera);
        if self.publish_retained(link, topic, config.to_string()) {
            retained.cameras_announced.insert(camera.to_string());
        }
    }

    fn publish_retained(&self, link: &Link, topic: String, payload: String) -> bool {
        link.publish(topic, QoS::AtMostOnce, true, payload.into_bytes(), None)
    }

    /// Records the acknowledged rows as delivered.
    async fn settle(&mut self, link: &Link) {
        let acked = link.take_acked();
        if acked.is_empty() {
            return;
        }
        let at_ms = unix_ms();
        let settlements = acked
            .iter()
            .map(|t| Settlement {
                id: t.row,
                at_ms,
                attempt: Attempt::Delivered,
            })
            .collect();
        match write_outbox(&self.writer, OutboxOp::Settle(settlements)).await {
            Ok(_) => {
                let stats = &self.route.stats;
                stats.add(Outcome::Delivered, acked.len() as u64);
                for t in &acked {
                    stats.observe_latency(at_ms.saturating_sub(t.created_ms) as f64 / 1000.0);
                }
            }
            // They stay pending and are published again: the same message, twice.
            Err(e) => tracing::warn!("acknowledged messages not recorded: {e}"),
        }
    }

    /// Publishes due event messages while the window has room; returns how many were due.
    async fn publish_due(&mut self, link: &Link) -> usize {
        let in_flight = link.rows_in_flight();
        let room = WINDOW.saturating_sub(in_flight.len());
        if room == 0 {
            return in_flight.len();
        }
        let sink = self.route.sink.clone();
        let now = unix_ms();
        let rows = match self
            .reader
            .run(move |r| deliveries::due(r, &sink, now, room, &in_flight))
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!("outbox not readable: {e}");
                return 0;
            }
        };
        let topic = topics::events(&self.config.topic_prefix);
        for row in &rows {
            let tracked = Tracked {
                row: row.id,
                created_ms: row.created_ms,
            };
            let sent = link.publish(
                topic.clone(),
                QoS::AtLeastOnce,
                false,
                row.payload.clone().into_bytes(),
                Some(tracked),
            );
            if !sent {
                break;
            }
            if self.config.snapshots {
                self.publish_snapshot(link, &row.payload).await;
            }
        }
        rows.len()
    }

    /// Publishes the event's crop when this change improved its best view.
    async fn publish_snapshot(&mut self, link: &Link, payload: &str) {
        let Ok(message) = serde_json::from_str::<Value>(payload) else {
            return;
        };
        let (before, after) = (&message["before"], &message["after"]);
        let improved = message["type"] == "new"
            || after["best_score"].as_f64() > before["best_score"].as_f64();
        if !improved || after["has_snapshot"] != true {
            return;
        }
        let (Some(id), Some(camera), Some(label)) = (
            after["id"].as_str(),
            after["camera"].as_str(),
            after["label"].as_str(),
        ) else {
            return;
        };
        let id = id.to_string();
        let jpeg = self
            .reader
            .run(move |r| {
                Ok(r.snapshot_paths(&id)?
                    .and_then(|paths| std::fs::read(paths.crop).ok()))
            })
            .await;
        // A packet over rumqttc's limit would break the connection at every attempt.
        if let Ok(Some(jpeg)) = jpeg.map(|j| j.filter(|j| j.len() < MAX_OUTGOING - 1024)) {
            let topic = topics::snapshot(&self.config.topic_prefix, camera, label);
            link.publish(topic, QoS::AtMostOnce, true, jpeg, None);
        }
    }

    /// Publishes counts and camera states that changed (and their discovery configs).
    async fn publish_state(&mut self, link: &Link, retained: &mut Retained) {
        let sink = self.route.sink.clone();
        let seed = !retained.seeded;
        let read = self
            .reader
            .run(move |r| {
                let pending = deliveries::count(r, &sink, deliveries::State::Pending)?;
                let known = if seed { known_pairs(r)? } else { Vec::new() };
                Ok((pending, open_counts(r)?, known))
            })
            .await;
        let (current, known) = match read {
            Ok((pending, counts, known)) => {
                self.route.stats.set_pending(pending);
                (counts, known)
            }
            Err(e) => {
                tracing::warn!("store not readable: {e}");
                return;
            }
        };
        retained.seeded = true;
        let prefix = self.config.topic_prefix.clone();
        // At the first look every pair the store knows is published, zeros included: a count
        // the broker retained from before a restart is not left standing.
        let keys: BTreeSet<(String, String)> = retained
            .counts
            .keys()
            .chain(current.keys())
            .cloned()
            .chain(known)
            .collect();
        for key in keys {
            let n = current.get(&key).copied().unwrap_or(0);
            if retained.counts.get(&key) == Some(&n) {
                continue;
            }
            self.announce_label(link, retained, &key.0, &key.1);
            if self.publish_retained(link, topics::count(&prefix, &key.0, &key.1), n.to_string()) {
                retained.counts.insert(key, n);
            }
        }
        for camera in self.cameras.list() {
            let name = camera.name().to_string();
            let state = camera.health().state.as_str().to_string();
            if retained.states.get(&name) == Some(&state) {
                continue;
            }
            self.announce_camera(link, retained, &name);
            if self.publish_retained(link, topics::camera_state(&prefix, &name), state.clone()) {
                retained.states.insert(name, state);
            }
        }
    }

    /// A clean stop: `offline` (retained), then DISCONNECT, so the broker keeps no will.
    async fn goodbye(&mut self, link: &Link) {
        if !link.session().0 {
            return;
        }
        link.publish(
            topics::available(&self.config.topic_prefix),
            QoS::AtMostOnce,
            true,
            b"offline".to_vec(),
            None,
        );
        link.disconnect();
        let changed = link.changed();
        let _ = tokio::time::timeout(GOODBYE, async {
            while link.session().0 {
                changed.notified().await;
            }
        })
        .await;
    }
}

/// Every (camera, label) the store has events of (at most cameras × labels).
fn known_pairs(r: &crate::store::StoreReader) -> Result<Vec<(String, String)>, StoreError> {
    let err = StoreError::sqlite(r.db_path());
    r.conn()
        .prepare_cached("SELECT DISTINCT camera, label FROM events")
        .map_err(&err)?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .map_err(&err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(&err)
}

/// Events in progress per (camera, label).
fn open_counts(
    r: &crate::store::StoreReader,
) -> Result<BTreeMap<(String, String), u64>, StoreError> {
    let err = StoreError::sqlite(r.db_path());
    r.conn()
        .prepare_cached(
            "SELECT camera, label, COUNT(*) FROM events WHERE ended = 0 GROUP BY camera, label",
        )
        .map_err(&err)?
        .query_map([], |row| Ok(((row.get(0)?, row.get(1)?), row.get(2)?)))
        .map_err(&err)?
        .collect::<Result<BTreeMap<_, _>, _>>()
        .map_err(&err)
}
