//! The event store: event changes in, an SQLite database and JPEG snapshots on disk out,
//! queried by the HTTP layer.
//!
//! Inputs: [`EventChange`]s from the analysis thread, each with, when `best_improved`, the
//! [`Frame`](crate::frame::Frame) it was computed on ([`StoreWriter::try_send`]).
//! Outputs: `{data_dir}/events.db` (WAL; tables `events`, `event_zones`, and the sinks'
//! `outbox` with `counters`, written in the same transactions, see `schema.rs` and
//! `crate::sinks::outbox`),
//! `{data_dir}/snapshots/{camera}/{event_id}.jpg` (the whole frame, box drawn) and
//! `{event_id}-crop.jpg` (the box with a margin); [`StoreReader`] queries.
//!
//! On disk, in the data folder: `events.db` (+ `-wal`, `-shm` while open), `store.lock` (held
//! while a store is open: a second store on the same folder is refused) and `snapshots/`.
//! Event times are the pipeline's frame timestamps (Unix ms); retention compares them with the
//! wall clock.
//!
//! Threads: one writer, the `store-writer` thread, owns the only read-write connection. It
//! takes what is queued, encodes the snapshots, writes the files, then applies the batch in
//! one transaction. Readers open their own read-only connections ([`Store::reader`] or
//! [`StoreReader::open`]) and run beside it (WAL); each is `Send`, for tokio's blocking pool.
//! Deleting an event is a write: [`StoreWriter::delete`] hands it to the writer thread and
//! waits for the answer.
//!
//! Back-pressure: the queue to the writer is bounded ([`QUEUE_CAPACITY`] changes); when it is
//! full, [`StoreWriter::try_send`] drops the change and counts it ([`StoreWriter::dropped`]) —
//! it never blocks the analysis thread. A later change of the same event carries the whole
//! event, so a dropped `update` is repaired by the next one. At most [`MAX_PENDING_FRAMES`]
//! frames wait in the queue; beyond that a change is queued without its frame (counted in
//! [`WriterStats::frames_skipped`]) and the event keeps its previous snapshot.
//!
//! Failure: opening fails with a [`StoreError`] naming the path. Once running, a failed write is
//! logged, counted ([`WriterStats::failed`]) and the writer goes on with the next batch; a failed
//! snapshot leaves the event with its previous snapshot. A crash (even `kill -9`) leaves a
//! consistent database: files are renamed into place and fsynced before the row that points at
//! them is committed, and at open a sweep removes half-written and orphan files, clears
//! `has_snapshot` on rows whose files are gone, and ends events left open by the previous run
//! (with an `end` change, which the sinks send). The outbox (what webhooks and MQTT still
//! have to send) is written by the same writer: the sinks' results and replays come back as
//! commands on its queue ([`StoreWriter::outbox`]). Retention (age and disk budget, [`StoreConfig`]) runs at open and every
//! [`RETENTION_PERIOD`] on the writer thread.

mod apply;
mod config;
mod draw;
mod query;
mod retention;
mod schema;
mod snapshot;
mod sweep;
pub(crate) mod throttle;
mod writer;

#[cfg(test)]
mod tests;

use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

pub use config::StoreConfig;
pub use draw::BOX_COLOUR;
pub use query::{
    CountQuery, CountRow, DEFAULT_LIMIT, EventPage, EventQuery, MAX_BUCKETS, MAX_LIMIT,
    SnapshotPaths, StoreReader,
};
pub use retention::RetentionReport;
pub use schema::SCHEMA_VERSION;
pub use snapshot::{CROP_MARGIN, CROP_MARGIN_MIN_PX};
pub use sweep::SweepReport;
pub use writer::{MAX_PENDING_FRAMES, QUEUE_CAPACITY, RETENTION_PERIOD, StoreWriter, WriterStats};

#[cfg(doc)]
use crate::event::EventChange;
use crate::sinks::outbox::Route;

/// The database file's name inside the data folder.
pub const DB_FILE: &str = "events.db";
/// The lock file that keeps a second store from opening the same data folder.
pub const LOCK_FILE: &str = "store.lock";

/// Errors of the event store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid store config: {0}")]
    Config(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("data folder {path} is in use by another store (lock file {lock} is held)")]
    Locked { path: PathBuf, lock: PathBuf },
    #[error("database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database {path}: journal mode is {mode}, WAL could not be enabled")]
    NotWal { path: PathBuf, mode: String },
    #[error(
        "database {path} has schema version {found}, this build knows {known}; \
         use a newer edgesight or another data folder"
    )]
    SchemaVersion {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error("database {path}: stored event {id} is not valid event json: {source}")]
    Corrupt {
        path: PathBuf,
        id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("snapshot {path}: {problem}")]
    Frame { path: PathBuf, problem: String },
    #[error("snapshot {path}: jpeg encoding failed: {problem}")]
    Encode { path: PathBuf, problem: String },
    #[error("invalid event id `{0}`: use letters, digits, `-` and `_`")]
    InvalidId(String),
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error("invalid cursor: pass back the `next_cursor` of the previous page unchanged")]
    InvalidCursor,
    #[error("the store writer has stopped")]
    WriterGone,
    #[error("the store writer did not answer within {0:?}")]
    Timeout(Duration),
}

impl StoreError {
    /// Maps an SQLite error on the database at `path`.
    pub(crate) fn sqlite(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Maps an I/O error on `path`.
    pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Whether the caller's input was at fault (an HTTP 400), rather than the store.
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            StoreError::InvalidId(_) | StoreError::InvalidQuery(_) | StoreError::InvalidCursor
        )
    }
}

/// Whether `id` is a safe event id or camera name: 1 to 128 of `[A-Za-z0-9_-]`. Anything that
/// becomes part of a file name, or comes from a request, is checked with this.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The open store: owns the writer thread and the data folder's lock.
///
/// Dropping it stops the writer after the changes already queued are stored (as
/// [`Store::shutdown`] does, without a time limit).
pub struct Store {
    writer: StoreWriter,
    thread: Option<JoinHandle<()>>,
    data_dir: PathBuf,
    db_path: PathBuf,
    recovery: SweepReport,
    _lock: File,
}

impl Store {
    /// Opens (creating if needed) the store in `config.path`: migrates the database, runs the
    /// startup sweep and retention, and starts the `store-writer` thread. Returns the store and
    /// the handle the analysis thread sends changes through (clone it for other senders).
    pub fn open(config: &StoreConfig) -> Result<(Store, StoreWriter), StoreError> {
        Self::open_with_routes(config, Vec::new())
    }

    /// Like [`Store::open`], with the sinks whose outbox rows each stored change gets
    /// (`crate::sinks::outbox`).
    pub fn open_with_routes(
        config: &StoreConfig,
        routes: Vec<Route>,
    ) -> Result<(Store, StoreWriter), StoreError> {
        config.validate().map_err(StoreError::Config)?;
        let data_dir = config.path.clone();
        let snapshots = data_dir.join(snapshot::SNAPSHOT_DIR);
        fs::create_dir_all(&snapshots).map_err(StoreError::io(&snapshots))?;
        let lock_path = data_dir.join(LOCK_FILE);
        let lock = File::create(&lock_path).map_err(StoreError::io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    path: data_dir,
                    lock: lock_path,
                });
            }
            Err(TryLockError::Error(e)) => return Err(StoreError::io(&lock_path)(e)),
        }
        let db_path = data_dir.join(DB_FILE);
        let mut conn = schema::open_writer(&db_path)?;
        let (report, closed) = sweep::recover(&mut conn, &data_dir, &db_path)?;
        if report != SweepReport::default() {
            tracing::info!(?report, path = %data_dir.display(), "store recovered at open");
        }
        let (writer, thread) = writer::spawn(
            conn,
            data_dir.clone(),
            db_path.clone(),
            config.clone(),
            routes,
            closed,
        )?;
        let store = Store {
            writer: writer.clone(),
            thread: Some(thread),
            data_dir,
            db_path,
            recovery: report,
            _lock: lock,
        };
        Ok((store, writer))
    }

    /// A new read-only connection for queries.
    pub fn reader(&self) -> Result<StoreReader, StoreError> {
        StoreReader::open(&self.data_dir)
    }

    /// Another handle to the writer.
    pub fn writer(&self) -> StoreWriter {
        self.writer.clone()
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// What the sweep at open repaired.
    pub fn recovery(&self) -> SweepReport {
        self.recovery
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// Stores what is queued, then stops the writer thread. `Err(Timeout)` when the queue was
    /// not drained within `timeout` (the thread then finishes on its own).
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), StoreError> {
        let thread = self.thread.take();
        self.writer.stop(timeout)?;
        if let Some(t) = thread {
            let _ = t.join();
        }
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            if let Err(e) = self.writer.stop(Duration::from_secs(3600)) {
                tracing::warn!(error = %e, "store writer did not stop cleanly");
            }
            let _ = t.join();
        }
    }
}
