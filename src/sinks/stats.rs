//! Counters of one sink, shared by the store writer (messages queued, overflow), the sink's
//! task (deliveries, retries, dead letters, latency, pending) and `/metrics` (read at scrape
//! time, see `crate::metrics`).

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::metrics::histogram::Histogram;

/// Upper bounds (seconds) of the delivery latency histogram: from a fast LAN receiver to one
/// that was down for a while.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
];

/// What happened to messages of one sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged by the receiver (2xx, or the broker's PUBACK).
    Delivered,
    /// An attempt failed; the message is scheduled again.
    Retried,
    /// `max_attempts` attempts failed: the message is a dead letter.
    Dead,
    /// The outbox bound was reached: the oldest waiting message became a dead letter.
    Overflow,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Delivered,
        Outcome::Retried,
        Outcome::Dead,
        Outcome::Overflow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retried => "retried",
            Outcome::Dead => "dead",
            Outcome::Overflow => "overflow",
        }
    }
}

/// The counters of one sink.
#[derive(Debug)]
pub struct SinkStats {
    sink: String,
    enqueued: AtomicU64,
    outcomes: [AtomicU64; 4],
    pending: AtomicU64,
    latency: Histogram,
}

impl SinkStats {
    pub fn new(sink: impl Into<String>) -> Self {
        Self {
            sink: sink.into(),
            enqueued: AtomicU64::new(0),
            outcomes: Default::default(),
            pending: AtomicU64::new(0),
            latency: Histogram::new(LATENCY_BUCKETS),
        }
    }

    /// The sink's outbox name (`webhook:NAME` or `mqtt`).
    pub fn sink(&self) -> &str {
        &self.sink
    }

    pub fn add_enqueued(&self, n: u64) {
        self.enqueued.fetch_add(n, Ordering::Relaxed);
    }

    /// Messages written to the outbox for this sink.
    pub fn enqueued(&self) -> u64 {
        self.enqueued.load(Ordering::Relaxed)
    }

    pub fn add(&self, outcome: Outcome, n: u64) {
        self.outcomes[outcome as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub fn count(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome as usize].load(Ordering::Relaxed)
    }

    /// Records a delivery `seconds` after its change was stored.
    pub fn observe_latency(&self, seconds: f64) {
        self.latency.observe(seconds.max(0.0));
    }

    pub fn latency(&self) -> &Histogram {
        &self.latency
    }

    pub fn set_pending(&self, n: u64) {
        self.pending.store(n, Ordering::Relaxed);
    }

    /// Messages waiting (as last counted by the writer or the sink's task).
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }
}
