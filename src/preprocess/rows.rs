//! Source rows for the kernels, as packed pixels: direct slices of packed frames; YUV rows
//! converted to RGB8 on demand into one of two cached rows.
//!
//! Only what the kernels read is converted: when the column taps touch less than half of a
//! row (downscaling; e.g. 1920 → 640 samples one column in three), just those columns are
//! converted, pixel by pixel; otherwise the whole row, pair by pair. A second row whose weight
//! is zero is not converted at all. The bytes the kernels read are the same either way.

use super::color::YuvTables;
use super::plan::Tap;
use super::view::{FrameView, PixelFormat};

pub(crate) struct RowReader<'a> {
    frame: FrameView<'a>,
    tables: Box<YuvTables>,
    cache: [Vec<u8>; 2],
    keys: [usize; 2],
    /// Source columns to convert, when converting whole rows would do needless work.
    sparse: Option<Vec<usize>>,
}

impl<'a> RowReader<'a> {
    /// A reader for `frame`; `cols` are the column taps (offsets in units of `step` bytes).
    pub(crate) fn new(frame: FrameView<'a>, cols: &[Tap], step: usize) -> Self {
        let yuv = frame.format.is_yuv();
        let width = frame.width as usize;
        let row = if yuv { width * 3 } else { 0 };
        let sparse = yuv
            .then(|| needed_columns(cols, step))
            .filter(|c| c.len() * 2 < width && super::kernel::shortcuts());
        RowReader {
            frame,
            tables: YuvTables::new(frame.colorimetry),
            cache: [vec![0; row], vec![0; row]],
            keys: [usize::MAX; 2],
            sparse,
        }
    }

    /// Converts source row `y` into a cache slot other than `keep`, unless already cached.
    fn ensure(&mut self, y: usize, keep: Option<usize>) -> usize {
        if let Some(slot) = self.keys.iter().position(|&k| k == y) {
            return slot;
        }
        let slot = if keep == Some(0) { 1 } else { 0 };
        let f = &self.frame;
        let c = &self.tables;
        let out = &mut self.cache[slot];
        let luma = f.row(0, y);
        match (f.format, &self.sparse) {
            (PixelFormat::Nv12, None) => c.row_nv12(luma, f.row(1, y / 2), out),
            (PixelFormat::Nv12, Some(xs)) => {
                let uv = f.row(1, y / 2);
                for &x in xs {
                    let px = c.pixel(luma[x], uv[x / 2 * 2], uv[x / 2 * 2 + 1]);
                    out[x * 3..x * 3 + 3].copy_from_slice(&px);
                }
            }
            (_, None) => c.row_i420(luma, f.row(1, y / 2), f.row(2, y / 2), out),
            (_, Some(xs)) => {
                let (u, v) = (f.row(1, y / 2), f.row(2, y / 2));
                for &x in xs {
                    let px = c.pixel(luma[x], u[x / 2], v[x / 2]);
                    out[x * 3..x * 3 + 3].copy_from_slice(&px);
                }
            }
        }
        self.keys[slot] = y;
        slot
    }

    /// Source rows `y0` and `y1` as packed pixels; with `need_y1 == false` (its weight is
    /// zero) the second is the first again.
    pub(crate) fn rows(&mut self, y0: usize, y1: usize, need_y1: bool) -> (&[u8], &[u8]) {
        if !self.frame.format.is_yuv() {
            let r0 = self.frame.row(0, y0);
            return (r0, if need_y1 { self.frame.row(0, y1) } else { r0 });
        }
        let a = self.ensure(y0, None);
        let b = if need_y1 { self.ensure(y1, Some(a)) } else { a };
        (&self.cache[a], &self.cache[b])
    }
}

/// Source pixel columns the taps read with a non-zero weight, ascending, without repeats.
fn needed_columns(cols: &[Tap], step: usize) -> Vec<usize> {
    let mut xs: Vec<usize> = Vec::with_capacity(cols.len() * 2);
    for t in cols {
        xs.push(t.i0 / step);
        if t.w1 != 0 || t.f1 != 0.0 {
            xs.push(t.i1 / step);
        }
    }
    xs.sort_unstable();
    xs.dedup();
    xs
}
