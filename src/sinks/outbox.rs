//! The outbox, write side: the `outbox` table of the store's database, written only by the
//! store writer thread (`store-writer`), in the same transaction as the event changes.
//!
//! Inputs: each stored change with its change number (`counters.change`), the
//! routes (one per configured sink, with its filter) given to the store at open, and the
//! operations the sinks send back through the writer's queue ([`OutboxOp`]: settle attempts,
//! replay dead letters, revive waiting retries). Outputs: rows
//! `(sink, message_id, event_id, kind, payload, created_ms, attempts, next_attempt_ms, state,
//! last_error, delivered_ms)`; a wake-up of each sink that got rows.
//!
//! Message ids are `{event_id}.{seq}`, `seq` numbering the store's changes (increasing, never
//! reused, so it also orders an event's changes): the same change keeps the same id through
//! every retry, replay and restart and in every sink, and no two changes share one. Because the row commits with the change, a change that is stored
//! will be sent; one that is not stored (dropped before the writer, or its transaction failed)
//! is sent nowhere.
//!
//! Bounds (never unbounded): per sink at most `max_pending` rows wait; when a batch takes a
//! sink over it, its oldest waiting rows become dead letters (`last_error` says why), counted
//! as `overflow`. Retention (every minute on the writer thread, [`prune`]) keeps the newest
//! [`KEEP_DELIVERED`] delivered and `max_pending` dead rows per sink, and deletes the rows of
//! sinks no longer configured once they are older than the store's age limit.
//!
//! Failure: SQLite errors go back to the caller (the writer logs and counts them; the change
//! and its rows are then both absent).

use std::sync::Arc;

use rusqlite::{Connection, Transaction, params};
use tokio::sync::Notify;

use super::config::SinkFilter;
use super::payload;
use super::stats::{Outcome, SinkStats};
use crate::event::{Event, EventChange};

/// Delivered rows kept per sink, for the API's history (the newest ones).
pub const KEEP_DELIVERED: u64 = 1000;

/// The kind of message a sink takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkKind {
    /// A Standard Webhooks body, POSTed.
    Webhook,
    /// A `<prefix>/events` message with `before` and `after`.
    Mqtt,
}

/// One configured sink, as the store writer sees it.
#[derive(Clone, Debug)]
pub struct Route {
    /// `webhook:NAME` or `mqtt`.
    pub sink: String,
    pub kind: SinkKind,
    pub filter: SinkFilter,
    /// Rows waiting at most (at least 1).
    pub max_pending: u64,
    /// Notified after a commit that added rows for this sink, or replayed some.
    pub wake: Arc<Notify>,
    pub stats: Arc<SinkStats>,
}

impl Route {
    pub fn new(sink: String, kind: SinkKind, filter: SinkFilter, max_pending: u64) -> Self {
        Self {
            stats: Arc::new(SinkStats::new(sink.clone())),
            sink,
            kind,
            filter,
            max_pending: max_pending.max(1),
            wake: Arc::new(Notify::new()),
        }
    }
}

/// The message id of change number `seq`, of event `event_id`.
pub fn message_id(event_id: &str, seq: u64) -> String {
    format!("{event_id}.{seq}")
}

/// Indexes of the routes `change` goes to.
pub fn targets(routes: &[Route], change: &EventChange) -> Vec<usize> {
    (0..routes.len())
        .filter(|&i| routes[i].filter.matches(change))
        .collect()
}

/// Whether one of `targets` needs the event as it was before the change.
pub fn needs_before(routes: &[Route], targets: &[usize]) -> bool {
    targets.iter().any(|&i| routes[i].kind == SinkKind::Mqtt)
}

/// One change as stored, for [`enqueue`].
pub struct Stored<'a> {
    pub change: &'a EventChange,
    /// The event after the change, with `ended` and `has_snapshot` as the row has them.
    pub event: &'a Event,
    /// The event before the change (MQTT's `before`), when there was a row.
    pub before: Option<&'a Event>,
    /// The change's number in the store (`counters.change`).
    pub seq: u64,
    pub at_ms: u64,
}

const INSERT: &str = "
INSERT OR IGNORE INTO outbox (sink, message_id, event_id, kind, payload, created_ms,
                              next_attempt_ms)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)";

/// Adds the rows of one stored change for `targets`; `added[i]` counts rows of route `i`.
pub fn enqueue(
    tx: &Transaction<'_>,
    routes: &[Route],
    targets: &[usize],
    stored: &Stored<'_>,
    added: &mut [u64],
) -> rusqlite::Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    let kind = stored.change.kind;
    let id = message_id(&stored.event.id, stored.seq);
    let mut webhook_body = None;
    let mut insert = tx.prepare_cached(INSERT)?;
    for &i in targets {
        let route = &routes[i];
        let body = match route.kind {
            SinkKind::Webhook => webhook_body
                .get_or_insert_with(|| payload::webhook_body(kind, stored.event, stored.at_ms))
                .clone(),
            SinkKind::Mqtt => payload::mqtt_event(kind, stored.before, stored.event),
        };
        added[i] += insert.execute(params![
            route.sink,
            id,
            stored.event.id,
            payload::kind_name(kind),
            body,
            stored.at_ms,
        ])? as u64;
    }
    Ok(())
}

/// Turns the oldest waiting rows of each route in `touched` beyond its `max_pending` into dead
/// letters. Returns, per route, (rows now waiting, rows dead-lettered).
pub fn enforce_bounds(
    tx: &Transaction<'_>,
    routes: &[Route],
    touched: &[bool],
) -> rusqlite::Result<Vec<(u64, u64)>> {
    let mut out = vec![(0, 0); routes.len()];
    let mut count =
        tx.prepare_cached("SELECT COUNT(*) FROM outbox WHERE sink = ?1 AND state = 'pending'")?;
    let mut overflow = tx.prepare_cached(
        "UPDATE outbox SET state = 'dead', last_error = ?3
         WHERE id IN (SELECT id FROM outbox WHERE sink = ?1 AND state = 'pending'
                      ORDER BY id LIMIT ?2)",
    )?;
    for (i, route) in routes.iter().enumerate() {
        if !touched[i] {
            continue;
        }
        let pending: u64 = count.query_row([&route.sink], |r| r.get(0))?;
        let excess = pending.saturating_sub(route.max_pending);
        if excess > 0 {
            let reason = format!(
                "outbox full: more than {} messages waiting for this sink (max_pending)",
                route.max_pending
            );
            overflow.execute(params![route.sink, excess, reason])?;
        }
        out[i] = (pending - excess, excess);
    }
    Ok(out)
}

/// Publishes what a committed batch did to the routes' counters and wakes their sinks.
pub fn after_commit(routes: &[Route], added: &[u64], bounds: &[(u64, u64)]) {
    for (i, route) in routes.iter().enumerate() {
        if added[i] == 0 {
            continue;
        }
        let (pending, overflowed) = bounds[i];
        route.stats.add_enqueued(added[i]);
        route.stats.add(Outcome::Overflow, overflowed);
        route.stats.set_pending(pending);
        if overflowed > 0 {
            tracing::warn!(
                sink = %route.sink,
                overflowed,
                max_pending = route.max_pending,
                "outbox full: oldest waiting messages became dead letters"
            );
        }
        route.wake.notify_one();
    }
}

/// How one delivery attempt ended, as the sink reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Failed; try again at `next_attempt_ms`.
    Retry {
        next_attempt_ms: u64,
        error: String,
    },
    /// Failed for the last time.
    Dead {
        error: String,
    },
}

/// The result of one attempt on row `id`, at `at_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    pub id: i64,
    pub at_ms: u64,
    pub attempt: Attempt,
}

/// Which dead letters to send again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayTarget {
    One(i64),
    Sink(String),
}

/// Changes the sinks ask the writer for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutboxOp {
    /// Records attempts; rows no longer waiting (replayed or dead-lettered meanwhile) are left.
    Settle(Vec<Settlement>),
    /// Dead letters back to waiting, due now, attempts from 0, same message id.
    Replay { target: ReplayTarget, now_ms: u64 },
    /// Rows of `sink` waiting for a retry become due now (the receiver is back).
    Revive { sink: String, now_ms: u64 },
}

/// Applies `op` in one transaction. Returns the rows changed and the sinks to wake.
pub fn apply(conn: &mut Connection, op: &OutboxOp) -> rusqlite::Result<(u64, Vec<String>)> {
    let tx = conn.transaction()?;
    let mut changed = 0;
    let mut wake = Vec::new();
    match op {
        OutboxOp::Settle(settlements) => {
            let mut delivered = tx.prepare_cached(
                "UPDATE outbox SET state = 'delivered', attempts = attempts + 1,
                 delivered_ms = ?2, last_error = NULL WHERE id = ?1 AND state = 'pending'",
            )?;
            let mut retry = tx.prepare_cached(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = ?2, last_error = ?3
                 WHERE id = ?1 AND state = 'pending'",
            )?;
            let mut dead = tx.prepare_cached(
                "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?2
                 WHERE id = ?1 AND state = 'pending'",
            )?;
            for s in settlements {
                changed += match &s.attempt {
                    Attempt::Delivered => delivered.execute(params![s.id, s.at_ms])?,
                    Attempt::Retry {
                        next_attempt_ms,
                        error,
                    } => retry.execute(params![s.id, next_attempt_ms, error])?,
                    Attempt::Dead { error } => dead.execute(params![s.id, error])?,
                } as u64;
            }
        }
        OutboxOp::Replay { target, now_ms } => {
            let (cond, arg): (&str, rusqlite::types::Value) = match target {
                ReplayTarget::One(id) => ("id = ?2", (*id).into()),
                ReplayTarget::Sink(sink) => ("sink = ?2", sink.clone().into()),
            };
            let sql = format!(
                "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_ms = ?1,
                 last_error = NULL WHERE state = 'dead' AND {cond} RETURNING sink"
            );
            let mut stmt = tx.prepare(&sql)?;
            let sinks = stmt
                .query_map(params![now_ms, arg], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            changed = sinks.len() as u64;
            wake = sinks;
            wake.sort();
            wake.dedup();
        }
        OutboxOp::Revive { sink, now_ms } => {
            changed = tx.execute(
                "UPDATE outbox SET next_attempt_ms = ?2
                 WHERE sink = ?1 AND state = 'pending' AND next_attempt_ms > ?2",
                params![sink, now_ms],
            )? as u64;
        }
    }
    tx.commit()?;
    Ok((changed, wake))
}

/// What one [`prune`] deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub delivered: u64,
    pub dead: u64,
    /// Rows of sinks no longer configured, older than the age limit.
    pub orphaned: u64,
}

/// Keeps the outbox bounded (see the module doc). `cutoff_ms`: rows of unconfigured sinks
/// created before it go; `None` keeps them (no age limit).
pub fn prune(
    conn: &mut Connection,
    routes: &[Route],
    cutoff_ms: Option<u64>,
) -> rusqlite::Result<PruneReport> {
    let tx = conn.transaction()?;
    let mut report = PruneReport::default();
    {
        let mut keep_newest = tx.prepare_cached(
            "DELETE FROM outbox WHERE sink = ?1 AND state = ?2 AND id NOT IN
             (SELECT id FROM outbox WHERE sink = ?1 AND state = ?2 ORDER BY id DESC LIMIT ?3)",
        )?;
        for route in routes {
            report.delivered +=
                keep_newest.execute(params![route.sink, "delivered", KEEP_DELIVERED])? as u64;
            report.dead +=
                keep_newest.execute(params![route.sink, "dead", route.max_pending])? as u64;
        }
        if let Some(cutoff) = cutoff_ms {
            let sinks = tx
                .prepare("SELECT DISTINCT sink FROM outbox")?
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            for sink in sinks {
                if routes.iter().all(|r| r.sink != sink) {
                    report.orphaned += tx.execute(
                        "DELETE FROM outbox WHERE sink = ?1 AND created_ms < ?2",
                        params![sink, cutoff],
                    )? as u64;
                }
            }
        }
    }
    tx.commit()?;
    Ok(report)
}
