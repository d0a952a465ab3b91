//! Helpers shared by the benchmarks: the repository, the pedestrian clip, decoded frames,
//! bare ONNX Runtime, child processes that are killed when dropped, and an RTSP server.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use edgesight::config::ModelConfig;
use edgesight::detector::read_verified;
use edgesight::frame::Frame;
use edgesight::infer::onnx::OnnxBackend;
use edgesight::infer::{Backend, InputData};
use edgesight::preprocess::{
    ChannelOrder, ElementType, InputSpec, Layout, Resize, TensorSlot, preprocess_into,
};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn clip() -> PathBuf {
    [
        repo().join("../shared/media/vtest.mp4"),
        repo().join(".deps/media/vtest.mp4"),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .expect("pedestrian clip missing: run `make setup`")
}

/// Plays `path` through `filesrc ! decodebin ! {convert} ! appsink`, as fast as it decodes; the
/// caller pulls the samples and sets the pipeline to `Null`.
pub fn play_into_appsink(path: &Path, convert: &str) -> (gst::Pipeline, gst_app::AppSink) {
    gst::init().expect("gstreamer");
    let pipeline = gst::parse::launch(&format!(
        "filesrc location=\"{}\" ! decodebin ! {convert} ! appsink name=sink sync=false max-buffers=4",
        path.display()
    ))
    .expect("pipeline")
    .downcast::<gst::Pipeline>()
    .expect("a pipeline");
    let sink = pipeline
        .by_name("sink")
        .expect("sink")
        .downcast::<gst_app::AppSink>()
        .expect("appsink");
    pipeline.set_state(gst::State::Playing).expect("play");
    (pipeline, sink)
}

/// Decodes the first `n` frames of `path` to packed RGB.
pub fn decode_frames(path: &Path, n: usize) -> Vec<Frame> {
    let (pipeline, sink) = play_into_appsink(path, "videoconvert ! video/x-raw,format=RGB");
    let mut frames = Vec::with_capacity(n);
    while frames.len() < n {
        let Ok(sample) = sink.pull_sample() else {
            break;
        };
        let info =
            gstreamer_video::VideoInfo::from_caps(sample.caps().expect("caps")).expect("info");
        let map = sample
            .buffer()
            .expect("buffer")
            .map_readable()
            .expect("map");
        let (w, h, stride) = (
            info.width() as usize,
            info.height() as usize,
            info.stride()[0] as usize,
        );
        let mut rgb = Vec::with_capacity(w * h * 3);
        for row in 0..h {
            rgb.extend_from_slice(&map[row * stride..row * stride + w * 3]);
        }
        frames.push(Frame::from_rgb(w as u32, h as u32, rgb));
    }
    pipeline.set_state(gst::State::Null).expect("stop");
    frames
}

pub fn ms_per(elapsed: Duration, n: usize) -> f64 {
    elapsed.as_secs_f64() * 1000.0 / n as f64
}

/// ms/frame of ONNX Runtime alone on tensors prepared beforehand, with `threads` intra-op threads.
pub fn bare_onnxruntime(model: &ModelConfig, frames: &[Frame], threads: usize) -> f64 {
    let mut backend = bare_session(model, threads);
    let tensors = bare_tensors(frames);
    let t0 = bare_pass(&mut backend, &tensors);
    ms_per(t0, tensors.len())
}

/// Frames/s of ONNX Runtime alone with `sessions` sessions of `threads` intra-op threads each,
/// side by side (one OS thread per session), on tensors prepared beforehand.
pub fn bare_onnxruntime_parallel(
    model: &ModelConfig,
    frames: &[Frame],
    sessions: usize,
    threads: usize,
) -> f64 {
    let tensors = bare_tensors(frames);
    let mut backends: Vec<_> = (0..sessions)
        .map(|_| bare_session(model, threads))
        .collect();
    let start = std::sync::Barrier::new(sessions);
    let elapsed: Vec<Duration> = std::thread::scope(|scope| {
        let runs: Vec<_> = backends
            .iter_mut()
            .map(|backend| {
                let (tensors, start) = (&tensors, &start);
                scope.spawn(move || {
                    start.wait();
                    bare_pass(backend, tensors)
                })
            })
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("session"))
            .collect()
    });
    let slowest = elapsed.iter().max().copied().unwrap_or_default();
    (sessions * tensors.len()) as f64 / slowest.as_secs_f64()
}

fn bare_session(model: &ModelConfig, threads: usize) -> Box<OnnxBackend> {
    let (bytes, _) = read_verified(model).expect("model");
    Box::new(OnnxBackend::load(&repo(), &model.path, &bytes, threads).expect("onnxruntime"))
}

fn bare_tensors(frames: &[Frame]) -> Vec<Vec<u8>> {
    let spec = InputSpec {
        width: 300,
        height: 300,
        layout: Layout::Nhwc,
        order: ChannelOrder::Rgb,
        dtype: ElementType::U8,
        resize: Resize::Stretch,
        mean: [0.0; 3],
        std: [1.0; 3],
    };
    frames
        .iter()
        .map(|f| {
            let mut t = vec![0u8; spec.elements()];
            preprocess_into(f.view(), &spec, TensorSlot::U8(&mut t)).expect("preprocess");
            t
        })
        .collect()
}

/// One warm-up run, then every tensor once; the time of the latter.
fn bare_pass(backend: &mut OnnxBackend, tensors: &[Vec<u8>]) -> Duration {
    let shape = [1i64, 300, 300, 3];
    backend
        .run(InputData::U8(&tensors[0]), &shape)
        .expect("warm-up");
    let t0 = Instant::now();
    for t in tensors {
        backend.run(InputData::U8(t), &shape).expect("run");
    }
    t0.elapsed()
}

/// A child process, killed when dropped.
pub struct Killed(pub Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first line of the child's stdout (or stderr) that contains `needle`.
pub fn first_line_with(child: &mut Child, stderr: bool, needle: &str) -> String {
    let reader: Box<dyn std::io::Read + Send> = if stderr {
        Box::new(child.stderr.take().expect("stderr"))
    } else {
        Box::new(child.stdout.take().expect("stdout"))
    };
    let needle = needle.to_string();
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if !sent && line.contains(&needle) {
                let _ = tx.send(line);
                sent = true;
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("child started")
}

pub fn get_json(url: &str) -> serde_json::Value {
    reqwest::blocking::get(url)
        .expect("GET")
        .json()
        .expect("json")
}

/// Starts `edgesight serve-rtsp` on `clip` (a free port); returns it and its URL.
pub fn serve_rtsp(clip: &Path) -> (Killed, String) {
    let mut server = Command::new(env!("CARGO_BIN_EXE_edgesight"))
        .args([
            "serve-rtsp",
            clip.to_str().expect("utf-8"),
            "--port",
            "0",
            "--mount",
            "/clip",
        ])
        .stdout(Stdio::piped())
        .stdin(Stdio::piped())
        .spawn()
        .expect("serve-rtsp");
    let url = first_line_with(&mut server, false, "ready ")
        .trim_start_matches("ready ")
        .to_string();
    (Killed(server), url)
}

/// The pedestrian clip re-timed to `fps` frames per second (frames repeated by `videorate`,
/// same size), made once with `gst-launch-1.0` and cached in `.deps/cache/`; the clip itself
/// for its own 10 fps.
pub fn clip_at_fps(fps: u32) -> PathBuf {
    if fps == 10 {
        return clip();
    }
    let out = repo().join(format!(".deps/cache/vtest-{fps}fps.mp4"));
    if out.is_file() {
        return out;
    }
    let part = out.with_extension("mp4.part");
    let status = Command::new("gst-launch-1.0")
        .args(["-q", "-e", "filesrc"])
        .arg(format!("location={}", clip().display()))
        .args(["!", "decodebin", "!", "videoconvert", "!", "videorate", "!"])
        .arg(format!("video/x-raw,framerate={fps}/1"))
        .args(["!", "x264enc", "speed-preset=veryfast", "bframes=0"])
        .arg(format!("key-int-max={fps}"))
        .args([
            "!",
            "video/x-h264,profile=constrained-baseline",
            "!",
            "h264parse",
        ])
        .args(["!", "mp4mux", "!", "filesink"])
        .arg(format!("location={}", part.display()))
        .status()
        .expect("gst-launch-1.0");
    assert!(status.success(), "cannot re-time the clip to {fps} fps");
    std::fs::rename(&part, &out).expect("rename");
    out
}
