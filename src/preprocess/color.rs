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

    /// One pixel: luma `y`, chroma `u`, `v` → `[R, G, B]` (the contract, written out).
    pub fn pixel(&self, y: u8, u: u8, v: u8) -> [u8; 3] {
        let c = self.y_mul * (i32::from(y) - self.y_offset) + (1 << (YUV_FRAC_BITS - 1));
        let (u, v) = (i32::from(u) - 128, i32::from(v) - 128);
        let ch = |t: i32| (t >> YUV_FRAC_BITS).clamp(0, 255) as u8;
        [
            ch(c + self.r_v * v),
            ch(c - self.g_u * u - self.g_v * v),
            ch(c + self.b_u * u),
        ]
    }
}

/// Offset of zero in [`YuvTables::clip`]; `(t >> 16)` lies in `-289..=549` for every matrix and
/// range here, well inside `-CLIP_ZERO..1024 - CLIP_ZERO`.
const CLIP_ZERO: i32 = 384;

/// The contract as lookup tables: every product precomputed per 8-bit value, and the clamp to
/// 0..=255 as a table indexed by `(t >> 16) + CLIP_ZERO`. Branch-free per pixel, so frames cost
/// the same whatever their content; results are identical to [`YuvCoefficients::pixel`].
pub(crate) struct YuvTables {
    /// `y_mul * (Y - y_offset) + 2^15`.
    y: [i32; 256],
    r_v: [i32; 256],
    g_u: [i32; 256],
    g_v: [i32; 256],
    b_u: [i32; 256],
    clip: [u8; 1024],
}

impl YuvTables {
    pub(crate) fn new(c: Colorimetry) -> Box<Self> {
        let k = YuvCoefficients::new(c);
        let per = |f: &dyn Fn(i32) -> i32| -> [i32; 256] { std::array::from_fn(|i| f(i as i32)) };
        Box::new(YuvTables {
            y: per(&|v| k.y_mul * (v - k.y_offset) + (1 << (YUV_FRAC_BITS - 1))),
            r_v: per(&|v| k.r_v * (v - 128)),
            g_u: per(&|v| k.g_u * (v - 128)),
            g_v: per(&|v| k.g_v * (v - 128)),
            b_u: per(&|v| k.b_u * (v - 128)),
            clip: std::array::from_fn(|i| (i as i32 - CLIP_ZERO).clamp(0, 255) as u8),
        })
    }

    #[inline(always)]
    fn clip(&self, t: i32) -> u8 {
        self.clip[((t >> YUV_FRAC_BITS) + CLIP_ZERO) as usize & 1023]
    }

    /// One pixel, as [`YuvCoefficients::pixel`].
    #[inline(always)]
    pub(crate) fn pixel(&self, y: u8, u: u8, v: u8) -> [u8; 3] {
        let (u, v) = (usize::from(u), usize::from(v));
        let (rv, guv, bu) = (self.r_v[v], -self.g_u[u] - self.g_v[v], self.b_u[u]);
        let c = self.y[usize::from(y)];
        [self.clip(c + rv), self.clip(c + guv), self.clip(c + bu)]
    }

    /// Converts a row: `y` (width samples), one `(u, v)` per pixel pair, into `out`
    /// (width * 3 bytes, R,G,B).
    #[inline(always)]
    fn row(&self, y: &[u8], chroma: impl Iterator<Item = (u8, u8)>, out: &mut [u8]) {
        let mut chroma = chroma;
        let pairs = y.chunks_exact(2).zip(out.chunks_exact_mut(6));
        for ((ys, o), (u, v)) in pairs.zip(&mut chroma) {
            let (u, v) = (usize::from(u), usize::from(v));
            let (rv, guv, bu) = (self.r_v[v], -self.g_u[u] - self.g_v[v], self.b_u[u]);
            let (c0, c1) = (self.y[usize::from(ys[0])], self.y[usize::from(ys[1])]);
            o.copy_from_slice(&[
                self.clip(c0 + rv),
                self.clip(c0 + guv),
                self.clip(c0 + bu),
                self.clip(c1 + rv),
                self.clip(c1 + guv),
                self.clip(c1 + bu),
            ]);
        }
        if let (Some(&last), Some((u, v))) = (y.chunks_exact(2).remainder().first(), chroma.next())
        {
            let n = y.len() - 1;
            out[n * 3..n * 3 + 3].copy_from_slice(&self.pixel(last, u, v));
        }
    }

    /// NV12 row: `y` (width bytes), `uv` (interleaved, `2 * ceil(width / 2)` bytes) → `out`
    /// (width * 3 bytes, R,G,B).
    pub(crate) fn row_nv12(&self, y: &[u8], uv: &[u8], out: &mut [u8]) {
        self.row(y, uv.chunks_exact(2).map(|c| (c[0], c[1])), out);
    }

    /// I420 row: `y` (width bytes), `u` and `v` (`ceil(width / 2)` bytes each) → `out`.
    pub(crate) fn row_i420(&self, y: &[u8], u: &[u8], v: &[u8], out: &mut [u8]) {
        self.row(y, u.iter().copied().zip(v.iter().copied()), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tables give exactly the contract's integer arithmetic, for every input.
    #[test]
    fn tables_equal_the_formula_for_all_inputs() {
        for matrix in [YuvMatrix::Bt601, YuvMatrix::Bt709] {
            for range in [YuvRange::Limited, YuvRange::Full] {
                let c = Colorimetry { matrix, range };
                let (k, t) = (YuvCoefficients::new(c), YuvTables::new(c));
                for y in 0..=255u8 {
                    for u in 0..=255u8 {
                        for v in (0..=255u8).step_by(5) {
                            assert_eq!(t.pixel(y, u, v), k.pixel(y, u, v), "{c:?} {y} {u} {v}");
                        }
                    }
                }
            }
        }
    }
}
