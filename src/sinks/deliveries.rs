//! The outbox, read side: what a sink's task sends next, and the delivery history the API
//! lists. Every query runs on a read-only connection of its own ([`StoreReader`]) beside the
//! writer (WAL), and is bounded ([`MAX_LIMIT`] rows).
//!
//! Pagination: newest first by row id (ids are never reused: `AUTOINCREMENT`); the cursor
//! (`"v1.{id}"`) resumes after the last row returned.

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, params, params_from_iter};
use serde::Serialize;

use crate::store::{StoreError, StoreReader};

/// Most rows one page returns.
pub const MAX_LIMIT: u32 = 500;
/// Rows one page returns when the query does not say.
pub const DEFAULT_LIMIT: u32 = 50;

/// Where a message is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Delivered,
    Dead,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Delivered => "delivered",
            State::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(State::Pending),
            "delivered" => Some(State::Delivered),
            "dead" => Some(State::Dead),
            _ => None,
        }
    }
}

/// One outbox row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Delivery {
    pub id: i64,
    /// `webhook:NAME` or `mqtt`.
    pub sink: String,
    /// The `webhook-id`: the same for every attempt and replay of this change.
    pub message_id: String,
    pub event_id: String,
    /// `new`, `update` or `end`.
    #[serde(rename = "type")]
    pub kind: String,
    pub state: State,
    pub attempts: u32,
    /// When the change was stored (Unix ms).
    pub created_ms: u64,
    /// When the next attempt is due (pending rows only).
    pub next_attempt_ms: Option<u64>,
    pub last_error: Option<String>,
    pub delivered_ms: Option<u64>,
    /// The stored message (not listed by the API).
    #[serde(skip)]
    pub payload: String,
}

const COLUMNS: &str = "id, sink, message_id, event_id, kind, state, attempts, created_ms,
                       next_attempt_ms, last_error, delivered_ms, payload";

fn row(r: &Row<'_>) -> rusqlite::Result<Delivery> {
    let state: String = r.get(5)?;
    let state = State::parse(&state).unwrap_or(State::Dead);
    let next: u64 = r.get(8)?;
    Ok(Delivery {
        id: r.get(0)?,
        sink: r.get(1)?,
        message_id: r.get(2)?,
        event_id: r.get(3)?,
        kind: r.get(4)?,
        state,
        attempts: r.get(6)?,
        created_ms: r.get(7)?,
        next_attempt_ms: (state == State::Pending).then_some(next),
        last_error: r.get(9)?,
        delivered_ms: r.get(10)?,
        payload: r.get(11)?,
    })
}

/// Up to `limit` rows of `sink` due at `now_ms`, oldest first, leaving out `skip` (rows the
/// caller already has in flight).
pub fn due(
    reader: &StoreReader,
    sink: &str,
    now_ms: u64,
    limit: usize,
    skip: &[i64],
) -> Result<Vec<Delivery>, StoreError> {
    let err = StoreError::sqlite(reader.db_path());
    let sql = format!(
        "SELECT {COLUMNS} FROM outbox WHERE sink = ?1 AND state = 'pending'
         AND next_attempt_ms <= ?2 ORDER BY id LIMIT ?3"
    );
    let mut stmt = reader.conn().prepare_cached(&sql).map_err(&err)?;
    let want = limit + skip.len();
    let rows = stmt
        .query_map(params![sink, now_ms, want as u64], row)
        .map_err(&err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(&err)?;
    Ok(rows
        .into_iter()
        .filter(|d| !skip.contains(&d.id))
        .take(limit)
        .collect())
}

/// When the earliest waiting row of `sink` is due (Unix ms); `None` when nothing waits.
pub fn next_due_ms(reader: &StoreReader, sink: &str) -> Result<Option<u64>, StoreError> {
    let err = StoreError::sqlite(reader.db_path());
    reader
        .conn()
        .prepare_cached(
            "SELECT MIN(next_attempt_ms) FROM outbox WHERE sink = ?1 AND state = 'pending'",
        )
        .map_err(&err)?
        .query_row([sink], |r| r.get(0))
        .map_err(&err)
}

/// Rows of `sink` in `state`.
pub fn count(reader: &StoreReader, sink: &str, state: State) -> Result<u64, StoreError> {
    let err = StoreError::sqlite(reader.db_path());
    reader
        .conn()
        .prepare_cached("SELECT COUNT(*) FROM outbox WHERE sink = ?1 AND state = ?2")
        .map_err(&err)?
        .query_row(params![sink, state.as_str()], |r| r.get(0))
        .map_err(&err)
}

/// Row `id`, if there is one.
pub fn get(reader: &StoreReader, id: i64) -> Result<Option<Delivery>, StoreError> {
    let err = StoreError::sqlite(reader.db_path());
    reader
        .conn()
        .prepare_cached(&format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"))
        .map_err(&err)?
        .query_row([id], row)
        .optional()
        .map_err(&err)
}

/// Filters for [`list`]; every one optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryQuery {
    /// `webhook:NAME` or `mqtt`.
    pub sink: Option<String>,
    pub state: Option<State>,
    /// 1 to [`MAX_LIMIT`]; default [`DEFAULT_LIMIT`].
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of rows, newest first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeliveryPage {
    pub deliveries: Vec<Delivery>,
    /// Pass back as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// One page of rows matching `q`.
pub fn list(reader: &StoreReader, q: &DeliveryQuery) -> Result<DeliveryPage, StoreError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(StoreError::InvalidQuery(format!(
            "limit: {limit}; use 1 to {MAX_LIMIT}"
        )));
    }
    let mut conds = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    if let Some(sink) = &q.sink {
        args.push(sink.clone().into());
        conds.push(format!("sink = ?{}", args.len()));
    }
    if let Some(state) = q.state {
        args.push(state.as_str().to_string().into());
        conds.push(format!("state = ?{}", args.len()));
    }
    if let Some(cursor) = &q.cursor {
        let before: i64 = cursor
            .strip_prefix("v1.")
            .and_then(|id| id.parse().ok())
            .ok_or(StoreError::InvalidCursor)?;
        args.push(before.into());
        conds.push(format!("id < ?{}", args.len()));
    }
    args.push(i64::from(limit).into());
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM outbox {filter} ORDER BY id DESC LIMIT ?{}",
        args.len()
    );
    let err = StoreError::sqlite(reader.db_path());
    let deliveries = reader
        .conn()
        .prepare_cached(&sql)
        .map_err(&err)?
        .query_map(params_from_iter(args), row)
        .map_err(&err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(&err)?;
    let next_cursor = (deliveries.len() == limit as usize)
        .then(|| deliveries.last().map(|d| format!("v1.{}", d.id)))
        .flatten();
    Ok(DeliveryPage {
        deliveries,
        next_cursor,
    })
}
