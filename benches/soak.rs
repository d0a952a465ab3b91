//! Soak benchmark (not a test): 8 (`SOAK_CAMERAS`) RTSP cameras × 720p30 H.264 through the whole appliance for
//! `SOAK_SECONDS` (default 600), sampled once a second.
//!
//! Setup:
//! - A 1280x720, 30 fps, constrained-baseline H.264 clip is made once from the pedestrian clip
//!   (10 fps, frames duplicated to 30 fps by `videorate`) with a `gst-launch-1.0` child and
//!   cached at `.deps/cache/soak-720p.mp4`.
//! - `edgesight serve-rtsp` serves it (its own process, H.264 passed through, looped).
//! - `edgesight run` analyses 8 cameras (`cam0`..`cam7`) on that URL with the bundled model at
//!   `detect_fps = 5` each: every stream is decoded in full (30 fps), 5 frames/s of each are
//!   analysed.
//!
//! Each second: the appliance's RSS (`/proc/PID/status` VmRSS, and its anonymous and
//! file-backed parts) and CPU time (`/proc/PID/stat` utime+stime), `/api/cameras` (frame
//! counters) and every camera's `/api/cameras/NAME/detections/latest` (frame age = now − the
//! analysed frame's arrival).
//! The first 60 s (or 10% of the run, whichever is smaller) are warm-up; the rest is summarised
//! as a Markdown table on stdout (RSS slope from a least-squares fit, CPU per stream, decode
//! fps per core, frame age percentiles). Samples go to `target/soak-samples.csv`.
//!
//! Run: `cargo bench --bench soak`; `SOAK_SECONDS=60 cargo bench --bench soak` for a short one.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Cameras unless `SOAK_CAMERAS` says otherwise.
const DEFAULT_CAMERAS: usize = 8;
const CLIP_FPS: u64 = 30;
const DETECT_FPS: u64 = 5;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pedestrian_clip() -> PathBuf {
    [
        repo().join("../shared/media/vtest.mp4"),
        repo().join(".deps/media/vtest.mp4"),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .expect("pedestrian clip (vtest.mp4) missing: run `make setup`")
}

/// The 720p30 H.264 clip, transcoded once and cached.
fn soak_clip() -> PathBuf {
    let out = repo().join(".deps/cache/soak-720p.mp4");
    if out.is_file() {
        return out;
    }
    let src = pedestrian_clip();
    std::fs::create_dir_all(out.parent().expect("parent")).expect("create .deps/cache");
    let part = out.with_extension("mp4.part");
    eprintln!(
        "soak: transcoding {} to 1280x720 30 fps H.264 (once) ...",
        src.display()
    );
    let location = |p: &PathBuf| format!("location={}", p.display());
    let output = Command::new("gst-launch-1.0")
        .args(["-q", "-e", "filesrc"])
        .arg(location(&src))
        .args([
            "!",
            "decodebin",
            "!",
            "videoconvert",
            "!",
            "videoscale",
            "!",
            "video/x-raw,width=1280,height=720,pixel-aspect-ratio=1/1",
            "!",
            "videorate",
            "!",
            "video/x-raw,framerate=30/1",
            "!",
            "x264enc",
            "speed-preset=veryfast",
            "key-int-max=30",
            "bframes=0",
            "!",
            "video/x-h264,profile=constrained-baseline",
            "!",
            "h264parse",
            "!",
            "mp4mux",
            "!",
            "filesink",
        ])
        .arg(location(&part))
        .output()
        .expect("gst-launch-1.0 (GStreamer tools) not found: run `make setup`");
    if !output.status.success() || !part.is_file() {
        let _ = std::fs::remove_file(&part);
        panic!(
            "transcoding the soak clip failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::fs::rename(&part, &out).expect("rename the soak clip into place");
    out
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads `reader` line by line on a thread for as long as the child lives (so its pipe never
/// fills); returns the first line containing `needle`. Later lines with WARN or ERROR are
/// counted in `problems` and the first few echoed to stderr.
fn watch_lines(
    reader: Box<dyn std::io::Read + Send>,
    needle: &str,
    who: &'static str,
    problems: Arc<AtomicU64>,
) -> String {
    let wanted = needle.to_string();
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if !sent && line.contains(&wanted) {
                let _ = tx.send(line);
                sent = true;
            } else if sent
                && (line.contains("WARN") || line.contains("ERROR"))
                && problems.fetch_add(1, Ordering::Relaxed) < 20
            {
                eprintln!("soak: {who}: {line}");
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{who} did not print `{needle}` within 60 s"))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Resident set size of `pid`, kB: (all, anonymous, file-backed). File-backed pages are the
/// executable and shared libraries as far as they were read (the kernel may drop them); what
/// the process allocates is in the anonymous part.
fn rss_kb(pid: u32) -> (u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/PID/status"))
    };
    (field("VmRSS:"), field("RssAnon:"), field("RssFile:"))
}

/// utime + stime of `pid` (all its threads), seconds.
fn cpu_seconds(pid: u32, ticks: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the parenthesised command name start at field 3 (state); utime is field 14.
    let rest = &stat[stat.rfind(')').expect("stat format") + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f[11].parse().expect("utime");
    let stime: f64 = f[12].parse().expect("stime");
    (utime + stime) / ticks
}

/// CPU seconds of `pid`'s live threads by role, from their names: (GStreamer ingest and
/// decode, analysis incl. the detection workers and ONNX Runtime's unnamed pool threads, the
/// rest: tokio, supervisors, the store writer).
fn cpu_by_role(pid: u32, ticks: f64) -> (f64, f64, f64) {
    let (mut decode, mut analysis, mut rest) = (0.0, 0.0, 0.0);
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return (f64::NAN, f64::NAN, f64::NAN);
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue; // the thread ended
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let cpu =
            (f[11].parse::<f64>().unwrap_or(0.0) + f[12].parse::<f64>().unwrap_or(0.0)) / ticks;
        if comm == "analysis" || comm == "edgesight" || comm.starts_with("detect-") {
            analysis += cpu;
        } else if comm == "tokio" || comm == "store-writer" || comm.starts_with("ingest-") {
            rest += cpu;
        } else {
            decode += cpu;
        }
    }
    (decode, analysis, rest)
}

/// (busy, all) CPU seconds of the whole machine, summed over its cores (`/proc/stat`).
fn machine_cpu(ticks: f64) -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
    let f: Vec<f64> = stat
        .lines()
        .next()
        .expect("cpu line")
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let all: f64 = f.iter().take(8).sum();
    let idle = f[3] + f[4];
    ((all - idle) / ticks, all / ticks)
}

fn u64_field(camera: &serde_json::Value, field: &str) -> u64 {
    camera[field].as_u64().unwrap_or_else(|| {
        panic!("/api/cameras: camera has no integer `{field}` (API changed?): {camera}")
    })
}

fn f64_field(camera: &serde_json::Value, field: &str) -> f64 {
    camera[field].as_f64().unwrap_or_else(|| {
        panic!("/api/cameras: camera has no number `{field}` (API changed?): {camera}")
    })
}

struct Api {
    client: reqwest::blocking::Client,
    base: String,
}

impl Api {
    fn cameras(&self) -> Vec<serde_json::Value> {
        let url = format!("{}/api/cameras", self.base);
        let response = self
            .client
            .get(&url)
            .send()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert!(
            response.status().is_success(),
            "GET {url}: {}",
            response.status()
        );
        match response.json::<serde_json::Value>() {
            Ok(serde_json::Value::Array(list)) => list,
            other => panic!("GET {url}: not a JSON array: {other:?}"),
        }
    }

    /// (frame age at `now`, latency) of the camera's newest analysed frame; None before the
    /// first one.
    fn latest(&self, camera: &str) -> Option<(f64, f64)> {
        let url = format!("{}/api/cameras/{camera}/detections/latest", self.base);
        let response = self
            .client
            .get(&url)
            .send()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .unwrap_or_else(|e| panic!("GET {url}: {status}, not JSON: {e}"));
        let now = now_ms();
        if status == reqwest::StatusCode::NOT_FOUND
            && body["error"]["code"].as_str() == Some("no_detections_yet")
        {
            return None;
        }
        assert!(status.is_success(), "GET {url}: {status}: {body}");
        let arrived = body["timestamp_ms"]
            .as_u64()
            .unwrap_or_else(|| panic!("{url}: no integer `timestamp_ms` (API changed?): {body}"));
        let latency = body["latency_ms"]
            .as_f64()
            .unwrap_or_else(|| panic!("{url}: no number `latency_ms` (API changed?): {body}"));
        Some((now.saturating_sub(arrived) as f64, latency))
    }
}

/// One second's sample.
struct Sample {
    t_s: f64,
    rss_kb: u64,
    anon_kb: u64,
    file_kb: u64,
    cpu_s: f64,
    server_cpu_s: f64,
    /// (decode, analysis, rest) CPU seconds, see [`cpu_by_role`].
    roles: (f64, f64, f64),
    /// (busy, all) CPU seconds of the machine.
    machine: (f64, f64),
    frames_in: u64,
    frames_analysed: u64,
    frames_dropped: u64,
    frames_rate_limited: u64,
    fps_in: f64,
    streaming: usize,
    reconnects: u64,
    max_age_ms: Option<f64>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Least-squares slope of y over x.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    if sxx > 0.0 { sxy / sxx } else { f64::NAN }
}

fn machine() -> String {
    let nproc = Command::new("nproc")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "?".into());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| format!(", {:.0} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{nproc} cores (nproc), {model}{mem_gib}")
}

fn main() {
    let n_cameras: usize = std::env::var("SOAK_CAMERAS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CAMERAS);
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    assert!(seconds >= 10, "SOAK_SECONDS must be at least 10");
    let warmup = (seconds as f64 * 0.1).min(60.0);
    let clip = soak_clip();
    let ticks = clock_ticks_per_second();
    let exe = env!("CARGO_BIN_EXE_edgesight");
    let problems = Arc::new(AtomicU64::new(0));

    let mut server = Command::new(exe)
        .args(["serve-rtsp", clip.to_str().expect("utf-8 path")])
        .args(["--port", "0", "--mount", "/soak"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start edgesight serve-rtsp");
    let server_out = Box::new(server.stdout.take().expect("stdout"));
    let line = watch_lines(server_out, "ready rtsp://", "serve-rtsp", problems.clone());
    let url = line[line.find("rtsp://").expect("url")..]
        .trim()
        .to_string();
    let server_pid = server.id();
    let mut server = Killed(server);

    let repo = repo();
    let mut text = format!(
        "[http]\nbind = \"127.0.0.1:0\"\n\n[model]\npath = {:?}\nfamily = \"ssd\"\nlabels = {:?}\n",
        repo.join("models/ssd_mobilenet_v2_coco_quant_qdq.onnx"),
        repo.join("models/coco_labels.txt"),
    );
    for i in 0..n_cameras {
        text.push_str(&format!(
            "\n[[cameras]]\nname = \"cam{i}\"\nurl = \"{url}\"\ndetect_fps = {DETECT_FPS}\n"
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("soak.toml");
    std::fs::write(&config, text).expect("write config");
    let mut app = Command::new(exe)
        .args(["run", "--config", config.to_str().expect("utf-8 path")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start edgesight run");
    let app_err = Box::new(app.stderr.take().expect("stderr"));
    let line = watch_lines(
        app_err,
        "console and API on http://",
        "appliance",
        problems.clone(),
    );
    let base = line[line.find("http://").expect("url")..]
        .trim()
        .to_string();
    let pid = app.id();
    let mut app = Killed(app);
    let api = Api {
        client: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("http client"),
        base,
    };

    // The clock starts once every camera streams.
    let connect = Instant::now();
    loop {
        let cameras = api.cameras();
        assert_eq!(cameras.len(), n_cameras, "/api/cameras: {cameras:?}");
        let streaming = cameras
            .iter()
            .filter(|c| c["state"] == "streaming" && u64_field(c, "frames_in") > 0)
            .count();
        if streaming == n_cameras {
            break;
        }
        if connect.elapsed() > Duration::from_secs(60) {
            let states: Vec<String> = cameras
                .iter()
                .map(|c| format!("{}: {} {}", c["name"], c["state"], c["last_error"]))
                .collect();
            panic!(
                "not all cameras streaming after 60 s: {}",
                states.join("; ")
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!(
        "soak: {n_cameras} cameras streaming after {:.1} s; sampling every second for {seconds} s \
         (first {warmup:.0} s warm-up) ...",
        connect.elapsed().as_secs_f64()
    );

    let names: Vec<String> = (0..n_cameras).map(|i| format!("cam{i}")).collect();
    let mut samples: Vec<Sample> = Vec::new();
    let mut ages = Vec::new();
    let mut latencies = Vec::new();
    let start = Instant::now();
    for i in 0..=seconds {
        let due = start + Duration::from_secs(i);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if let Ok(Some(status)) = app.0.try_wait() {
            panic!("the appliance exited during the soak ({status}) at {i} s");
        }
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("serve-rtsp exited during the soak ({status}) at {i} s");
        }
        let t_s = start.elapsed().as_secs_f64();
        let (rss, anon, file) = rss_kb(pid);
        let cpu_s = cpu_seconds(pid, ticks);
        let server_cpu_s = cpu_seconds(server_pid, ticks);
        let roles = cpu_by_role(pid, ticks);
        let machine = machine_cpu(ticks);
        let cameras = api.cameras();
        let mut max_age: Option<f64> = None;
        for name in &names {
            if let Some((age, latency)) = api.latest(name) {
                max_age = Some(max_age.map_or(age, |m| m.max(age)));
                if t_s >= warmup {
                    ages.push(age);
                    latencies.push(latency);
                }
            }
        }
        let sample = Sample {
            t_s,
            rss_kb: rss,
            anon_kb: anon,
            file_kb: file,
            cpu_s,
            server_cpu_s,
            roles,
            machine,
            frames_in: cameras.iter().map(|c| u64_field(c, "frames_in")).sum(),
            frames_analysed: cameras
                .iter()
                .map(|c| u64_field(c, "frames_analysed"))
                .sum(),
            frames_dropped: cameras.iter().map(|c| u64_field(c, "frames_dropped")).sum(),
            frames_rate_limited: cameras
                .iter()
                .map(|c| u64_field(c, "frames_rate_limited"))
                .sum(),
            fps_in: cameras.iter().map(|c| f64_field(c, "fps_in")).sum(),
            streaming: cameras
                .iter()
                .filter(|c| {
                    c["state"]
                        .as_str()
                        .unwrap_or_else(|| panic!("/api/cameras: no `state`: {c}"))
                        == "streaming"
                })
                .count(),
            reconnects: cameras
                .iter()
                .map(|c| c["reconnects"].as_u64().unwrap_or(0))
                .sum(),
            max_age_ms: max_age,
        };
        if i > 0 && i % 60 == 0 {
            let prev = &samples[samples.len() - 60];
            let dt = sample.t_s - prev.t_s;
            eprintln!(
                "soak: {i}/{seconds} s: RSS {:.1} MiB, {:.2} cores, {:.1} frames/s in, {:.1} analysed, \
                 max frame age {:.0} ms, {}/{n_cameras} streaming",
                sample.rss_kb as f64 / 1024.0,
                (sample.cpu_s - prev.cpu_s) / dt,
                (sample.frames_in - prev.frames_in) as f64 / dt,
                (sample.frames_analysed - prev.frames_analysed) as f64 / dt,
                sample.max_age_ms.unwrap_or(f64::NAN),
                sample.streaming,
            );
        }
        samples.push(sample);
    }
    drop(app);
    drop(server);

    let csv_path = repo.join("target/soak-samples.csv");
    let mut csv = String::from(
        "t_s,rss_kb,anon_kb,file_kb,cpu_s,decode_cpu_s,analysis_cpu_s,other_cpu_s,server_cpu_s,machine_busy_s,frames_in,frames_analysed,frames_dropped,frames_rate_limited,fps_in,streaming,reconnects,max_frame_age_ms\n",
    );
    for s in &samples {
        csv.push_str(&format!(
            "{:.3},{},{},{},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2},{},{},{},{},{:.1},{},{},{}\n",
            s.t_s,
            s.rss_kb,
            s.anon_kb,
            s.file_kb,
            s.cpu_s,
            s.roles.0,
            s.roles.1,
            s.roles.2,
            s.server_cpu_s,
            s.machine.0,
            s.frames_in,
            s.frames_analysed,
            s.frames_dropped,
            s.frames_rate_limited,
            s.fps_in,
            s.streaming,
            s.reconnects,
            s.max_age_ms.map(|a| format!("{a:.0}")).unwrap_or_default()
        ));
    }
    let _ = std::fs::create_dir_all(repo.join("target"));
    std::fs::write(&csv_path, csv).expect("write target/soak-samples.csv");

    let window: Vec<&Sample> = samples.iter().filter(|s| s.t_s >= warmup).collect();
    let (first, last) = (window[0], window[window.len() - 1]);
    let wall = last.t_s - first.t_s;
    let mib = |kb: u64| kb as f64 / 1024.0;
    // MiB per minute of one of the samples' sizes, over the window.
    let rss_slope_of = |kb: fn(&Sample) -> u64| {
        let points: Vec<(f64, f64)> = window.iter().map(|s| (s.t_s / 60.0, mib(kb(s)))).collect();
        slope(&points)
    };
    let rss_slope = rss_slope_of(|s| s.rss_kb);
    let (anon_slope, file_slope) = (rss_slope_of(|s| s.anon_kb), rss_slope_of(|s| s.file_kb));
    let rss_max = window.iter().map(|s| s.rss_kb).max().unwrap_or(0);
    let cores = (last.cpu_s - first.cpu_s) / wall;
    let server_cores = (last.server_cpu_s - first.server_cpu_s) / wall;
    let decode_cores = (last.roles.0 - first.roles.0) / wall;
    let analysis_cores = (last.roles.1 - first.roles.1) / wall;
    let other_cores = (last.roles.2 - first.roles.2) / wall;
    let machine_busy = (last.machine.0 - first.machine.0) / (last.machine.1 - first.machine.1);
    let ncores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let decoded = (last.frames_in - first.frames_in) as f64 / wall;
    let analysed = (last.frames_analysed - first.frames_analysed) as f64 / wall;
    let dropped = (last.frames_dropped - first.frames_dropped) as f64 / wall;
    let rate_limited = (last.frames_rate_limited - first.frames_rate_limited) as f64 / wall;
    let fps_in = window.iter().map(|s| s.fps_in).sum::<f64>() / window.len() as f64;
    let min_streaming = window.iter().map(|s| s.streaming).min().unwrap_or(0);
    ages.sort_by(f64::total_cmp);
    latencies.sort_by(f64::total_cmp);

    println!();
    println!(
        "edgesight soak: {n_cameras} RTSP cameras × {} (1280x720, {CLIP_FPS} fps H.264), detect_fps {DETECT_FPS}",
        clip.display()
    );
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| duration | {seconds} s sampled, first {warmup:.0} s warm-up, {wall:.0} s measured ({} samples) |",
        window.len()
    );
    println!(
        "| cameras | {n_cameras} (streaming throughout: {}; reconnects in window: {}) |",
        if min_streaming == n_cameras {
            "yes".to_string()
        } else {
            format!("no, as few as {min_streaming}")
        },
        last.reconnects - first.reconnects
    );
    println!(
        "| offered | {} frames/s ({n_cameras} × {CLIP_FPS}); received (sum of fps_in, mean) {fps_in:.1} frames/s |",
        n_cameras as u64 * CLIP_FPS
    );
    println!(
        "| RSS at start / end of window | {:.1} / {:.1} MiB (max {:.1}) |",
        mib(first.rss_kb),
        mib(last.rss_kb),
        mib(rss_max)
    );
    println!(
        "| RSS slope (least squares over the window) | {rss_slope:+.3} MiB/min (anonymous {anon_slope:+.3}, file-backed {file_slope:+.3}; {:.1} → {:.1} MiB anonymous) |",
        mib(first.anon_kb),
        mib(last.anon_kb)
    );
    println!(
        "| CPU used by the appliance (mean) | {cores:.2} cores: ingest+decode (GStreamer threads) {decode_cores:.2}, analysis (incl. ONNX Runtime pool) {analysis_cores:.2}, other {other_cores:.2} |"
    );
    println!(
        "| CPU per stream | {:.1}% of one core (decode at {CLIP_FPS} fps + analysis at {DETECT_FPS} fps); ingest+decode alone {:.1}% |",
        100.0 * cores / n_cameras as f64,
        100.0 * decode_cores / n_cameras as f64
    );
    println!(
        "| frames decoded | {decoded:.1} frames/s ({:.1} per stream) |",
        decoded / n_cameras as f64
    );
    println!(
        "| decode fps per core | {:.1} frames/s per core used (frames_in rate / appliance cores, analysis included) |",
        decoded / cores
    );
    println!(
        "| frames analysed | {analysed:.1} frames/s (passed over beyond detect_fps {rate_limited:.1}/s, dropped with the detector busy {dropped:.1}/s) |"
    );
    println!(
        "| frame age (now − arrival of newest analysed frame, {} samples over all cameras) | p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms |",
        ages.len(),
        percentile(&ages, 0.5),
        percentile(&ages, 0.99),
        ages.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "| latency (arrival → detections) | p50 {:.0} ms, p99 {:.0} ms |",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    println!("| serve-rtsp process (not counted above) | {server_cores:.2} cores |");
    println!(
        "| machine CPU busy, all processes | {:.0}% of {ncores} cores ({:.2} cores) |",
        100.0 * machine_busy,
        machine_busy * ncores as f64
    );
    println!(
        "| WARN/ERROR log lines (whole run) | {} |",
        problems.load(Ordering::Relaxed)
    );
    println!("| machine | {} |", machine());
    println!();
    println!("samples: {}", csv_path.display());
}
