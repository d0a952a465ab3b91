//! Queries: every filter, pagination under concurrent writes, counts, bad input.

use std::collections::HashSet;

use super::*;
use crate::store::{CountQuery, CountRow, EventQuery, MAX_LIMIT, StoreError, StoreReader};

fn ids(reader: &StoreReader, q: EventQuery) -> Vec<String> {
    let page = reader.list(&q).expect("list");
    assert!(page.next_cursor.is_none(), "one page expected");
    page.events.into_iter().map(|e| e.id).collect()
}

/// camera, track, first_seen, last_seen, label, zones entered, ended.
type Row = (
    &'static str,
    u64,
    u64,
    u64,
    &'static str,
    &'static [&'static str],
    bool,
);

/// Six events over two cameras, three labels and three zones.
fn fixture(writer: &StoreWriter) -> Vec<Event> {
    let rows: [Row; 6] = [
        ("gate", 1, 1_000, 2_000, "person", &["yard"], true),
        ("gate", 2, 3_000, 9_000, "car", &["street", "yard"], false),
        ("gate", 3, 5_000, 5_500, "person", &[], true),
        ("door", 1, 2_000, 4_000, "person", &["porch"], true),
        ("door", 2, 6_000, 7_000, "dog", &["porch", "yard"], false),
        ("door", 3, 8_000, 8_100, "person", &["yard"], true),
    ];
    let mut out = Vec::new();
    for (camera, track, first, last, label, zones, ended) in rows {
        let mut e = event(camera, track, first, label);
        e.last_seen_ms = last;
        e.entered_zones = zones.iter().map(|z| z.to_string()).collect();
        let kind = if ended {
            ChangeKind::End
        } else {
            ChangeKind::Update
        };
        assert!(writer.try_send(change(kind, &e), None));
        out.push(e);
    }
    writer.flush(T).expect("flush");
    out
}

#[test]
fn every_filter_selects_what_it_says_newest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, writer) = open(dir.path());
    let ev = fixture(&writer);
    let id = |i: usize| ev[i].id.clone();
    let r = store.reader().expect("reader");

    let all = ids(&r, EventQuery::default());
    assert_eq!(all, vec![id(5), id(4), id(2), id(1), id(3), id(0)]);
    let q = |f: fn(&mut EventQuery)| {
        let mut q = EventQuery::default();
        f(&mut q);
        ids(&r, q)
    };
    assert_eq!(
        q(|q| q.camera = Some("gate".into())),
        vec![id(2), id(1), id(0)]
    );
    assert_eq!(
        q(|q| q.label = Some("person".into())),
        vec![id(5), id(2), id(3), id(0)]
    );
    assert_eq!(
        q(|q| q.zone = Some("yard".into())),
        vec![id(5), id(4), id(1), id(0)]
    );
    assert_eq!(q(|q| q.zone = Some("porch".into())), vec![id(4), id(3)]);
    assert_eq!(q(|q| q.zone = Some("nowhere".into())), Vec::<String>::new());
    assert_eq!(q(|q| q.ended = Some(false)), vec![id(4), id(1)]);
    assert_eq!(
        q(|q| q.ended = Some(true)),
        vec![id(5), id(2), id(3), id(0)]
    );
    // Overlap with [4_500, 5_200]: gate-2 (3000..9000), gate-3 (5000..5500); door-1 ended at 4000.
    assert_eq!(
        q(|q| {
            q.from_ms = Some(4_500);
            q.to_ms = Some(5_200);
        }),
        vec![id(2), id(1)]
    );
    // Ends are inclusive: door-1 ends exactly at 4000.
    assert_eq!(
        q(|q| {
            q.from_ms = Some(4_000);
            q.to_ms = Some(4_000);
        }),
        vec![id(1), id(3)]
    );
    assert_eq!(q(|q| q.from_ms = Some(8_050)), vec![id(5), id(1)]);
    assert_eq!(q(|q| q.to_ms = Some(1_999)), vec![id(0)]);
    assert_eq!(
        q(|q| {
            q.camera = Some("door".into());
            q.label = Some("person".into());
            q.zone = Some("yard".into());
            q.ended = Some(true);
            q.from_ms = Some(8_000);
        }),
        vec![id(5)]
    );
    let got = r.get(&id(1)).expect("get").expect("present");
    assert_eq!(got, ev[1], "stored as sent");
    assert_eq!(r.get("nothing-here").expect("get"), None);
}

/// Pages of 7 over 60 events, with new events and updates of old ones written between pages:
/// every event present at the start comes exactly once, in order.
#[test]
fn pages_have_no_duplicates_and_no_gaps_while_the_writer_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, writer) = open(dir.path());
    let mut events = Vec::new();
    for i in 0..60u64 {
        // Pairs share a first_seen_ms, so the id breaks ties within a page boundary.
        let e = event(
            if i % 3 == 0 { "a" } else { "b" },
            i + 1,
            10_000 + i / 2 * 100,
            "person",
        );
        writer.try_send(change(ChangeKind::New, &e), None);
        events.push(e);
    }
    writer.flush(T).expect("flush");
    let reader = store.reader().expect("reader");
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = reader
            .list(&EventQuery {
                limit: Some(7),
                cursor: cursor.clone(),
                ..EventQuery::default()
            })
            .expect("page");
        assert!(page.events.len() <= 7);
        seen.extend(page.events.iter().map(|e| (e.first_seen_ms, e.id.clone())));
        pages += 1;
        // Between pages: a brand-new event, and an old one seen again (last_seen moves).
        let fresh = event("a", 1_000 + pages, 50_000 + pages, "car");
        writer.try_send(change(ChangeKind::New, &fresh), None);
        let mut old = events[(pages as usize * 11) % events.len()].clone();
        old.last_seen_ms = 99_000 + pages;
        writer.try_send(change(ChangeKind::Update, &old), None);
        writer.flush(T).expect("flush");
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 9, "60 events in pages of 7");
    let unique: HashSet<_> = seen.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(unique.len(), seen.len(), "no duplicates");
    let want: HashSet<_> = events.iter().map(|e| e.id.clone()).collect();
    assert_eq!(unique, want, "no gaps, nothing inserted later");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, ties by id");
}

#[test]
fn pagination_respects_filters_and_the_limit_bounds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, writer) = open(dir.path());
    let ev = fixture(&writer);
    let r = store.reader().expect("reader");
    let first = r
        .list(&EventQuery {
            label: Some("person".into()),
            limit: Some(3),
            ..EventQuery::default()
        })
        .expect("page 1");
    assert_eq!(first.events.len(), 3);
    let second = r
        .list(&EventQuery {
            label: Some("person".into()),
            limit: Some(3),
            cursor: first.next_cursor.clone(),
            ..EventQuery::default()
        })
        .expect("page 2");
    assert_eq!(
        second.events.iter().map(|e| &e.id).collect::<Vec<_>>(),
        vec![&ev[0].id]
    );
    assert_eq!(second.next_cursor, None);
    // Exactly `limit` left: no empty last page.
    let exact = r
        .list(&EventQuery {
            limit: Some(6),
            ..EventQuery::default()
        })
        .expect("all");
    assert_eq!((exact.events.len(), exact.next_cursor), (6, None));

    for bad in [0, MAX_LIMIT + 1] {
        let e = r
            .list(&EventQuery {
                limit: Some(bad),
                ..EventQuery::default()
            })
            .expect_err("bad limit");
        assert!(e.is_bad_request() && e.to_string().contains("limit"), "{e}");
    }
    for bad in [
        "",
        "v1.",
        "v1.12",
        "v1.x.abc",
        "v2.1.abc",
        "v1.1.a/b",
        "v1.1.a'--",
    ] {
        let e = r
            .list(&EventQuery {
                cursor: Some(bad.into()),
                ..EventQuery::default()
            })
            .expect_err(bad);
        assert!(matches!(e, StoreError::InvalidCursor), "{bad}: {e}");
    }
    let e = r
        .list(&EventQuery {
            from_ms: Some(5),
            to_ms: Some(4),
            ..EventQuery::default()
        })
        .expect_err("reversed range");
    assert!(e.is_bad_request(), "{e}");
    for bad in ["", "../x", "a b", "a/b", "ü"] {
        assert!(matches!(r.get(bad), Err(StoreError::InvalidId(_))), "{bad}");
        assert!(
            matches!(r.snapshot_paths(bad), Err(StoreError::InvalidId(_))),
            "{bad}"
        );
    }
    assert_eq!(
        r.snapshot_paths(&ev[0].id).expect("paths"),
        None,
        "no frame given"
    );
}

#[test]
fn counts_per_camera_and_label_in_time_buckets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, writer) = open(dir.path());
    fixture(&writer);
    let r = store.reader().expect("reader");
    let row = |b: u64, camera: &str, label: &str, count: u64| CountRow {
        bucket_start_ms: b,
        camera: camera.into(),
        label: label.into(),
        count,
    };
    let all = r
        .counts(&CountQuery {
            from_ms: 0,
            to_ms: 10_000,
            ..CountQuery::default()
        })
        .expect("counts");
    assert_eq!(
        all,
        vec![
            row(0, "door", "dog", 1),
            row(0, "door", "person", 2),
            row(0, "gate", "car", 1),
            row(0, "gate", "person", 2),
        ]
    );
    let buckets = r
        .counts(&CountQuery {
            from_ms: 1_000,
            to_ms: 9_000,
            bucket_ms: Some(4_000),
            label: Some("person".into()),
            camera: None,
        })
        .expect("buckets");
    // person first seen at 1000 (gate), 2000 (door), 5000 (gate), 8000 (door).
    assert_eq!(
        buckets,
        vec![
            row(1_000, "door", "person", 1),
            row(1_000, "gate", "person", 1),
            row(5_000, "door", "person", 1),
            row(5_000, "gate", "person", 1),
        ]
    );
    for bad in [
        CountQuery {
            from_ms: 5,
            to_ms: 5,
            ..CountQuery::default()
        },
        CountQuery {
            from_ms: 0,
            to_ms: 1_000_000,
            bucket_ms: Some(1),
            ..CountQuery::default()
        },
    ] {
        assert!(r.counts(&bad).expect_err("bad").is_bad_request());
    }
}
