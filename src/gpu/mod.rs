//! The GPU path's building blocks, through cudarc with the CUDA libraries loaded at run time:
//! a device handle, run-time kernel compilation with an on-disk cache, and batch preprocessing.
//!
//! - [`Gpu::open`]: detects a usable device without ever panicking. cudarc panics when it
//!   cannot load `libcuda`, so its presence is checked first; no driver, no device, or a driver
//!   that fails to initialise is [`GpuError::Unavailable`] with the reason.
//! - [`kernels`]: the `cuda/*.cu` sources (embedded with `include_str!`), NVRTC compilation to
//!   PTX/CUBIN for a given `sm_XY`, and [`kernels::KernelCache`], keyed by source hash + arch +
//!   NVRTC and driver versions; a corrupt entry is rebuilt.
//! - [`preprocess::GpuPreprocessor`]: frames in device memory → one batch tensor in device
//!   memory, one kernel launch per batch, same contract as the CPU reference in
//!   [`crate::preprocess`].
//!
//! The default build needs no CUDA toolkit: without a GPU every entry point returns
//! [`GpuError::Unavailable`].

pub mod cache;
mod ffi;
pub mod kernels;
pub mod preprocess;

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaStream, DriverError};

/// Why the GPU path cannot run or failed.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// No usable GPU or CUDA library here; the reason says which.
    #[error("GPU unavailable: {0}")]
    Unavailable(String),
    /// NVRTC rejected a kernel source.
    #[error("NVRTC could not compile {name} for {arch}: {log}")]
    Compile {
        name: String,
        arch: String,
        log: String,
    },
    /// A CUDA driver call failed.
    #[error("CUDA driver: {0}")]
    Driver(String),
    /// The request cannot be run (checked before anything is launched).
    #[error("{0}")]
    Invalid(String),
}

impl From<DriverError> for GpuError {
    fn from(e: DriverError) -> Self {
        GpuError::Driver(e.to_string())
    }
}

/// Whether the CUDA driver library can be loaded; `Err` says why not.
pub fn driver_present() -> Result<(), GpuError> {
    if ffi::driver_library_present() {
        Ok(())
    } else {
        Err(GpuError::Unavailable(
            "the CUDA driver library (libcuda.so) is not installed; no NVIDIA driver on this machine"
                .into(),
        ))
    }
}

/// One CUDA device with its primary context and a stream for our work.
pub struct Gpu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    name: String,
    capability: (i32, i32),
    driver_version: i32,
}

impl Gpu {
    /// Opens device `ordinal`. Never panics: a missing driver, no device, or a failing driver
    /// is [`GpuError::Unavailable`] naming the reason.
    pub fn open(ordinal: usize) -> Result<Self, GpuError> {
        driver_present()?;
        cudarc::driver::result::init().map_err(|e| {
            GpuError::Unavailable(format!("the CUDA driver did not initialise: {e}"))
        })?;
        let count = CudaContext::device_count()
            .map_err(|e| GpuError::Unavailable(format!("cannot count CUDA devices: {e}")))?;
        if count <= 0 || ordinal >= count as usize {
            return Err(GpuError::Unavailable(format!(
                "no CUDA device {ordinal} (the driver reports {count})"
            )));
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| {
            GpuError::Unavailable(format!("cannot open CUDA device {ordinal}: {e}"))
        })?;
        let stream = ctx.new_stream()?;
        let name = ctx.name()?;
        let capability = ctx.compute_capability()?;
        let driver_version = ffi::driver_version()?;
        Ok(Gpu {
            ctx,
            stream,
            name,
            capability,
            driver_version,
        })
    }

    /// The device's own architecture, e.g. `sm_87`.
    pub fn arch(&self) -> String {
        format!("sm_{}{}", self.capability.0, self.capability.1)
    }

    /// The device's name, e.g. `Orin`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// CUDA driver version as the driver reports it (e.g. 12020 for 12.2).
    pub fn driver_version(&self) -> i32 {
        self.driver_version
    }

    /// The primary context.
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    /// The stream all of this handle's work is queued on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }
}
