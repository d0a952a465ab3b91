//! Batch preprocessing on the GPU: frames in device memory → one batch tensor in device memory,
//! with one launch of `es_preprocess_batch` (`cuda/preprocess.cu`) per batch.
//!
//! Inputs: [`DeviceFrame`]s (a device buffer plus the same format/plane/colorimetry description
//! as a [`FrameView`]), an [`InputSpec`], and a [`DeviceTensor`] of at least
//! `frames * spec.elements()` elements of `spec.dtype` (for instance the TensorRT backend's
//! input binding, sized for its largest batch, so nothing crosses back to the host between
//! preprocessing and inference).
//!
//! Output: slot `i` of the tensor holds frame `i`, exactly as [`crate::preprocess`] computes it
//! on the CPU (same geometry, taps, fixed-point YUV conversion and rounding); one [`Transform`]
//! per frame. The work is queued on the [`Gpu`]'s stream; the call does not wait for it.
//!
//! Failure: every check (frame layouts against their buffer sizes, spec, tensor type and
//! length, batch size) runs before anything is queued and is a [`GpuError::Invalid`] naming the
//! frame and numbers; driver errors are [`GpuError::Driver`].
#![allow(unsafe_code)]

use cudarc::driver::{CudaFunction, CudaSlice, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::Ptx;

use super::kernels::{self, CacheOutcome, KernelCache};
use super::{Gpu, GpuError};
use crate::preprocess::{
    Colorimetry, ElementType, FrameView, Geometry, InputSpec, Layout, PixelFormat, PlaneLayout,
    PreprocessError, Transform, YuvCoefficients, normalisation, pad_value, validate_layout,
};

/// 64-bit words per frame descriptor; must match `ES_DESC_WORDS` in `cuda/preprocess.cu`.
pub const DESC_WORDS: usize = 24;
/// Word indices of a frame descriptor; must match `enum DescWord` in `cuda/preprocess.cu`
/// (a test compares them).
pub const DESC_LAYOUT: &[(&str, usize)] = &[
    ("D_DATA", 0),
    ("D_FORMAT", 1),
    ("D_WIDTH", 2),
    ("D_HEIGHT", 3),
    ("D_OFFSET0", 4),
    ("D_STRIDE0", 7),
    ("D_NEW_W", 10),
    ("D_NEW_H", 11),
    ("D_OFF_X", 12),
    ("D_OFF_Y", 13),
    ("D_INV_SX", 14),
    ("D_INV_SY", 15),
    ("D_Y_OFFSET", 16),
    ("D_Y_MUL", 17),
    ("D_R_V", 18),
    ("D_G_U", 19),
    ("D_G_V", 20),
    ("D_B_U", 21),
    ("ES_DESC_WORDS", DESC_WORDS),
];

/// The kernel's entry point.
const ENTRY: &str = "es_preprocess_batch";
/// Threads per block (x, y).
const BLOCK: (u32, u32) = (32, 8);

/// A frame in device memory.
pub struct DeviceFrame {
    /// All planes' bytes.
    pub data: CudaSlice<u8>,
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub planes: [PlaneLayout; 3],
    pub colorimetry: Colorimetry,
}

impl DeviceFrame {
    /// Copies `frame`'s whole buffer to the device, keeping its layout. Checks it first.
    pub fn upload(gpu: &Gpu, frame: &FrameView<'_>) -> Result<Self, GpuError> {
        frame
            .validate()
            .map_err(|e| GpuError::Invalid(e.to_string()))?;
        let data = gpu.stream().clone_htod(frame.data)?;
        Ok(DeviceFrame {
            data,
            format: frame.format,
            width: frame.width,
            height: frame.height,
            planes: frame.planes,
            colorimetry: frame.colorimetry,
        })
    }

    fn validate(&self) -> Result<(), PreprocessError> {
        validate_layout(
            self.format,
            self.width,
            self.height,
            &self.planes,
            self.data.len(),
        )
    }
}

/// A tensor in device memory. F16 elements are stored as their IEEE bit patterns (`u16`).
pub enum DeviceTensor {
    U8(CudaSlice<u8>),
    F16(CudaSlice<u16>),
    F32(CudaSlice<f32>),
}

impl DeviceTensor {
    /// A zeroed tensor of `len` elements of `dtype`.
    pub fn zeros(gpu: &Gpu, dtype: ElementType, len: usize) -> Result<Self, GpuError> {
        let s = gpu.stream();
        Ok(match dtype {
            ElementType::U8 => DeviceTensor::U8(s.alloc_zeros(len)?),
            ElementType::F16 => DeviceTensor::F16(s.alloc_zeros(len)?),
            ElementType::F32 => DeviceTensor::F32(s.alloc_zeros(len)?),
        })
    }

    pub fn len(&self) -> usize {
        match self {
            DeviceTensor::U8(s) => s.len(),
            DeviceTensor::F16(s) => s.len(),
            DeviceTensor::F32(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dtype(&self) -> ElementType {
        match self {
            DeviceTensor::U8(_) => ElementType::U8,
            DeviceTensor::F16(_) => ElementType::F16,
            DeviceTensor::F32(_) => ElementType::F32,
        }
    }

    /// Size in bytes.
    pub fn num_bytes(&self) -> usize {
        self.len() * self.dtype().size()
    }
}

/// The compiled preprocessing kernel, ready to launch on one device.
pub struct GpuPreprocessor {
    function: CudaFunction,
    desc: Option<CudaSlice<u64>>,
    desc_host: Vec<u64>,
    /// How the kernel binary was obtained (for logs and tests).
    pub cache_outcome: CacheOutcome,
}

impl GpuPreprocessor {
    /// Compiles (or takes from `cache`) the kernel for `gpu`'s own architecture and loads it.
    /// A cached binary the driver refuses is removed and compiled again, once.
    pub fn new(gpu: &Gpu, cache: &KernelCache) -> Result<Self, GpuError> {
        let arch = gpu.arch();
        let (major, minor) = kernels::nvrtc_version()?;
        let versions = format!("nvrtc {major}.{minor}; driver {}", gpu.driver_version());
        let k = &kernels::PREPROCESS;
        let build = || kernels::compile_cubin(k, &arch);
        let (cubin, mut outcome) = cache.get_or_build(k, &arch, &versions, build)?;
        let module = match gpu.context().load_module(Ptx::from_binary(cubin)) {
            Ok(m) => m,
            Err(e) if outcome == CacheOutcome::Hit => {
                tracing::warn!("cached kernel refused by the driver ({e}); compiling again");
                cache.invalidate(k, &arch, &versions);
                let (cubin, _) = cache.get_or_build(k, &arch, &versions, build)?;
                outcome = CacheOutcome::Rebuilt(format!("driver refused the cached binary: {e}"));
                gpu.context().load_module(Ptx::from_binary(cubin))?
            }
            Err(e) => return Err(e.into()),
        };
        Ok(GpuPreprocessor {
            function: module.load_function(ENTRY)?,
            desc: None,
            desc_host: Vec::new(),
            cache_outcome: outcome,
        })
    }

    /// Queues the preprocessing of `frames` into `out` on `gpu`'s stream (see the module docs).
    pub fn run(
        &mut self,
        gpu: &Gpu,
        frames: &[&DeviceFrame],
        spec: &InputSpec,
        out: &mut DeviceTensor,
    ) -> Result<Vec<Transform>, GpuError> {
        let invalid = |e: PreprocessError| GpuError::Invalid(e.to_string());
        for (index, f) in frames.iter().enumerate() {
            f.validate().map_err(|e| {
                invalid(PreprocessError::InBatch {
                    index,
                    error: Box::new(e),
                })
            })?;
        }
        spec.validate().map_err(invalid)?;
        if out.dtype() != spec.dtype {
            return Err(invalid(PreprocessError::WrongDtype {
                expected: spec.dtype,
                got: out.dtype(),
            }));
        }
        // The tensor may have more slots than frames (an engine's input binding sized for its
        // largest batch): the slots past the frames are left as they are.
        let expected = frames.len().saturating_mul(spec.elements());
        if out.len() < expected {
            return Err(invalid(PreprocessError::WrongBatchLength {
                frames: frames.len(),
                expected,
                got: out.len(),
            }));
        }
        if frames.is_empty() {
            return Ok(Vec::new());
        }
        if frames.len() > 65_535 {
            return Err(GpuError::Invalid(format!(
                "a batch of {} frames exceeds one launch's 65535",
                frames.len()
            )));
        }
        let stream = gpu.stream().clone();
        let geometries: Vec<Geometry> = frames
            .iter()
            .map(|f| Geometry::new(f.width, f.height, spec))
            .collect();
        self.desc_host.clear();
        // The guards record, when dropped after the launch, that the kernel read these frames.
        let mut reads = Vec::with_capacity(frames.len());
        for (f, g) in frames.iter().zip(&geometries) {
            let (ptr, guard) = cudarc::driver::DevicePtr::device_ptr(&f.data, &stream);
            reads.push(guard);
            self.desc_host.extend(frame_descriptor(
                ptr,
                f.format,
                f.width,
                f.height,
                &f.planes,
                f.colorimetry,
                g,
            ));
        }
        if self
            .desc
            .as_ref()
            .is_none_or(|d| d.len() < self.desc_host.len())
        {
            self.desc = Some(stream.alloc_zeros::<u64>(self.desc_host.len())?);
        }
        let desc = self.desc.as_mut().expect("allocated just above");
        stream.memcpy_htod(&self.desc_host, desc)?;

        let p = LaunchParams::new(spec, frames.len());
        let cfg = LaunchConfig {
            grid_dim: (
                spec.width.div_ceil(BLOCK.0),
                spec.height.div_ceil(BLOCK.1),
                frames.len() as u32,
            ),
            block_dim: (BLOCK.0, BLOCK.1, 1),
            shared_mem_bytes: 0,
        };
        let mut b = stream.launch_builder(&self.function);
        b.arg(&*desc).arg(&p.batch);
        match out {
            DeviceTensor::U8(t) => b.arg(t),
            DeviceTensor::F16(t) => b.arg(t),
            DeviceTensor::F32(t) => b.arg(t),
        };
        b.arg(&p.dst_w)
            .arg(&p.dst_h)
            .arg(&p.dtype)
            .arg(&p.layout)
            .arg(&p.order);
        for v in p.mul.iter().chain(&p.add).chain(&p.pad) {
            b.arg(v);
        }
        b.arg(&p.pad_u8);
        // SAFETY: the argument list matches `es_preprocess_batch`'s parameters in order and type
        // (pointer, int, pointer, 5 ints, 9 floats, int); every frame was checked to lie inside
        // its device buffer and `out` holds exactly `frames * spec.elements()` elements, so
        // every read and write of the kernel is in bounds. The buffers outlive the launch on
        // this stream (cudarc orders their release after it).
        unsafe { b.launch(cfg) }?;
        drop(reads);
        Ok(geometries.iter().map(Geometry::transform).collect())
    }
}

/// The scalar arguments of `es_preprocess_batch`, in the order they follow the pointers
/// (`desc, batch, out, dst_w, dst_h, dtype, layout, order, mul[3], add[3], pad[3], pad_u8`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LaunchParams {
    pub batch: i32,
    pub dst_w: i32,
    pub dst_h: i32,
    /// 0 u8, 1 f16, 2 f32.
    pub dtype: i32,
    /// 0 NCHW, 1 NHWC.
    pub layout: i32,
    /// 0 RGB, 1 BGR.
    pub order: i32,
    pub mul: [f32; 3],
    pub add: [f32; 3],
    pub pad: [f32; 3],
    pub pad_u8: i32,
}

impl LaunchParams {
    /// For a validated `spec` and `batch` frames: the same numbers the CPU path uses.
    pub fn new(spec: &InputSpec, batch: usize) -> Self {
        let (mul, add, pad) = normalisation(spec);
        LaunchParams {
            batch: batch as i32,
            dst_w: spec.width as i32,
            dst_h: spec.height as i32,
            dtype: match spec.dtype {
                ElementType::U8 => 0,
                ElementType::F16 => 1,
                ElementType::F32 => 2,
            },
            layout: match spec.layout {
                Layout::Nchw => 0,
                Layout::Nhwc => 1,
            },
            order: match spec.order {
                crate::preprocess::ChannelOrder::Rgb => 0,
                crate::preprocess::ChannelOrder::Bgr => 1,
            },
            mul,
            add,
            pad,
            pad_u8: i32::from(pad_value(spec.resize)),
        }
    }
}

/// The kernel's description of one frame at device address `ptr` (see `enum DescWord` in
/// `cuda/preprocess.cu`), with `g` its geometry for the spec.
pub fn frame_descriptor(
    ptr: u64,
    format: PixelFormat,
    width: u32,
    height: u32,
    planes: &[PlaneLayout; 3],
    colorimetry: Colorimetry,
    g: &Geometry,
) -> [u64; DESC_WORDS] {
    let c = YuvCoefficients::new(colorimetry);
    let mut d = [0u64; DESC_WORDS];
    d[0] = ptr;
    d[1] = match format {
        PixelFormat::Nv12 => 0,
        PixelFormat::I420 => 1,
        PixelFormat::Rgb => 2,
        PixelFormat::Bgr => 3,
        PixelFormat::Rgba => 4,
        PixelFormat::Bgra => 5,
    };
    d[2] = u64::from(width);
    d[3] = u64::from(height);
    for (p, layout) in planes.iter().enumerate() {
        d[4 + p] = layout.offset as u64;
        d[7 + p] = layout.stride as u64;
    }
    d[10] = g.new_w as u64;
    d[11] = g.new_h as u64;
    d[12] = g.off_x as u64;
    d[13] = g.off_y as u64;
    d[14] = g.inv_sx.to_bits();
    d[15] = g.inv_sy.to_bits();
    let signed = |v: i32| i64::from(v) as u64;
    d[16] = signed(c.y_offset);
    d[17] = signed(c.y_mul);
    d[18] = signed(c.r_v);
    d[19] = signed(c.g_u);
    d[20] = signed(c.g_v);
    d[21] = signed(c.b_u);
    d
}
