//! Benchmark (not a test): edgesight against the analysis loop a user would write in Python, on
//! the same RTSP streams and model, with bare inference measured in the same run.
//!
//! Setup: `BENCH_CAMERAS` (12) `edgesight serve-rtsp` processes (one per camera, started 37 ms
//! apart, so that, like real cameras, they send frames at independent moments) serve the
//! pedestrian clip (768x576, 10 fps, H.264; `BENCH_FPS` re-times it, frames repeated, to offer
//! more than the detector can take): 120 frames/s are offered by default. Then, one after the other, for `BENCH_SECONDS` (30) each after a
//! warm-up:
//! 1. bare inference: ONNX Runtime alone on tensors prepared beforehand, both as one session
//!    using every core and as the appliance's default setting (`model.workers` sessions side by
//!    side, `model.threads` each) — the better of the two is the ceiling;
//! 2. edgesight: `edgesight run` with the cameras at `detect_fps` = the cameras' rate (every
//!    offered frame wanted; `BENCH_DETECT_FPS` asks for fewer), `--print-detections` (one JSON
//!    line per analysed frame, with `latency_ms`: frame out of the decoder → detections and
//!    events published);
//! 3. the Python loop (`scripts/bench/baseline_loop.py`: OpenCV capture threads keeping the
//!    newest frame, ONNX Runtime with a thread per core, NumPy; same model), latency from
//!    `cap.read()` returning to detections ready.
//!
//! Latency is given twice. From the decoder's output, as each side sees it; and from the send
//! time: the servers stamp each frame's RTP timestamp when they send it, each side reads it
//! back (edgesight's `pts_ms`, OpenCV's `CAP_PROP_POS_MSEC`), and the least-delayed analysed
//! frame of each camera sets that camera's zero ([`from_sent`]). The second also counts the
//! time a frame waited before it was decoded (a decoder that fell behind, a capture thread
//! that did not get the CPU), which the first cannot see.
//!
//! Prints one table of ratios. Needs `make bench-setup` (OpenCV, NumPy and onnxruntime for
//! Python, into `.deps/python/`). Run: `cargo bench --bench vs_python`.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edgesight::config::Config;
use edgesight::latency::STAGES;
use support::{
    Killed, bare_onnxruntime, bare_onnxruntime_parallel, clip, decode_frames, env_or,
    first_line_with, repo,
};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// What edgesight does over `seconds`.
fn edgesight(urls: &[String], fps: u32, warmup: u64, seconds: u64) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = Config::demo(&repo()).expect("demo").model;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut text = format!(
        "[http]\nbind = \"127.0.0.1:{port}\"\n[model]\npath = {:?}\nfamily = \"ssd\"\nlabels = {:?}\nbackends = [\"cpu\"]\n[store]\npath = {:?}\n",
        model.path,
        model.labels,
        dir.path().join("data")
    );
    for (i, url) in urls.iter().enumerate() {
        text.push_str(&format!(
            "[[cameras]]\nname = \"cam{i}\"\nurl = \"{url}\"\ndetect_fps = {fps}\n"
        ));
    }
    let config = dir.path().join("bench.toml");
    std::fs::write(&config, text).expect("config");
    let mut app = Command::new(env!("CARGO_BIN_EXE_edgesight"))
        .args(["run", "--print-detections", "--config"])
        .arg(&config)
        .env("EDGESIGHT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("edgesight run");
    let stdout = app.stdout.take().expect("stdout");
    let app = Killed(app);
    let window = Arc::new(Mutex::new(Window {
        stages: vec![Vec::new(); STAGES.len()],
        ..Window::default()
    }));
    let reader = {
        let window = window.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut w = window.lock().expect("lock");
                if w.since.is_some()
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && let Some(l) = v["latency_ms"].as_f64()
                {
                    w.latencies.push(l);
                    let stages = &v["stages"];
                    let mut known = 0.0;
                    for (i, name) in STAGES.iter().enumerate().filter(|(_, n)| **n != "total") {
                        let ms = stages[format!("{name}_ms")].as_f64().unwrap_or(f64::NAN);
                        known += ms;
                        w.stages[i].push(ms);
                    }
                    // In place of the total, what no stage covers: a finished frame waiting to
                    // be followed and published.
                    w.stages[REST].push((l - known).max(0.0));
                    if let (Some(camera), Some(arrived), Some(pts)) = (
                        v["camera"].as_str(),
                        v["timestamp_ms"].as_f64(),
                        v["pts_ms"].as_f64(),
                    ) {
                        w.sent.push((camera.to_string(), l, arrived - pts));
                    }
                }
            }
        })
    };
    std::thread::sleep(Duration::from_secs(warmup));
    let cpu0 = cpu_seconds(app.0.id());
    window.lock().expect("lock").since = Some(Instant::now());
    std::thread::sleep(Duration::from_secs(seconds));
    let Window {
        since,
        mut latencies,
        mut stages,
        sent,
    } = std::mem::take(&mut *window.lock().expect("lock"));
    let started = since.expect("started");
    let cores = (cpu_seconds(app.0.id()) - cpu0) / started.elapsed().as_secs_f64();
    drop(app);
    let _ = reader.join();
    let fps = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    stages.iter_mut().for_each(|v| v.sort_by(f64::total_cmp));
    Run {
        fps,
        latencies,
        from_sent: from_sent(&sent),
        cores,
        stages,
    }
}

/// Latency from each frame's send time, sorted: `(camera, latency, lag)` per analysed frame,
/// the lag being how far the frame was behind its place in the stream when it left the
/// decoder (arrival − stream timestamp, plus a constant per camera). The least-lagging
/// analysed frame of each camera sets that camera's zero, so a frame that waited before it was
/// decoded counts that wait too. The Python loop computes the same from its own frames.
fn from_sent(sent: &[(String, f64, f64)]) -> Vec<f64> {
    let mut zero: std::collections::HashMap<&str, f64> = std::collections::HashMap::new();
    for (camera, _, lag) in sent {
        let z = zero.entry(camera).or_insert(*lag);
        *z = z.min(*lag);
    }
    let mut out: Vec<f64> = sent
        .iter()
        .map(|(camera, latency, lag)| latency + lag - zero[camera.as_str()])
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

/// Where the part no stage covers is kept: in the place of the total.
const REST: usize = STAGES.len() - 1;

/// While measuring.
#[derive(Default)]
struct Window {
    since: Option<Instant>,
    latencies: Vec<f64>,
    /// Per-stage times (`STAGES`, the rest in the place of the total).
    stages: Vec<Vec<f64>>,
    /// `(camera, latency, lag)` per analysed frame, see [`from_sent`].
    sent: Vec<(String, f64, f64)>,
}

/// What one edgesight run measured.
struct Run {
    /// Frames analysed per second.
    fps: f64,
    /// Sorted latencies, ms.
    latencies: Vec<f64>,
    /// Sorted latencies from the frames' send times, ms (see [`from_sent`]).
    from_sent: Vec<f64>,
    /// CPU cores used by the appliance.
    cores: f64,
    /// Sorted per-stage times, ms (`STAGES`, the part no stage covers in the place of the
    /// total).
    stages: Vec<Vec<f64>>,
}

/// Time between two RTSP servers' starts: each server process paces its own streams, so the
/// cameras deliver frames at independent moments, as real cameras do (the sessions of one
/// server process all send at the same instant).
const STAGGER: Duration = Duration::from_millis(37);

/// One `serve-rtsp` process per camera, started [`STAGGER`] apart; their URLs.
fn servers(cameras: usize, fps: u32) -> (Vec<Killed>, Vec<String>) {
    let clip = support::clip_at_fps(fps);
    (0..cameras)
        .map(|_| {
            let server = support::serve_rtsp(&clip);
            std::thread::sleep(STAGGER);
            server
        })
        .unzip()
}

/// utime + stime of a process, seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = 100.0; // USER_HZ on Linux
    f.get(11..13)
        .map(|v| v.iter().filter_map(|x| x.parse::<f64>().ok()).sum::<f64>() / ticks)
        .unwrap_or(0.0)
}

/// The Python loop's JSON summary.
fn python(urls: &[String], threads: usize, warmup: u64, seconds: u64) -> serde_json::Value {
    let model = Config::demo(&repo()).expect("demo").model;
    let script = repo().join("scripts/bench/baseline_loop.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .arg("--model")
        .arg(&model.path)
        .args([
            "--seconds",
            &seconds.to_string(),
            "--warmup",
            &warmup.to_string(),
        ])
        .args(["--threads", &threads.to_string()])
        .env("PYTHONPATH", repo().join(".deps/python"))
        .stdout(Stdio::piped());
    for url in urls {
        cmd.args(["--url", url]);
    }
    let mut child = cmd.spawn().expect("python3");
    let line = first_line_with(&mut child, false, "analysed_fps");
    let _ = child.wait();
    serde_json::from_str(&line).expect("python summary JSON")
}

fn main() {
    let cameras = env_or("BENCH_CAMERAS", 12) as usize;
    let fps = env_or("BENCH_FPS", 10) as u32;
    // What edgesight is asked to analyse per camera (the Python loop has no such setting).
    let detect_fps = env_or("BENCH_DETECT_FPS", u64::from(fps)) as u32;
    let seconds = env_or("BENCH_SECONDS", 30);
    let warmup = 8;
    let model = Config::demo(&repo()).expect("demo").model;
    let (workers, threads) = (model.workers, model.threads);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let python_ready = Command::new("python3")
        .args(["-c", "import cv2, numpy, onnxruntime"])
        .env("PYTHONPATH", repo().join(".deps/python"))
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        python_ready,
        "the Python baseline needs OpenCV, NumPy and onnxruntime in .deps/python: run `make bench-setup`"
    );

    let frames = decode_frames(&clip(), 100);
    let one_ms = bare_onnxruntime(&model, &frames, cores);
    let one_fps = 1000.0 / one_ms;
    let side_fps = bare_onnxruntime_parallel(&model, &frames, workers, threads);
    let bare_fps = one_fps.max(side_fps);

    let (_servers, urls) = servers(cameras, fps);
    let Run {
        fps: analysed,
        latencies,
        from_sent,
        cores: used,
        stages,
    } = edgesight(&urls, detect_fps, warmup, seconds);
    let py = python(&urls, cores, warmup, seconds);
    let py_fps = py["analysed_fps"].as_f64().unwrap_or(f64::NAN);
    let py_p50 = py["latency_p50_ms"].as_f64().unwrap_or(f64::NAN);
    let py_p99 = py["latency_p99_ms"].as_f64().unwrap_or(f64::NAN);
    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    let py_sent = |p: &str| py[format!("from_sent_{p}_ms")].as_f64().unwrap_or(f64::NAN);
    let (sent50, sent99) = (percentile(&from_sent, 0.5), percentile(&from_sent, 0.99));

    println!(
        "edgesight vs the Python loop: {cameras} RTSP cameras × {fps} fps (768x576 H.264), bundled SSD int8, edgesight {workers} detection workers × {threads} inference threads at detect_fps {detect_fps}, Python {cores} inference threads, {seconds} s each after {warmup} s warm-up, {cores} CPU cores"
    );
    println!();
    println!("| measure | value | ratio | target |");
    println!("|---|---|---|---|");
    println!(
        "| bare inference, one session × {cores} threads | {one_fps:.1} frames/s ({one_ms:.2} ms) | {:.2} | |",
        one_fps / bare_fps
    );
    println!(
        "| bare inference, {workers} sessions × {threads} threads side by side | {side_fps:.1} frames/s | {:.2} | |",
        side_fps / bare_fps
    );
    println!(
        "| edgesight, frames analysed (offered {}) | {analysed:.1} frames/s ({used:.2} cores) | {:.2} of bare | ≥ 0.85 |",
        cameras * fps as usize,
        analysed / bare_fps
    );
    println!(
        "| Python loop, frames analysed (grabbed {:.1}/s) | {py_fps:.1} frames/s | {:.2} of bare | |",
        py["grabbed_fps"].as_f64().unwrap_or(f64::NAN),
        py_fps / bare_fps
    );
    println!(
        "| edgesight / Python, frames analysed | | {:.2} | ≥ 1.2 |",
        analysed / py_fps
    );
    println!(
        "| latency p50, edgesight / Python | {p50:.0} / {py_p50:.0} ms | {:.2} | |",
        p50 / py_p50
    );
    println!(
        "| latency p99, edgesight / Python | {p99:.0} / {py_p99:.0} ms | {:.2} | ≤ 0.5 |",
        p99 / py_p99
    );
    println!(
        "| latency from the send time p50, edgesight / Python | {sent50:.0} / {:.0} ms | {:.2} | |",
        py_sent("p50"),
        sent50 / py_sent("p50")
    );
    println!(
        "| latency from the send time p99, edgesight / Python | {sent99:.0} / {:.0} ms | {:.2} | ≤ 0.5 |",
        py_sent("p99"),
        sent99 / py_sent("p99")
    );
    println!();
    println!("edgesight's stages (ms), p50 / p99:");
    println!();
    let names: Vec<&str> = STAGES
        .iter()
        .map(|n| match *n {
            "total" => "waiting to be published",
            stage => stage,
        })
        .collect();
    println!("| {} |", names.join(" | "));
    println!("|{}", "---|".repeat(names.len()));
    let cells: Vec<String> = stages
        .iter()
        .map(|v| format!("{:.1} / {:.1}", percentile(v, 0.5), percentile(v, 0.99)))
        .collect();
    println!("| {} |", cells.join(" | "));
}
