//! Snapshot files: the frame an event was best seen on, as two JPEGs.
//!
//! Inputs: an [`Event`] and the [`Frame`] its latest box was computed on (the box is in the
//! event's `frame_width` × `frame_height` source pixels and is scaled to the frame's own size).
//! Outputs: `{data_dir}/snapshots/{camera}/{event_id}.jpg` — the whole frame with the box
//! outlined in [`BOX_COLOUR`] and a label tag — and `{event_id}-crop.jpg`, the clean box plus a
//! margin of [`CROP_MARGIN`] of its size on each side (at least [`CROP_MARGIN_MIN_PX`]), clipped
//! to the frame.
//!
//! Crash safety: each file is written to `NAME.tmp`, fsynced, and renamed over `NAME`; the
//! caller fsyncs the folder ([`sync_dir`]) and only then commits the row that points at the
//! files. A crash leaves at worst a `.tmp` file or files no row points at; the startup sweep
//! removes both. Names are built only from a camera and an id that pass [`valid_id`].
//!
//! Runs on the writer thread only (encoding is the expensive part of storing an event).
//! Failure: an error naming the file; the caller stores the row without a new snapshot.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::draw::{BOX_COLOUR, Canvas, PixelRect};
use super::{StoreError, valid_id};
use crate::event::Event;
use crate::frame::Frame;

/// The folder under the data folder that holds one folder of snapshots per camera.
pub const SNAPSHOT_DIR: &str = "snapshots";
/// The crop's margin on each side, as a fraction of the box's width (left, right) or height
/// (top, bottom).
pub const CROP_MARGIN: f32 = 0.1;
/// The smallest crop margin in pixels.
pub const CROP_MARGIN_MIN_PX: u32 = 2;

/// The two files of one event, as paths relative to the data folder (`/`-separated), the form
/// stored in the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotNames {
    pub full: String,
    pub crop: String,
}

impl SnapshotNames {
    /// The names for `camera`'s event `id`; `None` when either would not be a safe file name.
    pub fn new(camera: &str, id: &str) -> Option<Self> {
        if !valid_id(camera) || !valid_id(id) {
            return None;
        }
        Some(Self {
            full: format!("{SNAPSHOT_DIR}/{camera}/{id}.jpg"),
            crop: format!("{SNAPSHOT_DIR}/{camera}/{id}-crop.jpg"),
        })
    }
}

/// Whether `name` (from the database) has the shape [`SnapshotNames`] gives:
/// `snapshots/{camera}/{file}.jpg` with safe parts, so joining it to the data folder cannot
/// leave the snapshots folder.
pub fn is_own_name(name: &str) -> bool {
    let mut parts = name.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(SNAPSHOT_DIR), Some(camera), Some(file), None) => {
            valid_id(camera) && file.strip_suffix(".jpg").is_some_and(valid_id)
        }
        _ => false,
    }
}

/// What [`write`] put on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub names: SnapshotNames,
    /// Size of both files together.
    pub bytes: u64,
    /// The camera folder, to be fsynced before the row is committed.
    pub dir: PathBuf,
}

/// Encodes and writes both snapshot files of `event` from `frame`, each atomically.
pub fn write(
    data_dir: &Path,
    event: &Event,
    frame: &Frame,
    quality: u8,
) -> Result<Written, StoreError> {
    let names = SnapshotNames::new(&event.camera, &event.id)
        .ok_or_else(|| StoreError::InvalidId(format!("{} (camera {})", event.id, event.camera)))?;
    let full_path = data_dir.join(&names.full);
    let dir = full_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| data_dir.to_path_buf());
    let (w, h) = (frame.width, frame.height);
    let mut rgb = frame.to_rgb().map_err(|problem| StoreError::Frame {
        path: full_path.clone(),
        problem,
    })?;
    let rect = box_in_frame(event, w, h);
    let crop_rect = crop_rect(rect, w, h);
    let crop = cut(&rgb, w, crop_rect);

    let mut canvas = Canvas {
        data: &mut rgb,
        width: w,
        height: h,
    };
    let thickness = if w.min(h) >= 480 { 3 } else { 2 };
    canvas.outline(rect, thickness, BOX_COLOUR);
    let text = format!("{} {:.2}", event.label, event.best_score);
    canvas.tag(rect, &text, (h / 360).max(1), BOX_COLOUR);

    fs::create_dir_all(&dir).map_err(StoreError::io(&dir))?;
    let full = encode(&rgb, w, h, quality, &full_path)?;
    let crop_path = data_dir.join(&names.crop);
    let crop = encode(
        &crop,
        crop_rect.width(),
        crop_rect.height(),
        quality,
        &crop_path,
    )?;
    write_atomic(&full_path, &full)?;
    write_atomic(&crop_path, &crop)?;
    Ok(Written {
        names,
        bytes: (full.len() + crop.len()) as u64,
        dir,
    })
}

/// The event's latest box in `w` × `h` frame pixels: scaled from the event's source size,
/// rounded outwards, clipped to the frame, at least one pixel each way.
pub fn box_in_frame(event: &Event, w: u32, h: u32) -> PixelRect {
    let sx = if event.frame_width > 0 {
        w as f32 / event.frame_width as f32
    } else {
        1.0
    };
    let sy = if event.frame_height > 0 {
        h as f32 / event.frame_height as f32
    } else {
        1.0
    };
    let b = event.bbox;
    let clip = |v: f32, max: u32| (v.max(0.0) as u32).min(max);
    let x1 = clip((b.x1 * sx).floor(), w.saturating_sub(1));
    let y1 = clip((b.y1 * sy).floor(), h.saturating_sub(1));
    let x2 = clip((b.x2 * sx).ceil(), w).max(x1 + 1);
    let y2 = clip((b.y2 * sy).ceil(), h).max(y1 + 1);
    PixelRect { x1, y1, x2, y2 }
}

/// `r` grown by the crop margin on each side and clipped to `w` × `h`.
pub fn crop_rect(r: PixelRect, w: u32, h: u32) -> PixelRect {
    let mx = ((r.width() as f32 * CROP_MARGIN).round() as u32).max(CROP_MARGIN_MIN_PX);
    let my = ((r.height() as f32 * CROP_MARGIN).round() as u32).max(CROP_MARGIN_MIN_PX);
    PixelRect {
        x1: r.x1.saturating_sub(mx),
        y1: r.y1.saturating_sub(my),
        x2: (r.x2 + mx).min(w),
        y2: (r.y2 + my).min(h),
    }
}

/// A copy of `r` out of a packed RGB8 image `width` pixels wide.
fn cut(rgb: &[u8], width: u32, r: PixelRect) -> Vec<u8> {
    let stride = width as usize * 3;
    let mut out = Vec::with_capacity(r.width() as usize * r.height() as usize * 3);
    for y in r.y1..r.y2 {
        let start = y as usize * stride + r.x1 as usize * 3;
        out.extend_from_slice(&rgb[start..start + r.width() as usize * 3]);
    }
    out
}

fn encode(rgb: &[u8], w: u32, h: u32, quality: u8, path: &Path) -> Result<Vec<u8>, StoreError> {
    crate::jpeg::encode_rgb(rgb, w, h, quality).map_err(|problem| StoreError::Encode {
        path: path.to_path_buf(),
        problem,
    })
}

/// Writes `bytes` to `path` through `path.tmp`: written, fsynced, then renamed over `path`.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::Io {
            path: tmp,
            source: e,
        });
    }
    fs::rename(&tmp, path).map_err(StoreError::io(path))
}

/// Fsyncs a folder, so renames inside it survive a power cut.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io(dir))
}
