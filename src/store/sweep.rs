//! Recovery at open: makes the files and the rows agree again after a crash.
//!
//! Inputs: the writer connection (before the writer thread starts) and the data folder.
//! Outputs: a [`SweepReport`] and the events it closed. In order:
//! 1. events left in progress by the previous run are marked ended (their tracker is gone; no
//!    `end` will ever come for them, and retention only deletes ended events); the caller
//!    stores an `end` change for each, so that the sinks' receivers learn it too;
//! 2. in `snapshots/{camera}/`, every `*.tmp` file (a write cut short) and every `*.jpg` that
//!    no row points at (renamed into place, but the row's transaction never committed) is
//!    removed, and camera folders left empty go too;
//! 3. rows with `has_snapshot` whose full or crop file is missing are cleared (no snapshot).
//!
//! Work is bounded by what is on disk: one pass over the snapshot folders and over the rows
//! that have snapshots. Only names this store writes (`*.jpg`, `*.tmp`) are ever removed.
//!
//! Failure: an SQLite error or an unreadable snapshots folder fails the open; a file that
//! cannot be removed is logged and left.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use rusqlite::Connection;

use super::StoreError;
use super::snapshot::SNAPSHOT_DIR;
use crate::event::Event;

/// What the sweep repaired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Events that were still in progress, now marked ended.
    pub closed: u64,
    /// Half-written `.tmp` files removed.
    pub tmp_removed: u64,
    /// Snapshot files no row pointed at, removed.
    pub orphans_removed: u64,
    /// Rows whose snapshot files were missing, now without a snapshot.
    pub rows_cleared: u64,
}

/// Runs the whole recovery. Returns the report and the events it ended (as they now stand).
pub(super) fn recover(
    conn: &mut Connection,
    data_dir: &Path,
    db_path: &Path,
) -> Result<(SweepReport, Vec<Event>), StoreError> {
    let err = StoreError::sqlite(db_path);
    let open: Vec<(String, String, bool)> = conn
        .prepare("SELECT id, json, has_snapshot FROM events WHERE ended = 0")
        .map_err(&err)?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(&err)?
        .collect::<Result<_, _>>()
        .map_err(&err)?;
    let mut report = SweepReport {
        closed: open.len() as u64,
        ..SweepReport::default()
    };
    // The caller's `end` changes mark these ended; a row whose json cannot be read is marked
    // here instead.
    let mut closed_events = Vec::with_capacity(open.len());
    for (id, json, has_snapshot) in open {
        match serde_json::from_str::<Event>(&json) {
            Ok(e) => closed_events.push(Event {
                ended: true,
                has_snapshot,
                ..e
            }),
            Err(e) => {
                tracing::warn!(event = %id, error = %e, "store sweep: unreadable event json");
                conn.execute("UPDATE events SET ended = 1 WHERE id = ?1", [&id])
                    .map_err(&err)?;
            }
        }
    }

    let mut referenced: HashSet<String> = HashSet::new();
    let mut rows: Vec<(String, String, String)> = Vec::new();
    {
        let mut stmt = conn
            .prepare(
                "SELECT id, snapshot, crop FROM events
                 WHERE has_snapshot = 1 AND snapshot IS NOT NULL AND crop IS NOT NULL",
            )
            .map_err(&err)?;
        let iter = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(&err)?;
        for row in iter {
            let (id, full, crop): (String, String, String) = row.map_err(&err)?;
            referenced.insert(full.clone());
            referenced.insert(crop.clone());
            rows.push((id, full, crop));
        }
    }

    let root = data_dir.join(SNAPSHOT_DIR);
    let cameras = fs::read_dir(&root).map_err(StoreError::io(&root))?;
    for camera in cameras.flatten() {
        let dir = camera.path();
        if !dir.is_dir() {
            continue;
        }
        let Ok(entries) = fs::read_dir(&dir) else {
            tracing::warn!(path = %dir.display(), "store sweep: folder not readable");
            continue;
        };
        let camera_name = camera.file_name().to_string_lossy().into_owned();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let tmp = name.ends_with(".tmp");
            let orphan = name.ends_with(".jpg")
                && !referenced.contains(&format!("{SNAPSHOT_DIR}/{camera_name}/{name}"));
            if !tmp && !orphan {
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) if tmp => report.tmp_removed += 1,
                Ok(()) => report.orphans_removed += 1,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "store sweep: not removed")
                }
            }
        }
        // Fails, harmlessly, unless the folder is now empty.
        let _ = fs::remove_dir(&dir);
    }

    let missing: HashSet<&str> = rows
        .iter()
        .filter(|(_, full, crop)| !data_dir.join(full).is_file() || !data_dir.join(crop).is_file())
        .map(|(id, _, _)| id.as_str())
        .collect();
    if !missing.is_empty() {
        let tx = conn.transaction().map_err(&err)?;
        {
            let mut clear = tx
                .prepare(
                    "UPDATE events SET has_snapshot = 0, snapshot = NULL, crop = NULL,
                     snapshot_bytes = 0 WHERE id = ?1",
                )
                .map_err(&err)?;
            for id in &missing {
                report.rows_cleared += clear.execute([id]).map_err(&err)? as u64;
            }
        }
        tx.commit().map_err(&err)?;
        // One of the pair may still exist; it is an orphan now.
        for (id, full, crop) in &rows {
            if missing.contains(&id.as_str()) {
                for name in [full, crop] {
                    if fs::remove_file(data_dir.join(name)).is_ok() {
                        report.orphans_removed += 1;
                    }
                }
            }
        }
    }
    Ok((report, closed_events))
}
