//! Benchmark (not a test): preprocessing a batch of 8 × 1080p NV12 frames into a 640×640 f32
//! NCHW letterbox tensor (RGB, ImageNet mean/std, pad 114 top-left).
//!
//! Rows, measured in the same run on the same frames (the pedestrian clip scaled to 1080p by
//! GStreamer):
//! 1. `opencv+numpy`: `cv2.cvtColor` NV12→RGB + `cv2.resize` + NumPy normalisation and
//!    transposition (scripts/bench/opencv_preprocess.py), OpenCV with its default threads and
//!    with one thread.
//! 2. `edgesight cpu`: `preprocess_batch` with 1 thread and with every core.
//! 3. `edgesight gpu`: the CUDA kernel, one launch per batch, in GB/s against the device's own
//!    copy bandwidth; skipped, saying why, without a GPU.
//!
//! Also prints how far our tensor is from OpenCV's (different YUV and resize rounding, so not
//! zero, but well under one level on average). Two input sizes: 1080p (a 3:1 downscale, every
//! sample on a source pixel) and 720p (2:1, every sample between two: the general case).
//! Times: median and minimum of `BENCH_ITERS` (default 20) batches. Run: `make bench` (installs
//! OpenCV + NumPy into .deps/python/), or `cargo bench --bench preprocess` after
//! `scripts/setup.sh --bench`.

mod support;

use std::process::Command;
use std::time::Instant;

use edgesight::gpu::Gpu;
use edgesight::gpu::kernels::KernelCache;
use edgesight::gpu::preprocess::{DeviceFrame, DeviceTensor, GpuPreprocessor};
use edgesight::preprocess::{
    ChannelOrder, ElementType, FrameView, InputSpec, Layout, PixelFormat, PlaneLayout, Resize,
    TensorSlot, preprocess_batch,
};
use gstreamer as gst;
use gstreamer::prelude::*;
use support::repo;

const BATCH: usize = 8;
const SIZE: u32 = 640;

fn iters() -> usize {
    std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// `BATCH` frames of the pedestrian clip as `w x h` NV12, tightly packed, one after another.
fn decode_nv12(w: u32, h: u32) -> Vec<u8> {
    let (pipeline, sink) = support::play_into_appsink(
        &support::clip(),
        &format!("videoscale ! videoconvert ! video/x-raw,format=NV12,width={w},height={h}"),
    );
    let mut out = Vec::with_capacity(BATCH * FrameView::tight_len(PixelFormat::Nv12, w, h));
    // Frames 10 apart, so the batch holds different pictures.
    let mut index = 0;
    while out.len() < out.capacity() {
        let sample = sink.pull_sample().expect("enough frames in the clip");
        index += 1;
        if index % 10 != 1 {
            continue;
        }
        let info =
            gstreamer_video::VideoInfo::from_caps(sample.caps().expect("caps")).expect("info");
        let map = sample
            .buffer()
            .expect("buffer")
            .map_readable()
            .expect("map");
        let planes: Vec<PlaneLayout> = (0..2)
            .map(|p| PlaneLayout {
                offset: info.offset()[p],
                stride: info.stride()[p] as usize,
            })
            .collect();
        let view = FrameView::with_planes(PixelFormat::Nv12, &map, w, h, &planes);
        view.validate().expect("GStreamer's NV12 layout");
        for (p, layout) in planes.iter().enumerate() {
            let (row, rows) = PixelFormat::Nv12.plane_size(p, w, h);
            for y in 0..rows {
                let start = layout.offset + y * layout.stride;
                out.extend_from_slice(&map[start..start + row]);
            }
        }
    }
    pipeline.set_state(gst::State::Null).expect("stop");
    out
}

/// (median, min) of batch times in ms.
#[derive(Clone, Copy)]
struct Stat {
    median: f64,
    min: f64,
}

fn stat(mut v: Vec<f64>) -> Stat {
    v.sort_by(f64::total_cmp);
    Stat {
        median: v[v.len() / 2],
        min: v[0],
    }
}

fn spec() -> InputSpec {
    InputSpec {
        width: SIZE,
        height: SIZE,
        layout: Layout::Nchw,
        order: ChannelOrder::Rgb,
        dtype: ElementType::F32,
        resize: Resize::Letterbox {
            pad: 114,
            center: false,
        },
        mean: [123.675, 116.28, 103.53],
        std: [58.395, 57.12, 57.375],
    }
}

/// ms per batch of OpenCV + NumPy with `threads` (0: OpenCV's default), and its tensor.
fn opencv(
    raw: &std::path::Path,
    (w, h): (u32, u32),
    threads: usize,
) -> Result<(Stat, usize, Vec<f32>), String> {
    let out = std::env::temp_dir().join(format!("edgesight-bench-opencv-{threads}.f32"));
    let result = Command::new("python3")
        .arg(repo().join("scripts/bench/opencv_preprocess.py"))
        .args([
            raw.to_str().expect("utf-8 path"),
            &w.to_string(),
            &h.to_string(),
        ])
        .args([&BATCH.to_string(), &SIZE.to_string(), &iters().to_string()])
        .arg(threads.to_string())
        .arg(&out)
        .env("PYTHONPATH", repo().join(".deps/python"))
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !result.status.success() {
        return Err(format!(
            "opencv_preprocess.py failed (run `make bench`, which installs OpenCV and NumPy): {}",
            String::from_utf8_lossy(&result.stderr).trim()
        ));
    }
    let line = String::from_utf8_lossy(&result.stdout);
    let json: serde_json::Value = serde_json::from_str(line.trim()).map_err(|e| e.to_string())?;
    let ms: Vec<f64> = json["ms"]
        .as_array()
        .ok_or("no ms")?
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .collect();
    let used = json["threads"].as_u64().unwrap_or(0) as usize;
    let bytes = std::fs::read(&out).map_err(|e| e.to_string())?;
    let tensor = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let _ = std::fs::remove_file(&out);
    Ok((stat(ms), used, tensor))
}

fn ours(frames: &[FrameView<'_>], threads: usize, out: &mut [f32]) -> Stat {
    let s = spec();
    preprocess_batch(frames, &s, TensorSlot::F32(out), threads).expect("warm-up");
    let times = (0..iters())
        .map(|_| {
            let t0 = Instant::now();
            preprocess_batch(frames, &s, TensorSlot::F32(out), threads).expect("preprocess");
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    stat(times)
}

fn gpu_rows(frames: &[FrameView<'_>]) {
    let gpu = match Gpu::open(0) {
        Ok(g) => g,
        Err(e) => {
            println!("| edgesight gpu | skipped: {e} | | | |");
            return;
        }
    };
    let cache = KernelCache::new(KernelCache::default_dir());
    let mut pre = GpuPreprocessor::new(&gpu, &cache).expect("kernel");
    let device: Vec<DeviceFrame> = frames
        .iter()
        .map(|f| DeviceFrame::upload(&gpu, f).expect("upload"))
        .collect();
    let refs: Vec<&DeviceFrame> = device.iter().collect();
    let s = spec();
    let mut out = DeviceTensor::zeros(&gpu, ElementType::F32, BATCH * s.elements()).expect("out");
    let stream = gpu.stream().clone();
    pre.run(&gpu, &refs, &s, &mut out).expect("warm-up");
    stream.synchronize().expect("sync");
    let n = iters() * 10;
    let t0 = Instant::now();
    for _ in 0..n {
        pre.run(&gpu, &refs, &s, &mut out).expect("launch");
    }
    stream.synchronize().expect("sync");
    let ms = t0.elapsed().as_secs_f64() * 1e3 / n as f64;
    let input: usize = frames.iter().map(|f| f.data.len()).sum();
    let moved = (input + out.num_bytes()) as f64;
    let gbs = moved / (ms * 1e6);
    // Device-to-device copy of a large buffer: the bandwidth ceiling.
    let big = 512usize << 20;
    let src = stream.alloc_zeros::<u8>(big).expect("alloc");
    let mut dst = stream.alloc_zeros::<u8>(big).expect("alloc");
    stream.memcpy_dtod(&src, &mut dst).expect("copy");
    stream.synchronize().expect("sync");
    let t0 = Instant::now();
    for _ in 0..10 {
        stream.memcpy_dtod(&src, &mut dst).expect("copy");
    }
    stream.synchronize().expect("sync");
    let copy_gbs = 2.0 * big as f64 * 10.0 / t0.elapsed().as_secs_f64() / 1e9;
    println!(
        "| edgesight gpu ({}, {}) | {ms:.3} (mean) | | {gbs:.0} GB/s (read + write) | {:.0}% of device copy {copy_gbs:.0} GB/s |",
        gpu.name(),
        gpu.arch(),
        100.0 * gbs / copy_gbs
    );
}

/// The table rows for one input size.
fn compare(w: u32, h: u32, cores: usize) {
    let raw = decode_nv12(w, h);
    let per = FrameView::tight_len(PixelFormat::Nv12, w, h);
    let frames: Vec<FrameView<'_>> = raw
        .chunks_exact(per)
        .map(|f| FrameView::tight(PixelFormat::Nv12, f, w, h))
        .collect();
    let path = std::env::temp_dir().join("edgesight-bench-frames.nv12");
    std::fs::write(&path, &raw).expect("write frames");
    println!();
    println!(
        "preprocess: {BATCH} x {w}x{h} NV12 -> {SIZE}x{SIZE} f32 NCHW letterbox, median of {} batches, {cores} cores",
        iters()
    );
    println!(
        "| | ms / batch (median) | ms / batch (min) | ms / frame (median) | vs opencv+numpy, default threads (median) |"
    );
    println!("|---|---|---|---|---|");
    let row = |name: &str, st: Stat, ratio: String| {
        println!(
            "| {name} | {:.1} | {:.1} | {:.2} | {ratio} |",
            st.median,
            st.min,
            st.median / BATCH as f64
        );
    };
    let mut tensor = vec![0f32; BATCH * spec().elements()];
    let baseline = match opencv(&path, (w, h), 0) {
        Ok((st, used, theirs)) => {
            row(&format!("opencv+numpy ({used} threads)"), st, "1.00".into());
            if let Ok((st1, _, _)) = opencv(&path, (w, h), 1) {
                row(
                    "opencv+numpy (1 thread)",
                    st1,
                    format!("{:.2}", st.median / st1.median),
                );
            }
            Some((st.median, theirs))
        }
        Err(e) => {
            println!("| opencv+numpy | skipped: {e} | | | |");
            None
        }
    };
    for threads in [1, cores] {
        let st = ours(&frames, threads, &mut tensor);
        let ratio = baseline.as_ref().map_or("-".to_string(), |(b, _)| {
            format!("{:.2}x faster", b / st.median)
        });
        let plural = if threads == 1 { "" } else { "s" };
        row(
            &format!("edgesight cpu ({threads} thread{plural})"),
            st,
            ratio,
        );
    }
    if let Some((_, theirs)) = &baseline {
        let s = spec();
        let (mut max, mut sum) = (0f64, 0f64);
        for (i, (a, b)) in tensor.iter().zip(theirs).enumerate() {
            let c = (i / (SIZE * SIZE) as usize) % 3;
            let d = f64::from((a - b).abs() * s.std[c]);
            max = max.max(d);
            sum += d;
        }
        println!(
            "agreement with OpenCV, in 0..255 levels: mean {:.3}, max {:.1} (OpenCV clamps sub-black \
             luma, Y < 16, to black before converting; we follow the BT.601 formula)",
            sum / tensor.len() as f64,
            max
        );
    }
    gpu_rows(&frames);
    let _ = std::fs::remove_file(&path);
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // 1080p: a 3:1 downscale (every sample falls on a source pixel); 720p: 2:1 (every sample
    // between two), the general case.
    compare(1920, 1080, cores);
    compare(1280, 720, cores);
}
