//! Cameras added, changed and removed at run time through the API, against the real appliance
//! with a real config file: the change applies to that camera alone, is written into the file
//! (and survives a restart), and every bad request gets a JSON error naming the problem.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{camera, get_json, start_appliance, wait_for};
use reqwest::blocking::Client;
use serde_json::{Value, json};

fn write_config(dir: &Path) -> PathBuf {
    let path = dir.join("site.toml");
    let text = format!(
        "# site config, edited by hand and by the API\n\
         {}\n\
         [[cameras]]\n\
         # stays untouched by every change below\n\
         name = \"steady\"\n\
         url = \"test://ball?fps=10\"\n\
         detect_fps = 5\n",
        common::model_table(""),
    );
    std::fs::write(&path, text).expect("write config");
    path
}

fn send(client: &Client, method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = client
        .request(method, url)
        .bearer_auth(common::TOKEN)
        .timeout(Duration::from_secs(20));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn wait_streaming(base: &str, name: &str) -> Value {
    wait_for(Duration::from_secs(20), || {
        let c = camera(base, name)?;
        (c["state"] == "streaming" && c["frames_in"].as_u64()? > 0).then_some(c)
    })
    .unwrap_or_else(|| panic!("{name} never streamed: {:?}", camera(base, name)))
}

#[test]
fn cameras_change_at_run_time_alone_and_persist() {
    common::require_onnxruntime();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path());
    let config_arg = config.to_str().expect("utf-8");
    let (mut app, base) = start_appliance(&[
        "--config",
        config_arg,
        "--camera",
        "cli-only=test://smpte?fps=5",
    ]);
    let client = Client::new();
    let steady_before = wait_streaming(&base, "steady");

    // Add.
    let (status, body) = send(
        &client,
        "POST",
        &format!("{base}/api/cameras"),
        Some(
            json!({"name": "yard", "url": "test://ball?fps=10", "username": "op", "password": "pw-secret", "detect_fps": 2}),
        ),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["camera"]["name"], "yard");
    assert_eq!(body["persisted_to"], config_arg);
    let yard = wait_streaming(&base, "yard");
    assert_eq!(yard["detect_fps"], 2.0);
    let text = std::fs::read_to_string(&config).expect("read config");
    assert!(text.contains("name = \"yard\""), "{text}");
    assert!(
        text.contains("# stays untouched by every change below"),
        "{text}"
    );
    assert!(
        !text.contains("cli-only"),
        "command-line cameras stay out of the file"
    );

    // Change: the password shown as *** is kept; detect fps changes.
    let (status, body) = send(
        &client,
        "PUT",
        &format!("{base}/api/cameras/yard"),
        Some(
            json!({"name": "yard", "url": "test://ball?fps=10", "username": "op", "password": "***", "detect_fps": 4}),
        ),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["camera"]["detect_fps"], 4.0);
    let text = std::fs::read_to_string(&config).expect("read config");
    assert!(text.contains("password = \"pw-secret\""), "{text}");
    assert!(text.contains("detect_fps = 4"), "{text}");
    wait_streaming(&base, "yard");

    // Errors, each with its code.
    let cases = [
        (
            "POST",
            "/api/cameras",
            json!({"name": "yard", "url": "test://ball"}),
            409,
            "camera_exists",
        ),
        (
            "POST",
            "/api/cameras",
            json!({"name": "x", "url": "ftp://h/s"}),
            400,
            "invalid_camera",
        ),
        (
            "POST",
            "/api/cameras",
            json!({"name": "x", "url": "test://ball", "detect_fsp": 3}),
            400,
            "bad_json",
        ),
        (
            "PUT",
            "/api/cameras/yard",
            json!({"name": "other", "url": "test://ball"}),
            400,
            "name_mismatch",
        ),
        (
            "PUT",
            "/api/cameras/nope",
            json!({"name": "nope", "url": "test://ball"}),
            404,
            "camera_not_found",
        ),
    ];
    for (method, path, body, want_status, want_code) in cases {
        let (status, reply) = send(&client, method, &format!("{base}{path}"), Some(body));
        assert_eq!(status, want_status, "{method} {path}: {reply}");
        assert_eq!(
            reply["error"]["code"], want_code,
            "{method} {path}: {reply}"
        );
    }
    let (_, reply) = send(
        &client,
        "POST",
        &format!("{base}/api/cameras"),
        Some(json!({"name": "x", "url": "ftp://h/s"})),
    );
    let message = reply["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("camera.url") && message.contains("fix:"),
        "{message}"
    );
    let (_, reply) = send(
        &client,
        "POST",
        &format!("{base}/api/cameras"),
        Some(json!({"name": "x", "url": "test://ball", "detect_fsp": 3})),
    );
    assert!(
        reply["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("detect_fsp")),
        "{reply}"
    );
    let garbage = client
        .post(format!("{base}/api/cameras"))
        .bearer_auth(common::TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .expect("request");
    assert_eq!(garbage.status(), 400);
    // Its own connection: the server answers before reading the body, then closes.
    let huge = Client::new()
        .post(format!("{base}/api/cameras"))
        .bearer_auth(common::TOKEN)
        .header("content-type", "application/json")
        .body(vec![b' '; 200 * 1024])
        .send()
        .expect("request");
    assert_eq!(huge.status(), 413);
    let (status, reply) = send(&client, "DELETE", &format!("{base}/api/cameras/nope"), None);
    assert_eq!(
        (status, reply["error"]["code"].clone()),
        (404, json!("camera_not_found"))
    );

    // Remove.
    let (status, body) = send(&client, "DELETE", &format!("{base}/api/cameras/yard"), None);
    assert_eq!(status, 200, "{body}");
    assert!(camera(&base, "yard").is_none());
    let text = std::fs::read_to_string(&config).expect("read config");
    assert!(!text.contains("yard"), "{text}");

    // The other camera never noticed: same record (no reset of its counters), no reconnect,
    // frames still flowing.
    let steady_after = wait_streaming(&base, "steady");
    assert_eq!(steady_after["since_ms"], steady_before["since_ms"]);
    assert_eq!(steady_after["reconnects"], 0);
    assert!(
        steady_after["frames_in"].as_u64() > steady_before["frames_in"].as_u64(),
        "{steady_before} → {steady_after}"
    );
    // At detect_fps 5 of a 10 fps camera, about every other frame is passed over by design:
    // counted as rate-limited, not as dropped (the detector is mostly idle).
    let steady_now = wait_for(Duration::from_secs(20), || {
        let c = camera(&base, "steady")?;
        (c["frames_in"].as_u64()? >= 30).then_some(c)
    })
    .expect("steady keeps streaming");
    let n = |key: &str| steady_now[key].as_u64().unwrap_or(0);
    assert!(
        n("frames_rate_limited") * 4 >= n("frames_in")
            && n("frames_rate_limited") > n("frames_dropped"),
        "{steady_now}"
    );

    // Metrics name every camera.
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    assert!(
        metrics.contains("edgesight_camera_frames_received_total{camera=\"steady\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("edgesight_camera_state{camera=\"steady\",state=\"streaming\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("edgesight_camera_frames_rate_limited_total{camera=\"steady\"}"),
        "{metrics}"
    );
    assert!(!metrics.contains("yard"), "{metrics}");
    assert!(
        metrics
            .contains("edgesight_stage_latency_seconds_count{camera=\"steady\",stage=\"infer\"}"),
        "{metrics}"
    );

    // Added again, then restarted: the file brings it back.
    let (status, body) = send(
        &client,
        "POST",
        &format!("{base}/api/cameras"),
        Some(json!({"name": "gate", "url": "test://ball?fps=10"})),
    );
    assert_eq!(status, 201, "{body}");
    assert!(app.terminate(Duration::from_secs(10)).is_some());
    let (_app, base) = start_appliance(&["--config", config_arg]);
    let health = get_json(&format!("{base}/api/health")).expect("health");
    assert_eq!(health["config_file"], config_arg);
    wait_streaming(&base, "gate");
    assert!(camera(&base, "steady").is_some());
    assert!(camera(&base, "cli-only").is_none());
}
