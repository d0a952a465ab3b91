//! The MQTT connection: the `mqtt-link` task is the only one that polls rumqttc's event loop
//! (a poll is never cancelled half-way), reconnects with backoff, and tells which outbox rows
//! the broker acknowledged.
//!
//! Inputs: publishes from the `mqtt` task through [`Link::publish`] (only while connected;
//! rumqttc's request queue holds [`REQUEST_CAPACITY`] and a full queue refuses the publish,
//! which the caller retries later). Outputs: [`Link::take_acked`] (rows whose QoS 1 publish
//! got its PUBACK), the connection state, a wake-up ([`Link::changed`]) on each change.
//!
//! Tracking: every publish handed to the client pushes one entry on a FIFO, in the same lock
//! as the hand-over; rumqttc reports each outgoing publish (`Outgoing::Publish(pkid)`) in that
//! order, which pairs the packet id with the row; the PUBACK of that id marks the row acked.
//! The session is clean (`clean_session = true`): after a disconnection the broker keeps
//! nothing, rumqttc drops what it had not sent, and this module forgets every row in flight —
//! they are still pending in the outbox and are published again after the reconnection (QoS 1
//! is at least once: a receiver may get a message twice). A packet-id collision (possible only
//! if the broker acks out of order) is answered with a reconnection, which resets all of this.
//!
//! Failure: a lost or refused connection is logged once, then retried with backoff (0.5 s
//! doubling to `reconnect_max_s`, with jitter) until the task is stopped.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::ingest::Backoff;

/// Requests rumqttc's queue to the event loop holds.
pub const REQUEST_CAPACITY: usize = 256;

/// An outbox row carried by a QoS 1 publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracked {
    pub row: i64,
    pub created_ms: u64,
}

#[derive(Default)]
struct State {
    connected: bool,
    /// Counts successful connections.
    session: u64,
    /// One entry per publish handed over and not yet reported sent, oldest first.
    fifo: VecDeque<Option<Tracked>>,
    /// Sent QoS 1 publishes of rows, by packet id, waiting for their PUBACK.
    inflight: HashMap<u16, Tracked>,
    /// Rows acknowledged, not yet taken.
    acked: Vec<Tracked>,
}

/// The handle the `mqtt` task uses.
pub struct Link {
    client: AsyncClient,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
}

impl Link {
    /// Starts `mqtt-link` for `options`.
    pub fn start(options: MqttOptions, reconnect_max: Duration) -> (Link, JoinHandle<()>) {
        let (client, eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);
        let state = Arc::new(Mutex::new(State::default()));
        let changed = Arc::new(Notify::new());
        let task = tokio::spawn(
            drive(
                eventloop,
                client.clone(),
                state.clone(),
                changed.clone(),
                reconnect_max,
            )
            .instrument(tracing::info_span!("mqtt-link")),
        );
        (
            Link {
                client,
                state,
                changed,
            },
            task,
        )
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Notified on connection, disconnection and acknowledgements.
    pub fn changed(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    /// Whether connected, and the number of the current connection.
    pub fn session(&self) -> (bool, u64) {
        let s = self.lock();
        (s.connected, s.session)
    }

    /// Hands a publish to the client if connected and its queue has room; `row` is tracked
    /// until acknowledged (publish it with QoS 1).
    pub fn publish(
        &self,
        topic: String,
        qos: QoS,
        retain: bool,
        payload: Vec<u8>,
        row: Option<Tracked>,
    ) -> bool {
        let mut s = self.lock();
        if !s.connected {
            return false;
        }
        if self
            .client
            .try_publish(topic, qos, retain, payload)
            .is_err()
        {
            return false;
        }
        s.fifo.push_back(row);
        true
    }

    /// Rows acknowledged since the last call.
    pub fn take_acked(&self) -> Vec<Tracked> {
        std::mem::take(&mut self.lock().acked)
    }

    /// Rows handed over and not yet acknowledged, and acknowledged ones not yet taken.
    pub fn rows_in_flight(&self) -> Vec<i64> {
        let s = self.lock();
        s.fifo
            .iter()
            .flatten()
            .chain(s.inflight.values())
            .chain(s.acked.iter())
            .map(|t| t.row)
            .collect()
    }

    /// Ends the session cleanly (the broker then does not publish the last will).
    pub fn disconnect(&self) {
        let _ = self.client.try_disconnect();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // The state stays consistent even if a holder panicked: every change is a single step.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn drive(
    mut eventloop: EventLoop,
    client: AsyncClient,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
    reconnect_max: Duration,
) {
    let mut backoff = Backoff::new(reconnect_max);
    let mut failing = false;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                {
                    let mut s = lock(&state);
                    s.connected = true;
                    s.session += 1;
                    s.fifo.clear();
                    s.inflight.clear();
                }
                tracing::info!(
                    "connected to {}:{}",
                    eventloop.mqtt_options.broker_address().0,
                    eventloop.mqtt_options.broker_address().1
                );
                failing = false;
                backoff.reset();
                changed.notify_one();
            }
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                let mut s = lock(&state);
                if let Some(Some(tracked)) = s.fifo.pop_front() {
                    s.inflight.insert(pkid, tracked);
                }
            }
            Ok(Event::Outgoing(Outgoing::AwaitAck(pkid))) => {
                tracing::warn!(pkid, "packet id collision: reconnecting to resynchronise");
                let _ = client.try_disconnect();
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                let acked = {
                    let mut s = lock(&state);
                    let tracked = s.inflight.remove(&ack.pkid);
                    if let Some(t) = tracked {
                        s.acked.push(t);
                    }
                    tracked.is_some()
                };
                if acked {
                    changed.notify_one();
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                lock(&state).connected = false;
                changed.notify_one();
            }
            Ok(_) => {}
            Err(ConnectionError::RequestsDone) => return,
            Err(e) => {
                let was_connected = {
                    let mut s = lock(&state);
                    let was = s.connected;
                    s.connected = false;
                    s.fifo.clear();
                    s.inflight.clear();
                    was
                };
                // Publishes handed over just before the error go to rumqttc's pending list,
                // which the next clean session drops (they are still pending in the outbox).
                eventloop.clean();
                changed.notify_one();
                if was_connected {
                    tracing::warn!("connection lost: {e}; reconnecting");
                } else if !failing {
                    tracing::warn!("cannot connect: {e}; retrying with backoff");
                } else {
                    tracing::debug!("cannot connect: {e}");
                }
                failing = true;
                tokio::time::sleep(backoff.next_wait()).await;
            }
        }
    }
}
