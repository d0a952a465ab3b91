//! Frames and the latest-frame slot between ingest and analysis.
//!
//! A [`Frame`] owns a mapped GStreamer buffer (no copy from the appsink) or, for still images,
//! plain bytes, in the format it was decoded to (I420 from cameras, RGB from still images):
//! analysis reads it as a [`FrameView`] and converts only the pixels the model needs; whole
//! RGB pictures ([`Frame::to_rgb`]) are made only for snapshots and the console.
//!
//! A [`FrameSlot`] holds at most one frame per camera: a newer frame replaces an older one that
//! was not taken yet. Putting never blocks, so the GStreamer streaming thread is never held up
//! by analysis. A replaced frame is counted as one of two things, judged against when its
//! camera next wants a frame (set by the analysis thread from the camera's `detect_fps`,
//! [`FrameSlot::want_from`]): *dropped* when it was wanted (it arrived once its camera was due,
//! and analysis did not take it before a newer one came: the detector is slower than the
//! cameras), *rate-limited* when it arrived before its camera was due (the camera sends more
//! than `detect_fps` asks for: by design).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::preprocess::{Colorimetry, FrameView, PixelFormat, PlaneLayout};

/// The bytes of a frame (their layout: [`Frame::format`] and [`Frame::planes`]).
pub enum FramePixels {
    /// A decoded GStreamer buffer, mapped for reading.
    Gst(gstreamer::MappedBuffer<gstreamer::buffer::Readable>),
    /// Owned bytes (still images, tests).
    Owned(Vec<u8>),
}

/// One decoded frame of one camera.
pub struct Frame {
    pub width: u32,
    pub height: u32,
    /// Size of the stream before GStreamer scaled it for analysis (boxes are reported in these
    /// pixels); equal to `width`/`height` when nothing was scaled.
    pub source_width: u32,
    pub source_height: u32,
    pub format: PixelFormat,
    /// Where each plane lies in the bytes (offset, bytes from one row to the next).
    pub planes: [PlaneLayout; 3],
    /// YUV matrix and range, for YUV formats.
    pub colorimetry: Colorimetry,
    pub pixels: FramePixels,
    /// When the frame reached our code (appsink callback).
    pub received_at: Instant,
    /// Wall-clock time of arrival, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The stream's own time of the frame (presentation timestamp), when it has one.
    pub pts_ms: Option<u64>,
    /// Sequence number within the camera's stream (1, 2, ...).
    pub seq: u64,
}

impl Frame {
    /// A frame over owned packed RGB8 bytes.
    pub fn from_rgb(width: u32, height: u32, data: Vec<u8>) -> Self {
        Self {
            width,
            height,
            source_width: width,
            source_height: height,
            format: PixelFormat::Rgb,
            planes: [
                PlaneLayout {
                    offset: 0,
                    stride: width as usize * 3,
                },
                PlaneLayout::default(),
                PlaneLayout::default(),
            ],
            colorimetry: Colorimetry::default(),
            pixels: FramePixels::Owned(data),
            received_at: Instant::now(),
            timestamp_ms: unix_ms(),
            pts_ms: None,
            seq: 0,
        }
    }

    /// Grey level of pixel (x, y), for the motion gate: the luma plane of a YUV frame, BT.601
    /// weights of an RGB one. `x < width`, `y < height`; 0 outside the buffer.
    pub fn luma(&self, x: u32, y: u32) -> u8 {
        let view = self.view();
        let plane = view.planes[0];
        let at = |i: usize| view.data.get(plane.offset + y as usize * plane.stride + i);
        if view.format.is_yuv() {
            return at(x as usize).copied().unwrap_or(0);
        }
        let bpp = view.format.packed_bytes();
        let [r, g, b] = view.format.rgb_offsets();
        let px = |c: usize| at(x as usize * bpp + c).copied().map_or(0, u32::from);
        ((77 * px(r) + 150 * px(g) + 29 * px(b)) >> 8) as u8
    }

    /// The same frame over a copy of its pixels, so that a decoder's buffer can go back to its
    /// pool: for a frame kept for long (a snapshot waiting for its turn), which would otherwise
    /// make the camera's pool allocate another buffer for every frame held.
    pub fn detached(&self) -> Frame {
        let bytes = match &self.pixels {
            FramePixels::Gst(mapped) => mapped.as_slice().to_vec(),
            FramePixels::Owned(bytes) => bytes.clone(),
        };
        Frame {
            pixels: FramePixels::Owned(bytes),
            ..*self
        }
    }

    /// The pixels, borrowed, in their own format.
    pub fn view(&self) -> FrameView<'_> {
        let data: &[u8] = match &self.pixels {
            FramePixels::Gst(mapped) => mapped.as_slice(),
            FramePixels::Owned(bytes) => bytes,
        };
        FrameView::with_planes(self.format, data, self.width, self.height, &self.planes)
            .with_colorimetry(self.colorimetry)
    }

    /// The whole picture as packed RGB8 (`width * 3` bytes a row); an error names the layout
    /// that does not fit the buffer.
    pub fn to_rgb(&self) -> Result<Vec<u8>, String> {
        crate::preprocess::to_packed_rgb(&self.view()).map_err(|e| e.to_string())
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Holds the newest not-yet-analysed frame of one camera. Policy when full: replace the older
/// frame, counted in [`FrameSlot::dropped`] or [`FrameSlot::rate_limited`] (see the module docs).
#[derive(Default)]
pub struct FrameSlot {
    waiting: Mutex<Waiting>,
    received: AtomicU64,
    dropped: AtomicU64,
    rate_limited: AtomicU64,
}

#[derive(Default)]
struct Waiting {
    frame: Option<Frame>,
    /// Frames arriving from this instant on are wanted; `None`: every frame is.
    wanted_from: Option<Instant>,
}

impl FrameSlot {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Stores `frame` (numbering it), replacing any frame not taken yet. Never blocks for long:
    /// the lock is held only to swap an `Option`.
    pub fn put(&self, mut frame: Frame) {
        frame.seq = self.received.fetch_add(1, Ordering::Relaxed) + 1;
        let (old, wanted_from) = {
            let mut guard = self.lock();
            (guard.frame.replace(frame), guard.wanted_from)
        };
        if let Some(old) = &old {
            let counter = match wanted_from {
                Some(from) if old.received_at < from => &self.rate_limited,
                _ => &self.dropped,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        // `old` is released here, outside the lock.
    }

    /// Takes the newest frame, if one arrived since the last take.
    pub fn take(&self) -> Option<Frame> {
        self.lock().frame.take()
    }

    /// Frames arriving from `from` on are wanted by analysis (`None`: every frame is); a frame
    /// replaced before it is taken is counted as dropped if it was wanted, else as
    /// rate-limited.
    pub fn want_from(&self, from: Option<Instant>) {
        self.lock().wanted_from = from;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a frame is waiting.
    pub fn has_frame(&self) -> bool {
        self.frame_at().is_some()
    }

    /// When the waiting frame (if any) arrived.
    pub fn frame_at(&self) -> Option<Instant> {
        self.lock().frame.as_ref().map(|f| f.received_at)
    }

    /// Frames put so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Frames analysis wanted but did not take before a newer one replaced them.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Frames replaced before analysis that their camera's rate did not call for.
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gstreamer as gst;
    use gstreamer::prelude::*;

    #[test]
    fn a_detached_frame_gives_the_decoders_buffer_back_to_its_pool() {
        gst::init().expect("GStreamer");
        // A pool of one buffer, like a decoder's pool with every other buffer out.
        let pool = gst::BufferPool::new();
        let mut config = pool.config();
        config.set_params(None, 48, 1, 1);
        pool.set_config(config).expect("config");
        pool.set_active(true).expect("active");
        let dont_wait =
            gst::BufferPoolAcquireParams::with_flags(gst::BufferPoolAcquireFlags::DONTWAIT);
        let mut buffer = pool.acquire_buffer(None).expect("a buffer");
        buffer
            .get_mut()
            .expect("writable")
            .copy_from_slice(0, &[7u8; 48])
            .expect("fill");
        let frame = Frame {
            pixels: FramePixels::Gst(buffer.into_mapped_buffer_readable().expect("map")),
            ..Frame::from_rgb(4, 4, Vec::new())
        };
        assert!(
            pool.acquire_buffer(Some(&dont_wait)).is_err(),
            "the pool is empty"
        );

        let kept = frame.detached();
        drop(frame);
        assert!(
            pool.acquire_buffer(Some(&dont_wait)).is_ok(),
            "the buffer went back to the pool"
        );
        assert!(matches!(kept.pixels, FramePixels::Owned(_)));
        assert_eq!(kept.view().data, &[7u8; 48]);
        assert_eq!(
            (kept.width, kept.height, kept.format),
            (4, 4, PixelFormat::Rgb)
        );
        pool.set_active(false).expect("inactive");
    }

    #[test]
    fn newest_frame_wins_and_drops_are_counted() {
        let slot = FrameSlot::new();
        assert!(slot.take().is_none());
        for i in 0..5u8 {
            slot.put(Frame::from_rgb(1, 1, vec![i, i, i]));
        }
        let f = slot.take().expect("a frame");
        assert_eq!(f.view().data, &[4, 4, 4]);
        assert_eq!(
            f.luma(0, 0),
            4,
            "BT.601 weights sum to 256, so grey stays grey"
        );
        assert_eq!(f.seq, 5);
        assert!(slot.take().is_none());
        assert_eq!(slot.received(), 5);
        assert_eq!(slot.dropped(), 4);
        assert_eq!(slot.rate_limited(), 0);
    }

    #[test]
    fn a_replaced_frame_that_came_before_its_camera_was_due_is_rate_limited() {
        let slot = FrameSlot::new();
        let t0 = Instant::now();
        slot.want_from(Some(t0 + std::time::Duration::from_millis(100)));
        for (ms, pixel) in [(0u64, 1u8), (50, 2), (100, 3), (150, 4)] {
            let mut frame = Frame::from_rgb(1, 1, vec![pixel; 3]);
            frame.received_at = t0 + std::time::Duration::from_millis(ms);
            slot.put(frame);
        }
        // Replaced: the frames of 0 and 50 ms (not yet wanted) and of 100 ms (wanted).
        assert_eq!((slot.rate_limited(), slot.dropped()), (2, 1));
        assert_eq!(slot.take().map(|f| f.view().data[0]), Some(4));
        slot.want_from(None);
        slot.put(Frame::from_rgb(1, 1, vec![5; 3]));
        slot.put(Frame::from_rgb(1, 1, vec![6; 3]));
        assert_eq!((slot.rate_limited(), slot.dropped()), (2, 2));
    }
}
