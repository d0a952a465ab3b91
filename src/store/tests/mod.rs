//! Store tests against real SQLite files and real JPEGs in temporary folders.

mod lifecycle;
mod outbox;
mod query;
mod retention;
mod snapshot;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

use super::{Store, StoreConfig, StoreWriter};
use crate::event::{ChangeKind, EVENT_VERSION, Event, EventBox, EventChange, event_id};
use crate::frame::Frame;

/// Time limit for requests to the writer in tests.
const T: Duration = Duration::from_secs(20);

fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        path: dir.to_path_buf(),
        ..StoreConfig::default()
    }
}

fn open(dir: &Path) -> (Store, StoreWriter) {
    Store::open(&config(dir)).expect("store opens")
}

/// An event of `camera` with a 320×240 source frame and a box at (100, 60)–(200, 180).
fn event(camera: &str, track_id: u64, first_seen_ms: u64, label: &str) -> Event {
    Event {
        version: EVENT_VERSION,
        id: event_id(camera, first_seen_ms, track_id),
        camera: camera.into(),
        label: label.into(),
        track_id,
        score: 0.6,
        best_score: 0.6,
        bbox: EventBox {
            x1: 100.0,
            y1: 60.0,
            x2: 200.0,
            y2: 180.0,
        },
        frame_width: 320,
        frame_height: 240,
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

fn change(kind: ChangeKind, event: &Event) -> EventChange {
    let mut event = event.clone();
    event.ended = kind == ChangeKind::End;
    EventChange {
        kind,
        best_improved: kind == ChangeKind::New,
        event,
    }
}

/// A smooth, magenta-free `w`×`h` frame (green and blue gradients, red low).
fn frame(w: u32, h: u32) -> Arc<Frame> {
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            data.extend_from_slice(&[40, (x * 200 / w) as u8 + 20, (y * 200 / h) as u8 + 20]);
        }
    }
    Arc::new(Frame::from_rgb(w, h, data))
}

/// A `w`×`h` frame of pseudo-random noise (JPEG cannot compress it much).
fn noise_frame(w: u32, h: u32, seed: u64) -> Arc<Frame> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data = (0..w * h * 3)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect();
    Arc::new(Frame::from_rgb(w, h, data))
}

/// A plain read-write connection for looking at the raw rows.
fn raw(dir: &Path) -> Connection {
    Connection::open(dir.join(super::DB_FILE)).expect("raw connection")
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

/// Every file under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("readable").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(
                    p.strip_prefix(dir)
                        .expect("under dir")
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}
