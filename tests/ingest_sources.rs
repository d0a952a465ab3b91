//! Every kind of source streams through the real appliance: RTSP over UDP and with the
//! automatic transport, RTSP credentials from the config with `${ENV}` substitution, an HTTP
//! MJPEG camera (a real HTTP server in this test), and a file that plays once and stops.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::{camera, pedestrian_clip, serve_rtsp, serve_rtsp_with, start_appliance, wait_for};
use serde_json::Value;

/// An HTTP server that answers every request with an endless MJPEG stream of `jpeg` at 10 fps.
fn mjpeg_server(jpeg: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let jpeg = jpeg.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let mut stream = stream;
                let head = "HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n";
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                loop {
                    let part = format!(
                        "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                        jpeg.len()
                    );
                    let sent = stream
                        .write_all(part.as_bytes())
                        .and_then(|()| stream.write_all(&jpeg))
                        .and_then(|()| stream.write_all(b"\r\n"));
                    if sent.is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
    });
    port
}

fn astronaut_jpeg() -> Vec<u8> {
    let img = image::open(common::data("astronaut.png")).expect("astronaut.png");
    let mut out = std::io::Cursor::new(Vec::new());
    img.into_rgb8()
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encode jpeg");
    out.into_inner()
}

fn wait_state(base: &str, name: &str, state: &str) -> Value {
    wait_for(Duration::from_secs(25), || {
        let c = camera(base, name)?;
        (c["state"] == state).then_some(c)
    })
    .unwrap_or_else(|| panic!("{name} never reached {state}: {:?}", camera(base, name)))
}

#[test]
fn udp_auto_credentials_mjpeg_and_a_file_that_plays_once() {
    common::require_onnxruntime();
    let clip = pedestrian_clip();
    let (_plain, plain_url) = serve_rtsp(&clip);
    let (_locked, locked_url) = serve_rtsp_with(
        &clip,
        &["--port", "0", "--user", "op", "--password", "env-secret"],
    );
    let mjpeg = mjpeg_server(astronaut_jpeg());
    // A short clip that plays once.
    let dir = tempfile::tempdir().expect("tempdir");
    let short = dir.path().join("short.mp4");
    common::test_pattern_clip(&short, 20, &["x264enc", "!", "h264parse", "!", "mp4mux"]);

    let repo = common::repo();
    let config = dir.path().join("sources.toml");
    std::fs::write(
        &config,
        format!(
            r#"[model]
path = "{model}"
family = "ssd"
labels = "{labels}"

[[cameras]]
name = "udp"
url = "{plain_url}"
transport = "udp"

[[cameras]]
name = "auto"
url = "{plain_url}"
transport = "auto"

[[cameras]]
name = "locked"
url = "{locked_url}"
username = "op"
password = "${{EDGESIGHT_TEST_CAMERA_PASSWORD}}"

[[cameras]]
name = "mjpeg"
url = "http://127.0.0.1:{mjpeg}/video.mjpg"
detect_fps = 5

[[cameras]]
name = "once"
url = "file://{short}"
loop = false
"#,
            model = repo
                .join("models/ssd_mobilenet_v2_coco_quant_qdq.onnx")
                .display(),
            labels = repo.join("models/coco_labels.txt").display(),
            short = short.display(),
        ),
    )
    .expect("write config");
    let mut app = common::Proc::spawn_with_env(
        &[
            "run",
            "--http",
            "127.0.0.1:0",
            "--config",
            config.to_str().expect("utf-8"),
        ],
        &[("EDGESIGHT_TEST_CAMERA_PASSWORD", "env-secret")],
    );
    let base = app.base_url();

    for name in ["udp", "auto", "locked", "mjpeg"] {
        let c = wait_state(&base, name, "streaming");
        assert!(c["frames_in"].as_u64().is_some(), "{c}");
    }
    let mjpeg = wait_state(&base, "mjpeg", "streaming");
    assert_eq!(mjpeg["decoder"], "jpeg → jpegdec", "{mjpeg}");
    let person = wait_for(Duration::from_secs(15), || {
        let latest = common::get_json(&format!("{base}/api/cameras/mjpeg/detections/latest"))?;
        latest["detections"]
            .as_array()?
            .iter()
            .any(|d| d["label"] == "person")
            .then_some(latest)
    });
    assert!(person.is_some(), "no person in the MJPEG camera's frames");

    let once = wait_state(&base, "once", "stopped");
    assert_eq!(once["reason"], "eos", "{once}");
    assert!(once["frames_in"].as_u64().expect("n") >= 10, "{once}");

    let listing = common::get_json(&format!("{base}/api/cameras"))
        .expect("cameras")
        .to_string();
    assert!(!listing.contains("env-secret"), "{listing}");
    assert!(app.terminate(Duration::from_secs(10)).is_some());
    assert!(!app.stderr_text().contains("env-secret"));
}

#[test]
fn reasons_a_person_must_fix_are_not_hammered() {
    // A wrong mount is retried at the longest backoff, not every half second.
    common::require_onnxruntime();
    let (_server, url) = serve_rtsp(&pedestrian_clip());
    let (_app, base) = start_appliance(&[
        "--camera",
        &format!("typo={}", url.replace("/clip", "/clpi")),
    ]);
    wait_state(&base, "typo", "failed");
    std::thread::sleep(Duration::from_secs(4));
    let c = camera(&base, "typo").expect("camera");
    assert_eq!(c["reason"], "not-found", "{c}");
    // reconnect_max_s is 3 s by default: at most two more attempts in 4 s.
    assert!(c["reconnects"].as_u64().expect("n") <= 3, "{c}");
}
