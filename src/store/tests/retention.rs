//! Retention by age and by size, and the sweep at open.

use super::*;
use crate::store::{SweepReport, retention, schema};

const DAY: u64 = 86_400_000;

/// The real clock: retention also runs at open, with it.
fn now() -> u64 {
    crate::frame::unix_ms()
}

/// Stores one event with a snapshot; ended or not. Waits for it, so frames never pile up
/// beyond the pending limit.
fn put(writer: &StoreWriter, camera: &str, track: u64, last_seen: u64, ended: bool) -> Event {
    let mut e = event(camera, track, last_seen - 1_000, "person");
    e.last_seen_ms = last_seen;
    writer.try_send(
        change(ChangeKind::New, &e),
        Some(noise_frame(320, 240, track)),
    );
    if ended {
        writer.try_send(change(ChangeKind::End, &e), None);
    }
    writer.flush(T).expect("flush");
    e
}

fn files_of(dir: &Path, e: &Event) -> [std::path::PathBuf; 2] {
    let base = dir.join("snapshots").join(&e.camera);
    [
        base.join(format!("{}.jpg", e.id)),
        base.join(format!("{}-crop.jpg", e.id)),
    ]
}

#[test]
fn age_deletes_old_ended_events_with_their_files_and_keeps_live_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, writer) = open(dir.path());
    let now = now();
    let old_ended = put(&writer, "gate", 1, now - 8 * DAY, true);
    let old_live = put(&writer, "gate", 2, now - 9 * DAY, false);
    let recent = put(&writer, "gate", 3, now - 6 * DAY, true);
    writer.flush(T).expect("flush");
    for e in [&old_ended, &old_live, &recent] {
        assert!(files_of(dir.path(), e).iter().all(|p| p.is_file()));
    }

    let report = writer.run_retention(now, T).expect("retention");
    assert_eq!(report.expired, 1);
    assert_eq!(report.evicted, 0);
    assert_eq!(report.files_removed, 2);
    let r = store.reader().expect("reader");
    assert_eq!(r.get(&old_ended.id).expect("get"), None);
    assert!(files_of(dir.path(), &old_ended).iter().all(|p| !p.exists()));
    for e in [&old_live, &recent] {
        assert!(r.get(&e.id).expect("get").is_some(), "{} kept", e.id);
        assert!(files_of(dir.path(), e).iter().all(|p| p.is_file()));
    }
    // A week later the recent one goes too; the live one never does.
    let report = writer.run_retention(now + 7 * DAY, T).expect("retention");
    assert_eq!(report.expired, 1);
    assert!(r.get(&old_live.id).expect("get").is_some());
    assert_eq!(writer.stats().retention_deleted, 2);
}

/// Fills well over a 1 MiB budget with noise snapshots, then runs retention directly on the
/// database with that budget: the oldest ended events go, rows and files together, until the
/// rest fits; live events stay even when they are the oldest.
#[test]
fn size_deletes_the_oldest_ended_events_until_everything_fits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, writer) = open(dir.path());
    let now = now();
    let mut events = Vec::new();
    for i in 0..40u64 {
        let ended = i != 0;
        events.push(put(&writer, "cam", i + 1, now - DAY + i * 1_000, ended));
    }
    writer.flush(T).expect("flush");
    store.shutdown(T).expect("shutdown");

    let db = dir.path().join(crate::store::DB_FILE);
    let mut conn = schema::open_writer(&db).expect("writer connection");
    let before = retention::disk_bytes(&conn, &db).expect("size");
    assert!(before > 2 << 20, "fixture too small: {before} bytes");
    let sizes: std::collections::HashMap<String, u64> = conn
        .prepare("SELECT id, snapshot_bytes FROM events")
        .expect("prepare")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let budget = StoreConfig {
        max_disk_mb: 1,
        ..config(dir.path())
    };
    let report = retention::run(&mut conn, dir.path(), &db, &budget, now).expect("retention");
    assert!(report.evicted > 0 && report.expired == 0, "{report:?}");
    assert!(report.disk_bytes <= 1 << 20, "{report:?}");
    assert_eq!(
        report.disk_bytes,
        retention::disk_bytes(&conn, &db).expect("size")
    );
    assert!(!report.over_budget);
    assert_eq!(report.files_removed, 2 * report.evicted);

    let kept: Vec<bool> = events
        .iter()
        .map(|e| {
            let n: i64 = conn
                .query_row("SELECT COUNT(*) FROM events WHERE id = ?1", [&e.id], |r| {
                    r.get(0)
                })
                .expect("count");
            let files = files_of(dir.path(), e);
            assert_eq!(files[0].exists(), n == 1, "{}: row and file agree", e.id);
            assert_eq!(files[1].exists(), n == 1, "{}: row and crop agree", e.id);
            n == 1
        })
        .collect();
    assert!(kept[0], "the live event stays although it is the oldest");
    let first_kept = 1 + kept[1..].iter().position(|&k| k).expect("some fit");
    assert!(
        kept[first_kept..].iter().all(|&k| k),
        "oldest first: {kept:?}"
    );
    assert_eq!(first_kept as u64 - 1, report.evicted);
    // Not more than needed: with the last one deleted put back, it would not fit.
    let last = &events[first_kept - 1];
    assert!(
        report.disk_bytes + sizes[&last.id] > 1 << 20,
        "{report:?}, last deleted {} bytes",
        sizes[&last.id]
    );
}

#[test]
fn the_sweep_at_open_removes_orphans_and_temporaries_and_clears_rows_without_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, writer) = open(dir.path());
    let now = now();
    let whole = put(&writer, "gate", 1, now, true);
    let lost_full = put(&writer, "gate", 2, now, true);
    let lost_crop = put(&writer, "door", 3, now, true);
    let live = put(&writer, "door", 4, now, false);
    writer.flush(T).expect("flush");
    store.shutdown(T).expect("shutdown");

    let snaps = dir.path().join("snapshots");
    std::fs::remove_file(&files_of(dir.path(), &lost_full)[0]).expect("rm");
    std::fs::remove_file(&files_of(dir.path(), &lost_crop)[1]).expect("rm");
    std::fs::write(snaps.join("gate/orphan.jpg"), b"x").expect("orphan");
    std::fs::write(snaps.join("gate/half.jpg.tmp"), b"x").expect("tmp");
    std::fs::create_dir_all(snaps.join("gone")).expect("dir");
    std::fs::write(snaps.join("gone/old-1.jpg"), b"x").expect("orphan in its own folder");
    std::fs::write(snaps.join("gate/notes.txt"), b"kept").expect("foreign file");

    let (store, _writer) = open(dir.path());
    assert_eq!(
        store.recovery(),
        SweepReport {
            closed: 1,
            tmp_removed: 1,
            // orphan.jpg, gone/old-1.jpg, and the surviving halves of the two broken pairs.
            orphans_removed: 4,
            rows_cleared: 2,
        }
    );
    let r = store.reader().expect("reader");
    assert!(r.get(&whole.id).expect("get").expect("row").has_snapshot);
    assert!(files_of(dir.path(), &whole).iter().all(|p| p.is_file()));
    for e in [&lost_full, &lost_crop] {
        let got = r.get(&e.id).expect("get").expect("row kept");
        assert!(!got.has_snapshot, "{}", e.id);
        assert_eq!(r.snapshot_paths(&e.id).expect("paths"), None);
    }
    assert!(
        r.get(&live.id).expect("get").expect("row").ended,
        "closed at open"
    );
    let mut left = files_under(&snaps);
    left.retain(|f| !f.contains(&whole.id) && !f.contains(&live.id));
    assert_eq!(left, vec!["gate/notes.txt".to_string()]);
    assert!(!snaps.join("gone").exists(), "empty camera folder removed");
}
