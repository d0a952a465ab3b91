//! CPU preprocessing: packed RGB8 frame → model input tensor (the reference implementation).
//!
//! Inputs: a borrowed [`RgbView`] (packed RGB8, rows `stride` bytes apart), an [`InputSpec`]
//! describing the model's input tensor (size, layout, channel order, element type, resize mode,
//! normalisation) and a [`TensorSlot`] holding exactly one batch slot of the tensor.
//!
//! Output: the slot is completely overwritten (resampled image plus letterbox padding) and a
//! [`Transform`] is returned that maps model-input pixel coordinates back to source pixels.
//!
//! Resampling is bilinear and pixel-centre aligned: `src = (dst + 0.5) / scale - 0.5`, clamped to
//! the image, with the edge pixel repeated. U8 output uses 11-bit fixed-point weights and rounds to
//! nearest (within ±1 level of exact arithmetic); F32 output interpolates in `f32`.
//!
//! Failure: every check runs before anything is written, so on `Err` the slot is left untouched.
//! Bad input (zero-size image, short stride or data, wrong slot length or element type, unusable
//! `std`) yields a [`PreprocessError`] naming the numbers involved; nothing panics on bad input.
//! The only allocation per call is one small per-column table (`spec.width` entries).

use std::fmt;

/// A borrowed packed RGB8 image (3 bytes per pixel, rows `stride` bytes apart, stride >= width*3).
///
/// `data` must hold at least `(height - 1) * stride + width * 3` bytes; the bytes past
/// `width * 3` in each row are ignored.
#[derive(Clone, Copy, Debug)]
pub struct RgbView<'a> {
    /// Pixel bytes, R, G, B per pixel, row after row.
    pub data: &'a [u8],
    /// Width in pixels (must be > 0).
    pub width: u32,
    /// Height in pixels (must be > 0).
    pub height: u32,
    /// Distance in bytes between the starts of consecutive rows (>= `width * 3`).
    pub stride: usize,
}

/// Memory layout of the model input tensor (batch dimension excluded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Planar: all of channel 0, then channel 1, then channel 2 (`[3, H, W]`).
    Nchw,
    /// Interleaved: the 3 channels of each pixel are adjacent (`[H, W, 3]`).
    Nhwc,
}

/// Channel order the model expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelOrder {
    /// Red, green, blue (same as the source).
    Rgb,
    /// Blue, green, red (channels swapped relative to the source).
    Bgr,
}

/// Element type of the model input tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElementType {
    /// Unsigned 8-bit pixels 0..=255; `mean`/`std` are ignored.
    U8,
    /// 32-bit floats, normalised with `mean`/`std`.
    F32,
}

impl ElementType {
    fn name(self) -> &'static str {
        match self {
            ElementType::U8 => "u8",
            ElementType::F32 => "f32",
        }
    }
}

/// How the source frame is fitted into the model input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Resize {
    /// Scale x and y independently to fill the input.
    Stretch,
    /// Keep aspect ratio; scale = min(W/w, H/h); image placed at top-left (YOLOX) or centred; rest filled with `pad`.
    ///
    /// The scaled content is `round(w * scale) x round(h * scale)` pixels (at least 1, at most
    /// the input size); the per-axis effective scales `new_w / w` and `new_h / h` are what the
    /// resampler and the returned [`Transform`] use. When centred, the offset is
    /// `(W - new_w) / 2` and `(H - new_h) / 2`, rounded down.
    Letterbox {
        /// Pad value in pixel units (0..=255); for F32 it is normalised like a pixel.
        pad: u8,
        /// `false`: content at the top-left corner; `true`: content centred.
        center: bool,
    },
}

/// What the model's input tensor wants.
#[derive(Clone, Debug, PartialEq)]
pub struct InputSpec {
    /// Model input width in pixels (must be > 0).
    pub width: u32,
    /// Model input height in pixels (must be > 0).
    pub height: u32,
    /// Tensor layout.
    pub layout: Layout,
    /// Channel order.
    pub order: ChannelOrder,
    /// Element type; must match the [`TensorSlot`] variant passed to [`preprocess_into`].
    pub dtype: ElementType,
    /// Resize mode.
    pub resize: Resize,
    /// Applied for F32 only: value = (pixel - mean[c]) / std[c] (pixel in 0..255, channel c in `order`). mean 0 and std 1 give raw 0..255.
    pub mean: [f32; 3],
    /// Per-channel divisor (channel index in `order`); must be finite and non-zero for F32.
    pub std: [f32; 3],
}

impl InputSpec {
    /// Number of tensor elements for one image: `width * height * 3` (saturating).
    pub fn elements(&self) -> usize {
        (self.width as usize)
            .saturating_mul(self.height as usize)
            .saturating_mul(3)
    }
}

/// Maps model-input pixel coordinates back to source-frame pixels: src_x = (x - offset_x) / scale_x, same for y.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transform {
    /// Model pixels per source pixel, horizontally.
    pub scale_x: f32,
    /// Model pixels per source pixel, vertically.
    pub scale_y: f32,
    /// Horizontal position of the source image's left edge in model pixels.
    pub offset_x: f32,
    /// Vertical position of the source image's top edge in model pixels.
    pub offset_y: f32,
    /// Source frame width in pixels (clamp bound).
    pub src_width: u32,
    /// Source frame height in pixels (clamp bound).
    pub src_height: u32,
}

impl Transform {
    /// Box (x1,y1,x2,y2) in model-input pixels → source pixels, clamped to [0,src_width]x[0,src_height].
    ///
    /// Never panics; NaN coordinates stay NaN (callers should treat such boxes as degenerate).
    pub fn to_source(&self, b: [f32; 4]) -> [f32; 4] {
        let w = self.src_width as f32;
        let h = self.src_height as f32;
        [
            ((b[0] - self.offset_x) / self.scale_x).clamp(0.0, w),
            ((b[1] - self.offset_y) / self.scale_y).clamp(0.0, h),
            ((b[2] - self.offset_x) / self.scale_x).clamp(0.0, w),
            ((b[3] - self.offset_y) / self.scale_y).clamp(0.0, h),
        ]
    }
}

/// One batch tensor slot's worth of data. Element count = width*height*3.
#[derive(Debug)]
pub enum TensorSlot<'a> {
    /// Destination for [`ElementType::U8`] specs.
    U8(&'a mut [u8]),
    /// Destination for [`ElementType::F32`] specs.
    F32(&'a mut [f32]),
}

impl TensorSlot<'_> {
    fn len(&self) -> usize {
        match self {
            TensorSlot::U8(s) => s.len(),
            TensorSlot::F32(s) => s.len(),
        }
    }

    fn dtype(&self) -> ElementType {
        match self {
            TensorSlot::U8(_) => ElementType::U8,
            TensorSlot::F32(_) => ElementType::F32,
        }
    }
}

/// Why [`preprocess_into`] refused to run. The destination slot is untouched in every case.
#[derive(Clone, Debug, PartialEq)]
pub enum PreprocessError {
    /// The source image has zero width or height.
    EmptyImage {
        /// Source width.
        width: u32,
        /// Source height.
        height: u32,
    },
    /// The spec asks for a zero-width or zero-height model input.
    EmptyTarget {
        /// Spec width.
        width: u32,
        /// Spec height.
        height: u32,
    },
    /// The row stride is smaller than `width * 3`.
    StrideTooSmall {
        /// Given stride in bytes.
        stride: usize,
        /// Source width in pixels.
        width: u32,
        /// Minimum stride (`width * 3`).
        min_stride: usize,
    },
    /// The pixel buffer is shorter than `(height - 1) * stride + width * 3`.
    DataTooShort {
        /// Bytes available.
        len: usize,
        /// Bytes required.
        needed: usize,
        /// Source width.
        width: u32,
        /// Source height.
        height: u32,
        /// Row stride.
        stride: usize,
    },
    /// The slot's element type differs from `spec.dtype`.
    WrongDtype {
        /// What the spec asks for.
        expected: ElementType,
        /// What the slot holds.
        got: ElementType,
    },
    /// The slot does not hold exactly `spec.elements()` elements.
    WrongSlotLength {
        /// `spec.elements()`.
        expected: usize,
        /// Slot length.
        got: usize,
        /// Spec width.
        width: u32,
        /// Spec height.
        height: u32,
    },
    /// An F32 spec has a zero or non-finite `std` entry.
    InvalidStd {
        /// Channel index (in `spec.order`).
        channel: usize,
        /// The offending value.
        std: f32,
    },
}

impl fmt::Display for PreprocessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PreprocessError::EmptyImage { width, height } => {
                write!(f, "source image has zero size: {width}x{height}")
            }
            PreprocessError::EmptyTarget { width, height } => {
                write!(f, "model input spec has zero size: {width}x{height}")
            }
            PreprocessError::StrideTooSmall {
                stride,
                width,
                min_stride,
            } => write!(
                f,
                "row stride {stride} is smaller than {min_stride} bytes (width {width} x 3)"
            ),
            PreprocessError::DataTooShort {
                len,
                needed,
                width,
                height,
                stride,
            } => write!(
                f,
                "image data holds {len} bytes but {width}x{height} with stride {stride} needs {needed}"
            ),
            PreprocessError::WrongDtype { expected, got } => write!(
                f,
                "tensor slot holds {} elements but the spec wants {}",
                got.name(),
                expected.name()
            ),
            PreprocessError::WrongSlotLength {
                expected,
                got,
                width,
                height,
            } => write!(
                f,
                "tensor slot holds {got} elements but a {width}x{height}x3 input needs {expected}"
            ),
            PreprocessError::InvalidStd { channel, std } => write!(
                f,
                "std for channel {channel} is {std}; it must be finite and non-zero"
            ),
        }
    }
}

impl std::error::Error for PreprocessError {}

/// Fixed-point fraction bits for one U8 interpolation axis.
const FRAC_BITS: u32 = 11;
const ONE: u32 = 1 << FRAC_BITS;
const SHIFT: u32 = 2 * FRAC_BITS;
const ROUND: u32 = 1 << (SHIFT - 1);

/// Two source taps and their weights along one axis.
#[derive(Clone, Copy, Debug)]
struct Tap {
    /// First tap (pixel index for rows, byte offset for columns).
    i0: usize,
    /// Second tap (same unit as `i0`).
    i1: usize,
    /// Fixed-point weights, `w0 + w1 == ONE`.
    w0: u32,
    w1: u32,
    /// Float weights, `f0 + f1 == 1`.
    f0: f32,
    f1: f32,
}

/// Bilinear tap for destination index `dst` (relative to the content origin).
fn tap(dst: usize, inv_scale: f64, src_len: usize) -> Tap {
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

/// Everything derived from (source size, spec) once per call.
struct Plan<'a> {
    src: RgbView<'a>,
    dst_w: usize,
    dst_h: usize,
    new_w: usize,
    new_h: usize,
    off_x: usize,
    off_y: usize,
    /// Source rows per content row.
    inv_sy: f64,
    /// Per content column, taps as byte offsets into a source row.
    cols: Vec<Tap>,
}

impl<'a> Plan<'a> {
    fn new(src: RgbView<'a>, spec: &InputSpec) -> Self {
        let sw = src.width as usize;
        let sh = src.height as usize;
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
        let inv_sx = sw as f64 / new_w as f64;
        let cols = (0..new_w)
            .map(|x| {
                let t = tap(x, inv_sx, sw);
                Tap {
                    i0: t.i0 * 3,
                    i1: t.i1 * 3,
                    ..t
                }
            })
            .collect();
        Plan {
            src,
            dst_w: dw,
            dst_h: dh,
            new_w,
            new_h,
            off_x,
            off_y,
            inv_sy: sh as f64 / new_h as f64,
            cols,
        }
    }

    fn transform(&self) -> Transform {
        Transform {
            scale_x: (self.new_w as f64 / f64::from(self.src.width)) as f32,
            scale_y: (self.new_h as f64 / f64::from(self.src.height)) as f32,
            offset_x: self.off_x as f32,
            offset_y: self.off_y as f32,
            src_width: self.src.width,
            src_height: self.src.height,
        }
    }

    /// Content rows `[off_y, off_y + new_h)`; returns the row tap and the two source rows.
    fn rows(&self, oy: usize) -> Option<(Tap, &'a [u8], &'a [u8])> {
        if oy < self.off_y || oy >= self.off_y + self.new_h {
            return None;
        }
        let t = tap(oy - self.off_y, self.inv_sy, self.src.height as usize);
        let row_bytes = self.src.width as usize * 3;
        let data = self.src.data;
        let r0 = &data[t.i0 * self.src.stride..][..row_bytes];
        let r1 = &data[t.i1 * self.src.stride..][..row_bytes];
        Some((t, r0, r1))
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

fn perm_for(order: ChannelOrder) -> [usize; 3] {
    match order {
        ChannelOrder::Rgb => [0, 1, 2],
        ChannelOrder::Bgr => [2, 1, 0],
    }
}

fn pad_value(resize: Resize) -> u8 {
    match resize {
        Resize::Stretch => 0,
        Resize::Letterbox { pad, .. } => pad,
    }
}

struct U8Kernel {
    perm: [usize; 3],
    pad: u8,
}

impl Kernel for U8Kernel {
    type Out = u8;

    #[inline(always)]
    fn pixel(&self, r0: &[u8], r1: &[u8], col: &Tap, row: &Tap) -> [u8; 3] {
        let a = &r0[col.i0..col.i0 + 3];
        let b = &r0[col.i1..col.i1 + 3];
        let c = &r1[col.i0..col.i0 + 3];
        let d = &r1[col.i1..col.i1 + 3];
        let ch = |k: usize| -> u8 {
            let top = u32::from(a[k]) * col.w0 + u32::from(b[k]) * col.w1;
            let bot = u32::from(c[k]) * col.w0 + u32::from(d[k]) * col.w1;
            // Max is 255 * ONE * ONE + ROUND < 2^31, and the result is <= 255.
            ((top * row.w0 + bot * row.w1 + ROUND) >> SHIFT) as u8
        };
        [ch(self.perm[0]), ch(self.perm[1]), ch(self.perm[2])]
    }

    fn pad(&self) -> [u8; 3] {
        [self.pad; 3]
    }
}

struct F32Kernel {
    perm: [usize; 3],
    /// `1 / std` per output channel.
    mul: [f32; 3],
    /// `-mean / std` per output channel.
    add: [f32; 3],
    pad: [f32; 3],
}

impl F32Kernel {
    fn new(spec: &InputSpec) -> Result<Self, PreprocessError> {
        for (channel, &std) in spec.std.iter().enumerate() {
            if !std.is_finite() || std == 0.0 {
                return Err(PreprocessError::InvalidStd { channel, std });
            }
        }
        let pad = f32::from(pad_value(spec.resize));
        let per = |f: &dyn Fn(usize) -> f32| [f(0), f(1), f(2)];
        Ok(F32Kernel {
            perm: perm_for(spec.order),
            mul: per(&|k| 1.0 / spec.std[k]),
            add: per(&|k| -spec.mean[k] / spec.std[k]),
            pad: per(&|k| (pad - spec.mean[k]) / spec.std[k]),
        })
    }
}

impl Kernel for F32Kernel {
    type Out = f32;

    #[inline(always)]
    fn pixel(&self, r0: &[u8], r1: &[u8], col: &Tap, row: &Tap) -> [f32; 3] {
        let a = &r0[col.i0..col.i0 + 3];
        let b = &r0[col.i1..col.i1 + 3];
        let c = &r1[col.i0..col.i0 + 3];
        let d = &r1[col.i1..col.i1 + 3];
        let ch = |out: usize| -> f32 {
            let k = self.perm[out];
            let top = f32::from(a[k]) * col.f0 + f32::from(b[k]) * col.f1;
            let bot = f32::from(c[k]) * col.f0 + f32::from(d[k]) * col.f1;
            (top * row.f0 + bot * row.f1) * self.mul[out] + self.add[out]
        };
        [ch(0), ch(1), ch(2)]
    }

    fn pad(&self) -> [f32; 3] {
        self.pad
    }
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

fn write_nhwc<K: Kernel>(k: &K, plan: &Plan<'_>, out: &mut [K::Out]) {
    let pad = k.pad();
    for (oy, orow) in out.chunks_exact_mut(plan.dst_w * 3).enumerate() {
        let Some((row, r0, r1)) = plan.rows(oy) else {
            fill_interleaved(orow, pad);
            continue;
        };
        let (left, rest) = orow.split_at_mut(plan.off_x * 3);
        let (content, right) = rest.split_at_mut(plan.new_w * 3);
        fill_interleaved(left, pad);
        fill_interleaved(right, pad);
        for (o, col) in content.chunks_exact_mut(3).zip(&plan.cols) {
            o.copy_from_slice(&k.pixel(r0, r1, col, &row));
        }
    }
}

fn write_nchw<K: Kernel>(k: &K, plan: &Plan<'_>, out: &mut [K::Out]) {
    let pad = k.pad();
    let plane = plan.dst_w * plan.dst_h;
    let (p0, rest) = out.split_at_mut(plane);
    let (p1, p2) = rest.split_at_mut(plane);
    let rows = p0
        .chunks_exact_mut(plan.dst_w)
        .zip(p1.chunks_exact_mut(plan.dst_w))
        .zip(p2.chunks_exact_mut(plan.dst_w));
    for (oy, ((o0, o1), o2)) in rows.enumerate() {
        let Some((row, r0, r1)) = plan.rows(oy) else {
            o0.fill(pad[0]);
            o1.fill(pad[1]);
            o2.fill(pad[2]);
            continue;
        };
        fill_outside(o0, plan.off_x, plan.new_w, pad[0]);
        fill_outside(o1, plan.off_x, plan.new_w, pad[1]);
        fill_outside(o2, plan.off_x, plan.new_w, pad[2]);
        let xs = plan.off_x..plan.off_x + plan.new_w;
        let content = o0[xs.clone()]
            .iter_mut()
            .zip(o1[xs.clone()].iter_mut())
            .zip(o2[xs].iter_mut())
            .zip(&plan.cols);
        for (((a, b), c), col) in content {
            let px = k.pixel(r0, r1, col, &row);
            *a = px[0];
            *b = px[1];
            *c = px[2];
        }
    }
}

fn run<K: Kernel>(k: &K, plan: &Plan<'_>, layout: Layout, out: &mut [K::Out]) {
    match layout {
        Layout::Nhwc => write_nhwc(k, plan, out),
        Layout::Nchw => write_nchw(k, plan, out),
    }
}

fn validate_source(src: &RgbView<'_>) -> Result<(), PreprocessError> {
    if src.width == 0 || src.height == 0 {
        return Err(PreprocessError::EmptyImage {
            width: src.width,
            height: src.height,
        });
    }
    let row_bytes = (src.width as usize).saturating_mul(3);
    if src.stride < row_bytes {
        return Err(PreprocessError::StrideTooSmall {
            stride: src.stride,
            width: src.width,
            min_stride: row_bytes,
        });
    }
    let needed = (src.height as usize - 1)
        .saturating_mul(src.stride)
        .saturating_add(row_bytes);
    if src.data.len() < needed {
        return Err(PreprocessError::DataTooShort {
            len: src.data.len(),
            needed,
            width: src.width,
            height: src.height,
            stride: src.stride,
        });
    }
    Ok(())
}

/// Writes the preprocessed image into `out` (which must have exactly spec.elements() elements of spec.dtype, else Err)
/// and returns the Transform. No allocation per pixel; allocating one scratch row buffer per call is acceptable, or
/// better, none. Resampling: bilinear (pixel-centre aligned: src = (dst + 0.5) / scale - 0.5, clamped), rounding to nearest for U8.
///
/// Every element of `out` is written (content and letterbox padding). Errors, checked before any
/// write (so `out` is untouched on `Err`): zero-size source or spec, stride below `width * 3`,
/// data shorter than `(height - 1) * stride + width * 3`, slot variant not matching
/// `spec.dtype`, slot length not `spec.elements()`, and for F32 a zero or non-finite `std`.
pub fn preprocess_into(
    src: RgbView<'_>,
    spec: &InputSpec,
    out: TensorSlot<'_>,
) -> Result<Transform, PreprocessError> {
    validate_source(&src)?;
    if spec.width == 0 || spec.height == 0 {
        return Err(PreprocessError::EmptyTarget {
            width: spec.width,
            height: spec.height,
        });
    }
    if out.dtype() != spec.dtype {
        return Err(PreprocessError::WrongDtype {
            expected: spec.dtype,
            got: out.dtype(),
        });
    }
    if out.len() != spec.elements() {
        return Err(PreprocessError::WrongSlotLength {
            expected: spec.elements(),
            got: out.len(),
            width: spec.width,
            height: spec.height,
        });
    }
    let plan = Plan::new(src, spec);
    match out {
        TensorSlot::U8(buf) => {
            let k = U8Kernel {
                perm: perm_for(spec.order),
                pad: pad_value(spec.resize),
            };
            run(&k, &plan, spec.layout, buf);
        }
        TensorSlot::F32(buf) => {
            let k = F32Kernel::new(spec)?;
            run(&k, &plan, spec.layout, buf);
        }
    }
    Ok(plan.transform())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
    }

    /// Random image with `extra` padding bytes per row (filled with junk).
    fn random_image(w: u32, h: u32, extra: usize, seed: u64) -> (Vec<u8>, usize) {
        let stride = w as usize * 3 + extra;
        let mut rng = XorShift(seed);
        let data = (0..stride * h as usize)
            .map(|_| (rng.next() >> 24) as u8)
            .collect();
        (data, stride)
    }

    fn spec(w: u32, h: u32, layout: Layout, order: ChannelOrder, dtype: ElementType) -> InputSpec {
        InputSpec {
            width: w,
            height: h,
            layout,
            order,
            dtype,
            resize: Resize::Stretch,
            mean: [0.0; 3],
            std: [1.0; 3],
        }
    }

    fn run_u8(src: RgbView<'_>, spec: &InputSpec) -> (Vec<u8>, Transform) {
        let mut out = vec![0u8; spec.elements()];
        let t = preprocess_into(src, spec, TensorSlot::U8(&mut out)).expect("preprocess u8");
        (out, t)
    }

    fn run_f32(src: RgbView<'_>, spec: &InputSpec) -> (Vec<f32>, Transform) {
        let mut out = vec![0f32; spec.elements()];
        let t = preprocess_into(src, spec, TensorSlot::F32(&mut out)).expect("preprocess f32");
        (out, t)
    }

    /// Straightforward per-pixel f64 reference. Returns values in the spec's layout and order,
    /// un-normalised (0..255, not rounded) and the pad mask.
    fn reference(src: &RgbView<'_>, spec: &InputSpec) -> (Vec<f64>, Vec<bool>) {
        let (sw, sh) = (src.width as f64, src.height as f64);
        let (dw, dh) = (spec.width as usize, spec.height as usize);
        let (nw, nh, ox, oy, pad) = match spec.resize {
            Resize::Stretch => (dw, dh, 0, 0, 0.0),
            Resize::Letterbox { pad, center } => {
                let s = (dw as f64 / sw).min(dh as f64 / sh);
                let nw = ((sw * s).round() as usize).clamp(1, dw);
                let nh = ((sh * s).round() as usize).clamp(1, dh);
                let (ox, oy) = if center {
                    ((dw - nw) / 2, (dh - nh) / 2)
                } else {
                    (0, 0)
                };
                (nw, nh, ox, oy, f64::from(pad))
            }
        };
        let px = |x: usize, y: usize, c: usize| f64::from(src.data[y * src.stride + x * 3 + c]);
        let mut vals = vec![0.0; dw * dh * 3];
        let mut is_pad = vec![false; dw * dh * 3];
        for y in 0..dh {
            for x in 0..dw {
                for oc in 0..3 {
                    let c = match spec.order {
                        ChannelOrder::Rgb => oc,
                        ChannelOrder::Bgr => 2 - oc,
                    };
                    let idx = match spec.layout {
                        Layout::Nhwc => (y * dw + x) * 3 + oc,
                        Layout::Nchw => oc * dw * dh + y * dw + x,
                    };
                    let inside = x >= ox && x < ox + nw && y >= oy && y < oy + nh;
                    if !inside {
                        vals[idx] = pad;
                        is_pad[idx] = true;
                        continue;
                    }
                    let fx = (((x - ox) as f64 + 0.5) * sw / nw as f64 - 0.5).clamp(0.0, sw - 1.0);
                    let fy = (((y - oy) as f64 + 0.5) * sh / nh as f64 - 0.5).clamp(0.0, sh - 1.0);
                    let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
                    let x1 = (x0 + 1).min(src.width as usize - 1);
                    let y1 = (y0 + 1).min(src.height as usize - 1);
                    let (ax, ay) = (fx - x0 as f64, fy - y0 as f64);
                    let top = px(x0, y0, c) * (1.0 - ax) + px(x1, y0, c) * ax;
                    let bot = px(x0, y1, c) * (1.0 - ax) + px(x1, y1, c) * ax;
                    vals[idx] = top * (1.0 - ay) + bot * ay;
                }
            }
        }
        (vals, is_pad)
    }

    fn assert_close(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                "{got:?} vs {want:?}"
            );
        }
    }

    fn channel_of(spec: &InputSpec, idx: usize) -> usize {
        match spec.layout {
            Layout::Nhwc => idx % 3,
            Layout::Nchw => idx / (spec.width as usize * spec.height as usize),
        }
    }

    #[test]
    fn identity_size_reproduces_pixels() {
        let (data, stride) = random_image(13, 7, 5, 1);
        let src = RgbView {
            data: &data,
            width: 13,
            height: 7,
            stride,
        };
        let s = spec(13, 7, Layout::Nhwc, ChannelOrder::Rgb, ElementType::U8);
        let (out, t) = run_u8(src, &s);
        for y in 0..7 {
            assert_eq!(
                &out[y * 39..(y + 1) * 39],
                &data[y * stride..y * stride + 39],
                "row {y}"
            );
        }
        assert_eq!(
            (t.scale_x, t.scale_y, t.offset_x, t.offset_y),
            (1.0, 1.0, 0.0, 0.0)
        );
    }

    #[test]
    fn bgr_swaps_channels() {
        let (data, stride) = random_image(9, 5, 0, 2);
        let src = RgbView {
            data: &data,
            width: 9,
            height: 5,
            stride,
        };
        let (rgb, _) = run_u8(
            src,
            &spec(9, 5, Layout::Nhwc, ChannelOrder::Rgb, ElementType::U8),
        );
        let (bgr, _) = run_u8(
            src,
            &spec(9, 5, Layout::Nhwc, ChannelOrder::Bgr, ElementType::U8),
        );
        for (p, q) in rgb.chunks_exact(3).zip(bgr.chunks_exact(3)) {
            assert_eq!([p[2], p[1], p[0]], [q[0], q[1], q[2]]);
        }
        assert_ne!(rgb, bgr);
    }

    #[test]
    fn nchw_is_permuted_nhwc() {
        let (data, stride) = random_image(31, 19, 2, 3);
        let src = RgbView {
            data: &data,
            width: 31,
            height: 19,
            stride,
        };
        for order in [ChannelOrder::Rgb, ChannelOrder::Bgr] {
            let mut a = spec(16, 11, Layout::Nhwc, order, ElementType::F32);
            a.resize = Resize::Letterbox {
                pad: 7,
                center: true,
            };
            a.mean = [1.0, 2.0, 3.0];
            a.std = [2.0, 3.0, 4.0];
            let b = InputSpec {
                layout: Layout::Nchw,
                ..a.clone()
            };
            let (nhwc, t1) = run_f32(src, &a);
            let (nchw, t2) = run_f32(src, &b);
            assert_eq!(t1, t2);
            let plane = 16 * 11;
            for i in 0..plane {
                for c in 0..3 {
                    assert_eq!(
                        nhwc[i * 3 + c],
                        nchw[c * plane + i],
                        "pixel {i} channel {c}"
                    );
                }
            }
        }
    }

    #[test]
    fn letterbox_top_left_and_centred() {
        let data = vec![200u8; 200 * 100 * 3];
        let src = RgbView {
            data: &data,
            width: 200,
            height: 100,
            stride: 600,
        };
        let mut s = spec(100, 100, Layout::Nhwc, ChannelOrder::Rgb, ElementType::U8);
        s.resize = Resize::Letterbox {
            pad: 114,
            center: false,
        };
        let (out, t) = run_u8(src, &s);
        for (y, row) in out.chunks_exact(300).enumerate() {
            let want = if y < 50 { 200 } else { 114 };
            assert!(row.iter().all(|&v| v == want), "row {y}");
        }
        assert_eq!(
            t.to_source([0.0, 0.0, 100.0, 50.0]),
            [0.0, 0.0, 200.0, 100.0]
        );
        // Pad region clamps to the frame.
        assert_eq!(t.to_source([10.0, 60.0, 20.0, 90.0])[1], 100.0);

        s.resize = Resize::Letterbox {
            pad: 114,
            center: true,
        };
        let (out, t) = run_u8(src, &s);
        assert_eq!((t.offset_x, t.offset_y), (0.0, 25.0));
        for (y, row) in out.chunks_exact(300).enumerate() {
            let want = if (25..75).contains(&y) { 200 } else { 114 };
            assert!(row.iter().all(|&v| v == want), "row {y}");
        }
        assert_eq!(
            t.to_source([0.0, 25.0, 100.0, 75.0]),
            [0.0, 0.0, 200.0, 100.0]
        );

        // Tall image: horizontal padding, F32 pad normalised, NCHW.
        let mut s = spec(100, 100, Layout::Nchw, ChannelOrder::Rgb, ElementType::F32);
        s.resize = Resize::Letterbox {
            pad: 114,
            center: true,
        };
        s.mean = [14.0, 14.0, 14.0];
        s.std = [100.0, 50.0, 25.0];
        let tall = RgbView {
            data: &data,
            width: 100,
            height: 200,
            stride: 300,
        };
        let (out, t) = run_f32(tall, &s);
        assert_eq!((t.offset_x, t.offset_y, t.scale_x), (25.0, 0.0, 0.5));
        for c in 0..3 {
            let plane = &out[c * 10000..(c + 1) * 10000];
            let want_pad = 100.0 / s.std[c];
            let want_img = 186.0 / s.std[c];
            for (i, &v) in plane.iter().enumerate() {
                let want = if (25..75).contains(&(i % 100)) {
                    want_img
                } else {
                    want_pad
                };
                assert!((v - want).abs() < 1e-5, "c {c} i {i}: {v} vs {want}");
            }
        }
    }

    #[test]
    fn f32_mean_std_applied_in_order() {
        let data: Vec<u8> = [10u8, 20, 30].repeat(4 * 3);
        let src = RgbView {
            data: &data,
            width: 4,
            height: 3,
            stride: 12,
        };
        let mut s = spec(4, 3, Layout::Nhwc, ChannelOrder::Rgb, ElementType::F32);
        s.mean = [1.0, 2.0, 3.0];
        s.std = [2.0, 4.0, 5.0];
        let (out, _) = run_f32(src, &s);
        for p in out.chunks_exact(3) {
            assert_close(p, &[4.5, 4.5, 5.4]);
        }
        s.order = ChannelOrder::Bgr;
        let (out, _) = run_f32(src, &s);
        for p in out.chunks_exact(3) {
            // B=30, G=20, R=10 normalised with mean/std indexed in BGR order.
            assert_close(p, &[14.5, 4.5, 1.4]);
        }
        // mean 0 / std 1 give raw values.
        let raw = spec(4, 3, Layout::Nchw, ChannelOrder::Rgb, ElementType::F32);
        let (out, _) = run_f32(src, &raw);
        assert_eq!(&out[..4], &[10.0; 4]);
        assert_eq!(&out[24..], &[30.0; 12][..]);
    }

    #[test]
    fn matches_scalar_reference() {
        let cases = [
            (37, 23, 17, 29, Resize::Stretch, 1usize),
            (641, 479, 300, 300, Resize::Stretch, 3),
            (
                641,
                479,
                300,
                300,
                Resize::Letterbox {
                    pad: 114,
                    center: true,
                },
                0,
            ),
            (
                37,
                23,
                64,
                64,
                Resize::Letterbox {
                    pad: 3,
                    center: false,
                },
                4,
            ),
            (5, 3, 416, 231, Resize::Stretch, 0),
            (768, 576, 416, 416, Resize::Stretch, 0),
        ];
        for (seed, &(sw, sh, dw, dh, resize, extra)) in cases.iter().enumerate() {
            let (data, stride) = random_image(sw, sh, extra, 0x9e37_79b9 + seed as u64);
            let src = RgbView {
                data: &data,
                width: sw,
                height: sh,
                stride,
            };
            for layout in [Layout::Nhwc, Layout::Nchw] {
                for order in [ChannelOrder::Rgb, ChannelOrder::Bgr] {
                    let mut s = spec(dw, dh, layout, order, ElementType::U8);
                    s.resize = resize;
                    let (want, _) = reference(&src, &s);
                    let (got, _) = run_u8(src, &s);
                    for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                        let diff = (f64::from(g) - w.round()).abs();
                        assert!(diff <= 1.0, "u8 case {seed} idx {i}: {g} vs {w}");
                    }

                    s.dtype = ElementType::F32;
                    s.mean = [123.675, 116.28, 103.53];
                    s.std = [58.395, 57.12, 57.375];
                    let (got, _) = run_f32(src, &s);
                    for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                        let c = channel_of(&s, i);
                        let w = (w - f64::from(s.mean[c])) / f64::from(s.std[c]);
                        let tol = 1e-3 * w.abs().max(1.0);
                        assert!(
                            (f64::from(g) - w).abs() <= tol,
                            "f32 case {seed} idx {i}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn errors_name_numbers_and_leave_slot_untouched() {
        let data = vec![0u8; 10 * 4 * 3];
        let src = RgbView {
            data: &data,
            width: 10,
            height: 4,
            stride: 30,
        };
        let s = spec(8, 8, Layout::Nhwc, ChannelOrder::Rgb, ElementType::U8);

        let mut short = vec![9u8; 100];
        let err = preprocess_into(src, &s, TensorSlot::U8(&mut short)).expect_err("short slot");
        assert_eq!(
            err,
            PreprocessError::WrongSlotLength {
                expected: 192,
                got: 100,
                width: 8,
                height: 8
            }
        );
        assert_eq!(
            err.to_string(),
            "tensor slot holds 100 elements but a 8x8x3 input needs 192"
        );
        assert!(short.iter().all(|&v| v == 9));

        let mut f = vec![0f32; 192];
        let err = preprocess_into(src, &s, TensorSlot::F32(&mut f)).expect_err("dtype");
        assert_eq!(
            err,
            PreprocessError::WrongDtype {
                expected: ElementType::U8,
                got: ElementType::F32
            }
        );

        let mut ok = vec![0u8; 192];
        let bad_stride = RgbView { stride: 29, ..src };
        assert!(matches!(
            preprocess_into(bad_stride, &s, TensorSlot::U8(&mut ok)),
            Err(PreprocessError::StrideTooSmall {
                stride: 29,
                min_stride: 30,
                ..
            })
        ));
        let too_short = RgbView {
            data: &data[..119],
            ..src
        };
        let err = preprocess_into(too_short, &s, TensorSlot::U8(&mut ok)).expect_err("data");
        assert_eq!(
            err.to_string(),
            "image data holds 119 bytes but 10x4 with stride 30 needs 120"
        );
        let empty = RgbView { width: 0, ..src };
        assert!(matches!(
            preprocess_into(empty, &s, TensorSlot::U8(&mut ok)),
            Err(PreprocessError::EmptyImage {
                width: 0,
                height: 4
            })
        ));
        let zero_spec = spec(0, 8, Layout::Nhwc, ChannelOrder::Rgb, ElementType::U8);
        assert!(matches!(
            preprocess_into(src, &zero_spec, TensorSlot::U8(&mut ok)),
            Err(PreprocessError::EmptyTarget { .. })
        ));
        let mut fs = spec(8, 8, Layout::Nhwc, ChannelOrder::Rgb, ElementType::F32);
        fs.std[1] = 0.0;
        assert!(matches!(
            preprocess_into(src, &fs, TensorSlot::F32(&mut f)),
            Err(PreprocessError::InvalidStd { channel: 1, .. })
        ));
        assert!(ok.iter().all(|&v| v == 0));
        assert!(f.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn to_source_inverts_and_clamps() {
        let t = Transform {
            scale_x: 0.5,
            scale_y: 0.25,
            offset_x: 10.0,
            offset_y: 4.0,
            src_width: 100,
            src_height: 80,
        };
        assert_eq!(
            t.to_source([20.0, 8.0, 30.0, 12.0]),
            [20.0, 16.0, 40.0, 32.0]
        );
        assert_eq!(
            t.to_source([0.0, 0.0, 500.0, 500.0]),
            [0.0, 0.0, 100.0, 80.0]
        );
    }
}
