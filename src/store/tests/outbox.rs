//! The outbox as the writer fills it: routing by filters, stable message ids, the bound,
//! settlements, replays, revivals, pruning, restarts — against real SQLite files.

use std::time::Duration;

use super::*;
use crate::sinks::deliveries::{self, DeliveryQuery, State};
use crate::sinks::outbox::{Attempt, OutboxOp, ReplayTarget, Route, Settlement, SinkKind};
use crate::sinks::{Outcome, SinkFilter};
use crate::store::{StoreError, StoreReader};

fn route(sink: &str, kind: SinkKind, filter: SinkFilter, max_pending: u64) -> Route {
    Route::new(sink.to_string(), kind, filter, max_pending)
}

fn open_with(dir: &Path, routes: &[Route]) -> (Store, StoreWriter) {
    Store::open_with_routes(&config(dir), routes.to_vec()).expect("store opens")
}

/// (message_id, kind, state) of `sink`'s rows, oldest first.
fn rows(dir: &Path, sink: &str) -> Vec<(String, String, String)> {
    let conn = raw(dir);
    let mut stmt = conn
        .prepare("SELECT message_id, kind, state FROM outbox WHERE sink = ?1 ORDER BY id")
        .expect("prepare");
    stmt.query_map([sink], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn payload(dir: &Path, sink: &str, message_id: &str) -> serde_json::Value {
    let text: String = raw(dir)
        .query_row(
            "SELECT payload FROM outbox WHERE sink = ?1 AND message_id = ?2",
            [sink, message_id],
            |r| r.get(0),
        )
        .expect("row");
    serde_json::from_str(&text).expect("json payload")
}

fn notified(wake: &tokio::sync::Notify) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_millis(200), wake.notified())
            .await
            .is_ok()
    })
}

#[test]
fn changes_reach_the_sinks_whose_filters_they_pass_with_stable_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let routes = [
        route("webhook:all", SinkKind::Webhook, SinkFilter::default(), 100),
        route(
            "webhook:door-people",
            SinkKind::Webhook,
            SinkFilter {
                cameras: vec!["door".into()],
                labels: vec!["person".into()],
                ..SinkFilter::default()
            },
            100,
        ),
        route(
            "mqtt",
            SinkKind::Mqtt,
            SinkFilter {
                types: vec![ChangeKind::New, ChangeKind::End],
                ..SinkFilter::default()
            },
            100,
        ),
    ];
    let (store, writer) = open_with(dir.path(), &routes);
    let mut person = event("door", 1, 1_700_000_000_000, "person");
    let cat = event("yard", 2, 1_700_000_000_100, "cat");
    writer.try_send(change(ChangeKind::New, &person), Some(frame(320, 240)));
    person.best_score = 0.9;
    person.last_seen_ms += 100;
    writer.try_send(change(ChangeKind::Update, &person), None);
    writer.try_send(change(ChangeKind::New, &cat), None);
    writer.try_send(change(ChangeKind::End, &person), None);
    writer.flush(T).expect("flush");

    let p = &person.id;
    let c = &cat.id;
    let ids = |sink| {
        rows(dir.path(), sink)
            .into_iter()
            .map(|(id, kind, state)| {
                assert_eq!(state, "pending");
                format!("{id}:{kind}")
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids("webhook:all"),
        [
            format!("{p}.1:new"),
            format!("{p}.2:update"),
            format!("{c}.3:new"),
            format!("{p}.4:end")
        ]
    );
    assert_eq!(
        ids("webhook:door-people"),
        [
            format!("{p}.1:new"),
            format!("{p}.2:update"),
            format!("{p}.4:end")
        ]
    );
    assert_eq!(
        ids("mqtt"),
        [
            format!("{p}.1:new"),
            format!("{c}.3:new"),
            format!("{p}.4:end")
        ]
    );
    // Webhook bodies: the Standard Webhooks structure, the event as stored.
    let body = payload(dir.path(), "webhook:all", &format!("{p}.1"));
    assert_eq!(body["type"], "event.new");
    assert_eq!(body["data"]["id"], person.id.as_str());
    assert_eq!(
        body["data"]["has_snapshot"], true,
        "the row's snapshot flag"
    );
    assert!(body["timestamp"].as_str().expect("rfc 3339").ends_with('Z'));
    let body = payload(dir.path(), "webhook:all", &format!("{p}.4"));
    assert_eq!(body["type"], "event.end");
    assert_eq!(body["data"]["ended"], true);
    // MQTT: before is the event as it was stored before the change.
    let end = payload(dir.path(), "mqtt", &format!("{p}.4"));
    assert_eq!(end["type"], "end");
    assert_eq!(end["before"]["ended"], false);
    assert_eq!(end["after"]["ended"], true);
    assert_eq!(end["before"]["last_seen_ms"], person.last_seen_ms);
    let new = payload(dir.path(), "mqtt", &format!("{c}.3"));
    assert_eq!(new["before"], new["after"]);
    // Counters and wake-ups.
    assert_eq!(routes[0].stats.enqueued(), 4);
    assert_eq!(routes[1].stats.enqueued(), 3);
    assert_eq!(routes[2].stats.pending(), 3);
    assert!(notified(&routes[0].wake) && notified(&routes[2].wake));
    store.shutdown(T).expect("shutdown");

    // After a restart the rows are still waiting; the cat's event, left open, is ended by the
    // sweep and its `end` is sent too; the numbering goes on — even for the person's event,
    // whose row retention deleted meanwhile (its times are old): no id is given twice.
    let (store, writer) = open_with(dir.path(), &routes);
    let mut late = person.clone();
    late.last_seen_ms += 1;
    assert!(writer.try_send(change(ChangeKind::Update, &late), None));
    writer.flush(T).expect("flush");
    let all = ids("webhook:all");
    assert_eq!(all.len(), 6, "{all:?}");
    assert_eq!(all[4..], [format!("{c}.5:end"), format!("{p}.6:update")]);
    let end = payload(dir.path(), "mqtt", &format!("{c}.5"));
    assert_eq!(
        (&end["before"]["ended"], &end["after"]["ended"]),
        (&false.into(), &true.into())
    );
    store.shutdown(T).expect("shutdown");
}

#[test]
fn the_bound_dead_letters_the_oldest_waiting_rows_and_counts_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let routes = [route(
        "webhook:a",
        SinkKind::Webhook,
        SinkFilter::default(),
        3,
    )];
    let (store, writer) = open_with(dir.path(), &routes);
    for i in 0..5 {
        writer.try_send(
            change(ChangeKind::New, &event("cam", i, 1_000 + i, "car")),
            None,
        );
        // One batch per change, so the bound applies after each.
        writer.flush(T).expect("flush");
    }
    let states: Vec<String> = rows(dir.path(), "webhook:a")
        .into_iter()
        .map(|r| r.2)
        .collect();
    assert_eq!(states, ["dead", "dead", "pending", "pending", "pending"]);
    let reason: String = raw(dir.path())
        .query_row(
            "SELECT last_error FROM outbox ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("row");
    assert!(
        reason.contains("outbox full") && reason.contains("max_pending"),
        "{reason}"
    );
    assert_eq!(routes[0].stats.count(Outcome::Overflow), 2);
    assert_eq!(routes[0].stats.pending(), 3);
    store.shutdown(T).expect("shutdown");
}

#[test]
fn settlements_replays_and_revivals_go_through_the_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let routes = [route(
        "webhook:a",
        SinkKind::Webhook,
        SinkFilter::default(),
        100,
    )];
    let (store, writer) = open_with(dir.path(), &routes);
    for i in 0..3 {
        writer.try_send(
            change(ChangeKind::New, &event("cam", i, 1_000 + i, "car")),
            None,
        );
    }
    writer.flush(T).expect("flush");
    let reader = StoreReader::open(dir.path()).expect("reader");
    let now = crate::frame::unix_ms();
    let due = deliveries::due(&reader, "webhook:a", now, 10, &[]).expect("due");
    assert_eq!(due.len(), 3);
    let (a, b, c) = (due[0].id, due[1].id, due[2].id);
    assert_eq!(
        deliveries::due(&reader, "webhook:a", now, 10, &[b])
            .expect("due")
            .iter()
            .map(|d| d.id)
            .collect::<Vec<_>>(),
        [a, c],
        "rows in flight are left out"
    );
    let far = now + 3_600_000;
    let settle = OutboxOp::Settle(vec![
        Settlement {
            id: a,
            at_ms: now,
            attempt: Attempt::Delivered,
        },
        Settlement {
            id: b,
            at_ms: now,
            attempt: Attempt::Retry {
                next_attempt_ms: far,
                error: "HTTP 500 Internal Server Error".into(),
            },
        },
        Settlement {
            id: c,
            at_ms: now,
            attempt: Attempt::Dead {
                error: "HTTP 410 Gone".into(),
            },
        },
    ]);
    assert_eq!(writer.outbox(settle.clone(), T).expect("settle"), 3);
    // Settling rows that no longer wait changes nothing (a late duplicate result).
    assert_eq!(
        writer.outbox(settle, T).expect("settle again"),
        1,
        "only b waits"
    );
    let get = |id| deliveries::get(&reader, id).expect("get").expect("row");
    assert_eq!(get(a).state, State::Delivered);
    assert_eq!(get(a).delivered_ms, Some(now));
    assert_eq!(get(b).state, State::Pending);
    assert_eq!(get(b).next_attempt_ms, Some(far));
    assert_eq!(get(b).attempts, 2);
    assert_eq!(get(c).state, State::Dead);
    assert_eq!(get(c).last_error.as_deref(), Some("HTTP 410 Gone"));
    assert!(
        deliveries::due(&reader, "webhook:a", now, 10, &[])
            .expect("due")
            .is_empty()
    );
    assert_eq!(
        deliveries::next_due_ms(&reader, "webhook:a").expect("next"),
        Some(far)
    );

    // The receiver is back: waiting retries become due now.
    let revive = OutboxOp::Revive {
        sink: "webhook:a".into(),
        now_ms: now,
    };
    assert_eq!(writer.outbox(revive, T).expect("revive"), 1);
    assert_eq!(get(b).next_attempt_ms, Some(now));

    // A dead letter replayed keeps its message id, starts its attempts again, wakes the sink.
    while notified(&routes[0].wake) {}
    let message_id = get(c).message_id;
    let replay = |target| OutboxOp::Replay {
        target,
        now_ms: now,
    };
    assert_eq!(
        writer
            .outbox(replay(ReplayTarget::One(c)), T)
            .expect("replay"),
        1
    );
    assert!(notified(&routes[0].wake));
    let replayed = get(c);
    assert_eq!(
        (replayed.state, replayed.attempts, replayed.message_id),
        (State::Pending, 0, message_id)
    );
    assert_eq!(
        writer
            .outbox(replay(ReplayTarget::One(c)), T)
            .expect("again"),
        0
    );
    assert_eq!(
        writer
            .outbox(replay(ReplayTarget::One(9999)), T)
            .expect("none"),
        0
    );
    store.shutdown(T).expect("shutdown");
}

#[test]
fn lists_page_newest_first_with_filters_and_reject_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let routes = [
        route("webhook:a", SinkKind::Webhook, SinkFilter::default(), 100),
        route("mqtt", SinkKind::Mqtt, SinkFilter::default(), 100),
    ];
    let (store, writer) = open_with(dir.path(), &routes);
    for i in 0..7 {
        writer.try_send(
            change(ChangeKind::New, &event("cam", i, 1_000 + i, "car")),
            None,
        );
    }
    writer.flush(T).expect("flush");
    let reader = StoreReader::open(dir.path()).expect("reader");
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = deliveries::list(
            &reader,
            &DeliveryQuery {
                sink: Some("webhook:a".into()),
                state: Some(State::Pending),
                limit: Some(3),
                cursor: cursor.clone(),
            },
        )
        .expect("page");
        assert!(page.deliveries.iter().all(|d| d.sink == "webhook:a"));
        seen.extend(page.deliveries.iter().map(|d| d.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seen:?}"
    );
    let all = deliveries::list(&reader, &DeliveryQuery::default()).expect("all");
    assert_eq!(all.deliveries.len(), 14);
    let dead = DeliveryQuery {
        state: Some(State::Dead),
        ..DeliveryQuery::default()
    };
    assert!(
        deliveries::list(&reader, &dead)
            .expect("dead")
            .deliveries
            .is_empty()
    );
    for bad in [
        DeliveryQuery {
            limit: Some(0),
            ..DeliveryQuery::default()
        },
        DeliveryQuery {
            limit: Some(501),
            ..DeliveryQuery::default()
        },
        DeliveryQuery {
            cursor: Some("v2.x".into()),
            ..DeliveryQuery::default()
        },
    ] {
        let e = deliveries::list(&reader, &bad).expect_err("bad query");
        assert!(e.is_bad_request(), "{e}");
        assert!(matches!(
            e,
            StoreError::InvalidQuery(_) | StoreError::InvalidCursor
        ));
    }
    store.shutdown(T).expect("shutdown");
}

#[test]
fn retention_keeps_the_outbox_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = route("webhook:a", SinkKind::Webhook, SinkFilter::default(), 2);
    let gone = route(
        "webhook:gone",
        SinkKind::Webhook,
        SinkFilter::default(),
        100,
    );
    let (store, writer) = open_with(dir.path(), &[a.clone(), gone]);
    for i in 0..6 {
        writer.try_send(
            change(ChangeKind::New, &event("cam", i, 1_000 + i, "car")),
            None,
        );
        writer.flush(T).expect("flush");
    }
    store.shutdown(T).expect("shutdown");
    // 4 overflowed to dead, 2 waiting; the removed sink has 6 waiting rows.
    assert_eq!(rows(dir.path(), "webhook:a").len(), 6);
    assert_eq!(rows(dir.path(), "webhook:gone").len(), 6);

    // Reopened without `gone`: retention keeps `max_pending` dead rows of `a` and deletes
    // the removed sink's rows once older than the age limit.
    let (store, writer) = open_with(dir.path(), std::slice::from_ref(&a));
    let later = crate::frame::unix_ms() + 8 * 86_400_000;
    writer.run_retention(later, T).expect("retention");
    let left: Vec<String> = rows(dir.path(), "webhook:a")
        .into_iter()
        .map(|r| r.2)
        .collect();
    assert_eq!(left, ["dead", "dead", "pending", "pending"]);
    assert!(rows(dir.path(), "webhook:gone").is_empty());
    store.shutdown(T).expect("shutdown");
}
