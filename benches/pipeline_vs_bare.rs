//! Benchmark (not a test): the bundled detector's cost per frame through edgesight vs ONNX
//! Runtime alone, on the same frames of the pedestrian clip, measured in one run.
//!
//! Rows:
//! 1. `onnxruntime alone`: `Session::run` on tensors prepared beforehand (the floor).
//! 2. `detector`: edgesight's preprocess → infer → postprocess on the same decoded frames.
//! 3. `appliance`: the whole product (RTSP server in its own process → GStreamer decode →
//!    slot → scheduler → detector → API) with enough cameras to keep analysis saturated;
//!    ms/frame = 1 / frames analysed per second.
//!
//! Each row is printed with its ratio to row 1 of the same model. Both SSD variants are
//! measured: the bundled int8 (QDQ) model and the float32 export from `../shared/models/`
//! (skipped, saying so, when absent). Run: `make bench` (or `cargo bench --bench pipeline_vs_bare`).
//! Environment: `BENCH_FRAMES` (default 200), `BENCH_CAMERAS` (6), `BENCH_SECONDS` (20).

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use edgesight::config::{Config, ModelConfig};
use edgesight::detector::Detector;
use edgesight::frame::Frame;
use edgesight::postprocess::LabeledDetection;
use support::{
    Killed, bare_onnxruntime, clip, decode_frames, env_or, first_line_with, get_json, ms_per, repo,
    serve_rtsp,
};

/// ms/frame through the detector, and every frame's detections.
fn through_detector(model: &ModelConfig, frames: &[Frame]) -> (f64, Vec<Vec<LabeledDetection>>) {
    let mut detector = Detector::load(model, &repo()).expect("detector");
    detector.detect(frames[0].view()).expect("warm-up");
    let mut found = Vec::with_capacity(frames.len());
    let t0 = Instant::now();
    for f in frames {
        found.push(detector.detect(f.view()).expect("detect").0);
    }
    (ms_per(t0.elapsed(), frames.len()), found)
}

fn iou(a: &LabeledDetection, b: &LabeledDetection) -> f32 {
    let (a, b) = (a.bbox, b.bbox);
    let w = (a.x2.min(b.x2) - a.x1.max(b.x1)).max(0.0);
    let h = (a.y2.min(b.y2) - a.y1.max(b.y1)).max(0.0);
    let inter = w * h;
    let union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Share of `reference` detections that `other` also found (same label, IoU ≥ 0.5).
fn agreement(
    reference: &[Vec<LabeledDetection>],
    other: &[Vec<LabeledDetection>],
) -> (usize, usize) {
    let mut matched = 0;
    let mut total = 0;
    for (r, o) in reference.iter().zip(other) {
        for d in r {
            total += 1;
            if o.iter().any(|e| e.label == d.label && iou(d, e) >= 0.5) {
                matched += 1;
            }
        }
    }
    (matched, total)
}

/// The whole appliance with `cameras` RTSP cameras at 30 fps detect rate each (more than the
/// detector can do, so analysis never waits): returns (ms/frame, frames analysed/s, p50/max
/// latency of the latest results sampled each second).
fn appliance(model: &ModelConfig, cameras: usize, seconds: u64) -> (f64, f64, f64) {
    let exe = env!("CARGO_BIN_EXE_edgesight");
    let (_server, url) = serve_rtsp(&clip());
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = format!(
        "[http]\nbind = \"127.0.0.1:0\"\n[model]\npath = {:?}\nfamily = \"ssd\"\nlabels = {:?}\nthreads = {}\nworkers = 1\n",
        model.path, model.labels, model.threads
    );
    for i in 0..cameras {
        text.push_str(&format!(
            "[[cameras]]\nname = \"cam{i}\"\nurl = \"{url}\"\ndetect_fps = 30\n"
        ));
    }
    let config = dir.path().join("bench.toml");
    std::fs::write(&config, text).expect("config");
    let mut app = Command::new(exe)
        .args(["run", "--config", config.to_str().expect("utf-8")])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("appliance");
    let line = first_line_with(&mut app, true, "console and API on http://");
    let base = line[line.find("http://").expect("url")..]
        .trim()
        .to_string();
    let _app = Killed(app);
    let analysed = || -> u64 {
        get_json(&format!("{base}/api/cameras"))
            .as_array()
            .expect("cameras")
            .iter()
            .map(|c| c["frames_analysed"].as_u64().unwrap_or(0))
            .sum()
    };
    std::thread::sleep(Duration::from_secs(8)); // connect and warm up
    let (n0, t0) = (analysed(), Instant::now());
    let mut latencies = Vec::new();
    while t0.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1));
        for i in 0..cameras {
            let latest = get_json(&format!("{base}/api/cameras/cam{i}/detections/latest"));
            if let Some(l) = latest["latency_ms"].as_f64() {
                latencies.push(l);
            }
        }
    }
    let fps = (analysed() - n0) as f64 / t0.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let p50 = latencies
        .get(latencies.len() / 2)
        .copied()
        .unwrap_or(f64::NAN);
    (1000.0 / fps, fps, p50)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let n = env_or("BENCH_FRAMES", 200) as usize;
    let cameras = env_or("BENCH_CAMERAS", 6) as usize;
    let seconds = env_or("BENCH_SECONDS", 20);
    let frames = decode_frames(&clip(), n);
    println!(
        "edgesight benchmark: {} frames of {} ({}x{}), {} CPU cores",
        frames.len(),
        clip().display(),
        frames[0].width,
        frames[0].height,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let bundled = Config::demo(&repo()).expect("demo config").model;
    let mut variants = vec![("int8 QDQ (bundled)", bundled.clone())];
    let float = repo().join("../shared/models/ssd_mobilenet_v2_coco_quant.onnx");
    if float.is_file() {
        variants.push((
            "float32",
            ModelConfig {
                path: float,
                sha256: None,
                ..bundled.clone()
            },
        ));
    } else {
        println!("float32 variant skipped: {} is absent", float.display());
    }
    println!();
    println!("| model | path | threads | ms/frame | ratio to ONNX Runtime alone |");
    println!("|---|---|---|---|---|");
    let mut all_found = Vec::new();
    for (name, model) in &variants {
        for threads in [1, 2] {
            let model = ModelConfig {
                threads,
                ..model.clone()
            };
            let bare = bare_onnxruntime(&model, &frames, threads);
            println!("| {name} | onnxruntime alone | {threads} | {bare:.2} | 1.00 |");
            let (det, found) = through_detector(&model, &frames);
            println!(
                "| {name} | detector (preprocess+infer+postprocess) | {threads} | {det:.2} | {:.2} |",
                det / bare
            );
            if threads == 1 {
                all_found.push((name, found));
            }
            let (ms, fps, p50) = appliance(&model, cameras, seconds);
            println!(
                "| {name} | appliance, {cameras} RTSP cameras, saturated ({fps:.1} frames/s analysed, latency p50 {p50:.0} ms) | {threads} | {ms:.2} | {:.2} |",
                ms / bare
            );
        }
    }
    println!();
    for (name, found) in &all_found {
        let n: usize = found.iter().map(Vec::len).sum();
        let persons: usize = found
            .iter()
            .flatten()
            .filter(|d| d.label == "person")
            .count();
        let cars: usize = found.iter().flatten().filter(|d| d.label == "car").count();
        println!(
            "{name}: {n} detections on {} frames ({persons} person, {cars} car)",
            found.len()
        );
    }
    if let [(a, fa), (b, fb)] = &all_found[..] {
        let (m, t) = agreement(fb, fa);
        println!(
            "{a} finds {m} of {b}'s {t} detections ({:.1}%; same label, IoU >= 0.5)",
            100.0 * m as f64 / t.max(1) as f64
        );
        let (m, t) = agreement(fa, fb);
        println!(
            "{b} finds {m} of {a}'s {t} detections ({:.1}%)",
            100.0 * m as f64 / t.max(1) as f64
        );
    }
}
