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

use super::plan::{FRAC_BITS, Geometry, ONE, Tap};
use super::rows::RowReader;
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

/// Whether output channel `k` reads source channel `2 - k` (instead of `k`) of a packed source
/// pixel: the source stores B,G,R (or the YUV rows converted to R,G,B) and the model wants the
/// other order.
fn swap_for(format: PixelFormat, order: ChannelOrder) -> bool {
    (format.rgb_offsets() == [2, 1, 0]) != (order == ChannelOrder::Bgr)
}

/// The 3 colour bytes of the packed pixel at byte offset `i`.
#[inline(always)]
fn px(r: &[u8], i: usize) -> [u8; 3] {
    let s = &r[i..i + 3];
    [s[0], s[1], s[2]]
}

pub(crate) fn pad_value(resize: Resize) -> u8 {
    match resize {
        Resize::Stretch => 0,
        Resize::Letterbox { pad, .. } => pad,
    }
}

/// Per-element-type pixel producer: interpolation, channel order and normalisation.
///
/// `ONE_ROW`: the row tap's second weight is zero, so `r1` is not read; `ONE_COL`: every column
/// tap's second weight is zero, so `col.i1` is not read. Both shortcuts give bit-identical
/// results (a zero weight contributes an exact zero), they only skip the work. `SWAP`: see
/// [`swap_for`].
trait Kernel {
    type Out: Copy;
    /// Interpolated pixel, channels already in output order.
    fn pixel<const ONE_ROW: bool, const ONE_COL: bool, const SWAP: bool>(
        &self,
        r0: &[u8],
        r1: &[u8],
        col: &Tap,
        row: &Tap,
    ) -> [Self::Out; 3];
    /// Pad value per output channel.
    fn pad(&self) -> [Self::Out; 3];
}

#[inline(always)]
const fn source_channel<const SWAP: bool>(k: usize) -> usize {
    if SWAP { 2 - k } else { k }
}

struct U8Kernel {
    pad: u8,
}

impl Kernel for U8Kernel {
    type Out = u8;

    #[inline(always)]
    fn pixel<const ONE_ROW: bool, const ONE_COL: bool, const SWAP: bool>(
        &self,
        r0: &[u8],
        r1: &[u8],
        col: &Tap,
        row: &Tap,
    ) -> [u8; 3] {
        let h = |r: &[u8]| -> [u32; 3] {
            let a = px(r, col.i0).map(u32::from);
            if ONE_COL {
                a.map(|v| v * ONE)
            } else {
                let b = px(r, col.i1).map(u32::from);
                [0, 1, 2].map(|c| a[c] * col.w0 + b[c] * col.w1)
            }
        };
        let top = h(r0);
        // Max is 255 * ONE * ONE + ROUND < 2^31, and the result is <= 255.
        let acc = if ONE_ROW {
            top.map(|t| t * ONE)
        } else {
            let bot = h(r1);
            [0, 1, 2].map(|c| top[c] * row.w0 + bot[c] * row.w1)
        };
        [0, 1, 2].map(|k| ((acc[source_channel::<SWAP>(k)] + ROUND) >> SHIFT) as u8)
    }

    fn pad(&self) -> [u8; 3] {
        [self.pad; 3]
    }
}

/// Normalisation per output channel: `value = pixel * mul + add`.
struct F32Kernel {
    /// `1 / std` per output channel.
    mul: [f32; 3],
    /// `-mean / std` per output channel.
    add: [f32; 3],
    pad: [f32; 3],
}

impl F32Kernel {
    /// For a validated spec (finite non-zero `std`).
    fn new(spec: &InputSpec) -> Self {
        let (mul, add, pad) = normalisation(spec);
        F32Kernel { mul, add, pad }
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
    fn pixel<const ONE_ROW: bool, const ONE_COL: bool, const SWAP: bool>(
        &self,
        r0: &[u8],
        r1: &[u8],
        col: &Tap,
        row: &Tap,
    ) -> [f32; 3] {
        // Same operations, in the same order, as the general case (and the CUDA kernel):
        // `x * 1.0 + y * 0.0 == x` exactly for the finite non-negative values here.
        let h = |r: &[u8]| -> [f32; 3] {
            let a = px(r, col.i0).map(f32::from);
            if ONE_COL {
                a
            } else {
                let b = px(r, col.i1).map(f32::from);
                [0, 1, 2].map(|c| a[c] * col.f0 + b[c] * col.f1)
            }
        };
        let top = h(r0);
        let v = if ONE_ROW {
            top
        } else {
            let bot = h(r1);
            [0, 1, 2].map(|c| top[c] * row.f0 + bot[c] * row.f1)
        };
        [0, 1, 2].map(|k| v[source_channel::<SWAP>(k)] * self.mul[k] + self.add[k])
    }

    fn pad(&self) -> [f32; 3] {
        self.pad
    }
}

#[cfg(test)]
thread_local! {
    /// Tests turn the zero-weight shortcuts and sparse conversion off to compare both paths.
    pub(crate) static SHORTCUTS: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Whether the zero-weight shortcuts are on (always, outside tests).
#[inline(always)]
pub(crate) fn shortcuts() -> bool {
    #[cfg(test)]
    return SHORTCUTS.with(|s| s.get());
    #[cfg(not(test))]
    true
}

/// The column taps of one frame, and whether every second tap has weight zero.
struct Columns {
    taps: Vec<Tap>,
    one_col: bool,
}

impl Columns {
    fn new(taps: Vec<Tap>) -> Self {
        let one_col = taps.iter().all(|t| t.w1 == 0 && t.f1 == 0.0) && shortcuts();
        Columns { taps, one_col }
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

/// Content pixels of one row, with the zero-weight shortcuts chosen once per row.
#[inline(always)]
fn content<K: Kernel, const ONE_ROW: bool, const ONE_COL: bool, const SWAP: bool>(
    k: &K,
    g: &Geometry,
    cols: &[Tap],
    r0: &[u8],
    r1: &[u8],
    row: &Tap,
    dst: RowDst<'_, K::Out>,
) {
    match dst {
        RowDst::Nhwc(o) => {
            let content = &mut o[g.off_x * 3..(g.off_x + g.new_w) * 3];
            for (o, col) in content.chunks_exact_mut(3).zip(cols) {
                o.copy_from_slice(&k.pixel::<ONE_ROW, ONE_COL, SWAP>(r0, r1, col, row));
            }
        }
        RowDst::Nchw([o0, o1, o2]) => {
            let xs = g.off_x..g.off_x + g.new_w;
            let content = o0[xs.clone()]
                .iter_mut()
                .zip(o1[xs.clone()].iter_mut())
                .zip(o2[xs].iter_mut())
                .zip(cols);
            for (((a, b), c), col) in content {
                let px = k.pixel::<ONE_ROW, ONE_COL, SWAP>(r0, r1, col, row);
                *a = px[0];
                *b = px[1];
                *c = px[2];
            }
        }
    }
}

fn write_row<K: Kernel>(
    k: &K,
    swap: bool,
    g: &Geometry,
    cols: &Columns,
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
    let dst = match dst {
        RowDst::Nhwc(o) => {
            let (left, rest) = o.split_at_mut(g.off_x * 3);
            fill_interleaved(left, pad);
            fill_interleaved(&mut rest[g.new_w * 3..], pad);
            RowDst::Nhwc(o)
        }
        RowDst::Nchw([o0, o1, o2]) => {
            fill_outside(o0, g.off_x, g.new_w, pad[0]);
            fill_outside(o1, g.off_x, g.new_w, pad[1]);
            fill_outside(o2, g.off_x, g.new_w, pad[2]);
            RowDst::Nchw([o0, o1, o2])
        }
    };
    let one_row = row.w1 == 0 && row.f1 == 0.0 && shortcuts();
    let (r0, r1) = reader.rows(row.i0, row.i1, !one_row);
    let t = &cols.taps;
    match (one_row, cols.one_col, swap) {
        (true, true, false) => content::<K, true, true, false>(k, g, t, r0, r1, &row, dst),
        (true, false, false) => content::<K, true, false, false>(k, g, t, r0, r1, &row, dst),
        (false, true, false) => content::<K, false, true, false>(k, g, t, r0, r1, &row, dst),
        (false, false, false) => content::<K, false, false, false>(k, g, t, r0, r1, &row, dst),
        (true, true, true) => content::<K, true, true, true>(k, g, t, r0, r1, &row, dst),
        (true, false, true) => content::<K, true, false, true>(k, g, t, r0, r1, &row, dst),
        (false, true, true) => content::<K, false, true, true>(k, g, t, r0, r1, &row, dst),
        (false, false, true) => content::<K, false, false, true>(k, g, t, r0, r1, &row, dst),
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
    let cols = Columns::new(g.col_taps(step));
    let swap = swap_for(frame.format, spec.order);
    let mut reader = RowReader::new(frame, &cols.taps, step);
    let w = g.dst_w;
    match out {
        BandOut::U8(dst) => {
            let k = U8Kernel {
                pad: pad_value(spec.resize),
            };
            for_each_row(dst, rows, w, |oy, d| {
                write_row(&k, swap, g, &cols, &mut reader, oy, d)
            });
        }
        BandOut::F32(dst) => {
            let k = F32Kernel::new(spec);
            for_each_row(dst, rows, w, |oy, d| {
                write_row(&k, swap, g, &cols, &mut reader, oy, d)
            });
        }
        BandOut::F16(dst) => {
            let k = F32Kernel::new(spec);
            let mut tmp = vec![0f32; w * 3];
            for_each_row(dst, rows, w, |oy, d| match d {
                RowDst::Nhwc(o) => {
                    write_row(&k, swap, g, &cols, &mut reader, oy, RowDst::Nhwc(&mut tmp));
                    o.convert_from_f32_slice(&tmp);
                }
                RowDst::Nchw(planes) => {
                    let (t0, rest) = tmp.split_at_mut(w);
                    let (t1, t2) = rest.split_at_mut(w);
                    write_row(
                        &k,
                        swap,
                        g,
                        &cols,
                        &mut reader,
                        oy,
                        RowDst::Nchw([t0, t1, t2]),
                    );
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
