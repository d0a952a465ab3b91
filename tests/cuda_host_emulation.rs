//! A stand-in for a GPU: the CUDA preprocessing kernel's own source (`cuda/preprocess.cu`),
//! compiled for the host by g++ through `tests/cuda_host/emulate.cpp` (the CUDA rounding
//! intrinsics mapped to the IEEE operations they are) and run thread by thread, against the CPU
//! reference. It checks the kernel's logic — descriptors, plane addressing, YUV conversion,
//! taps, letterbox, layouts, element types — on machines without a GPU; the real device is
//! checked by `tests/gpu_preprocess.rs` where there is one.
//!
//! Expected: identical bytes (the kernel repeats the CPU's arithmetic step by step). g++ comes
//! with `make setup` (build-essential); without it the test fails, saying so.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::random::{Rng, random_frame};
use common::repo;
use edgesight::gpu::preprocess::{LaunchParams, frame_descriptor};
use edgesight::preprocess::{
    ChannelOrder, Colorimetry, ElementType, FrameView, Geometry, InputSpec, Layout, PixelFormat,
    Resize, TensorSlot, YuvMatrix, YuvRange, preprocess_batch,
};
use half::f16;

fn build_emulator(dir: &Path) -> PathBuf {
    let exe = dir.join("emulate");
    let out = Command::new("g++")
        .args(["-std=c++17", "-O1", "-ffp-contract=off", "-Wall", "-Werror"])
        .arg(format!("-I{}", repo().join("cuda").display()))
        .arg(repo().join("tests/cuda_host/emulate.cpp"))
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("g++ not found ({e}): run `make setup` (build-essential)"));
    assert!(
        out.status.success(),
        "the kernel source does not compile for the host emulation:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// Runs the kernel source on the host for `frames` and returns the tensor's bytes.
fn emulate(exe: &Path, dir: &Path, frames: &[FrameView<'_>], spec: &InputSpec) -> Vec<u8> {
    let p = LaunchParams::new(spec, frames.len());
    let mut input = Vec::new();
    for v in [p.batch, p.dst_w, p.dst_h, p.dtype, p.layout, p.order] {
        input.extend(v.to_le_bytes());
    }
    for v in p.mul.iter().chain(&p.add).chain(&p.pad) {
        input.extend(v.to_le_bytes());
    }
    input.extend(p.pad_u8.to_le_bytes());
    for f in frames {
        input.extend((f.data.len() as u64).to_le_bytes());
        input.extend_from_slice(f.data);
    }
    for f in frames {
        let g = Geometry::new(f.width, f.height, spec);
        let d = frame_descriptor(0, f.format, f.width, f.height, &f.planes, f.colorimetry, &g);
        for w in d {
            input.extend(w.to_le_bytes());
        }
    }
    let (inp, out) = (dir.join("in.bin"), dir.join("out.bin"));
    std::fs::write(&inp, &input).expect("write input");
    let status = Command::new(exe)
        .arg(&inp)
        .arg(&out)
        .status()
        .expect("run emulator");
    assert!(status.success(), "emulator failed");
    std::fs::read(&out).expect("read output")
}

#[test]
fn kernel_source_emulated_on_the_host_stand_in_for_a_gpu_equals_the_cpu_reference() {
    eprintln!("stand-in for a GPU: cuda/preprocess.cu compiled by g++ and run on the host");
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = build_emulator(dir.path());
    let mut rng = Rng(0xE3_0001);
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
            pad: 9,
            center: true,
        },
    ];
    let mut checked = 0usize;
    for (round, resize) in resizes.into_iter().enumerate() {
        // A mixed batch: every format, odd sizes, one exact 3:1 ratio, up- and downscaling.
        let buffers: Vec<_> = PixelFormat::ALL
            .iter()
            .enumerate()
            .map(|(i, &format)| {
                let (w, h) = if i == 0 {
                    (63, 45)
                } else {
                    (3 + 2 * rng.below(60) as u32, 1 + 2 * rng.below(40) as u32)
                };
                let (data, planes) = random_frame(format, w, h, &mut rng);
                (format, w, h, data, planes, colorimetries[(i + round) % 2])
            })
            .collect();
        let frames: Vec<FrameView<'_>> = buffers
            .iter()
            .map(|(f, w, h, d, p, c)| FrameView::with_planes(*f, d, *w, *h, p).with_colorimetry(*c))
            .collect();
        for layout in [Layout::Nchw, Layout::Nhwc] {
            for order in [ChannelOrder::Rgb, ChannelOrder::Bgr] {
                for dtype in [ElementType::U8, ElementType::F16, ElementType::F32] {
                    let spec = InputSpec {
                        width: 21 + 2 * rng.below(20) as u32,
                        height: 15 + 2 * rng.below(20) as u32,
                        layout,
                        order,
                        dtype,
                        resize,
                        mean: [123.675, 116.28, 103.53],
                        std: [58.395, 57.12, 57.375],
                    };
                    let got = emulate(&exe, dir.path(), &frames, &spec);
                    let n = frames.len() * spec.elements();
                    let want: Vec<u8> = match dtype {
                        ElementType::U8 => {
                            let mut t = vec![0u8; n];
                            preprocess_batch(&frames, &spec, TensorSlot::U8(&mut t), 2)
                                .expect("cpu");
                            t
                        }
                        ElementType::F16 => {
                            let mut t = vec![f16::ZERO; n];
                            preprocess_batch(&frames, &spec, TensorSlot::F16(&mut t), 2)
                                .expect("cpu");
                            t.iter().flat_map(|v| v.to_le_bytes()).collect()
                        }
                        ElementType::F32 => {
                            let mut t = vec![0f32; n];
                            preprocess_batch(&frames, &spec, TensorSlot::F32(&mut t), 2)
                                .expect("cpu");
                            t.iter().flat_map(|v| v.to_le_bytes()).collect()
                        }
                    };
                    assert_eq!(got.len(), want.len());
                    let size = dtype.size();
                    if let Some(i) = (0..n)
                        .find(|&i| got[i * size..(i + 1) * size] != want[i * size..(i + 1) * size])
                    {
                        panic!(
                            "{resize:?} {layout:?} {order:?} {dtype:?}: element {i} (slot {}) emulated kernel {:?} vs CPU {:?}",
                            i / spec.elements(),
                            &got[i * size..(i + 1) * size],
                            &want[i * size..(i + 1) * size]
                        );
                    }
                    checked += n;
                }
            }
        }
    }
    eprintln!("emulated kernel = CPU reference, bit for bit, on {checked} elements");
}
