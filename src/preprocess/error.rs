//! Why preprocessing refused to run. Every check happens before anything is written.

use std::fmt;

use super::{ElementType, PixelFormat};

/// Why [`super::preprocess_into`] (or a batch variant) refused to run. The destination tensor is
/// untouched in every case.
#[derive(Clone, Debug, PartialEq)]
pub enum PreprocessError {
    /// The source image has zero width or height.
    EmptyImage { width: u32, height: u32 },
    /// The spec asks for a zero-width or zero-height model input.
    EmptyTarget { width: u32, height: u32 },
    /// A plane's row stride is smaller than its row bytes.
    StrideTooSmall {
        format: PixelFormat,
        /// Plane index (0 for packed formats).
        plane: usize,
        plane_name: &'static str,
        /// Given stride in bytes.
        stride: usize,
        /// Source width in pixels.
        width: u32,
        /// Minimum stride (the plane's row bytes).
        min_stride: usize,
    },
    /// The buffer ends before the last row of a plane does:
    /// `offset + (rows - 1) * stride + row_bytes > len`.
    DataTooShort {
        format: PixelFormat,
        plane: usize,
        plane_name: &'static str,
        /// Bytes available.
        len: usize,
        /// Bytes required.
        needed: usize,
        width: u32,
        height: u32,
        offset: usize,
        stride: usize,
    },
    /// The tensor's element type differs from `spec.dtype`.
    WrongDtype {
        expected: ElementType,
        got: ElementType,
    },
    /// A slot does not hold exactly `spec.elements()` elements.
    WrongSlotLength {
        /// `spec.elements()`.
        expected: usize,
        got: usize,
        width: u32,
        height: u32,
    },
    /// A batch tensor does not hold `frames * spec.elements()` elements.
    WrongBatchLength {
        frames: usize,
        expected: usize,
        got: usize,
    },
    /// A slot index past the end of the batch tensor.
    SlotOutOfRange { index: usize, slots: usize },
    /// An F32/F16 spec has a zero or non-finite `std` entry.
    InvalidStd {
        /// Channel index (in `spec.order`).
        channel: usize,
        std: f32,
    },
    /// Frame `index` of a batch is unusable.
    InBatch {
        index: usize,
        error: Box<PreprocessError>,
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
                format,
                plane_name,
                stride,
                width,
                min_stride,
                ..
            } => {
                if format.planes() == 1 {
                    let bpp = format.packed_bytes();
                    write!(
                        f,
                        "row stride {stride} is smaller than {min_stride} bytes (width {width} x {bpp})"
                    )
                } else {
                    write!(
                        f,
                        "{} {plane_name} plane: row stride {stride} is smaller than {min_stride} bytes (width {width})",
                        format.name()
                    )
                }
            }
            PreprocessError::DataTooShort {
                format,
                plane_name,
                len,
                needed,
                width,
                height,
                offset,
                stride,
                ..
            } => {
                if format.planes() == 1 && *offset == 0 {
                    write!(
                        f,
                        "image data holds {len} bytes but {width}x{height} with stride {stride} needs {needed}"
                    )
                } else {
                    write!(
                        f,
                        "image data holds {len} bytes but the {} {plane_name} plane of {width}x{height} at offset {offset} with stride {stride} needs {needed}",
                        format.name()
                    )
                }
            }
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
            PreprocessError::WrongBatchLength {
                frames,
                expected,
                got,
            } => write!(
                f,
                "batch tensor holds {got} elements but {frames} frames need {expected}"
            ),
            PreprocessError::SlotOutOfRange { index, slots } => write!(
                f,
                "slot {index} is past the end of a batch tensor of {slots} slots"
            ),
            PreprocessError::InvalidStd { channel, std } => write!(
                f,
                "std for channel {channel} is {std}; it must be finite and non-zero"
            ),
            PreprocessError::InBatch { index, error } => {
                write!(f, "frame {index} of the batch: {error}")
            }
        }
    }
}

impl std::error::Error for PreprocessError {}
