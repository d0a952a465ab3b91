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
mod tests;
