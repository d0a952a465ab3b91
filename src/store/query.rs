//! Reading the store: lists with filters and pagination, one event, snapshot paths, counts.
//!
//! Inputs: queries from the HTTP layer (ids, filters and cursors straight from requests).
//! Outputs: [`Event`]s as stored (with `ended` and `has_snapshot` from the row, which the
//! writer and the sweep keep current), pages, counts, and snapshot paths that come only from
//! the database — never built from request input.
//!
//! Pagination: newest first by `(first_seen_ms, id)`, which never change for an event, so a
//! cursor (opaque: `"v1.{first_seen_ms}.{id}"`) resumes exactly after the last event returned:
//! no event present at the first page is returned twice or skipped while the writer inserts
//! and updates between pages. Every query is bounded ([`MAX_LIMIT`] rows, [`MAX_BUCKETS`]).
//!
//! Threads: a [`StoreReader`] owns one read-only connection; it is `Send`, not `Sync` (one per
//! worker, or behind a mutex). Failure: bad input is a `StoreError` for which
//! [`StoreError::is_bad_request`] is true; SQLite errors name the database.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params_from_iter};

use super::schema;
use super::snapshot::is_own_name;
use super::{DB_FILE, StoreError, valid_id};
use crate::event::Event;

/// Most events one page returns.
pub const MAX_LIMIT: u32 = 500;
/// Events one page returns when the query does not say.
pub const DEFAULT_LIMIT: u32 = 50;
/// Most time buckets one count query spans.
pub const MAX_BUCKETS: u64 = 10_000;

/// Filters for [`StoreReader::list`]; every one optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventQuery {
    pub camera: Option<String>,
    pub label: Option<String>,
    /// Events that entered this zone.
    pub zone: Option<String>,
    /// Events whose `[first_seen_ms, last_seen_ms]` overlaps `[from_ms, to_ms]` (either end
    /// open when absent).
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    /// Only ended (true) or only in-progress (false) events.
    pub ended: Option<bool>,
    /// 1 to [`MAX_LIMIT`]; default [`DEFAULT_LIMIT`].
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of events, newest first.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// Pass back as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Filters for [`StoreReader::counts`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CountQuery {
    /// Events first seen at or after this time (Unix ms)...
    pub from_ms: u64,
    /// ...and before this one.
    pub to_ms: u64,
    /// Split the range into buckets this long (ms), for charts; `None` for one bucket.
    pub bucket_ms: Option<u64>,
    pub camera: Option<String>,
    pub label: Option<String>,
}

/// The number of events of one camera and label first seen in one bucket.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CountRow {
    /// Start of the bucket (`from_ms + k * bucket_ms`).
    pub bucket_start_ms: u64,
    pub camera: String,
    pub label: String,
    pub count: u64,
}

/// The snapshot files of one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotPaths {
    /// The whole frame with the box drawn.
    pub full: PathBuf,
    /// The box with a margin.
    pub crop: PathBuf,
}

/// A read-only view of the store.
pub struct StoreReader {
    conn: Connection,
    data_dir: PathBuf,
    db_path: PathBuf,
}

impl StoreReader {
    /// Opens a read-only connection to the store in `data_dir`. The store must have been
    /// opened (created) by [`Store::open`](super::Store::open) first.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let db_path = data_dir.join(DB_FILE);
        Ok(Self {
            conn: schema::open_reader(&db_path)?,
            data_dir: data_dir.to_path_buf(),
            db_path,
        })
    }

    /// The read-only connection, for queries of other modules over the same database (the
    /// outbox).
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// One page of events matching `q`, newest first.
    pub fn list(&self, q: &EventQuery) -> Result<EventPage, StoreError> {
        let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(StoreError::InvalidQuery(format!(
                "limit: {limit}; use 1 to {MAX_LIMIT}"
            )));
        }
        if let (Some(from), Some(to)) = (q.from_ms, q.to_ms)
            && from > to
        {
            return Err(StoreError::InvalidQuery(format!(
                "from_ms: {from} is after to_ms {to}; swap them"
            )));
        }
        let mut sql = String::from("SELECT e.id, e.json, e.ended, e.has_snapshot FROM events e");
        let mut args: Vec<Value> = Vec::new();
        let mut conds: Vec<String> = Vec::new();
        if let Some(zone) = &q.zone {
            let p = arg(&mut args, Value::Text(zone.clone()));
            let _ = write!(
                sql,
                " JOIN event_zones z ON z.event_id = e.id AND z.zone = {p}"
            );
        }
        if let Some(camera) = &q.camera {
            conds.push(format!(
                "e.camera = {}",
                arg(&mut args, Value::Text(camera.clone()))
            ));
        }
        if let Some(label) = &q.label {
            conds.push(format!(
                "e.label = {}",
                arg(&mut args, Value::Text(label.clone()))
            ));
        }
        if let Some(from) = q.from_ms {
            conds.push(format!("e.last_seen_ms >= {}", arg(&mut args, int(from)?)));
        }
        if let Some(to) = q.to_ms {
            conds.push(format!("e.first_seen_ms <= {}", arg(&mut args, int(to)?)));
        }
        if let Some(ended) = q.ended {
            conds.push(format!(
                "e.ended = {}",
                arg(&mut args, Value::Integer(ended.into()))
            ));
        }
        if let Some(cursor) = &q.cursor {
            let (first_seen, id) = parse_cursor(cursor)?;
            let t = arg(&mut args, int(first_seen)?);
            let i = arg(&mut args, Value::Text(id));
            conds.push(format!(
                "(e.first_seen_ms < {t} OR (e.first_seen_ms = {t} AND e.id < {i}))"
            ));
        }
        if !conds.is_empty() {
            let _ = write!(sql, " WHERE {}", conds.join(" AND "));
        }
        let l = arg(&mut args, Value::Integer(i64::from(limit) + 1));
        let _ = write!(sql, " ORDER BY e.first_seen_ms DESC, e.id DESC LIMIT {l}");

        let err = StoreError::sqlite(&self.db_path);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(&err)?;
        let rows = stmt
            .query_map(params_from_iter(args), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                ))
            })
            .map_err(&err)?;
        let mut events = Vec::with_capacity(limit as usize + 1);
        for row in rows {
            let (id, json, ended, has_snapshot) = row.map_err(&err)?;
            events.push(self.parse(&id, &json, ended, has_snapshot)?);
        }
        let next_cursor = if events.len() > limit as usize {
            events.truncate(limit as usize);
            events
                .last()
                .map(|e| format!("v1.{}.{}", e.first_seen_ms, e.id))
        } else {
            None
        };
        Ok(EventPage {
            events,
            next_cursor,
        })
    }

    /// The event `id`, if stored. `Err(InvalidId)` for an id that is not `[A-Za-z0-9_-]+`.
    pub fn get(&self, id: &str) -> Result<Option<Event>, StoreError> {
        check_id(id)?;
        let err = StoreError::sqlite(&self.db_path);
        let row: Option<(String, bool, bool)> = self
            .conn
            .prepare_cached("SELECT json, ended, has_snapshot FROM events WHERE id = ?1")
            .map_err(&err)?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()
            .map_err(&err)?;
        row.map(|(json, ended, snap)| self.parse(id, &json, ended, snap))
            .transpose()
    }

    /// The snapshot files of event `id`, as recorded in the database; `None` when the event
    /// does not exist or has no snapshot.
    pub fn snapshot_paths(&self, id: &str) -> Result<Option<SnapshotPaths>, StoreError> {
        check_id(id)?;
        let err = StoreError::sqlite(&self.db_path);
        let row: Option<(Option<String>, Option<String>)> = self
            .conn
            .prepare_cached("SELECT snapshot, crop FROM events WHERE id = ?1 AND has_snapshot = 1")
            .map_err(&err)?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(&err)?;
        Ok(match row {
            Some((Some(full), Some(crop))) if is_own_name(&full) && is_own_name(&crop) => {
                Some(SnapshotPaths {
                    full: self.data_dir.join(full),
                    crop: self.data_dir.join(crop),
                })
            }
            _ => None,
        })
    }

    /// Events per camera and label (and per time bucket) first seen in `[from_ms, to_ms)`.
    pub fn counts(&self, q: &CountQuery) -> Result<Vec<CountRow>, StoreError> {
        if q.from_ms >= q.to_ms {
            return Err(StoreError::InvalidQuery(format!(
                "from_ms: {} is not before to_ms {}; give a non-empty range",
                q.from_ms, q.to_ms
            )));
        }
        let span = q.to_ms - q.from_ms;
        let bucket = q.bucket_ms.unwrap_or(span);
        if bucket == 0 || span.div_ceil(bucket) > MAX_BUCKETS {
            return Err(StoreError::InvalidQuery(format!(
                "bucket_ms: {bucket}; use a bucket that splits the range into 1 to \
                 {MAX_BUCKETS} parts"
            )));
        }
        let mut args = vec![int(q.from_ms)?, int(q.to_ms)?, int(bucket)?];
        let mut sql = String::from(
            "SELECT (first_seen_ms - ?1) / ?3 AS b, camera, label, COUNT(*) FROM events
             WHERE first_seen_ms >= ?1 AND first_seen_ms < ?2",
        );
        if let Some(camera) = &q.camera {
            args.push(Value::Text(camera.clone()));
            let _ = write!(sql, " AND camera = ?{}", args.len());
        }
        if let Some(label) = &q.label {
            args.push(Value::Text(label.clone()));
            let _ = write!(sql, " AND label = ?{}", args.len());
        }
        sql.push_str(" GROUP BY b, camera, label ORDER BY b, camera, label");
        let err = StoreError::sqlite(&self.db_path);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(&err)?;
        let rows = stmt
            .query_map(params_from_iter(args), |r| {
                Ok(CountRow {
                    bucket_start_ms: q.from_ms + r.get::<_, u64>(0)? * bucket,
                    camera: r.get(1)?,
                    label: r.get(2)?,
                    count: r.get(3)?,
                })
            })
            .map_err(&err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(&err)
    }

    fn parse(
        &self,
        id: &str,
        json: &str,
        ended: bool,
        has_snapshot: bool,
    ) -> Result<Event, StoreError> {
        let mut e: Event = serde_json::from_str(json).map_err(|source| StoreError::Corrupt {
            path: self.db_path.clone(),
            id: id.to_string(),
            source,
        })?;
        e.ended = ended;
        e.has_snapshot = has_snapshot;
        Ok(e)
    }
}

/// Appends `v` to the statement's arguments; returns its placeholder.
fn arg(args: &mut Vec<Value>, v: Value) -> String {
    args.push(v);
    format!("?{}", args.len())
}

fn check_id(id: &str) -> Result<(), StoreError> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(StoreError::InvalidId(id.chars().take(160).collect()))
    }
}

/// A time as an SQLite integer; times past `i64::MAX` ms are not real.
fn int(v: u64) -> Result<Value, StoreError> {
    i64::try_from(v)
        .map(Value::Integer)
        .map_err(|_| StoreError::InvalidQuery(format!("time {v} ms is out of range")))
}

fn parse_cursor(cursor: &str) -> Result<(u64, String), StoreError> {
    let rest = cursor
        .strip_prefix("v1.")
        .ok_or(StoreError::InvalidCursor)?;
    let (t, id) = rest.split_once('.').ok_or(StoreError::InvalidCursor)?;
    let t: u64 = t.parse().map_err(|_| StoreError::InvalidCursor)?;
    if !valid_id(id) {
        return Err(StoreError::InvalidCursor);
    }
    Ok((t, id.to_string()))
}
