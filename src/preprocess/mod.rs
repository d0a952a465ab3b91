//! CPU preprocessing: source frames → model input tensor (the reference implementation).
//!
//! Inputs: borrowed [`FrameView`]s (NV12, I420, RGB, BGR, RGBA, BGRA with per-plane offsets and
//! strides; an [`RgbView`] converts into one), an [`InputSpec`] describing the model's input
//! tensor (size, layout NCHW/NHWC, channel order, element type u8/f16/f32, resize mode,
//! normalisation) and a [`TensorSlot`]: one image's slot, or a whole batch tensor whose slot `i`
//! receives frame `i`.
//!
//! Output: each slot is completely overwritten (resampled image plus letterbox padding) and a
//! [`Transform`] per frame maps model-input pixel coordinates back to source pixels.
//!
//! Semantics, step by step (the CUDA kernel in `cuda/preprocess.cu` implements the same):
//! 1. YUV frames are converted to RGB8 per pixel (`color.rs`: nearest chroma, 16-bit fixed point,
//!    the frame's [`Colorimetry`]); packed frames are read as they are (alpha ignored).
//! 2. Resampling is bilinear and pixel-centre aligned: `src = (dst + 0.5) / scale - 0.5`, clamped
//!    to the image, with the edge pixel repeated (`plan.rs`). U8 output uses 11-bit fixed-point
//!    weights and rounds to nearest (within ±1 level of exact arithmetic); F32 and F16 output
//!    interpolate in `f32`, then apply `(v - mean) / std`; F16 rounds that to nearest.
//! 3. Channels are written in `spec.order`, in `spec.layout`.
//!
//! Failure: every check runs before anything is written, so on `Err` the tensor is untouched.
//! Bad input (zero-size image, short stride or data for any plane, wrong tensor length or
//! element type, unusable `std`) yields a [`PreprocessError`] naming the numbers involved (and
//! the frame's index in a batch); nothing panics on bad input.
//!
//! Cost: no allocation per pixel; per frame (or band of rows) one column table of `spec.width`
//! taps, two converted rows for YUV input, one `f32` row for F16 output. [`preprocess_batch`]
//! spreads frames (or bands of rows, when there are fewer frames than threads) over scoped threads.

mod batch;
mod color;
mod convert;
mod error;
mod kernel;
mod plan;
mod rows;
mod view;

use half::f16;

pub use batch::{preprocess_batch, preprocess_into_slot};
pub use color::{YUV_FRAC_BITS, YuvCoefficients};
pub use convert::to_packed_rgb;
pub use error::PreprocessError;
pub(crate) use kernel::{normalisation, pad_value};
pub use plan::{FRAC_BITS, Geometry, Tap, tap};
pub use view::{
    Colorimetry, FrameView, PixelFormat, PlaneLayout, RgbView, YuvMatrix, YuvRange, validate_layout,
};

/// Memory layout of the model input tensor (batch dimension excluded).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Planar: all of channel 0, then channel 1, then channel 2 (`[3, H, W]`).
    Nchw,
    /// Interleaved: the 3 channels of each pixel are adjacent (`[H, W, 3]`).
    Nhwc,
}

/// Channel order the model expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelOrder {
    /// Red, green, blue (same as the source).
    Rgb,
    /// Blue, green, red (channels swapped relative to the source).
    Bgr,
}

/// Element type of the model input tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElementType {
    /// Unsigned 8-bit pixels 0..=255; `mean`/`std` are ignored.
    U8,
    /// IEEE half floats, normalised with `mean`/`std` (computed in `f32`, rounded to nearest).
    F16,
    /// 32-bit floats, normalised with `mean`/`std`.
    F32,
}

impl ElementType {
    /// Short lower-case name (`u8`, `f16`, `f32`).
    pub fn name(self) -> &'static str {
        match self {
            ElementType::U8 => "u8",
            ElementType::F16 => "f16",
            ElementType::F32 => "f32",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            ElementType::U8 => 1,
            ElementType::F16 => 2,
            ElementType::F32 => 4,
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
    /// Applied for F32 and F16 only: value = (pixel - mean[c]) / std[c] (pixel in 0..255, channel c in `order`). mean 0 and std 1 give raw 0..255.
    pub mean: [f32; 3],
    /// Per-channel divisor (channel index in `order`); must be finite and non-zero for F32/F16.
    pub std: [f32; 3],
}

impl InputSpec {
    /// Checks the spec on its own: non-zero size, and for F32/F16 a finite non-zero `std`.
    pub fn validate(&self) -> Result<(), PreprocessError> {
        validate_spec(self, self.dtype)?;
        validate_std(self)
    }

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

/// A tensor's worth of elements: one image's slot (`spec.elements()`), or for the batch functions
/// a whole batch tensor (`frames * spec.elements()`, slot `i` at `i * spec.elements()`).
#[derive(Debug)]
pub enum TensorSlot<'a> {
    /// Destination for [`ElementType::U8`] specs.
    U8(&'a mut [u8]),
    /// Destination for [`ElementType::F16`] specs.
    F16(&'a mut [f16]),
    /// Destination for [`ElementType::F32`] specs.
    F32(&'a mut [f32]),
}

impl TensorSlot<'_> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorSlot::U8(s) => s.len(),
            TensorSlot::F16(s) => s.len(),
            TensorSlot::F32(s) => s.len(),
        }
    }

    /// Whether it holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element type.
    pub fn dtype(&self) -> ElementType {
        match self {
            TensorSlot::U8(_) => ElementType::U8,
            TensorSlot::F16(_) => ElementType::F16,
            TensorSlot::F32(_) => ElementType::F32,
        }
    }
}

/// Checks the spec alone, and the tensor's element type: everything that does not depend on
/// the frames or the tensor length.
fn validate_spec(spec: &InputSpec, dtype: ElementType) -> Result<(), PreprocessError> {
    if spec.width == 0 || spec.height == 0 {
        return Err(PreprocessError::EmptyTarget {
            width: spec.width,
            height: spec.height,
        });
    }
    if dtype != spec.dtype {
        return Err(PreprocessError::WrongDtype {
            expected: spec.dtype,
            got: dtype,
        });
    }
    Ok(())
}

fn validate_std(spec: &InputSpec) -> Result<(), PreprocessError> {
    if spec.dtype == ElementType::U8 {
        return Ok(());
    }
    for (channel, &std) in spec.std.iter().enumerate() {
        if !std.is_finite() || std == 0.0 {
            return Err(PreprocessError::InvalidStd { channel, std });
        }
    }
    Ok(())
}

/// Writes the preprocessed image into `out` (which must have exactly `spec.elements()` elements
/// of `spec.dtype`) and returns the [`Transform`]. Single-threaded; see [`preprocess_batch`] for
/// batches and threads.
///
/// Every element of `out` is written (content and letterbox padding). Errors, checked before any
/// write (so `out` is untouched on `Err`): zero-size source or spec, a plane's stride below its
/// row bytes, data shorter than a plane's last row, slot variant not matching `spec.dtype`, slot
/// length not `spec.elements()`, and for F32/F16 a zero or non-finite `std`.
pub fn preprocess_into<'a>(
    src: impl Into<FrameView<'a>>,
    spec: &InputSpec,
    out: TensorSlot<'_>,
) -> Result<Transform, PreprocessError> {
    let frame = src.into();
    frame.validate()?;
    validate_spec(spec, out.dtype())?;
    if out.len() != spec.elements() {
        return Err(PreprocessError::WrongSlotLength {
            expected: spec.elements(),
            got: out.len(),
            width: spec.width,
            height: spec.height,
        });
    }
    validate_std(spec)?;
    let transforms = batch::run_validated(&[frame], spec, out, 1);
    Ok(transforms[0])
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_batch;
#[cfg(test)]
mod tests_formats;
