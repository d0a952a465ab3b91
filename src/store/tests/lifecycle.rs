//! new → update → end, deletes, the lock, and the queue's drop policy.

use std::time::{Duration, Instant};

use super::*;
use crate::store::{MAX_PENDING_FRAMES, QUEUE_CAPACITY, StoreError, StoreReader};

#[test]
fn new_update_end_is_one_row_that_ends_and_keeps_its_best() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, writer) = open(dir.path());
    let mut e = event("gate", 3, 1_700_000_000_000, "person");

    assert!(writer.try_send(change(ChangeKind::New, &e), Some(frame(320, 240))));
    e.last_seen_ms += 500;
    e.score = 0.9;
    e.best_score = 0.9;
    e.zones = vec!["yard".into()];
    e.entered_zones = vec!["street".into(), "yard".into()];
    assert!(writer.try_send(change(ChangeKind::Update, &e), None));
    writer.flush(T).expect("flush");

    let reader = store.reader().expect("reader");
    let got = reader.get(&e.id).expect("get").expect("stored");
    assert_eq!(got.last_seen_ms, e.last_seen_ms);
    assert_eq!(got.entered_zones, e.entered_zones);
    assert!(!got.ended);
    assert!(got.has_snapshot, "the new change brought a frame");

    e.last_seen_ms += 500;
    e.score = 0.4;
    assert!(writer.try_send(change(ChangeKind::End, &e), None));
    // An out-of-order older update after the end changes neither `ended` nor `last_seen_ms`.
    let mut stale = e.clone();
    stale.last_seen_ms -= 900;
    stale.best_score = 0.1;
    assert!(writer.try_send(change(ChangeKind::Update, &stale), None));
    writer.flush(T).expect("flush");

    let got = reader.get(&e.id).expect("get").expect("stored");
    assert!(got.ended);
    assert!(got.has_snapshot);
    let conn = raw(dir.path());
    let (rows, ended, last, best): (i64, i64, i64, f64) = conn
        .query_row(
            "SELECT COUNT(*), MAX(ended), MAX(last_seen_ms), MAX(best_score) FROM events",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .expect("row");
    assert_eq!(rows, 1);
    assert_eq!(ended, 1);
    assert_eq!(last as u64, e.last_seen_ms);
    assert!((best - 0.9).abs() < 1e-6, "best score kept: {best}");
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM event_zones"), 2);
    let stats = writer.stats();
    assert_eq!((stats.accepted, stats.written, stats.dropped), (4, 4, 0));
    assert_eq!(stats.snapshots, 1);
    store.shutdown(T).expect("shutdown");
}

#[test]
fn an_update_whose_new_was_lost_still_creates_the_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, writer) = open(dir.path());
    let e = event("gate", 1, 5_000, "car");
    writer.try_send(change(ChangeKind::Update, &e), None);
    writer.flush(T).expect("flush");
    let got = store.reader().expect("reader").get(&e.id).expect("get");
    assert_eq!(got.map(|g| g.label), Some("car".to_string()));
}

#[test]
fn delete_removes_row_zones_and_files_and_a_live_event_stays_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, writer) = open(dir.path());
    let mut a = event("gate", 1, 10_000, "person");
    a.entered_zones = vec!["yard".into()];
    let b = event("gate", 2, 11_000, "person");
    writer.try_send(change(ChangeKind::New, &a), Some(frame(320, 240)));
    writer.try_send(change(ChangeKind::New, &b), Some(frame(320, 240)));
    writer.flush(T).expect("flush");
    let reader = store.reader().expect("reader");
    let paths = reader.snapshot_paths(&a.id).expect("paths").expect("some");
    assert!(paths.full.is_file() && paths.crop.is_file());

    assert!(writer.delete(&a.id, T).expect("delete"));
    assert!(!paths.full.exists() && !paths.crop.exists(), "files go too");
    assert_eq!(reader.get(&a.id).expect("get"), None);
    assert_eq!(reader.snapshot_paths(&a.id).expect("paths"), None);
    let conn = raw(dir.path());
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM event_zones"), 0);
    assert!(reader.get(&b.id).expect("get").is_some(), "others stay");
    assert!(
        !writer.delete(&a.id, T).expect("second delete"),
        "already gone"
    );

    // `a` was in progress: its later changes do not bring it back.
    let mut later = a.clone();
    later.last_seen_ms += 1000;
    writer.try_send(change(ChangeKind::Update, &later), Some(frame(320, 240)));
    writer.try_send(change(ChangeKind::End, &later), None);
    writer.flush(T).expect("flush");
    assert_eq!(reader.get(&a.id).expect("get"), None);
    assert!(!paths.full.exists());
    let stats = writer.stats();
    assert_eq!(stats.ignored, 2);
    assert_eq!(stats.written + stats.ignored, stats.accepted);

    let e = writer.delete("../etc/passwd", T).expect_err("bad id");
    assert!(
        matches!(e, StoreError::InvalidId(_)) && e.is_bad_request(),
        "{e}"
    );
}

#[test]
fn a_second_store_on_the_same_folder_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_store, _writer) = open(dir.path());
    let e = Store::open(&config(dir.path())).err().expect("locked");
    assert!(matches!(e, StoreError::Locked { .. }), "{e}");
    assert!(e.to_string().contains("store.lock"), "{e}");
}

#[test]
fn readers_open_on_their_own_and_a_bad_config_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = StoreConfig {
        snapshot_quality: 0,
        ..config(dir.path())
    };
    let e = Store::open(&bad).err().expect("invalid");
    assert!(e.to_string().contains("snapshot_quality"), "{e}");
    let (_store, writer) = open(dir.path());
    writer.try_send(change(ChangeKind::New, &event("c", 1, 1, "dog")), None);
    writer.flush(T).expect("flush");
    let reader = StoreReader::open(dir.path()).expect("reader");
    assert_eq!(
        reader.list(&Default::default()).expect("list").events.len(),
        1
    );
    drop(reader);
    // After a clean shutdown (SQLite removes the -wal and -shm files) a reader still opens.
    drop((_store, writer));
    assert!(!dir.path().join("events.db-wal").exists());
    let reader = StoreReader::open(dir.path()).expect("reader without a writer");
    assert_eq!(
        reader.list(&Default::default()).expect("list").events.len(),
        1
    );
    let e = StoreReader::open(&dir.path().join("missing"))
        .err()
        .expect("no store");
    assert!(e.to_string().contains("events.db"), "{e}");
}

/// With the writer held up (another connection holds SQLite's write lock), a burst of sends
/// returns at once: the queue fills, the rest are dropped and counted, and frames beyond the
/// pending limit are not queued. Once the lock goes, everything accepted is stored.
#[test]
fn a_full_queue_drops_and_counts_and_never_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, writer) = open(dir.path());
    let blocker = raw(dir.path());
    blocker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("hold the write lock");

    let sent = 3 * QUEUE_CAPACITY;
    let f = frame(64, 48);
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut accepted = 0;
    for i in 0..sent as u64 {
        let e = event("cam", i + 1, 1_000 + i, "person");
        let t = Instant::now();
        accepted += usize::from(writer.try_send(change(ChangeKind::New, &e), Some(f.clone())));
        slowest = slowest.max(t.elapsed());
    }
    let burst = start.elapsed();
    assert!(burst < Duration::from_secs(2), "burst took {burst:?}");
    assert!(
        slowest < Duration::from_millis(100),
        "one send took {slowest:?}"
    );

    let stats = writer.stats();
    assert_eq!(stats.accepted as usize, accepted);
    assert_eq!(stats.dropped as usize, sent - accepted);
    assert_eq!(writer.dropped(), stats.dropped);
    // The queue, plus at most one batch the writer took before it blocked.
    assert!(accepted <= QUEUE_CAPACITY + 256, "accepted {accepted}");
    assert!(accepted >= QUEUE_CAPACITY, "accepted {accepted}");
    assert!(
        stats.frames_skipped as usize >= accepted - MAX_PENDING_FRAMES,
        "{stats:?}"
    );

    blocker.execute_batch("ROLLBACK").expect("release");
    writer.flush(T).expect("flush");
    let stats = writer.stats();
    let conn = raw(dir.path());
    let stored = count(&conn, "SELECT COUNT(*) FROM events") as u64;
    assert_eq!(stored, stats.written, "{stats:?}");
    assert_eq!(stats.written + stats.failed, stats.accepted, "{stats:?}");
    assert!(stats.snapshots as usize <= MAX_PENDING_FRAMES, "{stats:?}");
    store.shutdown(T).expect("shutdown");
}
