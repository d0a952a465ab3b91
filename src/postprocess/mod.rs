//! Model output decoding: raw output tensors → detections in source-frame pixels.
//!
//! Inputs: the model's output tensors as borrowed [`OutputView`]s (f32, row-major, in the
//! order the model declares them), the [`Transform`] returned by
//! [`crate::preprocess::preprocess_into`] for the frame, and [`DecodeParams`].
//!
//! Output: `Vec<Detection>` with boxes `[x1, y1, x2, y2]` in source-frame pixels (clamped to the
//! frame), sorted by descending score and truncated to `max_detections`. Boxes that are
//! degenerate (zero/negative area or NaN) after mapping are dropped; NaN scores never pass.
//!
//! Failure: a tensor set that does not have the shape a decoder expects (wrong number of
//! outputs, wrong rank/dimensions, data length not matching the shape, inconsistent sizes
//! between outputs) yields a [`DecodeError`] whose message names what was expected and what
//! was found. Decoders never panic on malformed tensors.
//!
//! Family decoders: [`ssd::SsdDecoder`] (TFLite_Detection_PostProcess export, NMS in-graph) and
//! [`yolox::YoloxDecoder`] (raw grid output, NMS done here by [`nms::nms_class_aware`]).

pub mod labels;
pub mod nms;
pub mod ssd;
pub mod yolox;

pub use labels::{BoundingBox, LabeledDetection, Labels};

use crate::preprocess::Transform;
use std::fmt;

/// A borrowed model output tensor (f32 values, row-major).
///
/// `data.len()` must equal the product of `shape`; decoders check this and return
/// [`DecodeError::DataLength`] otherwise.
#[derive(Clone, Copy, Debug)]
pub struct OutputView<'a> {
    /// Output name as declared by the model (used in error messages only).
    pub name: &'a str,
    /// Dimensions; negative (dynamic) dimensions are rejected by decoders.
    pub shape: &'a [i64],
    /// Values, row-major.
    pub data: &'a [f32],
}

/// One detection in SOURCE-frame pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// Class index as the model numbers it (0-based).
    pub class_id: u32,
    /// Confidence in 0..=1 (family-specific meaning, higher is better).
    pub score: f32,
    /// `[x1, y1, x2, y2]` in source-frame pixels, `x1 < x2`, `y1 < y2`, within the frame.
    pub bbox: [f32; 4],
}

/// Decoding knobs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecodeParams {
    /// Detections with `score >= score_threshold` are kept (NaN scores never are).
    pub score_threshold: f32,
    /// IoU above which a lower-scoring same-class box is suppressed (decoders that run NMS).
    pub nms_iou: f32,
    /// Maximum number of detections returned.
    pub max_detections: usize,
}

/// Model-family output decoder. `transform` is the one preprocess returned for the frame;
/// decoders that need the model input size carry it as fields (see [`ssd::SsdDecoder`]).
///
/// Implementations validate the tensor set, return detections in source-frame pixels sorted by
/// descending score and truncated to `params.max_detections`, and never panic on malformed input.
pub trait Decoder: Send + Sync {
    /// Decodes one frame's outputs (batch size 1). See the trait docs for the contract.
    fn decode(
        &self,
        outputs: &[OutputView<'_>],
        transform: &Transform,
        params: &DecodeParams,
    ) -> Result<Vec<Detection>, DecodeError>;
}

/// Why a decoder rejected a set of output tensors (or its own configuration).
#[derive(Debug, Clone, PartialEq)]
pub enum DecodeError {
    /// Wrong number of output tensors.
    OutputCount {
        /// Decoder family (`"ssd"`, `"yolox"`).
        decoder: &'static str,
        /// Number of outputs expected.
        expected: usize,
        /// What the expected outputs are, e.g. `"boxes, classes, scores, count"`.
        what: &'static str,
        /// Number of outputs given.
        got: usize,
    },
    /// An output tensor's shape is not the expected one.
    Shape {
        /// Decoder family.
        decoder: &'static str,
        /// Output index and name.
        output: String,
        /// Expected shape, human readable (e.g. `"[1, N, 4]"`).
        expected: &'static str,
        /// Actual shape.
        got: Vec<i64>,
    },
    /// An output's data length does not match the product of its shape.
    DataLength {
        /// Decoder family.
        decoder: &'static str,
        /// Output index and name.
        output: String,
        /// Declared shape.
        shape: Vec<i64>,
        /// Product of the shape.
        expected: usize,
        /// `data.len()`.
        got: usize,
    },
    /// Outputs disagree with each other (e.g. different detection counts).
    Mismatch {
        /// Decoder family.
        decoder: &'static str,
        /// Description naming both sizes.
        message: String,
    },
    /// YOLOX output anchor count does not match the grid implied by input size and strides.
    AnchorCount {
        /// Anchors implied by the grid.
        expected: usize,
        /// Anchors in the tensor.
        got: usize,
        /// Model input width.
        width: u32,
        /// Model input height.
        height: u32,
        /// Strides used.
        strides: Vec<u32>,
    },
    /// The decoder itself is misconfigured (zero input size, zero stride, ...).
    Config {
        /// Decoder family.
        decoder: &'static str,
        /// Description.
        message: String,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::OutputCount {
                decoder,
                expected,
                what,
                got,
            } => {
                let noun = if *expected == 1 { "output" } else { "outputs" };
                write!(
                    f,
                    "{decoder}: expected {expected} {noun} ({what}), got {got}"
                )
            }
            DecodeError::Shape {
                decoder,
                output,
                expected,
                got,
            } => write!(
                f,
                "{decoder}: output {output} has shape {got:?}, expected {expected}"
            ),
            DecodeError::DataLength {
                decoder,
                output,
                shape,
                expected,
                got,
            } => write!(
                f,
                "{decoder}: output {output} has shape {shape:?} ({expected} values) but holds {got} values"
            ),
            DecodeError::Mismatch { decoder, message } => write!(f, "{decoder}: {message}"),
            DecodeError::AnchorCount {
                expected,
                got,
                width,
                height,
                strides,
            } => {
                let list: Vec<String> = strides.iter().map(u32::to_string).collect();
                write!(
                    f,
                    "yolox: {expected} anchors expected for {width}x{height} with strides [{}], got {got}",
                    list.join(",")
                )
            }
            DecodeError::Config { decoder, message } => write!(f, "{decoder}: {message}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// `"<index> (`name`)"`, or just the index when the name is empty.
pub(crate) fn output_label(index: usize, out: &OutputView<'_>) -> String {
    if out.name.is_empty() {
        index.to_string()
    } else {
        format!("{index} (`{}`)", out.name)
    }
}

/// Checks that every dimension is non-negative and that `data.len()` equals their product.
pub(crate) fn check_data_len(
    decoder: &'static str,
    index: usize,
    out: &OutputView<'_>,
) -> Result<(), DecodeError> {
    let expected = out.shape.iter().try_fold(1usize, |acc, &d| {
        usize::try_from(d).ok().and_then(|d| acc.checked_mul(d))
    });
    match expected {
        Some(n) if n == out.data.len() => Ok(()),
        Some(n) => Err(DecodeError::DataLength {
            decoder,
            output: output_label(index, out),
            shape: out.shape.to_vec(),
            expected: n,
            got: out.data.len(),
        }),
        None => Err(DecodeError::Shape {
            decoder,
            output: output_label(index, out),
            expected: "non-negative dimensions",
            got: out.shape.to_vec(),
        }),
    }
}

/// True when the box has no positive area (or contains NaN).
pub(crate) fn is_degenerate(b: &[f32; 4]) -> bool {
    !(b[2] > b[0] && b[3] > b[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_length_checked() {
        let shape = [1i64, 2, 3];
        let data = [0.0f32; 5];
        let v = OutputView {
            name: "out",
            shape: &shape,
            data: &data,
        };
        let err = check_data_len("ssd", 0, &v).expect_err("5 != 6");
        assert_eq!(
            err.to_string(),
            "ssd: output 0 (`out`) has shape [1, 2, 3] (6 values) but holds 5 values"
        );
        let neg = [1i64, -1];
        let v = OutputView {
            name: "",
            shape: &neg,
            data: &data,
        };
        assert!(matches!(
            check_data_len("yolox", 2, &v),
            Err(DecodeError::Shape { .. })
        ));
        let ok = OutputView {
            name: "x",
            shape: &[5],
            data: &data,
        };
        assert!(check_data_len("ssd", 0, &ok).is_ok());
    }

    #[test]
    fn degenerate_boxes() {
        assert!(!is_degenerate(&[0.0, 0.0, 1.0, 1.0]));
        assert!(is_degenerate(&[0.0, 0.0, 0.0, 1.0]));
        assert!(is_degenerate(&[0.0, 2.0, 1.0, 1.0]));
        assert!(is_degenerate(&[f32::NAN, 0.0, 1.0, 1.0]));
    }

    #[test]
    fn error_messages_are_lowercase_without_period() {
        let e = DecodeError::OutputCount {
            decoder: "yolox",
            expected: 1,
            what: "[1, anchors, 5 + classes]",
            got: 3,
        };
        assert_eq!(
            e.to_string(),
            "yolox: expected 1 output ([1, anchors, 5 + classes]), got 3"
        );
        let e = DecodeError::AnchorCount {
            expected: 3549,
            got: 100,
            width: 416,
            height: 416,
            strides: vec![8, 16, 32],
        };
        assert_eq!(
            e.to_string(),
            "yolox: 3549 anchors expected for 416x416 with strides [8,16,32], got 100"
        );
        assert!(!e.to_string().ends_with('.'));
    }
}
