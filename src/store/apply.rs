//! Writing a batch of event changes, and deleting events: the statements of the writer thread.
//!
//! Inputs: changes in arrival order, some with a frame. Outputs: snapshot files first (written,
//! fsynced, renamed, folder fsynced), then one transaction that upserts every event row, adds
//! the zones it entered, marks ended events and points rows at their new snapshots.
//!
//! Policy: `new` and `update` upsert the whole row (a change always carries the whole event, so
//! an `update` whose `new` was dropped still creates the row); `end` does the same and sets
//! `ended`, which never goes back to 0. Of several frames of one event in a batch only the last
//! (the best) is encoded. `last_seen_ms` and `best_score` never decrease.
//!
//! Each change also takes the next change number (`counters.change`) and, in the same
//! transaction, adds its messages to the outbox of every sink whose filter it passes
//! (`crate::sinks::outbox`): a change is stored together with its messages, or not at all.
//!
//! Failure: a snapshot that cannot be written is logged and counted; its row is stored without
//! it. A failed transaction is returned to the caller; files already renamed for it have no row
//! pointing at them and are removed by the next startup sweep.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use super::snapshot::{self, Written, is_own_name};
use super::writer::{Counters, QueuedFrame};
use crate::event::{ChangeKind, Event, EventChange};
use crate::frame::unix_ms;
use crate::sinks::outbox::{self, Route, Stored};

/// A change waiting in the writer, with its frame when it brought one.
pub(super) struct Pending {
    pub(super) change: EventChange,
    pub(super) frame: Option<QueuedFrame>,
}

const UPSERT: &str = "
INSERT INTO events (id, camera, label, track_id, first_seen_ms, last_seen_ms, best_score,
                    ended, json, updated_ms)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT (id) DO UPDATE SET
    camera = excluded.camera,
    label = excluded.label,
    track_id = excluded.track_id,
    first_seen_ms = excluded.first_seen_ms,
    last_seen_ms = MAX(last_seen_ms, excluded.last_seen_ms),
    best_score = MAX(best_score, excluded.best_score),
    ended = MAX(ended, excluded.ended),
    json = excluded.json,
    updated_ms = excluded.updated_ms
RETURNING ended, has_snapshot";

const NEXT_CHANGE: &str =
    "UPDATE counters SET value = value + 1 WHERE name = 'change' RETURNING value";

const BEFORE: &str = "SELECT json, ended, has_snapshot FROM events WHERE id = ?1";

const ZONE: &str = "INSERT OR IGNORE INTO event_zones (event_id, zone) VALUES (?1, ?2)";

const POINT_AT_SNAPSHOT: &str = "
UPDATE events SET has_snapshot = 1, snapshot = ?2, crop = ?3, snapshot_bytes = ?4
WHERE id = ?1";

/// Stores `batch`: snapshots on disk first, then every row, and the outbox messages of
/// `routes`, in one transaction. After the commit the routes' sinks are woken.
pub(super) fn store_batch(
    conn: &mut Connection,
    data_dir: &Path,
    db_path: &Path,
    quality: u8,
    batch: Vec<Pending>,
    counters: &Counters,
    routes: &[Route],
) -> Result<(), StoreError> {
    let written = write_snapshots(data_dir, quality, &batch, counters);
    let err = StoreError::sqlite(db_path);
    let now = unix_ms();
    let mut added = vec![0; routes.len()];
    let tx = conn.transaction().map_err(&err)?;
    {
        let mut upsert = tx.prepare_cached(UPSERT).map_err(&err)?;
        let mut before = tx.prepare_cached(BEFORE).map_err(&err)?;
        let mut next_change = tx.prepare_cached(NEXT_CHANGE).map_err(&err)?;
        let mut zone = tx.prepare_cached(ZONE).map_err(&err)?;
        let mut point = tx.prepare_cached(POINT_AT_SNAPSHOT).map_err(&err)?;
        for (i, p) in batch.iter().enumerate() {
            let e = &p.change.event;
            let targets = outbox::targets(routes, &p.change);
            let previous: Option<Event> = if outbox::needs_before(routes, &targets) {
                before
                    .query_row([&e.id], |r| {
                        Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()
                    .map_err(&err)?
                    .map(|(json, ended, has_snapshot)| {
                        serde_json::from_str::<Event>(&json)
                            .map(|prev| Event {
                                ended,
                                has_snapshot,
                                ..prev
                            })
                            .map_err(|source| corrupt(db_path, &e.id, source))
                    })
                    .transpose()?
            } else {
                None
            };
            let ended = e.ended || p.change.kind == ChangeKind::End;
            let json =
                serde_json::to_string(e).map_err(|source| corrupt(db_path, &e.id, source))?;
            let (ended, has_snapshot): (bool, bool) = upsert
                .query_row(
                    params![
                        e.id,
                        e.camera,
                        e.label,
                        e.track_id,
                        e.first_seen_ms,
                        e.last_seen_ms,
                        f64::from(e.best_score),
                        ended,
                        json,
                        now,
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(&err)?;
            for z in &e.entered_zones {
                zone.execute(params![e.id, z]).map_err(&err)?;
            }
            let w = written.get(&i);
            if let Some(w) = w {
                point
                    .execute(params![e.id, w.names.full, w.names.crop, w.bytes])
                    .map_err(&err)?;
            }
            if !targets.is_empty() {
                let seq: u64 = next_change.query_row([], |r| r.get(0)).map_err(&err)?;
                let stored_event = Event {
                    ended,
                    has_snapshot: has_snapshot || w.is_some(),
                    ..e.clone()
                };
                let stored = Stored {
                    change: &p.change,
                    event: &stored_event,
                    before: previous.as_ref(),
                    seq,
                    at_ms: now,
                };
                outbox::enqueue(&tx, routes, &targets, &stored, &mut added).map_err(&err)?;
            }
        }
    }
    let touched: Vec<bool> = added.iter().map(|&n| n > 0).collect();
    let bounds = outbox::enforce_bounds(&tx, routes, &touched).map_err(&err)?;
    tx.commit().map_err(&err)?;
    outbox::after_commit(routes, &added, &bounds);
    Ok(())
}

/// Writes kept better views (see `throttle.rs`): the files, then the rows pointing at them, in
/// one transaction; no change is stored and nothing goes to the outbox. Returns the ids written.
pub(super) fn store_snapshots(
    conn: &mut Connection,
    data_dir: &Path,
    db_path: &Path,
    quality: u8,
    views: &[Pending],
    counters: &Counters,
) -> Result<Vec<String>, StoreError> {
    let written = write_snapshots(data_dir, quality, views, counters);
    let err = StoreError::sqlite(db_path);
    let tx = conn.transaction().map_err(&err)?;
    let mut ids = Vec::with_capacity(written.len());
    {
        let mut point = tx.prepare_cached(POINT_AT_SNAPSHOT).map_err(&err)?;
        for (i, w) in &written {
            let id = &views[*i].change.event.id;
            point
                .execute(params![id, w.names.full, w.names.crop, w.bytes])
                .map_err(&err)?;
            ids.push(id.clone());
        }
    }
    tx.commit().map_err(&err)?;
    Ok(ids)
}

fn corrupt(db_path: &Path, id: &str, source: serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        path: db_path.to_path_buf(),
        id: id.to_string(),
        source,
    }
}

/// Encodes and writes the last frame of each event in `batch`, then fsyncs the folders.
/// Returns the files by the index of the change they belong to.
fn write_snapshots(
    data_dir: &Path,
    quality: u8,
    batch: &[Pending],
    counters: &Counters,
) -> HashMap<usize, Written> {
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, p) in batch.iter().enumerate() {
        if p.frame.is_some() {
            last.insert(p.change.event.id.as_str(), i);
        }
    }
    let mut written = HashMap::new();
    let mut dirs = BTreeSet::new();
    for i in last.into_values() {
        let p = &batch[i];
        let Some(q) = &p.frame else { continue };
        match snapshot::write(data_dir, &p.change.event, &q.frame, quality) {
            Ok(w) => {
                dirs.insert(w.dir.clone());
                written.insert(i, w);
            }
            Err(e) => {
                counters.snapshot_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, event = %p.change.event.id, "store: snapshot not written");
            }
        }
    }
    for dir in dirs {
        if let Err(e) = snapshot::sync_dir(&dir) {
            // The files are complete (each was fsynced); only the rename's durability across a
            // power cut is in doubt, and the sweep repairs a row whose files went missing.
            tracing::warn!(error = %e, "store: snapshot folder not synced");
        }
    }
    counters
        .snapshots
        .fetch_add(written.len() as u64, Ordering::Relaxed);
    written
}

/// Deletes event `id` (its zones go with it), then its files. `Ok(None)` when there was no
/// such event, else `Some(ended)`.
pub(super) fn delete(
    conn: &mut Connection,
    data_dir: &Path,
    db_path: &Path,
    id: &str,
) -> Result<Option<bool>, StoreError> {
    let err = StoreError::sqlite(db_path);
    let tx = conn.transaction().map_err(&err)?;
    let row: Option<(bool, Option<String>, Option<String>)> = tx
        .query_row(
            "SELECT ended, snapshot, crop FROM events WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(&err)?;
    let Some((ended, full, crop)) = row else {
        return Ok(None);
    };
    tx.execute("DELETE FROM events WHERE id = ?1", [id])
        .map_err(&err)?;
    tx.commit().map_err(&err)?;
    remove_files(data_dir, [full, crop].into_iter().flatten());
    Ok(Some(ended))
}

/// Removes snapshot files given as paths relative to `data_dir`; a file already gone is fine.
/// Returns how many were removed.
pub(super) fn remove_files(data_dir: &Path, names: impl IntoIterator<Item = String>) -> u64 {
    let mut removed = 0;
    for name in names {
        if !is_own_name(&name) {
            tracing::warn!(name, "store: not a snapshot name, left alone");
            continue;
        }
        let path: PathBuf = data_dir.join(&name);
        match fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "store: file not removed"),
        }
    }
    removed
}
