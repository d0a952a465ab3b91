//! The event bus: where the analysis thread hands each event change, without ever waiting.
//!
//! Fan-out, in order: JSON lines on stdout (`--print-events`, `replay`), the durable store (its
//! writer queue; the store also feeds the webhook and MQTT outboxes), and live subscribers (the
//! console's WebSocket) through a bounded broadcast channel whose slow receivers lose the oldest
//! messages, never slowing the pipeline. Counts what it published.
//!
//! Each analysed frame's result (detections and tracks) goes to live subscribers only, through
//! a second bounded broadcast channel with the same policy.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::broadcast;

use crate::cameras::FrameResult;
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
    frames: broadcast::Sender<Arc<FrameResult>>,
    counts: [AtomicU64; 3],
}

impl EventBus {
    /// `print` writes every change as a JSON line on stdout.
    pub fn new(print: bool, durable: Option<Box<dyn Durable>>) -> Self {
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        let (frames, _) = broadcast::channel(LIVE_CAPACITY);
        Self {
            print,
            durable,
            live,
            frames,
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

    /// Hands one analysed frame's result to live subscribers; never waits.
    pub fn publish_frame(&self, result: Arc<FrameResult>) {
        // No subscriber is fine: nobody is watching.
        let _ = self.frames.send(result);
    }

    /// A receiver of every frame result published from now on.
    pub fn subscribe_frames(&self) -> broadcast::Receiver<Arc<FrameResult>> {
        self.frames.subscribe()
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
