//! Scheduler + batcher: which cameras' newest frames are analysed next, together.
//!
//! Each camera is due once per `1 / detect_fps` ([`Scheduler`]). A batch is the due cameras
//! that have a new frame, freshest and most overdue first (no camera starves another), up to
//! `max_batch` frames. When fewer are ready and another camera
//! will be due soon, the batcher waits for it, but never more than `max_wait` after the first
//! frame of the batch was ready. With `max_batch = 1` (models with a fixed batch of one) it
//! never waits.
//!
//! Back-pressure: when analysis is slower than the cameras, due cameras are served in turn and
//! the frames that arrive meanwhile replace each other in their slots (counted as drops there;
//! frames a camera sends beyond its `detect_fps` are counted apart, as rate-limited):
//! the analysed frame is always the newest one, and latency does not build up.

pub mod motion;
mod scheduler;

use std::time::{Duration, Instant};

pub use scheduler::Scheduler;

/// What the analysis loop should do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Analyse these cameras' frames now, as one batch (indices into the camera list).
    Run(Vec<usize>),
    /// Nothing to run yet: sleep until this time or until a frame arrives.
    Wait(Instant),
}

/// Forms batches over a [`Scheduler`].
pub struct Batcher {
    scheduler: Scheduler,
    max_batch: usize,
    max_wait: Duration,
    /// When the oldest ready-but-unserved frame became ready.
    first_ready: Option<Instant>,
}

/// Longest sleep when no camera is scheduled at all.
const IDLE: Duration = Duration::from_millis(100);

impl Batcher {
    /// `max_batch` ≥ 1 frames per batch; wait at most `max_wait` to fill one.
    pub fn new(max_batch: usize, max_wait: Duration) -> Self {
        Self {
            scheduler: Scheduler::default(),
            max_batch: max_batch.max(1),
            max_wait,
            first_ready: None,
        }
    }

    /// Follows a changed camera list (`(id, detect_fps)` per camera, in index order).
    pub fn sync(&mut self, cameras: &[(u64, f32)], now: Instant) {
        self.scheduler.sync(cameras, now);
    }

    /// From when a frame of camera `i` is wanted (see [`Scheduler::wanted_from`]).
    pub fn wanted_from(&self, i: usize) -> Option<Instant> {
        self.scheduler.wanted_from(i)
    }

    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Decides at `now`; `frame_at(i)` is when camera `i`'s waiting frame arrived (`None`
    /// without one). A returned batch is recorded as served.
    pub fn next(&mut self, now: Instant, frame_at: impl Fn(usize) -> Option<Instant>) -> Next {
        let ready = self.scheduler.ready(now, self.max_batch, &frame_at);
        if ready.is_empty() {
            self.first_ready = None;
            let wake = self.scheduler.next_deadline(now).unwrap_or(now + IDLE);
            return Next::Wait(wake.min(now + IDLE));
        }
        let first = *self.first_ready.get_or_insert(now);
        let deadline = first + self.max_wait;
        let full = ready.len() >= self.max_batch;
        if !full && now < deadline && self.scheduler.any_due_by(deadline, &ready) {
            // Another camera is due (or will be before the deadline): wait for its frame.
            let wake = self
                .scheduler
                .next_deadline(now)
                .map_or(deadline, |t| t.min(deadline));
            return Next::Wait(wake);
        }
        let batch = self.scheduler.pick_many(now, self.max_batch, frame_at);
        for &i in &batch {
            self.scheduler.served(i, now);
        }
        self.first_ready = None;
        Next::Run(batch)
    }
}

#[cfg(test)]
mod tests;
