//! Ingest against real RTSP servers on 127.0.0.1 (`edgesight serve-rtsp`, gst-rtsp-server, each
//! in its own process): every failure gets its state and reason, the other cameras keep
//! streaming, and a camera whose server comes back heals by itself.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{
    camera, pedestrian_clip, serve_rtsp, serve_rtsp_with, signal, start_appliance, wait_for,
};
use serde_json::Value;

/// Waits until camera `name` is in `state` with `reason` (or any reason when `None`).
fn wait_state(
    base: &str,
    name: &str,
    state: &str,
    reason: Option<&str>,
    timeout: Duration,
) -> Value {
    wait_for(timeout, || {
        let c = camera(base, name)?;
        let reason_ok = reason.is_none_or(|r| c["reason"] == r);
        (c["state"] == state && reason_ok).then_some(c)
    })
    .unwrap_or_else(|| {
        panic!(
            "{name} never reached {state}/{reason:?}; now: {:?}",
            camera(base, name)
        )
    })
}

/// Asserts that `camera` (as listed) goes on being analysed: its `frames_analysed` rises by
/// more than five within 10 s.
fn assert_still_analysed(base: &str, camera_now: &Value) {
    let name = camera_now["name"].as_str().expect("name");
    let before = camera_now["frames_analysed"].as_u64().expect("counter");
    let progressed = wait_for(Duration::from_secs(10), || {
        let now = camera(base, name)?["frames_analysed"].as_u64()?;
        (now > before + 5).then_some(())
    });
    assert!(progressed.is_some(), "{name} stopped being analysed");
}

/// A TCP server that answers every connection with pseudo-random bytes.
fn garbage_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
                let mut buf = [0u8; 1024];
                loop {
                    for b in buf.iter_mut() {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        *b = x as u8;
                    }
                    if stream.write_all(&buf).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
        }
    });
    port
}

/// A port on 127.0.0.1 that nobody listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A short H.265 clip, made with x265enc.
fn h265_clip(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("h265.mp4");
    common::test_pattern_clip(
        &path,
        100,
        &["x265enc", "key-int-max=10", "!", "h265parse", "!", "mp4mux"],
    );
    path
}

#[test]
fn every_failure_gets_its_state_and_reason_while_good_cameras_stream() {
    common::require_onnxruntime();
    let clip = pedestrian_clip();
    let (_plain, plain_url) = serve_rtsp(&clip);
    let (_locked, locked_url) = serve_rtsp_with(
        &clip,
        &["--port", "0", "--user", "viewer", "--password", "s3cret-pw"],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let (_hevc, hevc_url) = serve_rtsp(&h265_clip(dir.path()));
    let with_password =
        |pw: &str| locked_url.replacen("rtsp://", &format!("rtsp://viewer:{pw}@"), 1);
    let garbage = garbage_server();
    let closed = closed_port();
    let cameras = [
        format!("good={plain_url}"),
        format!("hevc={hevc_url}"),
        format!("locked={}", with_password("s3cret-pw")),
        format!("wrongpw={}", with_password("not-the-pw")),
        format!("nomount={}", plain_url.replace("/clip", "/no-such-mount")),
        format!("garbage=rtsp://127.0.0.1:{garbage}/stream"),
        format!("nobody=rtsp://127.0.0.1:{closed}/stream"),
    ];
    let mut args = Vec::new();
    for c in &cameras {
        args.extend(["--camera", c.as_str()]);
    }
    let (app, base) = start_appliance(&args);
    let t = Duration::from_secs(20);

    wait_state(&base, "wrongpw", "failed", Some("unauthorized"), t);
    wait_state(&base, "nomount", "failed", Some("not-found"), t);
    wait_state(&base, "garbage", "failed", Some("protocol-error"), t);
    let nobody = wait_state(&base, "nobody", "backoff", Some("unreachable"), t);
    assert!(nobody["next_retry_ms"].as_u64().is_some(), "{nobody}");
    let hevc = wait_state(&base, "hevc", "streaming", None, t);
    assert_eq!(hevc["decoder"], "h265 → avdec_h265");
    let locked = wait_state(&base, "locked", "streaming", None, t);
    assert_eq!(locked["decoder"], "h264 → avdec_h264");
    // The good cameras stream and are analysed while the others fail around them.
    let good = wait_state(&base, "good", "streaming", None, t);
    assert_still_analysed(&base, &good);
    // Retries go on for the failed ones.
    let wrong = wait_for(Duration::from_secs(15), || {
        let c = camera(&base, "wrongpw")?;
        (c["reconnects"].as_u64()? >= 2).then_some(c)
    });
    assert!(wrong.is_some(), "wrong password is retried");

    let listing = common::get_json(&format!("{base}/api/cameras"))
        .expect("cameras")
        .to_string();
    let log = app.stderr_text();
    for secret in ["s3cret-pw", "not-the-pw"] {
        assert!(!listing.contains(secret), "API shows a password: {listing}");
        assert!(!log.contains(secret), "log shows a password");
    }
}

#[test]
fn a_server_outage_heals_by_itself_and_spares_the_other_cameras() {
    common::require_onnxruntime();
    let clip = pedestrian_clip();
    let (mut server, url) = serve_rtsp(&clip);
    let port = url
        .trim_start_matches("rtsp://127.0.0.1:")
        .split('/')
        .next()
        .expect("port")
        .to_string();
    let (_steady_server, steady_url) = serve_rtsp(&clip);
    let (app, base) = start_appliance(&[
        "--camera",
        &format!("flaky={url}"),
        "--camera",
        &format!("steady={steady_url}"),
    ]);
    let t = Duration::from_secs(20);
    wait_state(&base, "flaky", "streaming", None, t);
    wait_state(&base, "steady", "streaming", None, t);

    // Killed mid-stream: over TCP, rtspsrc sees the end of the stream.
    signal(server.child.id(), "KILL");
    let _ = server.child.wait();
    let down_at = Instant::now();
    wait_for(Duration::from_secs(5), || {
        let c = camera(&base, "flaky")?;
        matches!(c["state"].as_str(), Some("backoff" | "stalled")).then_some(())
    })
    .expect("flaky camera leaves streaming");
    assert!(
        app.wait_line("stream ended (eos", Duration::from_secs(5))
            .is_some(),
        "a killed server reads as end of stream: {}",
        app.stderr_text()
    );
    let steady_before = camera(&base, "steady").expect("steady")["frames_in"]
        .as_u64()
        .expect("n");

    // Down for 10 s; then back on the same port.
    std::thread::sleep(Duration::from_secs(10).saturating_sub(down_at.elapsed()));
    let flaky = camera(&base, "flaky").expect("flaky");
    assert_eq!(flaky["reason"], "unreachable", "{flaky}");
    assert!(flaky["reconnects"].as_u64().expect("n") >= 3, "{flaky}");
    let frames_before = flaky["frames_in"].as_u64().expect("n");
    let (_server, _) = serve_rtsp_with(&clip, &["--port", &port]);
    let back_at = Instant::now();
    wait_for(Duration::from_secs(10), || {
        let c = camera(&base, "flaky")?;
        (c["state"] == "streaming" && c["frames_in"].as_u64()? > frames_before).then_some(())
    })
    .unwrap_or_else(|| panic!("flaky camera did not recover: {:?}", camera(&base, "flaky")));
    let recovery = back_at.elapsed();
    println!(
        "recovered {:.1} s after the server returned",
        recovery.as_secs_f64()
    );
    assert!(
        recovery < Duration::from_secs(5),
        "recovery took {recovery:?}"
    );

    let steady = camera(&base, "steady").expect("steady");
    assert_eq!(steady["state"], "streaming");
    assert_eq!(steady["reconnects"], 0, "{steady}");
    assert!(
        steady["frames_in"].as_u64().expect("n") > steady_before + 50,
        "{steady}"
    );
}

#[test]
fn a_frozen_server_is_caught_by_the_watchdog() {
    common::require_onnxruntime();
    let (server, url) = serve_rtsp(&pedestrian_clip());
    let (_app, base) = start_appliance(&["--camera", &format!("frozen={url}")]);
    wait_state(&base, "frozen", "streaming", None, Duration::from_secs(20));
    // A frozen server keeps the connection open and sends nothing: no error ever comes.
    signal(server.child.id(), "STOP");
    let stalled = wait_state(&base, "frozen", "stalled", None, Duration::from_secs(5));
    assert!(
        stalled["last_frame_age_ms"].as_u64().expect("age") >= 2000,
        "{stalled}"
    );
    wait_for(Duration::from_secs(10), || {
        let c = camera(&base, "frozen")?;
        (c["reason"] == "stalled").then_some(())
    })
    .unwrap_or_else(|| panic!("watchdog did not fire: {:?}", camera(&base, "frozen")));
    signal(server.child.id(), "CONT");
    wait_state(&base, "frozen", "streaming", None, Duration::from_secs(30));
}

/// A named pipe at `dir/name`, made with mkfifo.
fn named_pipe(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo");
    assert!(made.success(), "mkfifo {}", path.display());
    path
}

#[test]
fn a_source_that_blocks_is_reported_heals_and_never_holds_a_removal_or_the_shutdown() {
    common::require_onnxruntime();
    let dir = tempfile::tempdir().expect("tempdir");
    // Opening a named pipe waits for a writer: the source blocks inside its start.
    let pipe = named_pipe(dir.path(), "pipe.ts");
    let never = named_pipe(dir.path(), "never.ts");
    let gone = named_pipe(dir.path(), "gone.ts");
    let clip = dir.path().join("clip.ts");
    common::test_pattern_clip(&clip, 50, &["x264enc", "!", "h264parse", "!", "mpegtsmux"]);
    let cameras = [
        format!("pipe=file://{}", pipe.display()),
        format!("never=file://{}", never.display()),
        format!("gone=file://{}", gone.display()),
        "ball=test://ball".to_string(),
    ];
    let mut args = Vec::new();
    for c in &cameras {
        args.extend(["--camera", c.as_str()]);
    }
    let (mut app, base) = start_appliance(&args);
    let t = Duration::from_secs(30);

    for name in ["pipe", "never", "gone"] {
        let c = wait_state(&base, name, "failed", Some("blocked"), t);
        let error = c["last_error"].as_str().expect("last_error");
        assert!(error.contains("has not finished starting"), "{c}");
    }
    // The others stream and are analysed meanwhile.
    let ball = wait_state(&base, "ball", "streaming", None, t);
    assert_still_analysed(&base, &ball);

    // Removing a blocked camera does not wait for its source.
    let removed = reqwest::blocking::Client::new()
        .delete(format!("{base}/api/cameras/gone"))
        .bearer_auth(common::TOKEN)
        .timeout(Duration::from_secs(20))
        .send()
        .expect("DELETE /api/cameras/gone answers");
    assert!(removed.status().is_success(), "{}", removed.status());
    assert!(camera(&base, "gone").is_none(), "gone is still listed");

    // A writer arrives: the same pipeline goes on and streams. (The pipe is opened for reading
    // too, so that the source opening it twice while it starts cannot break it.)
    let bytes = std::fs::read(&clip).expect("clip");
    let writer = std::thread::spawn(move || {
        let mut fifo = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&pipe)?;
        fifo.write_all(&bytes)
    });
    let streaming = wait_state(&base, "pipe", "streaming", None, Duration::from_secs(15));
    assert_eq!(streaming["decoder"], "h264 → avdec_h264", "{streaming}");
    assert!(
        writer.join().expect("writer").is_ok(),
        "the clip was not read"
    );

    // "never" is still blocked; the shutdown leaves it behind instead of waiting for it.
    wait_state(&base, "never", "failed", Some("blocked"), t);
    let status = app
        .terminate(Duration::from_secs(20))
        .expect("exits after SIGTERM with a source still blocked");
    assert!(status.success(), "exit status {status:?}");
    let log = app.stderr_text();
    assert!(log.contains("left behind"), "{log}");
}
