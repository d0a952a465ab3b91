//! The TensorRT backend proper (feature `tensorrt`): engine from the cache or built from ONNX,
//! device buffers for every input and output bound once, inference queued with `enqueueV3` on
//! the [`Gpu`]'s stream.
//!
//! Two ways in: [`Backend::run`] with a host tensor (copied to the device input binding), or
//! [`TensorRtBackend::input_tensor`] + [`TensorRtBackend::infer_device`]: the preprocessing
//! kernel writes straight into the input binding on the same stream, so nothing returns to the
//! host between preprocessing and inference. Outputs are copied back and converted to `f32`.

use std::ffi::CString;
use std::path::Path;
use std::sync::Arc;

use cudarc::driver::{CudaSlice, DevicePtrMut};
use half::f16;

use super::cache::{self, EngineKey, Precision};
use super::ffi::{self, Engine, IoTensor, Runtime};
use super::{TensorRtOptions, sys};
use crate::gpu::preprocess::DeviceTensor;
use crate::gpu::{Gpu, GpuError};
use crate::infer::{Backend, InferError, InputData, InputInfo, OutputBuffer};
use crate::preprocess::ElementType;

const NAME: &str = "tensorrt";

fn unavailable(reason: impl Into<String>) -> InferError {
    InferError::Unavailable {
        backend: NAME,
        reason: reason.into(),
    }
}

fn version_string(v: i32) -> String {
    if v >= 100_000 {
        format!("{}.{}.{}", v / 10000, (v / 100) % 100, v % 100)
    } else {
        format!("{}.{}.{}", v / 1000, (v / 100) % 10, v % 100)
    }
}

fn element_size(dtype: u32) -> Option<usize> {
    match dtype {
        sys::ES_TRT_FLOAT | sys::ES_TRT_INT32 => Some(4),
        sys::ES_TRT_HALF | sys::ES_TRT_BF16 => Some(2),
        sys::ES_TRT_INT8 | sys::ES_TRT_UINT8 | sys::ES_TRT_BOOL | sys::ES_TRT_FP8 => Some(1),
        sys::ES_TRT_INT64 => Some(8),
        _ => None,
    }
}

/// An output binding: device buffer sized for the largest batch.
struct DeviceOutput {
    tensor: IoTensor,
    buffer: CudaSlice<u8>,
    elem: usize,
}

/// A TensorRT engine on one GPU, with its bindings.
pub struct TensorRtBackend {
    // Field order is drop order: the engine goes before the runtime that made it, which is
    // kept only for that.
    engine: Engine,
    _runtime: Runtime,
    gpu: Arc<Gpu>,
    input: InputInfo,
    input_name: CString,
    input_buffer: DeviceTensor,
    outputs: Vec<DeviceOutput>,
    host: Vec<OutputBuffer>,
    scratch: Vec<u8>,
    max_batch: usize,
    /// Whether the engine came from the cache.
    pub from_cache: bool,
    /// What the engine was built for.
    pub key: EngineKey,
}

impl TensorRtBackend {
    /// Loads libnvinfer, opens `opts.device`, and gets the engine for `model` (bytes `onnx`,
    /// sha256 `sha256`). libnvinfer is checked first, so a machine without TensorRT says so.
    pub fn load(
        model: &Path,
        onnx: &[u8],
        sha256: &str,
        opts: &TensorRtOptions,
    ) -> Result<Self, InferError> {
        let runtime = Runtime::load(opts.library.as_deref()).map_err(unavailable)?;
        let gpu = Gpu::open(opts.device).map_err(|e| match e {
            GpuError::Unavailable(r) => unavailable(r),
            other => unavailable(other.to_string()),
        })?;
        Self::with_runtime(runtime, Arc::new(gpu), model, onnx, sha256, opts)
    }

    /// As [`Self::load`], on a GPU already open (shared with the preprocessing kernel).
    pub fn load_on(
        gpu: Arc<Gpu>,
        model: &Path,
        onnx: &[u8],
        sha256: &str,
        opts: &TensorRtOptions,
    ) -> Result<Self, InferError> {
        let runtime = Runtime::load(opts.library.as_deref()).map_err(unavailable)?;
        Self::with_runtime(runtime, gpu, model, onnx, sha256, opts)
    }

    fn with_runtime(
        mut runtime: Runtime,
        gpu: Arc<Gpu>,
        model: &Path,
        onnx: &[u8],
        sha256: &str,
        opts: &TensorRtOptions,
    ) -> Result<Self, InferError> {
        let model_err = |message: String| InferError::Model {
            path: model.display().to_string(),
            message,
        };
        gpu.context()
            .bind_to_thread()
            .map_err(|e| unavailable(e.to_string()))?;
        let precision = if ffi::strongly_typed() {
            Precision::FromGraph
        } else if opts.fp16 {
            Precision::Fp16
        } else {
            Precision::Fp32
        };
        let key = EngineKey {
            model_sha256: sha256.to_string(),
            tensorrt: version_string(runtime.library_version()),
            gpu: gpu.name().to_string(),
            arch: gpu.arch(),
            max_batch: opts.max_batch.max(1),
            precision,
        };
        let (engine, from_cache) = engine_for(&mut runtime, &key, onnx, opts).map_err(model_err)?;
        let io = engine.io().map_err(model_err)?;
        let max_batch = key.max_batch;
        let inputs: Vec<&IoTensor> = io.iter().filter(|t| t.is_input).collect();
        let [input] = inputs[..] else {
            return Err(model_err(format!(
                "expected one image input, the engine has {}",
                inputs.len()
            )));
        };
        let dtype = match input.dtype {
            sys::ES_TRT_FLOAT => ElementType::F32,
            sys::ES_TRT_HALF => ElementType::F16,
            sys::ES_TRT_UINT8 => ElementType::U8,
            other => {
                return Err(model_err(format!(
                    "input element type {other} is not supported"
                )));
            }
        };
        if input.dims.len() != 4 || input.dims[1..].iter().any(|&d| d <= 0) {
            return Err(model_err(format!(
                "input dimensions {:?}: expected [batch, and a fixed image]",
                input.dims
            )));
        }
        let per_sample: usize = input.dims[1..].iter().map(|&d| d as usize).product();
        let input_buffer = DeviceTensor::zeros(&gpu, dtype, max_batch * per_sample)
            .map_err(|e| unavailable(e.to_string()))?;
        let mut backend_outputs = Vec::new();
        for t in io.iter().filter(|t| !t.is_input) {
            let elem = element_size(t.dtype).ok_or_else(|| {
                model_err(format!("output {:?} has element type {}", t.name, t.dtype))
            })?;
            let per: usize = t.dims.iter().skip(1).map(|&d| d.max(1) as usize).product();
            let buffer = gpu
                .stream()
                .alloc_zeros::<u8>(max_batch * per * elem)
                .map_err(|e| unavailable(e.to_string()))?;
            backend_outputs.push(DeviceOutput {
                tensor: t.clone(),
                buffer,
                elem,
            });
        }
        let host = backend_outputs
            .iter()
            .map(|o| OutputBuffer {
                name: o.tensor.name.to_string_lossy().into_owned(),
                ..OutputBuffer::default()
            })
            .collect();
        let mut backend = TensorRtBackend {
            engine,
            _runtime: runtime,
            input: InputInfo {
                name: input.name.to_string_lossy().into_owned(),
                shape: input.dims.clone(),
                dtype,
            },
            input_name: input.name.clone(),
            gpu,
            input_buffer,
            outputs: backend_outputs,
            host,
            scratch: Vec::new(),
            max_batch,
            from_cache,
            key,
        };
        backend.bind().map_err(model_err)?;
        Ok(backend)
    }

    /// Binds every tensor to its device buffer (once: the buffers never move).
    fn bind(&mut self) -> Result<(), String> {
        let stream = self.gpu.stream().clone();
        let ptr = match &mut self.input_buffer {
            DeviceTensor::U8(b) => b.device_ptr_mut(&stream).0,
            DeviceTensor::F16(b) => b.device_ptr_mut(&stream).0,
            DeviceTensor::F32(b) => b.device_ptr_mut(&stream).0,
        };
        self.engine.set_address(&self.input_name, ptr)?;
        for o in &mut self.outputs {
            let (ptr, _guard) = o.buffer.device_ptr_mut(&stream);
            self.engine.set_address(&o.tensor.name, ptr)?;
        }
        Ok(())
    }

    /// The GPU the engine runs on.
    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
    }

    /// Largest batch the engine takes.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// The input binding (`max_batch` slots): write slot `i` of the first `batch`, e.g. with
    /// [`crate::gpu::preprocess::GpuPreprocessor::run`], then call [`Self::infer_device`].
    pub fn input_tensor(&mut self) -> &mut DeviceTensor {
        &mut self.input_buffer
    }

    /// Runs the engine on the first `batch` slots of the input binding, as they are on the
    /// device, and returns the outputs (copied to the host, as `f32`).
    pub fn infer_device(&mut self, batch: usize) -> Result<&[OutputBuffer], InferError> {
        if batch == 0 || batch > self.max_batch {
            return Err(InferError::Run(format!(
                "batch {batch} outside 1..={} of this engine",
                self.max_batch
            )));
        }
        let run = |e: String| InferError::Run(e);
        self.gpu
            .context()
            .bind_to_thread()
            .map_err(|e| run(e.to_string()))?;
        let mut dims = self.input.shape.clone();
        dims[0] = batch as i64;
        self.engine
            .set_input_shape(&self.input_name, &dims)
            .map_err(run)?;
        let stream = self.gpu.stream().clone();
        self.engine
            .enqueue(stream.cu_stream().cast())
            .map_err(run)?;
        for (o, host) in self.outputs.iter().zip(self.host.iter_mut()) {
            let shape = self.engine.context_shape(&o.tensor.name).map_err(run)?;
            let count: usize = shape.iter().map(|&d| d.max(0) as usize).product();
            self.scratch.resize(count * o.elem, 0);
            stream
                .memcpy_dtoh(&o.buffer.slice(..count * o.elem), &mut self.scratch[..])
                .map_err(|e| run(e.to_string()))?;
            host.shape.clone_from(&shape);
            host.data.clear();
            convert(&self.scratch, o.tensor.dtype, &mut host.data);
        }
        stream.synchronize().map_err(|e| run(e.to_string()))?;
        Ok(&self.host)
    }
}

/// Device bytes of TensorRT type `dtype` → `f32`.
fn convert(bytes: &[u8], dtype: u32, out: &mut Vec<f32>) {
    match dtype {
        sys::ES_TRT_FLOAT => out.extend(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        ),
        sys::ES_TRT_HALF => out.extend(
            bytes
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()),
        ),
        sys::ES_TRT_BF16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()),
        ),
        sys::ES_TRT_INT32 => out.extend(
            bytes
                .chunks_exact(4)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32),
        ),
        sys::ES_TRT_INT64 => {
            out.extend(bytes.chunks_exact(8).map(|b| {
                i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
            }))
        }
        sys::ES_TRT_INT8 | sys::ES_TRT_FP8 => out.extend(bytes.iter().map(|&b| f32::from(b as i8))),
        _ => out.extend(bytes.iter().map(|&b| f32::from(b))),
    }
}

/// The engine for `key`: deserialized from the cache, else built and stored. An entry the
/// cache or TensorRT refuses is removed and built anew.
fn engine_for(
    runtime: &mut Runtime,
    key: &EngineKey,
    onnx: &[u8],
    opts: &TensorRtOptions,
) -> Result<(Engine, bool), String> {
    match cache::load(&opts.cache_dir, key) {
        Ok(Some(plan)) => match runtime.deserialize(&plan) {
            Ok(engine) => return Ok((engine, true)),
            Err(e) => {
                tracing::warn!("cached TensorRT engine refused ({e}); building it again");
                cache::remove(&opts.cache_dir, key);
            }
        },
        Ok(None) => {}
        Err(why) => {
            tracing::warn!("TensorRT engine cache entry unusable ({why}); building it again");
            cache::remove(&opts.cache_dir, key);
        }
    }
    tracing::info!(
        "building a TensorRT {} engine ({}, batch {}, {}); this takes a while once",
        key.tensorrt,
        key.arch,
        key.max_batch,
        key.precision.name()
    );
    let plan = runtime.build(
        opts.onnx_parser.as_deref(),
        onnx,
        key.max_batch,
        key.precision == Precision::Fp16,
        opts.workspace_bytes,
    )?;
    if let Err(e) = cache::store(&opts.cache_dir, key, &plan) {
        tracing::warn!(
            "cannot store the TensorRT engine in {}: {e}",
            opts.cache_dir.display()
        );
    }
    Ok((runtime.deserialize(&plan)?, false))
}

impl Backend for TensorRtBackend {
    fn name(&self) -> &'static str {
        "tensorrt"
    }

    fn input(&self) -> &InputInfo {
        &self.input
    }

    fn run(&mut self, input: InputData<'_>, shape: &[i64]) -> Result<&[OutputBuffer], InferError> {
        let batch = shape.first().copied().unwrap_or(0).max(0) as usize;
        let per: usize = self.input.shape[1..].iter().map(|&d| d as usize).product();
        if shape.len() != 4
            || shape[1..] != self.input.shape[1..]
            || batch == 0
            || batch > self.max_batch
        {
            return Err(InferError::Run(format!(
                "input shape {shape:?} does not fit the engine's {:?} (batch 1..={})",
                self.input.shape, self.max_batch
            )));
        }
        let stream = self.gpu.stream().clone();
        let copy = |e: cudarc::driver::DriverError| InferError::Run(e.to_string());
        let n = batch * per;
        match (input, &mut self.input_buffer) {
            (InputData::F32(d), DeviceTensor::F32(b)) if d.len() == n => {
                stream.memcpy_htod(d, &mut b.slice_mut(..n)).map_err(copy)?
            }
            (InputData::U8(d), DeviceTensor::U8(b)) if d.len() == n => {
                stream.memcpy_htod(d, &mut b.slice_mut(..n)).map_err(copy)?
            }
            (InputData::F16(d), DeviceTensor::F16(b)) if d.len() == n => {
                let bits: Vec<u16> = d.iter().map(|v| v.to_bits()).collect();
                stream
                    .memcpy_htod(&bits, &mut b.slice_mut(..n))
                    .map_err(copy)?
            }
            _ => {
                return Err(InferError::Run(format!(
                    "input of the wrong type or length for the engine's {} x {n}",
                    self.input.dtype.name()
                )));
            }
        }
        self.infer_device(batch)
    }
}
