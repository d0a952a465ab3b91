//! Inference: a [`Backend`] runs a model on one input tensor and returns its outputs.
//!
//! Backends: ONNX Runtime on the CPU (`onnx.rs`); TensorRT on a CUDA device (`tensorrt/`,
//! feature `tensorrt`; without the feature it still exists and says it was built without it).
//! Outputs are written into buffers the backend owns and reuses, so steady-state inference
//! allocates nothing of frame size. A missing runtime library or a broken model is an
//! [`InferError`] that says what to do.

pub mod onnx;
pub mod select;
pub mod tensorrt;

use crate::preprocess::ElementType;

/// A model input tensor, borrowed.
#[derive(Clone, Copy, Debug)]
pub enum InputData<'a> {
    U8(&'a [u8]),
    F16(&'a [half::f16]),
    F32(&'a [f32]),
}

/// What the model's (single) image input looks like.
#[derive(Clone, Debug, PartialEq)]
pub struct InputInfo {
    pub name: String,
    /// Dimensions, `-1` where dynamic.
    pub shape: Vec<i64>,
    pub dtype: ElementType,
}

/// One output tensor, owned by the backend and overwritten by the next run.
#[derive(Clone, Debug, Default)]
pub struct OutputBuffer {
    pub name: String,
    pub shape: Vec<i64>,
    pub data: Vec<f32>,
}

/// An inference backend with its model loaded.
pub trait Backend: Send {
    /// Short name for logs and the API, e.g. `onnxruntime-cpu`.
    fn name(&self) -> &'static str;
    /// The model's image input.
    fn input(&self) -> &InputInfo;
    /// Runs the model on `input` of `shape`; the outputs stay valid until the next call.
    fn run(&mut self, input: InputData<'_>, shape: &[i64]) -> Result<&[OutputBuffer], InferError>;
}

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error(
        "ONNX Runtime library not found (looked for {looked}); run `make setup` (scripts/setup.sh) to install it into .deps/onnxruntime/, or set ORT_DYLIB_PATH to libonnxruntime.so"
    )]
    RuntimeMissing { looked: String },
    #[error("cannot load ONNX Runtime from {path}: {message}")]
    RuntimeLoad { path: String, message: String },
    #[error("cannot load model {path}: {message}")]
    Model { path: String, message: String },
    #[error("model {path}: {message}")]
    Unsupported { path: String, message: String },
    #[error("inference failed: {0}")]
    Run(String),
    /// A backend that cannot run here (library, device or feature missing); the next backend
    /// of the fallback list serves instead.
    #[error("{backend} unavailable: {reason}")]
    Unavailable {
        backend: &'static str,
        reason: String,
    },
}
