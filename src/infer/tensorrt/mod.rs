//! TensorRT on a CUDA device (feature `tensorrt`; DESIGN decision 4).
//!
//! Layers: `shim.h`/`shim.cpp` (a small C API over TensorRT's C++ API, compiled by build.rs
//! with `cc`; it `dlopen`s libnvinfer/libnvonnxparser at run time and uses only their factory
//! entry points) → `sys` (bindgen's bindings to `shim.h`) → `ffi` (safe RAII wrappers) →
//! [`TensorRtBackend`] (engine cache, device bindings, [`crate::infer::Backend`]).
//!
//! Inputs: an ONNX model (bytes + sha256), [`TensorRtOptions`]. Engines are built from ONNX on
//! first use and cached ([`cache`]); TensorRT >= 10.12 builds strongly typed networks (precision
//! from the graph), older versions use the FP16 builder flag when `fp16` is set.
//!
//! Failure: no libnvinfer, a TensorRT whose major version differs from the headers the shim was
//! built with, or no GPU → [`InferError::Unavailable`] naming the reason (the next backend of
//! the fallback list serves). Built without the feature, [`TensorRtBackend::load`] still exists
//! and says so.

pub mod cache;

#[cfg(feature = "tensorrt")]
mod backend;
#[cfg(feature = "tensorrt")]
mod ffi;
#[cfg(feature = "tensorrt")]
mod sys;

use std::path::PathBuf;

#[cfg(feature = "tensorrt")]
pub use backend::TensorRtBackend;

#[cfg(not(feature = "tensorrt"))]
pub use disabled::TensorRtBackend;

/// How to load TensorRT and build engines.
#[derive(Clone, Debug)]
pub struct TensorRtOptions {
    /// CUDA device ordinal.
    pub device: usize,
    /// Largest batch the engine takes (models with a dynamic batch get a profile 1..=max_batch).
    pub max_batch: usize,
    /// Allow FP16 (TensorRT < 10.12; later versions take precision from the graph).
    pub fp16: bool,
    /// Builder workspace limit in bytes.
    pub workspace_bytes: u64,
    /// Where engines are cached.
    pub cache_dir: PathBuf,
    /// libnvinfer to load instead of `libnvinfer.so.<major>` from the library path.
    pub library: Option<PathBuf>,
    /// libnvonnxparser to load instead of `libnvonnxparser.so.<major>`.
    pub onnx_parser: Option<PathBuf>,
}

impl Default for TensorRtOptions {
    fn default() -> Self {
        TensorRtOptions {
            device: 0,
            max_batch: 8,
            fp16: true,
            workspace_bytes: 1 << 30,
            cache_dir: cache::default_dir(),
            library: None,
            onnx_parser: None,
        }
    }
}

/// The TensorRT version whose headers the shim was compiled against (`None` without the
/// feature), and whether it builds strongly typed networks.
pub fn built_with() -> Option<(String, bool)> {
    #[cfg(feature = "tensorrt")]
    {
        let v = ffi::header_version();
        Some((
            format!("{}.{}.{}", v / 10000, (v / 100) % 100, v % 100),
            ffi::strongly_typed(),
        ))
    }
    #[cfg(not(feature = "tensorrt"))]
    None
}

#[cfg(not(feature = "tensorrt"))]
mod disabled {
    use std::path::Path;

    use super::TensorRtOptions;
    use crate::infer::{Backend, InferError, InputData, InputInfo, OutputBuffer};

    /// Stand-in when built without the `tensorrt` feature: it cannot be constructed, and
    /// [`TensorRtBackend::load`] says how to get the real one.
    pub struct TensorRtBackend {
        never: std::convert::Infallible,
    }

    impl TensorRtBackend {
        /// Always [`InferError::Unavailable`]: built without feature `tensorrt`.
        pub fn load(
            _model: &Path,
            _onnx: &[u8],
            _sha256: &str,
            _opts: &TensorRtOptions,
        ) -> Result<Self, InferError> {
            Err(InferError::Unavailable {
                backend: "tensorrt",
                reason: "built without feature `tensorrt` (cargo build --features tensorrt)".into(),
            })
        }
    }

    impl Backend for TensorRtBackend {
        fn name(&self) -> &'static str {
            match self.never {}
        }

        fn input(&self) -> &InputInfo {
            match self.never {}
        }

        fn run(&mut self, _: InputData<'_>, _: &[i64]) -> Result<&[OutputBuffer], InferError> {
            match self.never {}
        }
    }
}
