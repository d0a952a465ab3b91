//! `kill -9` while the event store writes leaves a consistent store.
//!
//! The test re-executes its own binary (`current_exe()`, this test only) with
//! [`CHILD_ENV`] set: that child opens a store and writes events with snapshots in a tight loop.
//! The parent SIGKILLs it at varied moments, several times, checking after each kill that the
//! database is intact and every row that claims a snapshot has both files, complete. Finally it
//! opens the store itself: the sweep leaves no `.tmp` file and no orphan, and the writer goes on.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgesight::event::{ChangeKind, EVENT_VERSION, Event, EventBox, EventChange, event_id};
use edgesight::frame::{Frame, unix_ms};
use edgesight::store::{DB_FILE, Store, StoreConfig};
use image::ImageFormat;
use rusqlite::Connection;

/// Set (to the data folder) in the child that writes.
const CHILD_ENV: &str = "EDGESIGHT_STORE_CRASH_CHILD";
/// Which round the child is in (its events get distinct ids).
const ROUND_ENV: &str = "EDGESIGHT_STORE_CRASH_ROUND";
/// This test's name, for the child's test filter.
const TEST: &str = "kill_9_while_writing_leaves_a_consistent_store";
/// The line the child prints once its first events are stored.
const READY: &str = "store-crash-child: writing";
const ROUNDS: u64 = 8;
const W: u32 = 320;
const H: u32 = 240;

#[test]
fn kill_9_while_writing_leaves_a_consistent_store() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        let round = std::env::var(ROUND_ENV)
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        write_until_killed(Path::new(&dir), round);
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let exe = std::env::current_exe().expect("own test binary");
    let mut rows_before = 0;
    let mut leftovers = 0;
    let mut tmp_kills = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &data)
            .env(ROUND_ENV, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("child starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains(READY) {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = child.kill();
            panic!("round {round}: the child never started writing");
        }
        if round % 2 == 1 {
            // Kill the moment a snapshot is being written (a `.tmp` file exists).
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until
                && !files(&data.join("snapshots")).iter().any(|f| is_tmp(f))
            {
                std::thread::yield_now();
            }
        } else {
            // Kill at a different point of the write cycle each round.
            std::thread::sleep(Duration::from_millis(100 + 83 * round));
        }
        assert!(
            child.try_wait().expect("status").is_none(),
            "round {round}: the child stopped by itself before the kill"
        );
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("reaped");
        assert!(!status.success(), "killed: {status:?}");

        let check = check_files_and_rows(&data);
        assert!(
            check.rows > rows_before,
            "round {round}: the child wrote nothing ({} rows)",
            check.rows
        );
        rows_before = check.rows;
        leftovers += check.tmp_files + check.orphans;
        tmp_kills += u64::from(check.tmp_files > 0);
        eprintln!("round {round}: {check:?}");
    }
    eprintln!(
        "kills left {leftovers} temporary or orphan files for the sweep; \
         {tmp_kills} of {ROUNDS} landed inside a snapshot write"
    );

    let (store, writer) = Store::open(&config(&data)).expect("store reopens after kill -9");
    eprintln!("recovery: {:?}", store.recovery());
    let check = check_files_and_rows(&data);
    assert_eq!(check.tmp_files, 0, "no .tmp file after the sweep");
    assert_eq!(check.orphans, 0, "no orphan after the sweep");
    assert!(check.with_snapshot > 0, "{check:?}");

    // The writer goes on.
    let e = event(unix_ms(), 1);
    assert!(writer.try_send(new(&e), Some(noise(7))));
    writer.flush(Duration::from_secs(30)).expect("flush");
    let reader = store.reader().expect("reader");
    assert!(
        reader
            .get(&e.id)
            .expect("get")
            .expect("stored")
            .has_snapshot
    );
    let paths = reader.snapshot_paths(&e.id).expect("paths").expect("some");
    decode(&paths.full, Some((W, H)));
    store.shutdown(Duration::from_secs(30)).expect("shutdown");
    let check = check_files_and_rows(&data);
    assert_eq!(check.rows, rows_before + 1);
}

#[derive(Debug, Default)]
struct Check {
    rows: u64,
    with_snapshot: u64,
    tmp_files: u64,
    orphans: u64,
}

/// Opens the database as SQLite does after a crash and checks it and the files: panics on
/// any inconsistency, returns what it counted.
fn check_files_and_rows(data: &Path) -> Check {
    let conn = Connection::open(data.join(DB_FILE)).expect("database opens");
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(integrity, "ok");
    let fk_problems: i64 = conn
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .expect("foreign_key_check");
    assert_eq!(fk_problems, 0);
    let mut check = Check {
        rows: conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .expect("count"),
        ..Check::default()
    };
    let mut stmt = conn
        .prepare("SELECT id, snapshot, crop FROM events WHERE has_snapshot = 1")
        .expect("prepare");
    let rows: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut referenced = std::collections::HashSet::new();
    for (id, full, crop) in rows {
        decode(&data.join(&full), Some((W, H)));
        decode(&data.join(&crop), None);
        assert!(full.ends_with(&format!("{id}.jpg")), "{full}");
        referenced.insert(data.join(full));
        referenced.insert(data.join(crop));
        check.with_snapshot += 1;
    }
    for file in files(&data.join("snapshots")) {
        if is_tmp(&file) {
            check.tmp_files += 1;
        } else if !referenced.contains(&file) {
            check.orphans += 1;
        }
    }
    check
}

fn is_tmp(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "tmp")
}

fn decode(path: &Path, size: Option<(u32, u32)>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let img = image::load_from_memory_with_format(&bytes, ImageFormat::Jpeg)
        .unwrap_or_else(|e| panic!("{}: not a complete JPEG: {e}", path.display()));
    if let Some((w, h)) = size {
        assert_eq!((img.width(), img.height()), (w, h), "{}", path.display());
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(cameras) = std::fs::read_dir(dir) else {
        return out;
    };
    for camera in cameras.flatten() {
        if let Ok(entries) = std::fs::read_dir(camera.path()) {
            out.extend(entries.flatten().map(|e| e.path()));
        }
    }
    out
}

fn config(data: &Path) -> StoreConfig {
    StoreConfig {
        path: data.to_path_buf(),
        ..StoreConfig::default()
    }
}

/// The child: writes new, update (some with a better frame) and end changes as fast as the
/// store takes them, until killed (or, should the parent be gone, for 60 s at most).
fn write_until_killed(data: &Path, round: u64) {
    let (_store, writer) = Store::open(&config(data)).expect("child opens the store");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut announced = false;
    let mut track = 0;
    // Recent times (retention at open would delete old ended events); distinct per round.
    let base_ms = unix_ms();
    while Instant::now() < deadline {
        track += 1;
        let mut e = event(base_ms, track);
        send(&writer, new(&e), Some(noise(round * 100_000 + track)));
        e.last_seen_ms += 200;
        e.best_score = 0.9;
        e.entered_zones = vec!["yard".into()];
        send(
            &writer,
            EventChange {
                kind: ChangeKind::Update,
                best_improved: true,
                event: e.clone(),
            },
            Some(noise(round * 100_000 + track + 50_000)),
        );
        if track % 3 != 0 {
            e.ended = true;
            send(&writer, change(ChangeKind::End, &e), None);
        }
        if !announced {
            writer
                .flush(Duration::from_secs(30))
                .expect("first events stored");
            println!("{READY}");
            announced = true;
        }
    }
}

/// Sends, waiting a moment whenever the queue is full (the loop stays tight but lossless).
fn send(writer: &edgesight::store::StoreWriter, c: EventChange, frame: Option<Arc<Frame>>) {
    let pending = writer.stats().accepted - writer.stats().written;
    if pending > 8 {
        std::thread::sleep(Duration::from_millis(2));
    }
    writer.try_send(c, frame);
}

fn event(base_ms: u64, track: u64) -> Event {
    let camera = format!("cam{}", track % 2);
    let first_seen_ms = base_ms + track;
    Event {
        version: EVENT_VERSION,
        id: event_id(&camera, first_seen_ms, track),
        camera,
        label: "person".into(),
        track_id: track,
        score: 0.5,
        best_score: 0.5,
        bbox: EventBox {
            x1: 40.0,
            y1: 30.0,
            x2: 200.0,
            y2: 220.0,
        },
        frame_width: W,
        frame_height: H,
        first_seen_ms,
        last_seen_ms: first_seen_ms,
        zones: Vec::new(),
        entered_zones: Vec::new(),
        lines: Vec::new(),
        loitering: Vec::new(),
        ended: false,
        has_snapshot: false,
    }
}

fn new(e: &Event) -> EventChange {
    change(ChangeKind::New, e)
}

fn change(kind: ChangeKind, e: &Event) -> EventChange {
    EventChange {
        kind,
        best_improved: kind == ChangeKind::New,
        event: e.clone(),
    }
}

/// A noise frame: slow to encode and large, so kills often land inside a file write.
fn noise(seed: u64) -> Arc<Frame> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data = (0..W * H * 3)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect();
    Arc::new(Frame::from_rgb(W, H, data))
}
