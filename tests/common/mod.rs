//! Helpers shared by the integration tests: the real binary, real child processes (the RTSP
//! replay server, the appliance), and a real HTTP client.
#![allow(dead_code)]

pub mod random;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_edgesight")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn data(name: &str) -> PathBuf {
    repo().join("tests/data").join(name)
}

/// Fails (never skips) when ONNX Runtime is not installed: the suite needs it.
pub fn require_onnxruntime() {
    let local = repo().join(".deps/onnxruntime/lib/libonnxruntime.so");
    assert!(
        local.is_file() || std::env::var_os("ORT_DYLIB_PATH").is_some(),
        "ONNX Runtime is missing at {}: run `make setup` first",
        local.display()
    );
}

/// The pedestrian clip: the shared copy beside the project, else the one `make setup` fetched.
pub fn pedestrian_clip() -> PathBuf {
    let candidates = [
        repo().join("../shared/media/vtest.mp4"),
        repo().join(".deps/media/vtest.mp4"),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!("pedestrian clip missing (looked at {candidates:?}): run `make setup`")
        })
}

/// A child process whose stderr and stdout lines are collected; killed when dropped.
pub struct Proc {
    pub child: Child,
    /// The appliance's event store folder, removed when the process is dropped.
    pub data: Option<tempfile::TempDir>,
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

fn collect(reader: impl std::io::Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            into.lock().expect("lines lock").push(line);
        }
    });
}

impl Proc {
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_with_env(args, &[])
    }

    /// Like [`Proc::spawn`], with extra environment variables.
    pub fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(bin())
            .args(args)
            .env_remove("EDGESIGHT_API_TOKEN")
            .envs(env.iter().copied())
            .env("EDGESIGHT_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start edgesight");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().expect("stdout"), stdout.clone());
        collect(child.stderr.take().expect("stderr"), stderr.clone());
        Self {
            child,
            data: None,
            stdout,
            stderr,
        }
    }

    /// Waits until a line of stdout or stderr contains `needle`; returns that line.
    pub fn wait_line(&self, needle: &str, timeout: Duration) -> Option<String> {
        wait_for(timeout, || {
            let find = |lines: &Arc<Mutex<Vec<String>>>| {
                lines
                    .lock()
                    .expect("lock")
                    .iter()
                    .find(|l| l.contains(needle))
                    .cloned()
            };
            find(&self.stdout).or_else(|| find(&self.stderr))
        })
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().expect("lock").join("\n")
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = wait_for(timeout, || self.child.try_wait().ok().flatten());
        if status.is_none() {
            let _ = self.child.kill();
        }
        status
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `gst-launch-1.0 -q ARGS` (making a test clip) to the end; fails the test, naming the
/// pipeline, when it fails or has not finished after two minutes (a stuck pipeline is killed
/// rather than left to hang the suite).
pub fn gst_launch(args: &[&str]) {
    let mut child = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(args)
        .spawn()
        .expect("gst-launch-1.0");
    let status = wait_for(Duration::from_secs(120), || child.try_wait().ok().flatten());
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "gst-launch-1.0 {} {}",
        args.join(" "),
        if status.is_none() {
            "did not finish in 120 s"
        } else {
            "failed"
        }
    );
}

/// Writes `frames` frames of GStreamer's test pattern (320x240, 10 fps) to `path`, through
/// `encode`: the elements after the raw video, e.g. `["x264enc", "!", "h264parse", "!",
/// "mp4mux"]`.
pub fn test_pattern_clip(path: &Path, frames: u32, encode: &[&str]) {
    let buffers = format!("num-buffers={frames}");
    let location = format!("location={}", path.display());
    let mut args = vec![
        "videotestsrc",
        buffers.as_str(),
        "!",
        "video/x-raw,width=320,height=240,framerate=10/1",
        "!",
    ];
    args.extend_from_slice(encode);
    args.extend(["!", "filesink", location.as_str()]);
    gst_launch(&args);
}

/// Polls `f` every 100 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts `edgesight serve-rtsp FILE --port 0` and returns it with its URL.
pub fn serve_rtsp(file: &Path) -> (Proc, String) {
    serve_rtsp_with(file, &["--port", "0"])
}

/// Starts `edgesight serve-rtsp FILE --mount /clip EXTRA…` and returns it with its URL.
pub fn serve_rtsp_with(file: &Path, extra: &[&str]) -> (Proc, String) {
    let file = file.to_str().expect("utf-8 path");
    let mut args = vec!["serve-rtsp", file, "--mount", "/clip"];
    args.extend_from_slice(extra);
    let proc = Proc::spawn(&args);
    let line = proc
        .wait_line("ready rtsp://", Duration::from_secs(15))
        .unwrap_or_else(|| panic!("serve-rtsp did not start: {}", proc.stderr_text()));
    let url = line.trim_start_matches("ready ").trim().to_string();
    (proc, url)
}

/// The API token every appliance started by [`start_appliance`] accepts (through
/// `EDGESIGHT_API_TOKEN`).
pub const TOKEN: &str = "edgesight-test-token-0123456789";

/// Starts `edgesight run ARGS --http 127.0.0.1:0` with its own event store folder (unless ARGS
/// name one with `--data`) and the API token [`TOKEN`]; returns it with its base URL.
pub fn start_appliance(args: &[&str]) -> (Proc, String) {
    start_appliance_with_env(args, &[("EDGESIGHT_API_TOKEN", TOKEN)])
}

/// Like [`start_appliance`] with these environment variables instead (no token unless given).
pub fn start_appliance_with_env(args: &[&str], env: &[(&str, &str)]) -> (Proc, String) {
    let data = tempfile::tempdir().expect("data folder");
    let data_arg = data.path().to_str().expect("utf-8").to_string();
    let mut all = vec!["run", "--http", "127.0.0.1:0"];
    if !args.contains(&"--data") {
        all.extend(["--data", data_arg.as_str()]);
    }
    let has_http = args.contains(&"--http");
    if has_http {
        all.drain(1..3);
    }
    all.extend_from_slice(args);
    let mut proc = Proc::spawn_with_env(&all, env);
    proc.data = Some(data);
    let base = proc.base_url();
    (proc, base)
}

impl Proc {
    /// Waits for a running appliance to print where it serves; returns `http://ADDR`.
    pub fn base_url(&self) -> String {
        let line = self
            .wait_line("console and API on http://", Duration::from_secs(30))
            .unwrap_or_else(|| panic!("the appliance did not start: {}", self.stderr_text()));
        line[line.find("http://").expect("url")..]
            .trim()
            .replace("http://0.0.0.0:", "http://127.0.0.1:")
    }
}

/// The camera named `name` from `GET /api/cameras`.
pub fn camera(base: &str, name: &str) -> Option<serde_json::Value> {
    get_json(&format!("{base}/api/cameras"))?
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
}

/// Sends `signal` (e.g. "STOP", "CONT", "KILL") to a process.
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// GET a JSON document; `None` for any failure (connection, status, body).
pub fn get_json(url: &str) -> Option<serde_json::Value> {
    let response = reqwest::blocking::Client::new()
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().ok()
}

/// The `[model]` table of the bundled SSD, followed by `extra` lines of that table (e.g.
/// `"workers = 2\n"`).
pub fn model_table(extra: &str) -> String {
    let models = repo().join("models");
    format!(
        "[model]\npath = {:?}\nfamily = \"ssd\"\nlabels = {:?}\n{extra}",
        models.join("ssd_mobilenet_v2_coco_quant_qdq.onnx"),
        models.join("coco_labels.txt"),
    )
}

/// Writes `DIR/edgesight.toml`: the bundled model, the pedestrian clip as a looping file
/// camera named `clip` analysed at `detect_fps`, then `extra` (more tables). Returns its path.
pub fn write_clip_config(dir: &Path, detect_fps: u32, extra: &str) -> PathBuf {
    let text = format!(
        "{}\n[[cameras]]\nname = \"clip\"\nurl = \"file://{}\"\ndetect_fps = {detect_fps}\n\n{extra}\n",
        model_table(""),
        pedestrian_clip().display(),
    );
    let path = dir.join("edgesight.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// A read-only connection to an appliance's event store in `data` (beside the running
/// appliance, or after it stopped).
pub fn store_db(data: &Path) -> rusqlite::Connection {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(data.join("events.db"), flags)
        .expect("open the store read-only");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    conn
}

/// The ids of every event in the store of `data`.
pub fn stored_event_ids(data: &Path) -> Vec<String> {
    store_db(data)
        .prepare("SELECT id FROM events")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("ids")
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
