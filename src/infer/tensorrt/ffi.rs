//! Safe wrappers over the shim's C API (`sys`): [`Runtime`] (libnvinfer loaded, engines built
//! and deserialized) and [`Engine`] (one engine and its execution context). Every call returns
//! a `Result` carrying the shim's message; the raw objects are freed on drop.
//!
//! An [`Engine`] must be dropped before the [`Runtime`] that made it (the backend keeps them in
//! that field order). Neither is `Sync`; both are used from one thread at a time.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::Path;
use std::ptr::NonNull;

use super::sys;

const ERR_LEN: usize = 4096;
const NAME_LEN: usize = 1024;

fn message(buf: &[u8]) -> String {
    CStr::from_bytes_until_nul(buf)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown TensorRT error".into())
}

fn c_path(p: Option<&Path>) -> Result<Option<CString>, String> {
    p.map(|p| {
        CString::new(p.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("{} contains a NUL byte", p.display()))
    })
    .transpose()
}

/// TensorRT's messages of severity warning and above, into our log.
unsafe extern "C" fn log_message(severity: c_int, msg: *const c_char) {
    if msg.is_null() {
        return;
    }
    // SAFETY: the shim passes TensorRT's NUL-terminated message, valid for this call.
    let text = unsafe { CStr::from_ptr(msg) }.to_string_lossy();
    if severity <= 1 {
        tracing::error!("tensorrt: {text}");
    } else {
        tracing::warn!("tensorrt: {text}");
    }
}

/// TensorRT version the shim was compiled against, as `major*10000+minor*100+patch`.
pub(super) fn header_version() -> i32 {
    // SAFETY: returns a constant; no arguments.
    unsafe { sys::es_trt_header_version() }
}

/// Whether the headers are TensorRT >= 10.12 (strongly typed networks).
pub(super) fn strongly_typed() -> bool {
    // SAFETY: returns a constant; no arguments.
    unsafe { sys::es_trt_strongly_typed() != 0 }
}

/// libnvinfer, loaded.
pub(super) struct Runtime {
    ptr: NonNull<sys::EsTrtRuntime>,
}

// SAFETY: the shim's runtime has no thread affinity; the backend that owns it is used from one
// thread at a time (it is `Send`, not `Sync`).
unsafe impl Send for Runtime {}

impl Runtime {
    /// Loads libnvinfer (`library`, or the usual names) and checks its version.
    pub(super) fn load(library: Option<&Path>) -> Result<Self, String> {
        let lib = c_path(library)?;
        let mut err = vec![0u8; ERR_LEN];
        let mut out: *mut sys::EsTrtRuntime = std::ptr::null_mut();
        // SAFETY: `lib` is NUL-terminated or null; `out` and `err` are live, `err` ERR_LEN long.
        let rc = unsafe {
            sys::es_trt_runtime_create(
                lib.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
                Some(log_message),
                &mut out,
                err.as_mut_ptr().cast(),
                ERR_LEN as u64,
            )
        };
        match NonNull::new(out) {
            Some(ptr) if rc == 0 => Ok(Runtime { ptr }),
            _ => Err(message(&err)),
        }
    }

    /// `getInferLibVersion()` of the loaded library.
    pub(super) fn library_version(&self) -> i32 {
        // SAFETY: `ptr` is a live runtime.
        unsafe { sys::es_trt_library_version(self.ptr.as_ptr()) }
    }

    /// Builds a serialized engine from ONNX bytes (see `es_trt_build`).
    pub(super) fn build(
        &mut self,
        parser: Option<&Path>,
        onnx: &[u8],
        max_batch: usize,
        fp16: bool,
        workspace_bytes: u64,
    ) -> Result<Vec<u8>, String> {
        let parser = c_path(parser)?;
        let max_batch =
            c_int::try_from(max_batch).map_err(|_| "max_batch too large".to_string())?;
        let mut err = vec![0u8; ERR_LEN];
        let mut plan: *mut c_void = std::ptr::null_mut();
        let mut len: u64 = 0;
        // SAFETY: `ptr` is live; `onnx` is valid for its length; out-pointers are live locals.
        let rc = unsafe {
            sys::es_trt_build(
                self.ptr.as_ptr(),
                parser.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
                onnx.as_ptr().cast(),
                onnx.len() as u64,
                max_batch,
                c_int::from(fp16),
                workspace_bytes,
                &mut plan,
                &mut len,
                err.as_mut_ptr().cast(),
                ERR_LEN as u64,
            )
        };
        if rc != 0 || plan.is_null() {
            return Err(message(&err));
        }
        // SAFETY: on success the shim malloc'd `len` bytes at `plan`; copied, then freed once.
        let bytes = unsafe { std::slice::from_raw_parts(plan.cast::<u8>(), len as usize) }.to_vec();
        // SAFETY: `plan` came from the shim's malloc and is not used after this.
        unsafe { sys::es_trt_free(plan) };
        Ok(bytes)
    }

    /// Deserializes a plan into an engine with its execution context.
    pub(super) fn deserialize(&mut self, plan: &[u8]) -> Result<Engine, String> {
        let mut err = vec![0u8; ERR_LEN];
        let mut out: *mut sys::EsTrtEngine = std::ptr::null_mut();
        // SAFETY: `ptr` is live; `plan` is valid for its length; out-pointers are live locals.
        let rc = unsafe {
            sys::es_trt_engine_create(
                self.ptr.as_ptr(),
                plan.as_ptr().cast(),
                plan.len() as u64,
                &mut out,
                err.as_mut_ptr().cast(),
                ERR_LEN as u64,
            )
        };
        match NonNull::new(out) {
            Some(ptr) if rc == 0 => Ok(Engine { ptr }),
            _ => Err(message(&err)),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // SAFETY: `ptr` is live and destroyed exactly once; its engines are gone (field order).
        unsafe { sys::es_trt_runtime_destroy(self.ptr.as_ptr()) }
    }
}

/// One engine input or output, as the engine declares it.
#[derive(Clone, Debug)]
pub(super) struct IoTensor {
    pub name: CString,
    pub is_input: bool,
    /// TensorRT `DataType` value (`sys::ES_TRT_*`).
    pub dtype: u32,
    /// Dimensions, -1 where dynamic.
    pub dims: Vec<i64>,
}

/// A deserialized engine and its execution context.
pub(super) struct Engine {
    ptr: NonNull<sys::EsTrtEngine>,
}

// SAFETY: as for `Runtime`: no thread affinity, used from one thread at a time.
unsafe impl Send for Engine {}

impl Engine {
    pub(super) fn io(&self) -> Result<Vec<IoTensor>, String> {
        // SAFETY: `ptr` is a live engine.
        let n = unsafe { sys::es_trt_engine_io_count(self.ptr.as_ptr()) };
        (0..n)
            .map(|i| {
                let mut name = vec![0u8; NAME_LEN];
                let (mut is_input, mut dtype, mut nb) = (0, 0, 0);
                let mut dims = [0i64; sys::ES_TRT_MAX_DIMS as usize];
                // SAFETY: `ptr` is live; `name` is NAME_LEN bytes; `dims` holds MAX_DIMS.
                let rc = unsafe {
                    sys::es_trt_engine_io(
                        self.ptr.as_ptr(),
                        i,
                        name.as_mut_ptr().cast(),
                        NAME_LEN as u64,
                        &mut is_input,
                        &mut dtype,
                        dims.as_mut_ptr(),
                        &mut nb,
                    )
                };
                if rc != 0 || !(0..=sys::ES_TRT_MAX_DIMS as c_int).contains(&nb) {
                    return Err(format!("cannot describe engine tensor {i}"));
                }
                let name = CStr::from_bytes_until_nul(&name)
                    .map_err(|_| format!("engine tensor {i} has no name"))?
                    .to_owned();
                Ok(IoTensor {
                    name,
                    is_input: is_input != 0,
                    dtype: dtype as u32,
                    dims: dims[..nb as usize].to_vec(),
                })
            })
            .collect()
    }

    /// Shape of `name` in the execution context (outputs: after the input shapes are set).
    pub(super) fn context_shape(&self, name: &CStr) -> Result<Vec<i64>, String> {
        let mut dims = [0i64; sys::ES_TRT_MAX_DIMS as usize];
        let mut nb = 0;
        // SAFETY: `ptr` is live; `name` is NUL-terminated; `dims` holds MAX_DIMS.
        let rc = unsafe {
            sys::es_trt_context_shape(self.ptr.as_ptr(), name.as_ptr(), dims.as_mut_ptr(), &mut nb)
        };
        if rc != 0 || !(0..=sys::ES_TRT_MAX_DIMS as c_int).contains(&nb) {
            return Err(format!("no shape for {}", name.to_string_lossy()));
        }
        Ok(dims[..nb as usize].to_vec())
    }

    pub(super) fn set_input_shape(&mut self, name: &CStr, dims: &[i64]) -> Result<(), String> {
        let mut err = vec![0u8; ERR_LEN];
        // SAFETY: `ptr` is live; `name` NUL-terminated; `dims` valid for its length.
        let rc = unsafe {
            sys::es_trt_set_input_shape(
                self.ptr.as_ptr(),
                name.as_ptr(),
                dims.as_ptr(),
                dims.len() as c_int,
                err.as_mut_ptr().cast(),
                ERR_LEN as u64,
            )
        };
        if rc == 0 { Ok(()) } else { Err(message(&err)) }
    }

    /// Binds `name` to device memory at `device_ptr`. The caller keeps that memory alive and in
    /// place for as long as the engine runs.
    pub(super) fn set_address(&mut self, name: &CStr, device_ptr: u64) -> Result<(), String> {
        let mut err = vec![0u8; ERR_LEN];
        // SAFETY: `ptr` is live; `name` NUL-terminated; the address is only stored by TensorRT.
        let rc = unsafe {
            sys::es_trt_set_address(
                self.ptr.as_ptr(),
                name.as_ptr(),
                device_ptr as usize as *mut c_void,
                err.as_mut_ptr().cast(),
                ERR_LEN as u64,
            )
        };
        if rc == 0 { Ok(()) } else { Err(message(&err)) }
    }

    /// Queues inference on `stream` (a `CUstream`).
    pub(super) fn enqueue(&mut self, stream: *mut c_void) -> Result<(), String> {
        let mut err = vec![0u8; ERR_LEN];
        // SAFETY: `ptr` is live; `stream` is a live CUDA stream of the current context, and
        // every tensor address was bound to live device memory of the right size.
        let rc = unsafe {
            sys::es_trt_enqueue(
                self.ptr.as_ptr(),
                stream,
                err.as_mut_ptr().cast(),
                ERR_LEN as u64,
            )
        };
        if rc == 0 { Ok(()) } else { Err(message(&err)) }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: `ptr` is live and destroyed exactly once.
        unsafe { sys::es_trt_engine_destroy(self.ptr.as_ptr()) }
    }
}
