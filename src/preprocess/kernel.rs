//! The CPU inner loops: source rows (YUV rows converted on demand, two cached), per-pixel
//! bilinear kernels for U8 and F32 (F16 is F32 rounded to half precision a row at a time), and
//! the writer of a band of output rows in either layout.
//!
//! Inputs are already validated by the caller; nothing here checks or allocates per pixel. Per
//! band: one column table (`new_w` taps), two converted source rows for YUV frames, and one
//! `f32` row for F16 output.

use std::ops::Range;

use half::f16;
use half::slice::HalfFloatSliceExt;

use super::color::YuvCoefficients;
use super::plan::{FRAC_BITS, Geometry, Tap};
use super::view::{FrameView, PixelFormat};
use super::{ChannelOrder, InputSpec, Layout, Resize};

const SHIFT: u32 = 2 * FRAC_BITS;
const ROUND: u32 = 1 << (SHIFT - 1);

/// Output rows of one image in one layout: NHWC rows interleaved, or NCHW rows per plane.
pub(crate) enum Dst<'a, T> {
    Nhwc(&'a mut [T]),
    Nchw([&'a mut [T]; 3]),
}

/// A band of output rows of one element type.
pub(crate) enum BandOut<'a> {
    U8(Dst<'a, u8>),
    F16(Dst<'a, f16>),
    F32(Dst<'a, f32>),
}

/// Source byte offset per output channel: output channel `k` in `order` reads byte `perm[k]` of
/// a packed source pixel.
fn perm_for(format: PixelFormat, order: ChannelOrder) -> [usize; 3] {
    let rgb = format.rgb_offsets();
    match order {
        ChannelOrder::Rgb => rgb,
        ChannelOrder::Bgr => [rgb[2], rgb[1], rgb[0]],
    }
}

pub(crate) fn pad_value(resize: Resize) -> u8 {
    match resize {
        Resize::Stretch => 0,
        Resize::Letterbox { pad, .. } => pad,
    }
}

/// Per-element-type pixel producer: interpolation, channel order and normalisation.
trait Kernel {
    type Out: Copy;
    /// Interpolated pixel, channels already in output order.
    fn pixel(&self, r0: &[u8], r1: &[u8], col: &Tap, row: &Tap) -> [Self::Out; 3];
    /// Pad value per output channel.
    fn pad(&self) -> [Self::Out; 3];
}

struct U8Kernel {
    perm: [usize; 3],
    pad: u8,
}

impl Kernel for U8Kernel {
    type Out = u8;

    #[inline(always)]
    fn pixel(&self, r0: &[u8], r1: &[u8], col: &Tap, row: &Tap) -> [u8; 3] {
        let ch = |k: usize| -> u8 {
            let (a, b) = (r0[col.i0 + k], r0[col.i1 + k]);
            let (c, d) = (r1[col.i0 + k], r1[col.i1 + k]);
            let top = u32::from(a) * col.w0 + u32::from(b) * col.w1;
            let bot = u32::from(c) * col.w0 + u32::from(d) * col.w1;
            // Max is 255 * ONE * ONE + ROUND < 2^31, and the result is <= 255.
            ((top * row.w0 + bot * row.w1 + ROUND) >> SHIFT) as u8
        };
        [ch(self.perm[0]), ch(self.perm[1]), ch(self.perm[2])]
    }

    fn pad(&self) -> [u8; 3] {
        [self.pad; 3]
    }
}

/// Normalisation per output channel: `value = pixel * mul + add`.
struct F32Kernel {
    perm: [usize; 3],
    /// `1 / std` per output channel.
    mul: [f32; 3],
    /// `-mean / std` per output channel.
    add: [f32; 3],
    pad: [f32; 3],
}

impl F32Kernel {
    /// For a validated spec (finite non-zero `std`).
    fn new(spec: &InputSpec, format: PixelFormat) -> Self {
        let (mul, add, pad) = normalisation(spec);
        F32Kernel {
            perm: perm_for(format, spec.order),
            mul,
            add,
            pad,
        }
    }
}

/// Per output channel `(mul, add, pad)`: `value = pixel * mul + add`, and the normalised pad
/// value. The CUDA launcher passes exactly these to the kernel.
pub(crate) fn normalisation(spec: &InputSpec) -> ([f32; 3], [f32; 3], [f32; 3]) {
    let pad = f32::from(pad_value(spec.resize));
    let per = |f: &dyn Fn(usize) -> f32| [f(0), f(1), f(2)];
    (
        per(&|k| 1.0 / spec.std[k]),
        per(&|k| -spec.mean[k] / spec.std[k]),
        per(&|k| (pad - spec.mean[k]) / spec.std[k]),
    )
}

impl Kernel for F32Kernel {
    type Out = f32;

    #[inline(always)]
    fn pixel(&self, r0: &[u8], r1: &[u8], col: &Tap, row: &Tap) -> [f32; 3] {
        let ch = |out: usize| -> f32 {
            let k = self.perm[out];
            let (a, b) = (f32::from(r0[col.i0 + k]), f32::from(r0[col.i1 + k]));
            let (c, d) = (f32::from(r1[col.i0 + k]), f32::from(r1[col.i1 + k]));
            let top = a * col.f0 + b * col.f1;
            let bot = c * col.f0 + d * col.f1;
            (top * row.f0 + bot * row.f1) * self.mul[out] + self.add[out]
        };
        [ch(0), ch(1), ch(2)]
    }

    fn pad(&self) -> [f32; 3] {
        self.pad
    }
}

/// Source rows as packed pixels: direct slices of packed frames; YUV rows converted to RGB8
/// on demand, the last two kept.
struct RowReader<'a> {
    frame: FrameView<'a>,
    coeffs: YuvCoefficients,
    cache: [Vec<u8>; 2],
    keys: [usize; 2],
}

impl<'a> RowReader<'a> {
    fn new(frame: FrameView<'a>) -> Self {
        let row = if frame.format.is_yuv() {
            frame.width as usize * 3
        } else {
            0
        };
        RowReader {
            frame,
            coeffs: YuvCoefficients::new(frame.colorimetry),
            cache: [vec![0; row], vec![0; row]],
            keys: [usize::MAX; 2],
        }
    }

    /// Converts source row `y` into a cache slot other than `keep`, unless already cached.
    fn ensure(&mut self, y: usize, keep: Option<usize>) -> usize {
        if let Some(slot) = self.keys.iter().position(|&k| k == y) {
            return slot;
        }
        let slot = if keep == Some(0) { 1 } else { 0 };
        let f = &self.frame;
        let out = &mut self.cache[slot];
        match f.format {
            PixelFormat::Nv12 => self.coeffs.row_nv12(f.row(0, y), f.row(1, y / 2), out),
            _ => self
                .coeffs
                .row_i420(f.row(0, y), f.row(1, y / 2), f.row(2, y / 2), out),
        }
        self.keys[slot] = y;
        slot
    }

    fn rows(&mut self, y0: usize, y1: usize) -> (&[u8], &[u8]) {
        if !self.frame.format.is_yuv() {
            return (self.frame.row(0, y0), self.frame.row(0, y1));
        }
        let a = self.ensure(y0, None);
        let b = self.ensure(y1, Some(a));
        (&self.cache[a], &self.cache[b])
    }
}

/// One output row in either layout.
enum RowDst<'r, T> {
    Nhwc(&'r mut [T]),
    Nchw([&'r mut [T]; 3]),
}

fn fill_interleaved<T: Copy>(dst: &mut [T], px: [T; 3]) {
    for o in dst.chunks_exact_mut(3) {
        o.copy_from_slice(&px);
    }
}

/// Fills `row` outside `[start, start + len)` with `v`.
fn fill_outside<T: Copy>(row: &mut [T], start: usize, len: usize, v: T) {
    let (left, rest) = row.split_at_mut(start);
    left.fill(v);
    rest[len..].fill(v);
}

fn write_row<K: Kernel>(
    k: &K,
    g: &Geometry,
    cols: &[Tap],
    reader: &mut RowReader<'_>,
    oy: usize,
    dst: RowDst<'_, K::Out>,
) {
    let pad = k.pad();
    let Some(row) = g.row_tap(oy) else {
        match dst {
            RowDst::Nhwc(o) => fill_interleaved(o, pad),
            RowDst::Nchw([a, b, c]) => {
                a.fill(pad[0]);
                b.fill(pad[1]);
                c.fill(pad[2]);
            }
        }
        return;
    };
    let (r0, r1) = reader.rows(row.i0, row.i1);
    match dst {
        RowDst::Nhwc(o) => {
            let (left, rest) = o.split_at_mut(g.off_x * 3);
            let (content, right) = rest.split_at_mut(g.new_w * 3);
            fill_interleaved(left, pad);
            fill_interleaved(right, pad);
            for (o, col) in content.chunks_exact_mut(3).zip(cols) {
                o.copy_from_slice(&k.pixel(r0, r1, col, &row));
            }
        }
        RowDst::Nchw([o0, o1, o2]) => {
            fill_outside(o0, g.off_x, g.new_w, pad[0]);
            fill_outside(o1, g.off_x, g.new_w, pad[1]);
            fill_outside(o2, g.off_x, g.new_w, pad[2]);
            let xs = g.off_x..g.off_x + g.new_w;
            let content = o0[xs.clone()]
                .iter_mut()
                .zip(o1[xs.clone()].iter_mut())
                .zip(o2[xs].iter_mut())
                .zip(cols);
            for (((a, b), c), col) in content {
                let px = k.pixel(r0, r1, col, &row);
                *a = px[0];
                *b = px[1];
                *c = px[2];
            }
        }
    }
}

/// Calls `f(oy, row)` for each output row of the band `rows` held by `dst`.
fn for_each_row<T>(
    dst: Dst<'_, T>,
    rows: Range<usize>,
    width: usize,
    mut f: impl FnMut(usize, RowDst<'_, T>),
) {
    match dst {
        Dst::Nhwc(buf) => {
            for (oy, o) in rows.zip(buf.chunks_exact_mut(width * 3)) {
                f(oy, RowDst::Nhwc(o));
            }
        }
        Dst::Nchw([p0, p1, p2]) => {
            let planes = p0
                .chunks_exact_mut(width)
                .zip(p1.chunks_exact_mut(width))
                .zip(p2.chunks_exact_mut(width));
            for (oy, ((a, b), c)) in rows.zip(planes) {
                f(oy, RowDst::Nchw([a, b, c]));
            }
        }
    }
}

/// Writes output rows `rows` of one validated frame into `out` (exactly those rows).
pub(crate) fn write_band(
    frame: FrameView<'_>,
    spec: &InputSpec,
    g: &Geometry,
    rows: Range<usize>,
    out: BandOut<'_>,
) {
    let step = if frame.format.is_yuv() {
        3
    } else {
        frame.format.packed_bytes()
    };
    let cols = g.col_taps(step);
    let mut reader = RowReader::new(frame);
    let w = g.dst_w;
    match out {
        BandOut::U8(dst) => {
            let k = U8Kernel {
                perm: perm_for(frame.format, spec.order),
                pad: pad_value(spec.resize),
            };
            for_each_row(dst, rows, w, |oy, d| {
                write_row(&k, g, &cols, &mut reader, oy, d)
            });
        }
        BandOut::F32(dst) => {
            let k = F32Kernel::new(spec, frame.format);
            for_each_row(dst, rows, w, |oy, d| {
                write_row(&k, g, &cols, &mut reader, oy, d)
            });
        }
        BandOut::F16(dst) => {
            let k = F32Kernel::new(spec, frame.format);
            let mut tmp = vec![0f32; w * 3];
            for_each_row(dst, rows, w, |oy, d| match d {
                RowDst::Nhwc(o) => {
                    write_row(&k, g, &cols, &mut reader, oy, RowDst::Nhwc(&mut tmp));
                    o.convert_from_f32_slice(&tmp);
                }
                RowDst::Nchw(planes) => {
                    let (t0, rest) = tmp.split_at_mut(w);
                    let (t1, t2) = rest.split_at_mut(w);
                    write_row(&k, g, &cols, &mut reader, oy, RowDst::Nchw([t0, t1, t2]));
                    for (o, t) in planes.into_iter().zip([&*t0, &*t1, &*t2]) {
                        o.convert_from_f32_slice(t);
                    }
                }
            });
        }
    }
}

/// Splits one image's slot (`dst_w * dst_h * 3` elements in `layout`) into the bands `bands`
/// (consecutive row ranges covering `0..dst_h`).
pub(crate) fn split_bands<'a, T>(
    slot: &'a mut [T],
    layout: Layout,
    dst_w: usize,
    dst_h: usize,
    bands: &[Range<usize>],
) -> Vec<Dst<'a, T>> {
    let mut out = Vec::with_capacity(bands.len());
    match layout {
        Layout::Nhwc => {
            let mut rest = slot;
            for b in bands {
                let (head, tail) = rest.split_at_mut(b.len() * dst_w * 3);
                out.push(Dst::Nhwc(head));
                rest = tail;
            }
        }
        Layout::Nchw => {
            let plane = dst_w * dst_h;
            let (p0, rest) = slot.split_at_mut(plane);
            let (p1, p2) = rest.split_at_mut(plane);
            let mut planes = [p0, p1, p2];
            for b in bands {
                let n = b.len() * dst_w;
                let [a, bb, c] = planes;
                let (a0, a1) = a.split_at_mut(n);
                let (b0, b1) = bb.split_at_mut(n);
                let (c0, c1) = c.split_at_mut(n);
                out.push(Dst::Nchw([a0, b0, c0]));
                planes = [a1, b1, c1];
            }
        }
    }
    out
}
