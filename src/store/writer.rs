//! The one writer: a bounded queue of commands and the `store-writer` thread that drains it.
//!
//! Inputs: [`StoreWriter::try_send`] (event changes, never blocks), and requests that wait for
//! an answer with a time limit ([`StoreWriter::flush`], [`StoreWriter::delete`],
//! [`StoreWriter::run_retention`], [`StoreWriter::outbox`] — the sinks' delivery results and
//! replays, so the outbox too has this one writer). Outputs: rows and snapshot files (see
//! `apply.rs`), outbox rows (see `crate::sinks::outbox`), counters ([`WriterStats`]).
//!
//! Back-pressure: the queue holds [`QUEUE_CAPACITY`] commands; `try_send` on a full queue drops
//! the change and counts it. Requests wait for room up to their time limit. At most
//! [`MAX_PENDING_FRAMES`] frames are queued at once (they hold decoder buffers); a change over
//! that limit is queued without its frame. The thread takes up to [`MAX_BATCH`] commands at a
//! time and stores the changes among them in one transaction.
//!
//! Failure: a failed batch is logged and counted in [`WriterStats::failed`]; the thread goes on.
//! It stops on [`Store::shutdown`](super::Store::shutdown) after storing what was queued before.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender, TrySendError};
use rusqlite::Connection;

use super::apply::{self, Pending};
use super::retention::{self, RetentionReport};
use super::throttle::Throttle;
use super::{StoreConfig, StoreError, valid_id};
use crate::event::EventChange;
use crate::frame::{Frame, unix_ms};
use crate::sinks::outbox::{self, OutboxOp, Route};

/// Commands the queue to the writer holds at most.
pub const QUEUE_CAPACITY: usize = 1024;
/// Frames waiting in the queue at most.
pub const MAX_PENDING_FRAMES: usize = 16;
/// Commands the writer takes into one batch (one transaction) at most.
pub const MAX_BATCH: usize = 256;
/// How often retention runs on the writer thread (it also runs once at open).
pub const RETENTION_PERIOD: Duration = Duration::from_secs(60);
/// Ids of events deleted while still in progress that are remembered, so their later changes
/// do not bring them back.
const DELETED_MEMORY: usize = 1024;

/// What the writer has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriterStats {
    /// Changes queued.
    pub accepted: u64,
    /// Changes dropped because the queue was full (or the writer had stopped).
    pub dropped: u64,
    /// Frames not queued because [`MAX_PENDING_FRAMES`] were already waiting.
    pub frames_skipped: u64,
    /// Changes committed to the database.
    pub written: u64,
    /// Changes lost because their transaction failed.
    pub failed: u64,
    /// Changes of events deleted while in progress, not stored.
    pub ignored: u64,
    /// Snapshot pairs written.
    pub snapshots: u64,
    /// Snapshots that could not be encoded or written.
    pub snapshot_errors: u64,
    /// Events deleted by retention.
    pub retention_deleted: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    accepted: AtomicU64,
    dropped: AtomicU64,
    frames_skipped: AtomicU64,
    frames_pending: AtomicUsize,
    pub(super) written: AtomicU64,
    pub(super) failed: AtomicU64,
    ignored: AtomicU64,
    pub(super) snapshots: AtomicU64,
    pub(super) snapshot_errors: AtomicU64,
    retention_deleted: AtomicU64,
}

/// A queued frame; counts itself out of [`Counters::frames_pending`] when dropped, wherever
/// that happens (stored, skipped, or dropped with a full queue).
pub(super) struct QueuedFrame {
    pub(super) frame: Arc<Frame>,
    counters: Arc<Counters>,
}

impl QueuedFrame {
    /// Puts the frame over its own copy of the pixels ([`Frame::detached`]), for a frame that
    /// will be held a while; it stays counted as pending.
    pub(super) fn detach(&mut self) {
        self.frame = Arc::new(self.frame.detached());
    }
}

impl Drop for QueuedFrame {
    fn drop(&mut self) {
        self.counters.frames_pending.fetch_sub(1, Ordering::AcqRel);
    }
}

pub(super) enum Command {
    Change(Box<EventChange>, Option<QueuedFrame>),
    Flush(Sender<()>),
    Delete(String, Sender<Result<bool, StoreError>>),
    Retention(u64, Sender<Result<RetentionReport, StoreError>>),
    Outbox(OutboxOp, Sender<Result<u64, StoreError>>),
    Stop(Sender<()>),
}

/// The sending side of the writer; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct StoreWriter {
    tx: Sender<Command>,
    counters: Arc<Counters>,
}

impl StoreWriter {
    /// Queues `change` for storing, with the frame it was computed on when
    /// `change.best_improved` (a frame on any other change is not queued). Never blocks:
    /// returns false, and counts the change as dropped, when the queue is full or the writer
    /// has stopped.
    pub fn try_send(&self, change: EventChange, frame: Option<Arc<Frame>>) -> bool {
        let frame = frame
            .filter(|_| change.best_improved)
            .and_then(|f| self.reserve_frame(f));
        match self.tx.try_send(Command::Change(Box::new(change), frame)) {
            Ok(()) => {
                self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    fn reserve_frame(&self, frame: Arc<Frame>) -> Option<QueuedFrame> {
        let c = &self.counters;
        let reserved = c
            .frames_pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_PENDING_FRAMES).then_some(n + 1)
            })
            .is_ok();
        if !reserved {
            c.frames_skipped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(QueuedFrame {
            frame,
            counters: self.counters.clone(),
        })
    }

    /// Changes dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// All counters.
    pub fn stats(&self) -> WriterStats {
        let c = &self.counters;
        WriterStats {
            accepted: c.accepted.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            frames_skipped: c.frames_skipped.load(Ordering::Relaxed),
            written: c.written.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            ignored: c.ignored.load(Ordering::Relaxed),
            snapshots: c.snapshots.load(Ordering::Relaxed),
            snapshot_errors: c.snapshot_errors.load(Ordering::Relaxed),
            retention_deleted: c.retention_deleted.load(Ordering::Relaxed),
        }
    }

    /// Waits until everything queued before this call is stored (or failed and counted).
    pub fn flush(&self, timeout: Duration) -> Result<(), StoreError> {
        self.request(Command::Flush, timeout)
    }

    /// Deletes one event, its zones and its snapshot files, after the changes queued before.
    /// `Ok(false)` when there is no such event. An event still in progress stays deleted: its
    /// later changes are ignored.
    pub fn delete(&self, id: &str, timeout: Duration) -> Result<bool, StoreError> {
        if !valid_id(id) {
            return Err(StoreError::InvalidId(id.chars().take(160).collect()));
        }
        self.request(|reply| Command::Delete(id.to_string(), reply), timeout)?
    }

    /// Runs retention now as if the time were `now_ms` (Unix ms), on the writer thread.
    pub fn run_retention(
        &self,
        now_ms: u64,
        timeout: Duration,
    ) -> Result<RetentionReport, StoreError> {
        self.request(|reply| Command::Retention(now_ms, reply), timeout)?
    }

    /// Applies an outbox operation (after the changes queued before) and returns the rows it
    /// changed; the sinks it concerns are woken.
    pub fn outbox(&self, op: OutboxOp, timeout: Duration) -> Result<u64, StoreError> {
        self.request(|reply| Command::Outbox(op, reply), timeout)?
    }

    /// Asks the thread to stop after what is queued; waits for it within `timeout`.
    pub(super) fn stop(&self, timeout: Duration) -> Result<(), StoreError> {
        match self.request(Command::Stop, timeout) {
            Ok(()) | Err(StoreError::WriterGone) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn request<T>(
        &self,
        make: impl FnOnce(Sender<T>) -> Command,
        timeout: Duration,
    ) -> Result<T, StoreError> {
        let deadline = Instant::now() + timeout;
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        match self.tx.send_timeout(make(reply_tx), timeout) {
            Ok(()) => {}
            Err(SendTimeoutError::Timeout(_)) => return Err(StoreError::Timeout(timeout)),
            Err(SendTimeoutError::Disconnected(_)) => return Err(StoreError::WriterGone),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        reply_rx.recv_timeout(left).map_err(|e| match e {
            RecvTimeoutError::Timeout => StoreError::Timeout(timeout),
            RecvTimeoutError::Disconnected => StoreError::WriterGone,
        })
    }
}

/// Starts the `store-writer` thread over `conn`, after storing an `end` change for each of
/// `closed` (events the previous run left open), so the sinks send it.
pub(super) fn spawn(
    conn: Connection,
    data_dir: PathBuf,
    db_path: PathBuf,
    config: StoreConfig,
    routes: Vec<Route>,
    closed: Vec<crate::event::Event>,
) -> Result<(StoreWriter, JoinHandle<()>), StoreError> {
    let (tx, rx) = crossbeam_channel::bounded(QUEUE_CAPACITY);
    let counters = Arc::new(Counters::default());
    let mut thread = WriterThread {
        conn,
        data_dir,
        db_path,
        config,
        counters: counters.clone(),
        deleted: VecDeque::new(),
        routes,
        throttle: Throttle::default(),
    };
    thread.close(closed);
    let _ = thread.retention(unix_ms());
    let handle = std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || thread.run(rx))
        .map_err(StoreError::io(std::path::Path::new("store-writer thread")))?;
    Ok((StoreWriter { tx, counters }, handle))
}

struct WriterThread {
    conn: Connection,
    data_dir: PathBuf,
    db_path: PathBuf,
    config: StoreConfig,
    counters: Arc<Counters>,
    /// Ids deleted while in progress, newest last, at most [`DELETED_MEMORY`].
    deleted: VecDeque<String>,
    /// The sinks whose outbox rows each change gets.
    routes: Vec<Route>,
    /// At most one snapshot per event per interval (after its first).
    throttle: Throttle,
}

impl WriterThread {
    fn run(mut self, rx: Receiver<Command>) {
        let mut next_retention = Instant::now() + RETENTION_PERIOD;
        loop {
            let until = self
                .throttle
                .next_due()
                .map_or(next_retention, |t| t.min(next_retention));
            let wait = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(first) => {
                    let mut batch = Vec::with_capacity(16);
                    batch.push(first);
                    batch.extend(rx.try_iter().take(MAX_BATCH - 1));
                    if self.handle(batch) {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => self.store(&mut Vec::new()),
                Err(RecvTimeoutError::Disconnected) => return,
            }
            // Also when changes never stop coming.
            if Instant::now() >= next_retention {
                let _ = self.retention(unix_ms());
                next_retention = Instant::now() + RETENTION_PERIOD;
            }
        }
    }

    /// Handles commands in order; consecutive changes are stored together. True on `Stop`.
    fn handle(&mut self, batch: Vec<Command>) -> bool {
        let mut changes: Vec<Pending> = Vec::new();
        for cmd in batch {
            match cmd {
                Command::Change(change, frame) => {
                    if self.deleted.contains(&change.event.id) {
                        self.counters.ignored.fetch_add(1, Ordering::Relaxed);
                    } else {
                        let mut p = Pending {
                            change: *change,
                            frame,
                        };
                        self.throttle.admit(&mut p, Instant::now());
                        changes.push(p);
                    }
                }
                Command::Flush(reply) => {
                    self.store(&mut changes);
                    let _ = reply.send(());
                }
                Command::Delete(id, reply) => {
                    self.store(&mut changes);
                    let result = apply::delete(&mut self.conn, &self.data_dir, &self.db_path, &id);
                    if let Ok(Some(false)) = result {
                        self.remember_deleted(id);
                    }
                    let _ = reply.send(result.map(|ended| ended.is_some()));
                }
                Command::Retention(now_ms, reply) => {
                    self.store(&mut changes);
                    let _ = reply.send(self.retention(now_ms));
                }
                Command::Outbox(op, reply) => {
                    self.store(&mut changes);
                    let _ = reply.send(self.outbox(&op));
                }
                Command::Stop(reply) => {
                    self.store(&mut changes);
                    let _ = reply.send(());
                    return true;
                }
            }
        }
        self.store(&mut changes);
        false
    }

    fn store(&mut self, changes: &mut Vec<Pending>) {
        let now = Instant::now();
        let ending: Vec<&str> = changes
            .iter()
            .filter(|p| p.change.kind == crate::event::ChangeKind::End)
            .map(|p| p.change.event.id.as_str())
            .collect();
        let views = self.throttle.due(now, &ending);
        if !views.is_empty() {
            match apply::store_snapshots(
                &mut self.conn,
                &self.data_dir,
                &self.db_path,
                self.config.snapshot_quality,
                &views,
                &self.counters,
            ) {
                Ok(ids) => ids.iter().for_each(|id| self.throttle.wrote(id, now)),
                Err(e) => tracing::error!(error = %e, "store: kept snapshots not written"),
            }
        }
        if changes.is_empty() {
            return;
        }
        for p in changes.iter() {
            if p.change.kind == crate::event::ChangeKind::End {
                self.throttle.ended(&p.change.event.id);
            } else if p.frame.is_some() {
                self.throttle.wrote(&p.change.event.id, now);
            }
        }
        let batch = std::mem::take(changes);
        let n = batch.len() as u64;
        let quality = self.config.snapshot_quality;
        match apply::store_batch(
            &mut self.conn,
            &self.data_dir,
            &self.db_path,
            quality,
            batch,
            &self.counters,
            &self.routes,
        ) {
            Ok(()) => {
                self.counters.written.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                self.counters.failed.fetch_add(n, Ordering::Relaxed);
                tracing::error!(error = %e, changes = n, "store: batch not written");
            }
        }
    }

    /// Stores an `end` for each event the previous run left open (not counted as changes
    /// accepted or written: nobody sent them). On failure they stay open, and the next start
    /// tries again.
    fn close(&mut self, events: Vec<crate::event::Event>) {
        if events.is_empty() {
            return;
        }
        let n = events.len();
        let ends = events
            .into_iter()
            .map(|event| Pending {
                change: EventChange {
                    kind: crate::event::ChangeKind::End,
                    event,
                    best_improved: false,
                },
                frame: None,
            })
            .collect();
        if let Err(e) = apply::store_batch(
            &mut self.conn,
            &self.data_dir,
            &self.db_path,
            self.config.snapshot_quality,
            ends,
            &self.counters,
            &self.routes,
        ) {
            tracing::error!(error = %e, events = n, "store: events left open not ended");
        }
    }

    fn outbox(&mut self, op: &OutboxOp) -> Result<u64, StoreError> {
        let (changed, wake) =
            outbox::apply(&mut self.conn, op).map_err(StoreError::sqlite(&self.db_path))?;
        for route in &self.routes {
            if wake.contains(&route.sink) {
                route.wake.notify_one();
            }
        }
        Ok(changed)
    }

    fn remember_deleted(&mut self, id: String) {
        if self.deleted.len() == DELETED_MEMORY {
            self.deleted.pop_front();
        }
        self.deleted.push_back(id);
    }

    fn retention(&mut self, now_ms: u64) -> Result<RetentionReport, StoreError> {
        let result = retention::run(
            &mut self.conn,
            &self.data_dir,
            &self.db_path,
            &self.config,
            now_ms,
        );
        match &result {
            Ok(r) => {
                let n = r.expired + r.evicted;
                self.counters
                    .retention_deleted
                    .fetch_add(n, Ordering::Relaxed);
                if n > 0 {
                    tracing::info!(report = ?r, "store retention");
                }
            }
            Err(e) => tracing::error!(error = %e, "store retention failed"),
        }
        let cutoff = (self.config.retention_days > 0).then(|| {
            now_ms.saturating_sub(u64::from(self.config.retention_days) * retention::DAY_MS)
        });
        match outbox::prune(&mut self.conn, &self.routes, cutoff) {
            Ok(r) if r != outbox::PruneReport::default() => {
                tracing::debug!(report = ?r, "outbox pruned");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "outbox pruning failed"),
        }
        result
    }
}

impl crate::events::Durable for StoreWriter {
    fn offer(&self, change: &EventChange, snapshot: Option<&Arc<Frame>>) {
        self.try_send(change.clone(), snapshot.cloned());
    }
}
