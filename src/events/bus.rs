//! The event bus: where the analysis thread hands each event change, without ever waiting.
//!
//! Fan-out, in order: JSON lines on stdout (`--print-events`, `replay`), the durable store (its
//! writer queue; the store also feeds the webhook and MQTT outboxes), and live subscribers (the
//! console's WebSocket) through a bounded broadcast channel whose slow receivers lose the oldest
//! messages, never slowing the pipeline. Counts what it published.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::broadcast;

use crate::event::{ChangeKind, EventChange};
use crate::frame::Frame;

/// Messages a live subscriber may fall behind by before it loses the oldest.
pub const LIVE_CAPACITY: usize = 256;

/// Where the durable store takes changes (see `crate::store`).
pub trait Durable: Send + Sync {
    /// Queues `change` (with the frame for its snapshot when it improved); never blocks.
    fn offer(&self, change: &EventChange, snapshot: Option<&Arc<Frame>>);
}

/// Counters of published changes.
#[derive(Default, Debug, serde::Serialize)]
pub struct BusCounts {
    pub new: u64,
    pub update: u64,
    pub end: u64,
}

/// Fan-out of event changes.
pub struct EventBus {
    print: bool,
    durable: Option<Box<dyn Durable>>,
    live: broadcast::Sender<Arc<EventChange>>,
    counts: [AtomicU64; 3],
}

impl EventBus {
    /// `print` writes every change as a JSON line on stdout.
    pub fn new(print: bool, durable: Option<Box<dyn Durable>>) -> Self {
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        Self {
            print,
            durable,
            live,
            counts: Default::default(),
        }
    }

    /// Publishes one change; `snapshot` is the frame it was computed on, when its event's best
    /// view improved.
    pub fn publish(&self, change: EventChange, snapshot: Option<&Arc<Frame>>) {
        let i = match change.kind {
            ChangeKind::New => 0,
            ChangeKind::Update => 1,
            ChangeKind::End => 2,
        };
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        if self.print
            && let Ok(line) = serde_json::to_string(&change)
        {
            // A closed stdout (e.g. `| head`) must not stop analysis.
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
        if let Some(durable) = &self.durable {
            durable.offer(&change, snapshot.filter(|_| change.best_improved));
        }
        // No subscriber is fine: nobody is watching.
        let _ = self.live.send(Arc::new(change));
    }

    /// A receiver of every change published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<EventChange>> {
        self.live.subscribe()
    }

    /// Changes published so far, by kind.
    pub fn counts(&self) -> BusCounts {
        BusCounts {
            new: self.counts[0].load(Ordering::Relaxed),
            update: self.counts[1].load(Ordering::Relaxed),
            end: self.counts[2].load(Ordering::Relaxed),
        }
    }
}
