//! The CUDA preprocessing kernel against the CPU reference, every element checked, on random
//! frames of odd sizes and all formats, in mixed batches (one launch per batch).
//!
//! Tolerance (the kernel repeats the CPU's arithmetic step by step, so the expected difference
//! is zero; these bounds are what the contract allows): U8 ±1 level; F32 |d| <= 1e-4 *
//! max(1, |v|); F16 |d| <= 2^-10 * max(1, |v|) (one half-precision step). The largest difference
//! seen is printed.
//!
//! Without a CUDA device the GPU tests print `skipped: no CUDA device (<reason>)` to stderr and
//! return; they never pass silently.

mod common;

use common::random::{Rng, random_frame};
use edgesight::gpu::kernels::{CacheOutcome, KernelCache};
use edgesight::gpu::preprocess::{DeviceFrame, DeviceTensor, GpuPreprocessor};
use edgesight::gpu::{Gpu, GpuError};
use edgesight::preprocess::{
    ChannelOrder, Colorimetry, ElementType, FrameView, InputSpec, Layout, PixelFormat, Resize,
    TensorSlot, YuvMatrix, YuvRange, preprocess_batch,
};
use half::f16;

/// The device, or `None` after printing why the test skips.
fn gpu_or_skip() -> Option<Gpu> {
    match Gpu::open(0) {
        Ok(gpu) => {
            eprintln!("GPU: {} ({})", gpu.name(), gpu.arch());
            Some(gpu)
        }
        Err(GpuError::Unavailable(reason)) => {
            eprintln!("skipped: no CUDA device ({reason})");
            None
        }
        Err(e) => panic!("opening the GPU failed for another reason than absence: {e}"),
    }
}

#[test]
fn opening_a_gpu_never_panics_and_says_why_not() {
    match Gpu::open(0) {
        Ok(gpu) => {
            eprintln!("GPU present: {} {}", gpu.name(), gpu.arch());
            match Gpu::open(999) {
                Err(GpuError::Unavailable(r)) => assert!(r.contains("999"), "{r}"),
                other => panic!("device 999: {:?}", other.err()),
            }
        }
        Err(GpuError::Unavailable(reason)) => {
            eprintln!("no GPU here: {reason}");
            assert!(!reason.is_empty());
        }
        Err(e) => panic!("expected Unavailable without a usable GPU, got {e}"),
    }
}

#[test]
fn preprocess_kernel_matches_cpu_reference_gpu() {
    let Some(gpu) = gpu_or_skip() else { return };
    edgesight::gpu::kernels::nvrtc_present().expect("NVRTC on a GPU machine");
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = KernelCache::new(dir.path());
    let mut pre = GpuPreprocessor::new(&gpu, &cache).expect("kernel");
    assert_eq!(pre.cache_outcome, CacheOutcome::Built);
    assert_eq!(
        GpuPreprocessor::new(&gpu, &cache)
            .expect("again")
            .cache_outcome,
        CacheOutcome::Hit
    );

    let mut rng = Rng(0xC0DA_2024);
    let colorimetries = [
        Colorimetry::default(),
        Colorimetry {
            matrix: YuvMatrix::Bt709,
            range: YuvRange::Full,
        },
    ];
    let resizes = [
        Resize::Stretch,
        Resize::Letterbox {
            pad: 114,
            center: false,
        },
        Resize::Letterbox {
            pad: 3,
            center: true,
        },
    ];
    let mut worst = [0f64; 3];
    let mut checked = 0usize;
    for (round, resize) in resizes.into_iter().enumerate() {
        // A mixed batch: every format, odd sizes, up- and downscaling.
        let buffers: Vec<_> = PixelFormat::ALL
            .iter()
            .enumerate()
            .map(|(i, &format)| {
                let w = 3 + 2 * rng.below(200) as u32;
                let h = 1 + 2 * rng.below(150) as u32;
                let (data, planes) = random_frame(format, w, h, &mut rng);
                (format, w, h, data, planes, colorimetries[(i + round) % 2])
            })
            .collect();
        let views: Vec<FrameView<'_>> = buffers
            .iter()
            .map(|(f, w, h, d, p, c)| FrameView::with_planes(*f, d, *w, *h, p).with_colorimetry(*c))
            .collect();
        let device: Vec<DeviceFrame> = views
            .iter()
            .map(|v| DeviceFrame::upload(&gpu, v).expect("upload"))
            .collect();
        let refs: Vec<&DeviceFrame> = device.iter().collect();
        for layout in [Layout::Nchw, Layout::Nhwc] {
            for order in [ChannelOrder::Rgb, ChannelOrder::Bgr] {
                for (d, dtype) in [ElementType::U8, ElementType::F16, ElementType::F32]
                    .into_iter()
                    .enumerate()
                {
                    let spec = InputSpec {
                        width: 97 + 2 * rng.below(100) as u32,
                        height: 63 + 2 * rng.below(100) as u32,
                        layout,
                        order,
                        dtype,
                        resize,
                        mean: [123.675, 116.28, 103.53],
                        std: [58.395, 57.12, 57.375],
                    };
                    let n = spec.elements() * views.len();
                    let mut out = DeviceTensor::zeros(&gpu, dtype, n).expect("alloc");
                    let t_gpu = pre.run(&gpu, &refs, &spec, &mut out).expect("launch");
                    let s = gpu.stream();
                    let (got, want): (Vec<f64>, Vec<f64>) = match &out {
                        DeviceTensor::U8(t) => {
                            let mut cpu = vec![0u8; n];
                            let t_cpu =
                                preprocess_batch(&views, &spec, TensorSlot::U8(&mut cpu), 2)
                                    .expect("cpu");
                            assert_eq!(t_gpu, t_cpu);
                            let g = s.clone_dtoh(t).expect("download");
                            (
                                g.iter().map(|&v| f64::from(v)).collect(),
                                cpu.iter().map(|&v| f64::from(v)).collect(),
                            )
                        }
                        DeviceTensor::F16(t) => {
                            let mut cpu = vec![f16::ZERO; n];
                            preprocess_batch(&views, &spec, TensorSlot::F16(&mut cpu), 2)
                                .expect("cpu");
                            let g = s.clone_dtoh(t).expect("download");
                            (
                                g.iter()
                                    .map(|&b| f64::from(f16::from_bits(b).to_f32()))
                                    .collect(),
                                cpu.iter().map(|v| f64::from(v.to_f32())).collect(),
                            )
                        }
                        DeviceTensor::F32(t) => {
                            let mut cpu = vec![0f32; n];
                            preprocess_batch(&views, &spec, TensorSlot::F32(&mut cpu), 2)
                                .expect("cpu");
                            let g = s.clone_dtoh(t).expect("download");
                            (
                                g.iter().map(|&v| f64::from(v)).collect(),
                                cpu.iter().map(|&v| f64::from(v)).collect(),
                            )
                        }
                    };
                    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                        let diff = (g - w).abs();
                        let tol = match dtype {
                            ElementType::U8 => 1.0,
                            ElementType::F16 => (1.0f64 / 1024.0) * w.abs().max(1.0),
                            ElementType::F32 => 1e-4 * w.abs().max(1.0),
                        };
                        worst[d] = worst[d].max(diff);
                        assert!(
                            diff <= tol,
                            "{resize:?} {layout:?} {order:?} {dtype:?}: element {i} (slot {}) GPU {g} CPU {w}",
                            i / spec.elements()
                        );
                    }
                    checked += got.len();
                }
            }
        }
    }
    eprintln!(
        "GPU = CPU on {checked} elements; largest difference u8 {} f16 {} f32 {}",
        worst[0], worst[1], worst[2]
    );
}

#[test]
fn bad_batches_are_refused_before_launch_gpu() {
    let Some(gpu) = gpu_or_skip() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut pre = GpuPreprocessor::new(&gpu, &KernelCache::new(dir.path())).expect("kernel");
    let data = vec![0u8; FrameView::tight_len(PixelFormat::Nv12, 16, 8)];
    let view = FrameView::tight(PixelFormat::Nv12, &data, 16, 8);
    let mut frame = DeviceFrame::upload(&gpu, &view).expect("upload");
    let spec = InputSpec {
        width: 8,
        height: 8,
        layout: Layout::Nchw,
        order: ChannelOrder::Rgb,
        dtype: ElementType::F32,
        resize: Resize::Stretch,
        mean: [0.0; 3],
        std: [1.0; 3],
    };
    let mut wrong_len = DeviceTensor::zeros(&gpu, ElementType::F32, 10).expect("alloc");
    let e = pre
        .run(&gpu, &[&frame], &spec, &mut wrong_len)
        .expect_err("length");
    assert!(e.to_string().contains("1 frames need 192"), "{e}");
    let mut wrong_type = DeviceTensor::zeros(&gpu, ElementType::U8, 192).expect("alloc");
    let e = pre
        .run(&gpu, &[&frame], &spec, &mut wrong_type)
        .expect_err("dtype");
    assert!(e.to_string().contains("wants f32"), "{e}");
    frame.planes[1].offset = data.len();
    let mut ok = DeviceTensor::zeros(&gpu, ElementType::F32, 192).expect("alloc");
    let e = pre
        .run(&gpu, &[&frame], &spec, &mut ok)
        .expect_err("plane outside");
    assert!(e.to_string().starts_with("frame 0 of the batch"), "{e}");
}
