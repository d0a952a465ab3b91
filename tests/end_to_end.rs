//! End to end through real parts: a real RTSP server (`edgesight serve-rtsp`, gst-rtsp-server,
//! in its own process) serving the pedestrian clip, the appliance on it, and its HTTP API.

mod common;

use std::time::Duration;

use common::{get_json, serve_rtsp, start_appliance, wait_for};
use serde_json::Value;

fn camera<'a>(cameras: &'a Value, name: &str) -> Option<&'a Value> {
    cameras.as_array()?.iter().find(|c| c["name"] == name)
}

#[test]
fn rtsp_camera_gives_person_detections_and_a_dead_camera_is_marked_unhealthy() {
    common::require_onnxruntime();
    let (_server, url) = serve_rtsp(&common::pedestrian_clip());
    // Port 9 (discard) on loopback: nobody listens there.
    let (mut app, base) = start_appliance(&[
        "--camera",
        &format!("street={url}"),
        "--camera",
        "nowhere=rtsp://viewer:hunter2@127.0.0.1:9/missing",
        "--print-detections",
    ]);

    // Person detections over the API within 20 s.
    let latest = wait_for(Duration::from_secs(20), || {
        let latest = get_json(&format!("{base}/api/cameras/street/detections/latest"))?;
        let has_person = latest["detections"]
            .as_array()?
            .iter()
            .any(|d| d["label"] == "person" && d["score"].as_f64().unwrap_or(0.0) >= 0.5);
        has_person.then_some(latest)
    })
    .unwrap_or_else(|| panic!("no person within 20 s; log:\n{}", app.stderr_text()));
    assert_eq!(latest["width"], 768);
    assert_eq!(latest["height"], 576);

    // The unreachable camera is unhealthy with a reason; the other keeps streaming.
    let cameras = wait_for(Duration::from_secs(15), || {
        let cameras = get_json(&format!("{base}/api/cameras"))?;
        let dead = camera(&cameras, "nowhere")?;
        let reason = dead["last_error"].as_str()?;
        (dead["state"] == "backoff" && reason.starts_with("unreachable")).then_some(cameras)
    })
    .unwrap_or_else(|| {
        panic!(
            "dead camera not marked; cameras: {:?}",
            get_json(&format!("{base}/api/cameras"))
        )
    });
    // The live camera keeps streaming meanwhile (read again: a loaded machine may show a
    // moment of `stalled`).
    let street = wait_for(Duration::from_secs(10), || {
        let cameras = get_json(&format!("{base}/api/cameras"))?;
        let street = camera(&cameras, "street")?.clone();
        (street["state"] == "streaming").then_some(street)
    })
    .expect("street camera streaming");
    assert!(street["frames_analysed"].as_u64().expect("counter") > 0);
    let dead = camera(&cameras, "nowhere").expect("dead camera");
    assert!(dead["reconnects"].as_u64().expect("counter") >= 1);
    // Credentials never leave the process.
    let listing = serde_json::to_string(&cameras).expect("json");
    assert!(!listing.contains("hunter2"), "{listing}");
    assert!(!app.stderr_text().contains("hunter2"));

    let health = get_json(&format!("{base}/api/health")).expect("health");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["cameras_total"], 2);
    assert_eq!(health["model"]["backend"], "onnxruntime-cpu");

    // --print-detections: JSON lines on stdout.
    let line = app
        .wait_line("\"camera\":\"street\"", Duration::from_secs(5))
        .expect("a detections line on stdout");
    let parsed: Value = serde_json::from_str(&line).expect("stdout line is JSON");
    assert!(parsed["detections"].is_array());

    // Graceful shutdown on SIGTERM.
    let status = app
        .terminate(Duration::from_secs(10))
        .expect("exits after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    assert!(app.stderr_text().contains("stopped"));
}

#[test]
fn file_and_test_pattern_cameras_stream_and_api_errors_are_json() {
    common::require_onnxruntime();
    let clip = format!("clip=file://{}", common::pedestrian_clip().display());
    let (_app, base) =
        start_appliance(&["--camera", "pattern=test://ball?fps=5", "--camera", &clip]);
    let client = reqwest::blocking::Client::new();
    let r = client
        .get(format!("{base}/api/cameras/nope/detections/latest"))
        .send()
        .expect("request");
    assert_eq!(r.status(), 404);
    let body: Value = r.json().expect("json error body");
    assert_eq!(body["error"]["code"], "camera_not_found");
    let r = client
        .get(format!("{base}/api/no-such-route"))
        .send()
        .expect("request");
    assert_eq!(r.status(), 404);
    let body: Value = r.json().expect("json error body");
    assert_eq!(body["error"]["code"], "not_found");
    // The console page lists cameras from the API.
    let page = client
        .get(&base)
        .send()
        .expect("request")
        .text()
        .expect("text");
    assert!(page.contains("<title>edgesight</title>") && page.contains("/app.js"));
    // A test-pattern camera streams.
    let streaming = wait_for(Duration::from_secs(15), || {
        let cameras = get_json(&format!("{base}/api/cameras"))?;
        (camera(&cameras, "pattern")?["state"] == "streaming").then_some(())
    });
    assert!(streaming.is_some(), "test pattern camera never streamed");
    // A file camera is decoded and analysed: the clip shows people.
    let person = wait_for(Duration::from_secs(20), || {
        let latest = get_json(&format!("{base}/api/cameras/clip/detections/latest"))?;
        latest["detections"]
            .as_array()?
            .iter()
            .any(|d| d["label"] == "person")
            .then_some(())
    });
    assert!(person.is_some(), "no person from the file camera");
}
