//! Snapshot files: valid JPEGs, the right sizes, the box drawn on the full frame only.

use image::{ImageFormat, RgbImage};

use super::*;
use crate::store::snapshot::{SnapshotNames, box_in_frame, crop_rect};
use crate::store::{BOX_COLOUR, StoreReader};

fn decode(path: &Path) -> RgbImage {
    let bytes = std::fs::read(path).expect("snapshot readable");
    image::load_from_memory_with_format(&bytes, ImageFormat::Jpeg)
        .expect("a valid JPEG")
        .to_rgb8()
}

/// Close to the box colour, allowing for JPEG's colour error.
fn is_box_colour(p: [u8; 3]) -> bool {
    p.iter()
        .zip(BOX_COLOUR)
        .all(|(&a, b)| (i32::from(a) - i32::from(b)).abs() < 60)
}

fn px(img: &RgbImage, x: u32, y: u32) -> [u8; 3] {
    img.get_pixel(x, y).0
}

fn stored(dir: &Path, e: &Event, f: Arc<Frame>) -> (StoreReader, crate::store::SnapshotPaths) {
    let (store, writer) = open(dir);
    assert!(writer.try_send(change(ChangeKind::New, e), Some(f)));
    writer.flush(T).expect("flush");
    let reader = store.reader().expect("reader");
    let paths = reader
        .snapshot_paths(&e.id)
        .expect("paths")
        .expect("has a snapshot");
    store.shutdown(T).expect("shutdown");
    (reader, paths)
}

#[test]
fn full_frame_has_the_box_drawn_and_the_crop_is_the_clean_box_with_margin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = event("gate", 7, 1_000, "person");
    let (_reader, paths) = stored(dir.path(), &e, frame(320, 240));
    let names = SnapshotNames::new("gate", &e.id).expect("names");
    assert_eq!(paths.full, dir.path().join(&names.full));
    assert!(
        paths
            .crop
            .ends_with(format!("snapshots/gate/{}-crop.jpg", e.id))
    );

    let full = decode(&paths.full);
    assert_eq!(full.dimensions(), (320, 240));
    // On each edge of the box (100, 60)–(200, 180), mid-way along it: the drawing colour.
    for (x, y) in [(150, 60), (150, 179), (100, 120), (199, 120), (101, 61)] {
        assert!(
            is_box_colour(px(&full, x, y)),
            "({x}, {y}) = {:?}",
            px(&full, x, y)
        );
    }
    // Inside the box and well outside it: the frame's own pixels.
    for (x, y) in [(150, 120), (120, 100), (20, 220), (300, 20)] {
        assert!(
            !is_box_colour(px(&full, x, y)),
            "({x}, {y}) = {:?}",
            px(&full, x, y)
        );
    }
    // The label tag ("person 0.60", 9 px tall) sits just above the box's top-left corner;
    // (139, 55) is in the gap of its space character.
    assert!(
        is_box_colour(px(&full, 139, 55)),
        "{:?}",
        px(&full, 139, 55)
    );
    assert!(
        !is_box_colour(px(&full, 139, 49)),
        "{:?}",
        px(&full, 139, 49)
    );

    let crop = decode(&paths.crop);
    // 10 % margin: 10 px left/right of a 100 px wide box, 12 px above/below a 120 px tall one.
    assert_eq!(crop.dimensions(), (100 + 2 * 10, 120 + 2 * 12));
    assert!(
        crop.pixels().all(|p| !is_box_colour(p.0)),
        "no drawing in the crop"
    );
    // The crop shows the frame at the same place: (150, 120) in the frame is (60, 72) here.
    let want = [40i32, (150 * 200 / 320) + 20, (120 * 200 / 240) + 20];
    let got = px(&crop, 60, 72);
    for c in 0..3 {
        assert!(
            (i32::from(got[c]) - want[c]).abs() < 12,
            "{got:?} vs {want:?}"
        );
    }
}

#[test]
fn a_box_in_source_pixels_is_scaled_to_the_smaller_frame_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut e = event("gate", 7, 1_000, "car");
    // Source 1280×720; the frame given was scaled to 320×180 for analysis.
    e.frame_width = 1280;
    e.frame_height = 720;
    e.bbox = EventBox {
        x1: 400.0,
        y1: 200.0,
        x2: 800.0,
        y2: 600.0,
    };
    let (_reader, paths) = stored(dir.path(), &e, frame(320, 180));
    let full = decode(&paths.full);
    assert_eq!(full.dimensions(), (320, 180));
    let r = box_in_frame(&e, 320, 180);
    assert_eq!((r.x1, r.y1, r.x2, r.y2), (100, 50, 200, 150));
    assert!(is_box_colour(px(&full, 150, 50)));
    assert!(is_box_colour(px(&full, 199, 100)));
    assert!(!is_box_colour(px(&full, 150, 100)));
    let c = crop_rect(r, 320, 180);
    assert_eq!(decode(&paths.crop).dimensions(), (c.width(), c.height()));
    assert_eq!((c.width(), c.height()), (120, 120));
}

#[test]
fn a_box_at_the_frame_edge_is_clipped_and_so_is_its_crop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut e = event("gate", 7, 1_000, "car");
    e.bbox = EventBox {
        x1: -20.0,
        y1: 200.0,
        x2: 40.0,
        y2: 260.0,
    };
    let (_reader, paths) = stored(dir.path(), &e, frame(320, 240));
    let crop = decode(&paths.crop);
    // The box clips to 0..40 × 200..240; its 4 px margins fit only on the right and above.
    assert_eq!(crop.dimensions(), (44, 44));
    let full = decode(&paths.full);
    assert!(
        is_box_colour(px(&full, 0, 220)),
        "left edge drawn at the frame edge"
    );
}

#[test]
fn a_better_frame_replaces_the_files_and_a_frame_without_improvement_is_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, writer) = open(dir.path());
    let mut e = event("gate", 1, 1_000, "person");
    writer.try_send(change(ChangeKind::New, &e), Some(frame(320, 240)));
    writer.flush(T).expect("flush");
    let reader = store.reader().expect("reader");
    let paths = reader.snapshot_paths(&e.id).expect("paths").expect("some");
    let smooth = std::fs::read(&paths.full).expect("read");

    // Not an improvement: the frame is not used, even though one was given.
    e.last_seen_ms += 100;
    writer.try_send(
        change(ChangeKind::Update, &e),
        Some(noise_frame(320, 240, 1)),
    );
    writer.flush(T).expect("flush");
    assert_eq!(std::fs::read(&paths.full).expect("read"), smooth);

    // A better view within the snapshot interval is kept, not written yet...
    e.best_score = 0.95;
    let mut better = change(ChangeKind::Update, &e);
    better.best_improved = true;
    writer.try_send(better, Some(noise_frame(320, 240, 2)));
    writer.flush(T).expect("flush");
    assert_eq!(
        std::fs::read(&paths.full).expect("read"),
        smooth,
        "throttled"
    );
    // ...and on disk before the event's end is stored.
    writer.try_send(change(ChangeKind::End, &e), None);
    writer.flush(T).expect("flush");
    let noisy = std::fs::read(&paths.full).expect("read");
    assert!(
        noisy.len() > smooth.len() * 2,
        "the noisy frame replaced the smooth one"
    );
    let conn = raw(dir.path());
    let bytes: i64 = conn
        .query_row("SELECT snapshot_bytes FROM events", [], |r| r.get(0))
        .expect("bytes");
    let on_disk = noisy.len() + std::fs::read(&paths.crop).expect("crop").len();
    assert_eq!(bytes as usize, on_disk);
    assert_eq!(writer.stats().snapshots, 2);
    assert!(reader.get(&e.id).expect("get").expect("row").has_snapshot);
    // Only the two final files exist: no temporary names left behind.
    assert_eq!(
        files_under(&dir.path().join("snapshots")),
        vec![
            format!("gate/{}-crop.jpg", e.id),
            format!("gate/{}.jpg", e.id)
        ]
    );
}

#[test]
fn a_short_pixel_buffer_is_an_error_and_the_row_is_stored_without_a_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, writer) = open(dir.path());
    let e = event("gate", 1, 1_000, "person");
    let mut f = Frame::from_rgb(320, 240, vec![0; 100]);
    f.planes[0].stride = 960;
    writer.try_send(change(ChangeKind::New, &e), Some(Arc::new(f)));
    writer.flush(T).expect("flush");
    let got = store.reader().expect("reader").get(&e.id).expect("get");
    assert_eq!(got.map(|g| g.has_snapshot), Some(false));
    assert_eq!(writer.stats().snapshot_errors, 1);
}

#[test]
fn a_kept_better_view_is_written_once_the_interval_has_passed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, writer) = open(dir.path());
    let mut e = event("gate", 7, 1_000, "person");
    writer.try_send(change(ChangeKind::New, &e), Some(frame(320, 240)));
    writer.flush(T).expect("flush");
    let reader = store.reader().expect("reader");
    let paths = reader.snapshot_paths(&e.id).expect("paths").expect("some");
    let first = std::fs::read(&paths.full).expect("read");
    // Two better views in a row: only the last is kept.
    for (i, score) in [(3, 0.9), (4, 0.95)] {
        e.best_score = score;
        let mut better = change(ChangeKind::Update, &e);
        better.best_improved = true;
        writer.try_send(better, Some(noise_frame(320, 240, i)));
    }
    writer.flush(T).expect("flush");
    assert_eq!(std::fs::read(&paths.full).expect("read"), first);
    // Nothing else is sent: the writer wakes by itself when the interval is over.
    std::thread::sleep(
        crate::store::throttle::SNAPSHOT_INTERVAL + std::time::Duration::from_millis(500),
    );
    writer.flush(T).expect("flush");
    let last = std::fs::read(&paths.full).expect("read");
    assert_ne!(last, first, "the kept view was not written");
    assert_eq!(
        writer.stats().snapshots,
        2,
        "one write for the two better views"
    );
    drop(store);
}
