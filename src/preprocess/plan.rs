//! Geometry of one frame → model-input mapping, and bilinear taps.
//!
//! Shared by the CPU implementation and the CUDA launcher (which passes the same numbers to the
//! kernel), so both place content, padding and sample positions identically.

use super::{InputSpec, Resize, Transform};

/// Fixed-point fraction bits for one U8 interpolation axis.
pub const FRAC_BITS: u32 = 11;
/// Fixed-point one for one axis.
pub const ONE: u32 = 1 << FRAC_BITS;

/// Where a source frame's content lands in the model input, and the resampling ratios.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Geometry {
    pub src_w: usize,
    pub src_h: usize,
    /// Model input size.
    pub dst_w: usize,
    pub dst_h: usize,
    /// Scaled content size (the whole input for [`Resize::Stretch`]).
    pub new_w: usize,
    pub new_h: usize,
    /// Top-left corner of the content in model pixels.
    pub off_x: usize,
    pub off_y: usize,
    /// Source pixels per content pixel, horizontally and vertically.
    pub inv_sx: f64,
    pub inv_sy: f64,
}

impl Geometry {
    /// Geometry for a `src_w x src_h` frame (both > 0) into `spec` (size > 0).
    pub fn new(src_w: u32, src_h: u32, spec: &InputSpec) -> Self {
        let sw = src_w as usize;
        let sh = src_h as usize;
        let dw = spec.width as usize;
        let dh = spec.height as usize;
        let (new_w, new_h, off_x, off_y) = match spec.resize {
            Resize::Stretch => (dw, dh, 0, 0),
            Resize::Letterbox { center, .. } => {
                let s = f64::min(dw as f64 / sw as f64, dh as f64 / sh as f64);
                let nw = ((sw as f64 * s).round() as usize).clamp(1, dw);
                let nh = ((sh as f64 * s).round() as usize).clamp(1, dh);
                if center {
                    (nw, nh, (dw - nw) / 2, (dh - nh) / 2)
                } else {
                    (nw, nh, 0, 0)
                }
            }
        };
        Geometry {
            src_w: sw,
            src_h: sh,
            dst_w: dw,
            dst_h: dh,
            new_w,
            new_h,
            off_x,
            off_y,
            inv_sx: sw as f64 / new_w as f64,
            inv_sy: sh as f64 / new_h as f64,
        }
    }

    /// The mapping from model pixels back to source pixels.
    pub fn transform(&self) -> Transform {
        Transform {
            scale_x: (self.new_w as f64 / self.src_w as f64) as f32,
            scale_y: (self.new_h as f64 / self.src_h as f64) as f32,
            offset_x: self.off_x as f32,
            offset_y: self.off_y as f32,
            src_width: self.src_w as u32,
            src_height: self.src_h as u32,
        }
    }

    /// Row tap for model row `oy`, or `None` in the padding.
    pub fn row_tap(&self, oy: usize) -> Option<Tap> {
        (oy >= self.off_y && oy < self.off_y + self.new_h)
            .then(|| tap(oy - self.off_y, self.inv_sy, self.src_h))
    }

    /// Column taps for the content columns, with `i0`/`i1` multiplied by `step` (bytes per
    /// source pixel), so they index a packed source row directly.
    pub fn col_taps(&self, step: usize) -> Vec<Tap> {
        (0..self.new_w)
            .map(|x| {
                let t = tap(x, self.inv_sx, self.src_w);
                Tap {
                    i0: t.i0 * step,
                    i1: t.i1 * step,
                    ..t
                }
            })
            .collect()
    }
}

/// Two source taps and their weights along one axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tap {
    /// First tap (pixel index for rows, byte offset for columns).
    pub i0: usize,
    /// Second tap (same unit as `i0`).
    pub i1: usize,
    /// Fixed-point weights, `w0 + w1 == ONE`.
    pub w0: u32,
    pub w1: u32,
    /// Float weights, `f0 + f1 == 1`.
    pub f0: f32,
    pub f1: f32,
}

/// Bilinear tap for destination index `dst` (relative to the content origin):
/// `s = clamp((dst + 0.5) * inv_scale - 0.5, 0, src_len - 1)`, taps `floor(s)` and the next
/// (clamped), weight of the second `s - floor(s)` (U8: rounded to [`FRAC_BITS`] bits).
pub fn tap(dst: usize, inv_scale: f64, src_len: usize) -> Tap {
    let last = src_len - 1;
    let s = ((dst as f64 + 0.5) * inv_scale - 0.5).clamp(0.0, last as f64);
    let i0 = (s.floor() as usize).min(last);
    let i1 = (i0 + 1).min(last);
    let f = s - i0 as f64;
    let w1 = ((f * f64::from(ONE)).round() as u32).min(ONE);
    Tap {
        i0,
        i1,
        w0: ONE - w1,
        w1,
        f0: (1.0 - f) as f32,
        f1: f as f32,
    }
}
