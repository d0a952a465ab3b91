//! Retention: ended events are deleted by age and, when the disk budget is exceeded, oldest
//! first.
//!
//! Inputs: the writer connection, the config, and "now" (Unix ms; injected so tests can move
//! time). Event times (`last_seen_ms`) are the pipeline's frame timestamps, Unix ms.
//! Outputs: a [`RetentionReport`]. Rows go first, in a transaction per chunk of
//! [`CHUNK`] events, then their files; freed database pages are returned to the file system.
//!
//! Policy: events still in progress are never deleted. Age: an ended event whose
//! `last_seen_ms` is older than `retention_days` goes. Size: the disk use is the database's
//! used pages plus the snapshot sizes recorded in the rows (the WAL file, bounded by SQLite's
//! checkpoints, is not counted); while it is over `max_disk_mb`, the ended events seen longest
//! ago go. Work is bounded: at most [`MAX_CHUNKS`] chunks per run, the rest waits for the next.
//!
//! Failure: an SQLite error ends the run; what was committed before stays deleted and the
//! files of those rows are removed.

use std::path::Path;

use rusqlite::{Connection, params};

use super::apply::remove_files;
use super::{StoreConfig, StoreError};

/// Events deleted per transaction.
pub const CHUNK: usize = 500;
/// Chunks one run deletes at most (for each of age and size), so that one run holds up the
/// writer for a bounded time; what is left goes in the next run.
pub const MAX_CHUNKS: usize = 20;
/// Rough size of a row and its index entries beyond its JSON, for the size estimate.
const ROW_OVERHEAD: u64 = 256;

pub(super) const DAY_MS: u64 = 86_400_000;

/// What one retention run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Events deleted for their age.
    pub expired: u64,
    /// Events deleted to fit the disk budget.
    pub evicted: u64,
    /// Snapshot files removed.
    pub files_removed: u64,
    /// Disk use after the run, bytes (database pages in use + snapshots).
    pub disk_bytes: u64,
    /// Some events in progress alone exceed the budget: nothing more could be deleted.
    pub over_budget: bool,
}

/// Runs both rules once.
pub(super) fn run(
    conn: &mut Connection,
    data_dir: &Path,
    db_path: &Path,
    config: &StoreConfig,
    now_ms: u64,
) -> Result<RetentionReport, StoreError> {
    let mut report = RetentionReport::default();
    if config.retention_days > 0 {
        let cutoff = now_ms.saturating_sub(u64::from(config.retention_days) * DAY_MS);
        for _ in 0..MAX_CHUNKS {
            let ids = select(
                conn,
                db_path,
                "SELECT id, length(json), snapshot_bytes FROM events
                 WHERE ended = 1 AND last_seen_ms < ?1 ORDER BY last_seen_ms LIMIT ?2",
                params![cutoff, CHUNK],
            )?;
            let n = ids.len();
            let (deleted, files) = delete_rows(conn, data_dir, db_path, &ids)?;
            report.expired += deleted;
            report.files_removed += files;
            if n < CHUNK {
                break;
            }
        }
    }
    let budget = config.max_disk_bytes();
    let mut used = disk_bytes(conn, db_path)?;
    for _ in 0..MAX_CHUNKS {
        if used <= budget {
            break;
        }
        let rows = select(
            conn,
            db_path,
            "SELECT id, length(json), snapshot_bytes FROM events
             WHERE ended = 1 ORDER BY last_seen_ms, id LIMIT ?1",
            params![CHUNK],
        )?;
        if rows.is_empty() {
            report.over_budget = true;
            tracing::warn!(
                used,
                budget,
                "store: over the disk budget with no ended event left"
            );
            break;
        }
        let mut excess = used - budget;
        let mut take = Vec::new();
        for row in rows {
            let size = row.1 + row.2 + ROW_OVERHEAD;
            take.push(row);
            if size >= excess {
                break;
            }
            excess -= size;
        }
        let (deleted, files) = delete_rows(conn, data_dir, db_path, &take)?;
        report.evicted += deleted;
        report.files_removed += files;
        used = disk_bytes(conn, db_path)?;
    }
    report.disk_bytes = used;
    Ok(report)
}

/// (id, json length, snapshot bytes) rows of a query.
fn select(
    conn: &Connection,
    db_path: &Path,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<(String, u64, u64)>, StoreError> {
    let err = StoreError::sqlite(db_path);
    let mut stmt = conn.prepare_cached(sql).map_err(&err)?;
    let rows = stmt
        .query_map(params, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(&err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(&err)
}

/// Deletes the rows (in one transaction), then their files, then gives freed pages back.
/// Returns (rows deleted, files removed).
fn delete_rows(
    conn: &mut Connection,
    data_dir: &Path,
    db_path: &Path,
    rows: &[(String, u64, u64)],
) -> Result<(u64, u64), StoreError> {
    if rows.is_empty() {
        return Ok((0, 0));
    }
    let err = StoreError::sqlite(db_path);
    let tx = conn.transaction().map_err(&err)?;
    let mut files = Vec::new();
    let mut deleted = 0;
    {
        let mut find = tx
            .prepare_cached("SELECT snapshot, crop FROM events WHERE id = ?1")
            .map_err(&err)?;
        let mut delete = tx
            .prepare_cached("DELETE FROM events WHERE id = ?1")
            .map_err(&err)?;
        for (id, _, _) in rows {
            let names = find
                .query_map([id], |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, Option<String>>(1)?,
                    ))
                })
                .map_err(&err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(&err)?;
            for (full, crop) in names {
                files.extend(full);
                files.extend(crop);
            }
            deleted += delete.execute([id]).map_err(&err)? as u64;
        }
    }
    tx.commit().map_err(&err)?;
    let removed = remove_files(data_dir, files);
    conn.execute_batch("PRAGMA incremental_vacuum")
        .map_err(&err)?;
    Ok((deleted, removed))
}

/// Disk use counted against the budget: database pages in use plus recorded snapshot sizes.
pub(super) fn disk_bytes(conn: &Connection, db_path: &Path) -> Result<u64, StoreError> {
    let err = StoreError::sqlite(db_path);
    let page_size: u64 = conn
        .pragma_query_value(None, "page_size", |r| r.get(0))
        .map_err(&err)?;
    let pages: u64 = conn
        .pragma_query_value(None, "page_count", |r| r.get(0))
        .map_err(&err)?;
    let free: u64 = conn
        .pragma_query_value(None, "freelist_count", |r| r.get(0))
        .map_err(&err)?;
    let snapshots: u64 = conn
        .query_row(
            "SELECT COALESCE(SUM(snapshot_bytes), 0) FROM events",
            [],
            |r| r.get(0),
        )
        .map_err(&err)?;
    Ok(pages.saturating_sub(free) * page_size + snapshots)
}
