//! ONNX Runtime on the CPU through the `ort` crate, loading `libonnxruntime.so` at run time.
//!
//! The library is looked for in `$ORT_DYLIB_PATH`, beside the executable, then in the project's
//! `.deps/onnxruntime/lib/` (where `scripts/setup.sh` unpacks it from the PyPI wheel). One ONNX
//! Runtime environment serves the whole process.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use super::{Backend, InferError, InputData, InputInfo, OutputBuffer};
use crate::preprocess::ElementType;

const LIB_NAME: &str = "libonnxruntime.so";

static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();

/// Where the ONNX Runtime library is, or where it was looked for. `$ORT_DYLIB_PATH`, when set,
/// is the only place looked at: a user who names a library gets that one or an error.
pub fn find_library(home: &Path) -> Result<PathBuf, InferError> {
    let candidates = match std::env::var_os("ORT_DYLIB_PATH") {
        Some(p) => vec![PathBuf::from(p)],
        None => {
            let mut c = Vec::new();
            if let Some(dir) = std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(Path::to_path_buf))
            {
                c.push(dir.join(LIB_NAME));
                c.push(dir.join("lib").join(LIB_NAME));
            }
            c.push(home.join(".deps/onnxruntime/lib").join(LIB_NAME));
            c
        }
    };
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| InferError::RuntimeMissing {
            looked: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn environment(home: &Path) -> Result<&'static Environment, InferError> {
    let lib = find_library(home)?;
    let env = ENVIRONMENT.get_or_init(|| {
        ort::init_from(&lib)
            .map_err(|e| e.to_string())?
            .with_name("edgesight")
            .build()
            .map_err(|e| e.to_string())
    });
    env.as_ref().map_err(|message| InferError::RuntimeLoad {
        path: lib.display().to_string(),
        message: message.clone(),
    })
}

/// A model session on ONNX Runtime's CPU execution provider.
pub struct OnnxBackend {
    session: Session,
    input: InputInfo,
    outputs: Vec<OutputBuffer>,
}

impl OnnxBackend {
    /// Loads `model` (its bytes, already verified) with `threads` intra-op threads.
    pub fn load(
        home: &Path,
        path: &Path,
        model: &[u8],
        threads: usize,
    ) -> Result<Self, InferError> {
        let env = environment(home)?;
        let shown = path.display().to_string();
        let model_err = |message: String| InferError::Model {
            path: shown.clone(),
            message,
        };
        let session = Session::builder(env)
            .map_err(|e| model_err(e.to_string()))?
            .with_intra_threads(threads)
            .map_err(|e| model_err(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| model_err(e.to_string()))?
            // Idle worker threads sleep instead of spinning: alone, inference is as fast either
            // way (5.6 ms/frame with 2 threads here); next to a dozen decoders on a small box,
            // spinning burns the cycles they need (12 cameras: 75 frames/s analysed spinning,
            // 80 sleeping; PERFORMANCE.md).
            .with_intra_op_spinning(false)
            .map_err(|e| model_err(e.to_string()))?
            .commit_from_memory(model)
            .map_err(|e| model_err(e.to_string()))?;
        let unsupported = |message: String| InferError::Unsupported {
            path: shown.clone(),
            message,
        };
        let [first] = session.inputs() else {
            return Err(unsupported(format!(
                "expected one image input, the model has {}",
                session.inputs().len()
            )));
        };
        let ValueType::Tensor { ty, shape, .. } = first.dtype() else {
            return Err(unsupported("the input is not a tensor".into()));
        };
        let dtype = match ty {
            TensorElementType::Uint8 => ElementType::U8,
            TensorElementType::Float32 => ElementType::F32,
            other => {
                return Err(unsupported(format!(
                    "input element type {other:?} is not supported (uint8 or float32)"
                )));
            }
        };
        if shape.len() != 4 {
            return Err(unsupported(format!(
                "input `{}` has {} dimensions, expected 4 (batch, and image)",
                first.name(),
                shape.len()
            )));
        }
        let input = InputInfo {
            name: first.name().to_string(),
            shape: shape.iter().copied().collect(),
            dtype,
        };
        let outputs = session
            .outputs()
            .iter()
            .map(|o| OutputBuffer {
                name: o.name().to_string(),
                ..OutputBuffer::default()
            })
            .collect();
        Ok(Self {
            session,
            input,
            outputs,
        })
    }
}

impl Backend for OnnxBackend {
    fn name(&self) -> &'static str {
        "onnxruntime-cpu"
    }

    fn input(&self) -> &InputInfo {
        &self.input
    }

    fn run(&mut self, input: InputData<'_>, shape: &[i64]) -> Result<&[OutputBuffer], InferError> {
        let run_err = |e: ort::Error| InferError::Run(e.to_string());
        let name = self.input.name.as_str();
        let results = match input {
            InputData::U8(data) => {
                let t = TensorRef::from_array_view((shape, data)).map_err(run_err)?;
                self.session.run(ort::inputs![name => t]).map_err(run_err)?
            }
            InputData::F32(data) => {
                let t = TensorRef::from_array_view((shape, data)).map_err(run_err)?;
                self.session.run(ort::inputs![name => t]).map_err(run_err)?
            }
            InputData::F16(_) => {
                return Err(InferError::Run(
                    "float16 input is not supported by the ONNX Runtime backend".into(),
                ));
            }
        };
        for (buffer, (_, value)) in self.outputs.iter_mut().zip(results.iter()) {
            let (out_shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| InferError::Run(format!("output `{}`: {e}", buffer.name)))?;
            buffer.shape.clear();
            buffer.shape.extend(out_shape.iter().copied());
            buffer.data.clear();
            buffer.data.extend_from_slice(data);
        }
        Ok(&self.outputs)
    }
}
