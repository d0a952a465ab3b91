//! YUV 4:2:0 → packed RGB8, one row at a time, in 16-bit fixed point.
//!
//! The contract (shared with the CUDA kernel, which gets the same [`YuvCoefficients`] and does
//! the same integer arithmetic, so both produce identical bytes): chroma is sampled at the
//! nearest site (pixel `(x, y)` uses chroma sample `(x / 2, y / 2)`), and
//!
//! ```text
//! c  = y_mul * (Y - y_offset) + 2^15
//! R  = clamp((c + r_v * (V - 128)) >> 16, 0, 255)
//! G  = clamp((c - g_u * (U - 128) - g_v * (V - 128)) >> 16, 0, 255)
//! B  = clamp((c + b_u * (U - 128)) >> 16, 0, 255)
//! ```
//!
//! with the coefficients derived from the matrix's `Kr`, `Kb` and the range (limited: Y scaled by
//! 255/219 after subtracting 16, chroma by 255/224; full: unscaled), rounded to 16 fraction
//! bits. That is within 0.5 + 0.01 levels of the exact real conversion.

use super::view::{Colorimetry, YuvMatrix, YuvRange};

/// Fraction bits of [`YuvCoefficients`].
pub const YUV_FRAC_BITS: u32 = 16;

/// Fixed-point YUV → RGB coefficients (see the module docs for how they are applied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YuvCoefficients {
    pub y_offset: i32,
    pub y_mul: i32,
    pub r_v: i32,
    pub g_u: i32,
    pub g_v: i32,
    pub b_u: i32,
}

impl YuvCoefficients {
    /// Coefficients for `c`.
    pub fn new(c: Colorimetry) -> Self {
        let (kr, kb) = match c.matrix {
            YuvMatrix::Bt601 => (0.299, 0.114),
            YuvMatrix::Bt709 => (0.2126, 0.0722),
        };
        let kg = 1.0 - kr - kb;
        let (y_offset, y_scale, c_scale) = match c.range {
            YuvRange::Limited => (16, 255.0 / 219.0, 255.0 / 224.0),
            YuvRange::Full => (0, 1.0, 1.0),
        };
        let fixed = |v: f64| (v * f64::from(1u32 << YUV_FRAC_BITS)).round() as i32;
        YuvCoefficients {
            y_offset,
            y_mul: fixed(y_scale),
            r_v: fixed(c_scale * 2.0 * (1.0 - kr)),
            g_u: fixed(c_scale * 2.0 * (1.0 - kb) * kb / kg),
            g_v: fixed(c_scale * 2.0 * (1.0 - kr) * kr / kg),
            b_u: fixed(c_scale * 2.0 * (1.0 - kb)),
        }
    }

    /// One pixel: luma `y`, chroma `u`, `v` → `[R, G, B]`.
    #[inline(always)]
    pub fn pixel(&self, y: u8, u: u8, v: u8) -> [u8; 3] {
        let c = self.y_mul * (i32::from(y) - self.y_offset) + (1 << (YUV_FRAC_BITS - 1));
        let (rv, guv, bu) = self.chroma(u, v);
        Self::finish(c, rv, guv, bu)
    }

    #[inline(always)]
    fn chroma(&self, u: u8, v: u8) -> (i32, i32, i32) {
        let (u, v) = (i32::from(u) - 128, i32::from(v) - 128);
        (self.r_v * v, -self.g_u * u - self.g_v * v, self.b_u * u)
    }

    #[inline(always)]
    fn finish(c: i32, rv: i32, guv: i32, bu: i32) -> [u8; 3] {
        let ch = |t: i32| (t >> YUV_FRAC_BITS).clamp(0, 255) as u8;
        [ch(c + rv), ch(c + guv), ch(c + bu)]
    }

    /// Converts one row: `y` (width samples), `u`/`v` sample `k` at `u[k * step]`/`v[k * step]`
    /// (NV12: the interleaved plane with step 2; I420: the U and V planes with step 1), into
    /// `out` (width * 3 bytes, R,G,B).
    #[inline(always)]
    fn row(&self, y: &[u8], u: &[u8], v: &[u8], step: usize, out: &mut [u8]) {
        let half = (1 << (YUV_FRAC_BITS - 1)) - self.y_mul * self.y_offset;
        let pairs = y.chunks_exact(2).zip(out.chunks_exact_mut(6));
        for (k, (ys, o)) in pairs.enumerate() {
            let (rv, guv, bu) = self.chroma(u[k * step], v[k * step]);
            let c0 = self.y_mul * i32::from(ys[0]) + half;
            let c1 = self.y_mul * i32::from(ys[1]) + half;
            o[..3].copy_from_slice(&Self::finish(c0, rv, guv, bu));
            o[3..].copy_from_slice(&Self::finish(c1, rv, guv, bu));
        }
        if y.len() % 2 == 1 {
            let k = y.len() / 2;
            let last = y.len() - 1;
            out[last * 3..last * 3 + 3].copy_from_slice(&self.pixel(
                y[last],
                u[k * step],
                v[k * step],
            ));
        }
    }

    /// NV12 row: `y` (width bytes), `uv` (interleaved, `2 * ceil(width / 2)` bytes) → `out`.
    pub fn row_nv12(&self, y: &[u8], uv: &[u8], out: &mut [u8]) {
        let (u, v) = (uv, &uv[1..]);
        self.row(y, u, v, 2, out);
    }

    /// I420 row: `y` (width bytes), `u` and `v` (`ceil(width / 2)` bytes each) → `out`.
    pub fn row_i420(&self, y: &[u8], u: &[u8], v: &[u8], out: &mut [u8]) {
        self.row(y, u, v, 1, out);
    }
}
