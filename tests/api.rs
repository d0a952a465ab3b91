//! The HTTP API against the real appliance on 127.0.0.1: every route and its answers, every
//! error path (unknown camera, bad JSON, oversized bodies, bad queries, missing and wrong
//! tokens, the failure limit, path traversal in snapshot names), the OpenAPI document against
//! the routes, the token's life (generated, printed once, kept hashed), reads off loopback, and
//! live clients that read nothing while analysis goes on at full speed.
//!
//! The tests of this file run one at a time (each starts an appliance; the back-pressure test
//! measures analysis speed).

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{TOKEN, start_appliance, start_appliance_with_env, wait_for};
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The server's routes, as this test knows them; the OpenAPI document must name exactly these.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/health"),
    ("GET", "/api/cameras"),
    ("POST", "/api/cameras"),
    ("GET", "/api/cameras/{name}"),
    ("PUT", "/api/cameras/{name}"),
    ("DELETE", "/api/cameras/{name}"),
    ("GET", "/api/cameras/{name}/detections/latest"),
    ("GET", "/api/cameras/{name}/config"),
    ("GET", "/api/cameras/{name}/frame.jpg"),
    ("GET", "/api/cameras/{name}/stream.mjpg"),
    ("GET", "/api/events"),
    ("GET", "/api/events/counts"),
    ("GET", "/api/events/{id}"),
    ("DELETE", "/api/events/{id}"),
    ("GET", "/api/events/{id}/snapshot.jpg"),
    ("GET", "/api/events/{id}/crop.jpg"),
    ("GET", "/api/webhooks"),
    ("GET", "/api/webhooks/deliveries"),
    ("GET", "/api/webhooks/dead-letters"),
    ("POST", "/api/webhooks/dead-letters/{id}/replay"),
    ("POST", "/api/webhooks/replay"),
    ("GET", "/api/stats"),
    ("GET", "/api/config"),
    ("POST", "/api/config/validate"),
    ("POST", "/api/config/apply"),
    ("GET", "/api/model"),
    ("GET", "/api/ws"),
    ("GET", "/api/openapi.json"),
    ("GET", "/metrics"),
];

/// A client of one appliance.
struct Api {
    base: String,
    client: Client,
}

enum Body {
    None,
    Json(Value),
    Text(String),
    Bytes(Vec<u8>),
}

impl Api {
    fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            client: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        }
    }

    fn send(&self, method: &str, path: &str, token: Option<&str>, body: Body) -> Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request = match body {
            Body::None => request,
            Body::Json(v) => request.json(&v),
            Body::Text(t) => request.header("content-type", "application/toml").body(t),
            Body::Bytes(b) => request.header("content-type", "application/json").body(b),
        };
        request.send().unwrap_or_else(|e| panic!("{path}: {e:?}"))
    }

    /// Status and JSON body (`Null` when the body is not JSON).
    fn json(&self, method: &str, path: &str, token: Option<&str>, body: Body) -> (u16, Value) {
        let response = self.send(method, path, token, body);
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = self.json("GET", path, Some(TOKEN), Body::None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

/// Asserts a JSON error with this status and code.
fn assert_error((status, body): (u16, Value), want_status: u16, want_code: &str, what: &str) {
    assert_eq!(status, want_status, "{what}: {body}");
    assert_eq!(body["error"]["code"], want_code, "{what}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
}

/// Announces a body of `length` bytes and sends none of it: the server must refuse on the
/// header alone. Returns the status and the JSON answer.
fn oversized(base: &str, method: &str, path: &str, length: usize) -> (u16, Value) {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
    .expect("write");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the JSON body is complete (the connection may stay open waiting for the body).
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
            break;
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Sends a request line as written (no client-side normalisation of `..` or escapes); returns
/// the status and the whole answer.
fn raw_request(base: &str, method: &str, target: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

type Ws = tungstenite::WebSocket<TcpStream>;

/// A WebSocket to `/api/ws{query}`; `recv_buffer` shrinks the socket's receive buffer (a slow
/// client fills up sooner).
fn ws_connect(
    base: &str,
    query: &str,
    protocol: Option<&str>,
    recv_buffer: Option<usize>,
) -> Result<(Ws, tungstenite::handshake::client::Response), tungstenite::Error> {
    use tungstenite::client::IntoClientRequest;
    let addr: SocketAddr = base.trim_start_matches("http://").parse().expect("address");
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size)?;
    }
    socket.connect(&addr.into())?;
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!("ws://{addr}/api/ws{query}").into_client_request()?;
    if let Some(p) = protocol {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", p.parse().expect("header"));
    }
    tungstenite::client(request, stream).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => e,
        tungstenite::HandshakeError::Interrupted(_) => tungstenite::Error::ConnectionClosed,
    })
}

/// The next JSON text message.
fn ws_next(ws: &mut Ws) -> Value {
    loop {
        match ws.read().expect("a message") {
            tungstenite::Message::Text(t) => return serde_json::from_str(&t).expect("JSON"),
            tungstenite::Message::Close(c) => panic!("closed: {c:?}"),
            _ => {}
        }
    }
}

fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let repo = common::repo();
    let path = dir.join("site.toml");
    let text = format!(
        "# site\n[model]\npath = \"{}\"\nfamily = \"ssd\"\nlabels = \"{}\"\n\n[[cameras]]\nname = \"street\"\nurl = \"file://{}\"\ndetect_fps = 5\n{extra}",
        repo.join("models/ssd_mobilenet_v2_coco_quant_qdq.onnx")
            .display(),
        repo.join("models/coco_labels.txt").display(),
        common::pedestrian_clip().display(),
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// The first stored event with a snapshot.
fn event_with_snapshot(api: &Api) -> Value {
    wait_for(Duration::from_secs(40), || {
        let page = api.get("/api/events?camera=street&limit=100");
        page["events"]
            .as_array()?
            .iter()
            .find(|e| e["has_snapshot"] == true)
            .cloned()
    })
    .expect("an event with a snapshot within 40 s")
}

#[test]
fn every_route_answers_and_every_error_is_json_with_a_stable_code() {
    common::require_onnxruntime();
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "");
    let (app, base) = start_appliance(&["--config", config.to_str().expect("utf-8")]);
    let api = Api::new(&base);
    let event = event_with_snapshot(&api);
    let id = event["id"].as_str().expect("id").to_string();

    // The OpenAPI document names exactly the server's routes, and each answers.
    let doc = api.get("/api/openapi.json");
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let known: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, known,
        "the OpenAPI document and the routes differ"
    );
    let probe = |method: &str, path: &str| -> (u16, Value) {
        let concrete = path.replace("{name}", "ghost").replace("{id}", "nope-0");
        let body = match (method, path) {
            (_, "/api/config/validate" | "/api/config/apply") => Body::Text("x = ".into()),
            ("POST" | "PUT", _) => Body::Json(json!({})),
            _ => Body::None,
        };
        api.json(method, &concrete, Some(TOKEN), body)
    };
    for (method, path) in &known {
        let (status, body) = probe(method, path);
        assert!(
            !(status == 404 && body["error"]["code"] == "not_found"),
            "{method} {path} is documented but the router does not know it: {status} {body}"
        );
    }
    // The probe tells an unknown route apart.
    for (method, path) in [("GET", "/api/nope"), ("GET", "/api/cameras/{name}/nope")] {
        assert_error(probe(method, path), 404, "not_found", path);
    }

    // Cameras and what they show.
    assert_eq!(api.get("/api/health")["status"], "ok");
    assert_eq!(api.get("/api/cameras")[0]["name"], "street");
    assert_eq!(api.get("/api/cameras/street")["state"], "streaming");
    let latest = api.get("/api/cameras/street/detections/latest");
    assert!(
        latest["stages"]["infer_ms"].as_f64() > Some(0.0),
        "{latest}"
    );
    assert!(latest["detections"].is_array() && latest["tracks"].is_array());
    let spec = api.get("/api/cameras/street/config");
    assert_eq!(
        (&spec["name"], &spec["detect_fps"]),
        (&json!("street"), &json!(5.0))
    );
    let frame = api.send(
        "GET",
        "/api/cameras/street/frame.jpg?width=320",
        None,
        Body::None,
    );
    assert_eq!(frame.status(), 200);
    assert_eq!(frame.headers()["content-type"], "image/jpeg");
    let seq: u64 = frame.headers()["x-frame"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("a frame number");
    assert!(seq > 0);
    let image = image::load_from_memory(&frame.bytes().expect("bytes")).expect("a JPEG");
    assert_eq!((image.width(), image.height()), (320, 240));
    let mut stream = api.send(
        "GET",
        "/api/cameras/street/stream.mjpg?fps=5&width=200",
        None,
        Body::None,
    );
    assert_eq!(
        stream.headers()["content-type"],
        "multipart/x-mixed-replace; boundary=frame"
    );
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && count(&seen, b"Content-Type: image/jpeg") < 2 {
        let mut buf = [0u8; 16384];
        let n = stream.read(&mut buf).expect("stream");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(count(&seen, b"--frame\r\n") >= 2, "two MJPEG parts");
    drop(stream);

    let stats = api.get("/api/stats");
    let cam = &stats["cameras"][0];
    assert!(cam["latency"]["frames"].as_u64() > Some(0), "{stats}");
    for stage in [
        "queue",
        "preprocess",
        "infer",
        "postprocess",
        "track",
        "rules",
        "total",
    ] {
        assert!(
            cam["latency"][stage]["mean"].is_number(),
            "{stage}: {stats}"
        );
    }
    assert!(cam["latency"]["infer"]["mean"].as_f64() > Some(0.0));
    assert!(cam["rules"]["events_started"].as_u64() > Some(0), "{stats}");
    assert!(stats["live"]["ws_clients"].is_number() && stats["store"]["written"].is_number());
    let model = api.get("/api/model");
    assert!(
        model["labels"]
            .as_array()
            .is_some_and(|l| l.contains(&json!("person")))
    );
    assert_eq!(model["backends"][0]["active"], true);
    let running = api.get("/api/config");
    assert_eq!(running["cameras"][0]["name"], "street");
    assert_eq!(running["file"], config.to_str().expect("utf-8"));
    assert!(
        api.send("GET", "/metrics", None, Body::None)
            .text()
            .expect("text")
            .contains("edgesight_camera_frames_analysed_total{camera=\"street\"}")
    );

    // Events.
    assert_eq!(api.get(&format!("/api/events/{id}"))["id"], id.as_str());
    let now = event["last_seen_ms"].as_u64().expect("ms");
    let counts = api.get(&format!(
        "/api/events/counts?from_ms={}&to_ms={}",
        now - 600_000,
        now + 60_000
    ));
    assert!(
        counts.as_array().is_some_and(|rows| !rows.is_empty()),
        "{counts}"
    );
    for file in ["snapshot.jpg", "crop.jpg"] {
        let r = api.send("GET", &format!("/api/events/{id}/{file}"), None, Body::None);
        assert_eq!(r.status(), 200, "{file}");
        image::load_from_memory(&r.bytes().expect("bytes")).expect("a JPEG");
    }

    // Config: check, apply (cameras only), refuse.
    let text = std::fs::read_to_string(&config).expect("config");
    let (status, verdict) = api.json(
        "POST",
        "/api/config/validate",
        Some(TOKEN),
        Body::Text(text.clone()),
    );
    assert_eq!(
        (status, &verdict["valid"]),
        (200, &json!(true)),
        "{verdict}"
    );
    for (bad, field, fix) in [
        (
            text.replace("detect_fps", "detect_fsp"),
            "detect_fsp",
            "remove or correct the key",
        ),
        (
            text.replace("detect_fps = 5", "detect_fps = -1"),
            "cameras[0].detect_fps",
            "fix",
        ),
        (
            format!("{text}\n[http]\ntoken = \"short\"\n"),
            "http.token",
            "openssl rand",
        ),
    ] {
        let (status, verdict) =
            api.json("POST", "/api/config/validate", Some(TOKEN), Body::Text(bad));
        assert_eq!(
            (status, &verdict["valid"]),
            (200, &json!(false)),
            "{verdict}"
        );
        assert!(
            verdict["error"]["field"]
                .as_str()
                .is_some_and(|f| f.contains(field)),
            "{field}: {verdict}"
        );
        assert!(
            verdict["message"].as_str().is_some_and(|m| m.contains(fix)),
            "{fix}: {verdict}"
        );
        assert!(verdict["error"]["fix"].is_string(), "{verdict}");
    }
    let with_extra = format!(
        "{text}\n[[cameras]]\nname = \"extra\"\nurl = \"test://ball?fps=5\"\n\n[store]\nretention_days = 2\n"
    );
    let (status, applied) = api.json(
        "POST",
        "/api/config/apply",
        Some(TOKEN),
        Body::Text(with_extra),
    );
    assert_eq!(status, 200, "{applied}");
    let actions: Vec<(String, String)> = applied["cameras"]
        .as_array()
        .expect("results")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").into(),
                c["action"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("street".into(), "unchanged".into()),
            ("extra".into(), "added".into())
        ]
    );
    // [store] differs (and so may [http]: the command line overrides the file's bind).
    assert!(
        applied["not_applied"]
            .as_array()
            .is_some_and(|n| n.contains(&json!("store"))),
        "{applied}"
    );
    assert!(
        std::fs::read_to_string(&config)
            .expect("config")
            .contains("name = \"extra\"")
    );
    assert!(common::camera(&base, "extra").is_some());
    let (status, applied) = api.json(
        "POST",
        "/api/config/apply",
        Some(TOKEN),
        Body::Text(text.clone()),
    );
    assert_eq!(status, 200, "{applied}");
    assert_eq!(
        applied["cameras"][1],
        json!({"name": "extra", "action": "removed", "ok": true})
    );
    assert!(
        !std::fs::read_to_string(&config)
            .expect("config")
            .contains("extra")
    );
    let refused = api.json(
        "POST",
        "/api/config/apply",
        Some(TOKEN),
        Body::Text(text.replace("detect_fps = 5", "detect_fps = 0")),
    );
    assert_error(refused.clone(), 400, "invalid_config", "apply a bad config");
    assert!(
        refused.1["error"]["field"]
            .as_str()
            .is_some_and(|f| f.contains("detect_fps"))
    );
    assert_eq!(
        std::fs::read_to_string(&config).expect("config"),
        text,
        "a refused apply writes nothing"
    );

    // Unknown camera, everywhere a camera is named.
    for (method, path) in [
        ("GET", "/api/cameras/ghost"),
        ("GET", "/api/cameras/ghost/detections/latest"),
        ("GET", "/api/cameras/ghost/config"),
        ("GET", "/api/cameras/ghost/frame.jpg"),
        ("GET", "/api/cameras/ghost/stream.mjpg"),
        ("DELETE", "/api/cameras/ghost"),
    ] {
        assert_error(
            api.json(method, path, Some(TOKEN), Body::None),
            404,
            "camera_not_found",
            path,
        );
    }
    let put = api.json(
        "PUT",
        "/api/cameras/ghost",
        Some(TOKEN),
        Body::Json(json!({"name": "ghost", "url": "test://ball"})),
    );
    assert_error(put, 404, "camera_not_found", "PUT ghost");
    // Bad JSON and bodies too large.
    for (method, path) in [("POST", "/api/cameras"), ("PUT", "/api/cameras/street")] {
        let garbage = api.json(
            method,
            path,
            Some(TOKEN),
            Body::Bytes(b"{not json".to_vec()),
        );
        assert_error(garbage, 400, "bad_json", path);
        assert_error(
            oversized(&base, method, path, 200 * 1024),
            413,
            "body_too_large",
            path,
        );
    }
    for path in ["/api/config/validate", "/api/config/apply"] {
        assert_error(
            oversized(&base, "POST", path, 300 * 1024),
            413,
            "body_too_large",
            path,
        );
        // Within the limit, the same kind of body is read.
        let fits = api.json(
            "POST",
            path,
            Some(TOKEN),
            Body::Text(" ".repeat(200 * 1024)),
        );
        assert_ne!(fits.0, 413, "{path}: {}", fits.1);
    }
    // Bad queries.
    for path in [
        "/api/cameras/street/frame.jpg?width=wide",
        "/api/cameras/street/stream.mjpg?fps=0",
        "/api/cameras/street/stream.mjpg?fps=1000",
        "/api/events?limit=many",
        "/api/events?colour=red",
        "/api/events?cursor=garbage",
        "/api/events/counts?from_ms=1",
        "/api/ws?frames=perhaps",
    ] {
        assert_error(
            api.json("GET", path, Some(TOKEN), Body::None),
            400,
            "bad_query",
            path,
        );
    }
    assert_error(
        api.json("PATCH", "/api/cameras", Some(TOKEN), Body::None),
        405,
        "method_not_allowed",
        "PATCH",
    );

    // Path traversal in snapshot names: refused before any file is touched. A canary file beside
    // the data folder would be found by a naive join.
    let data = app.data.as_ref().expect("data folder").path().to_path_buf();
    std::fs::write(data.join("canary.jpg"), b"CANARY-NOT-A-JPEG").expect("canary");
    std::fs::create_dir_all(data.join("snapshots/street")).expect("dir");
    std::fs::write(
        data.join("snapshots/street/canary.jpg"),
        b"CANARY-NOT-A-JPEG",
    )
    .expect("canary");
    for target in [
        "/api/events/..%2F..%2Fetc%2Fpasswd/snapshot.jpg",
        "/api/events/..%2F..%2F..%2F..%2Fetc%2Fpasswd/crop.jpg",
        "/api/events/%2e%2e%2f%2e%2e%2fetc%2fpasswd/snapshot.jpg",
        "/api/events/..%252F..%252Fetc%252Fpasswd/snapshot.jpg",
        "/api/events/..%5C..%5Cetc%5Cpasswd/snapshot.jpg",
        "/api/events/../../etc/passwd/snapshot.jpg",
        "/api/events/snapshot.jpg/..%2F..%2Fcanary.jpg",
        "/api/events/canary/snapshot.jpg",
        "/api/events/..%2Fcanary/snapshot.jpg",
        "/api/events/..%2Fsnapshots%2Fstreet%2Fcanary/snapshot.jpg",
        "/api/events/%2Fetc%2Fpasswd/snapshot.jpg",
        "/api/events/x%00/snapshot.jpg",
        "/api/events/..%2F..%2Fetc%2Fpasswd",
        "/api/events/canary/..%2F..%2Fcanary.jpg",
    ] {
        let (status, answer) = raw_request(&base, "GET", target);
        assert!((400..500).contains(&status), "{target}: {answer}");
        assert!(
            !answer.contains("root:") && !answer.contains("CANARY"),
            "{target} read a file: {answer}"
        );
        assert!(
            !answer
                .to_ascii_lowercase()
                .contains("content-type: image/jpeg"),
            "{target}: {answer}"
        );
        assert!(
            answer.contains("\"error\""),
            "{target}: not a JSON error: {answer}"
        );
    }
    let (status, answer) = raw_request(&base, "DELETE", "/api/events/..%2F..%2Fcanary");
    assert!((400..500).contains(&status), "{answer}");
    assert!(data.join("canary.jpg").is_file(), "the canary survives");

    // The WebSocket: hello, frames with detections, event changes.
    let (mut ws, _) = ws_connect(&base, "?cameras=street", None, None).expect("websocket");
    let hello = ws_next(&mut ws);
    assert_eq!(
        (&hello["type"], &hello["version"]),
        (&json!("hello"), &json!(1)),
        "{hello}"
    );
    let (mut frame, mut change) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(20);
    while (frame.is_none() || change.is_none()) && Instant::now() < deadline {
        let m = ws_next(&mut ws);
        match m["type"].as_str() {
            Some("frame") => frame = Some(m),
            Some("event") => change = Some(m),
            _ => {}
        }
    }
    let frame = frame.expect("a frame message");
    assert_eq!(frame["camera"], "street");
    assert!(
        frame["detections"].is_array() && frame["stages"]["total_ms"].is_number(),
        "{frame}"
    );
    let change = change.expect("an event message");
    assert!(
        ["new", "update", "end"].contains(&change["kind"].as_str().unwrap_or("")),
        "{change}"
    );
    assert_eq!(change["event"]["camera"], "street");
    drop(ws);

    // Delete an event: gone with its files.
    let (status, deleted) = api.json(
        "DELETE",
        &format!("/api/events/{id}"),
        Some(TOKEN),
        Body::None,
    );
    assert_eq!((status, &deleted["deleted"]), (200, &json!(id)));
    assert_error(
        api.json("GET", &format!("/api/events/{id}"), None, Body::None),
        404,
        "event_not_found",
        "deleted",
    );
    assert_error(
        api.json(
            "GET",
            &format!("/api/events/{id}/snapshot.jpg"),
            None,
            Body::None,
        ),
        404,
        "no_snapshot",
        "deleted",
    );

    // Changes without a token, or with a wrong one; reads on loopback need none.
    let missing = api.send(
        "POST",
        "/api/cameras",
        None,
        Body::Json(json!({"name": "x", "url": "test://ball"})),
    );
    assert_eq!(
        missing.headers()["www-authenticate"],
        "Bearer realm=\"edgesight\""
    );
    let missing = (
        missing.status().as_u16(),
        missing.json().unwrap_or(Value::Null),
    );
    assert_error(missing, 401, "token_required", "POST without token");
    for (method, path) in [
        ("PUT", "/api/cameras/street"),
        ("DELETE", "/api/cameras/street"),
        ("DELETE", "/api/events/x"),
        ("POST", "/api/config/validate"),
        ("POST", "/api/config/apply"),
    ] {
        assert_error(
            api.json(method, path, None, Body::None),
            401,
            "token_required",
            path,
        );
        let wrong = api.json(method, path, Some("wrong-token-wrong-token"), Body::None);
        assert_error(wrong, 401, "token_invalid", path);
    }
    assert!(
        common::camera(&base, "street").is_some(),
        "nothing was removed"
    );
    // 5 wrong tokens above; 5 more reach the limit, then even the right token is refused.
    for _ in 0..5 {
        let wrong = api.json(
            "DELETE",
            "/api/events/x",
            Some("wrong-token-wrong-token"),
            Body::None,
        );
        assert_error(wrong, 401, "token_invalid", "wrong token");
    }
    let limited = api.send("DELETE", "/api/events/x", Some(TOKEN), Body::None);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    let limited = (
        limited.status().as_u16(),
        limited.json().unwrap_or(Value::Null),
    );
    assert_error(limited, 429, "too_many_failures", "after 10 wrong tokens");
    assert_eq!(
        api.get("/api/health")["status"],
        "ok",
        "reads on loopback go on"
    );
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

#[test]
fn off_loopback_reads_need_the_token_too() {
    common::require_onnxruntime();
    let _serial = serial();
    let (_app, base) =
        start_appliance(&["--http", "0.0.0.0:0", "--camera", "ball=test://ball?fps=10"]);
    let api = Api::new(&base);
    for path in [
        "/api/cameras",
        "/api/stats",
        "/api/events",
        "/metrics",
        "/api/cameras/ball/frame.jpg",
    ] {
        assert_error(
            api.json("GET", path, None, Body::None),
            401,
            "token_required",
            path,
        );
        assert_error(
            api.json("GET", path, Some("wrong-token-wrong-token"), Body::None),
            401,
            "token_invalid",
            path,
        );
    }
    assert_eq!(api.get("/api/cameras")[0]["name"], "ball");
    // Public: the console's files and the API description.
    for path in ["/", "/js/app.js", "/style.css", "/api/openapi.json"] {
        let r = api.send("GET", path, None, Body::None);
        assert_eq!(r.status(), 200, "{path}");
    }
    let index = api.send("GET", "/", None, Body::None);
    assert!(
        index.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("default-src 'self'")
    );
    // Media by query token, for <img> and players.
    wait_for(Duration::from_secs(20), || {
        let r = api.send(
            "GET",
            &format!("/api/cameras/ball/frame.jpg?access_token={TOKEN}"),
            None,
            Body::None,
        );
        (r.status() == 200).then_some(())
    })
    .expect("a frame by access_token");
    for path in [
        format!("/api/events?limit=5&access_token={TOKEN}"),
        format!("/api/events/counts?from_ms=0&to_ms=1000&access_token={TOKEN}"),
        format!("/api/stats?access_token={TOKEN}"),
    ] {
        let r = api.send("GET", &path, None, Body::None);
        assert_eq!(r.status(), 200, "{path}");
    }
    // A query token never authorises a change.
    let change = api.json(
        "DELETE",
        &format!("/api/cameras/ball?access_token={TOKEN}"),
        None,
        Body::None,
    );
    assert_error(change, 401, "token_required", "DELETE with a query token");
    // WebSocket: refused without the token; with it as a subprotocol, accepted and answered.
    match ws_connect(&base, "", None, None) {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 401),
        other => panic!(
            "a WebSocket without the token: {:?}",
            other.map(|(_, r)| r.status())
        ),
    }
    let (mut ws, response) =
        ws_connect(&base, "", Some(&format!("edgesight, bearer.{TOKEN}")), None)
            .expect("websocket");
    assert_eq!(response.headers()["sec-websocket-protocol"], "edgesight");
    assert_eq!(ws_next(&mut ws)["type"], "hello");
}

#[test]
fn a_generated_token_is_printed_once_and_kept_only_as_its_hash() {
    common::require_onnxruntime();
    let _serial = serial();
    let data = tempfile::tempdir().expect("data");
    let data_arg = data.path().to_str().expect("utf-8");
    let args = ["--data", data_arg, "--camera", "ball=test://ball?fps=5"];
    let (mut first, base) = start_appliance_with_env(&args, &[]);
    let line = first
        .wait_line("API token generated: ", Duration::from_secs(5))
        .expect("the token in the log");
    let token = line
        .split("API token generated: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("token")
        .to_string();
    assert!(token.len() >= 32, "{token}");
    let stored = std::fs::read_to_string(data.path().join("api-token.sha256")).expect("hash file");
    assert!(!stored.contains(&token));
    let api = Api::new(&base);
    let check = |api: &Api, token: &str| {
        api.json(
            "POST",
            "/api/config/validate",
            Some(token),
            Body::Text("x = 1".into()),
        )
        .0
    };
    assert_eq!(check(&api, &token), 200);
    assert_eq!(check(&api, "wrong-token-wrong-token"), 401);
    assert!(first.terminate(Duration::from_secs(10)).is_some());

    let (again, base) = start_appliance_with_env(&args, &[]);
    again
        .wait_line(
            "API token: the one generated earlier",
            Duration::from_secs(5),
        )
        .expect("reused");
    assert!(!again.stderr_text().contains(&token), "printed only once");
    assert_eq!(
        check(&Api::new(&base), &token),
        200,
        "the same token after a restart"
    );
}

#[test]
fn websocket_clients_that_read_nothing_lose_messages_but_never_slow_analysis() {
    common::require_onnxruntime();
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "")
        .to_str()
        .expect("utf-8")
        .to_string();
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .expect("config")
            .replace("detect_fps = 5", "detect_fps = 10"),
    )
    .expect("write");
    let (app, base) = start_appliance(&["--config", &config]);
    let api = Api::new(&base);
    let analysed = |api: &Api| {
        api.get("/api/cameras/street")["frames_analysed"]
            .as_u64()
            .expect("counter")
    };
    wait_for(Duration::from_secs(20), || {
        (analysed(&api) > 10).then_some(())
    })
    .expect("analysis runs");
    let rate = |api: &Api, during: Duration| {
        let (t0, n0) = (Instant::now(), analysed(api));
        std::thread::sleep(during);
        (analysed(api) - n0) as f64 / t0.elapsed().as_secs_f64()
    };
    let baseline = rate(&api, Duration::from_secs(6));
    assert!(baseline > 2.0, "baseline {baseline:.1} fps");

    // A reading client, to show the others do not hold it up either.
    let reader_base = base.clone();
    let reading = std::thread::spawn(move || {
        let (mut ws, _) = ws_connect(&reader_base, "", None, None).expect("websocket");
        let mut frames = 0;
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(25) {
            if ws_next(&mut ws)["type"] == "frame" {
                frames += 1;
            }
        }
        frames
    });
    // Clients that read nothing, with small receive buffers; and MJPEG viewers that read nothing.
    let silent: Vec<Ws> = (0..4)
        .map(|_| {
            ws_connect(&base, "", None, Some(4096))
                .expect("websocket")
                .0
        })
        .collect();
    let addr = base.trim_start_matches("http://").to_string();
    let _mjpeg: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).expect("connect");
            write!(
                s,
                "GET /api/cameras/street/stream.mjpg?fps=30 HTTP/1.1\r\nHost: {addr}\r\n\r\n"
            )
            .expect("write");
            s
        })
        .collect();
    let (t0, n0) = (Instant::now(), analysed(&api));
    let dropped = wait_for(Duration::from_secs(45), || {
        let live = &api.get("/api/stats")["live"];
        let n = live["ws_messages_dropped"].as_u64()?;
        (n > 0).then_some(n)
    })
    .unwrap_or_else(|| {
        panic!(
            "no message dropped for silent clients in 45 s: {}",
            api.get("/api/stats")["live"]
        )
    });
    let loaded = (analysed(&api) - n0) as f64 / t0.elapsed().as_secs_f64();
    println!(
        "analysed {baseline:.1} fps alone, {loaded:.1} fps with silent clients ({dropped} messages dropped after {:.0} s)",
        t0.elapsed().as_secs_f64()
    );
    assert!(
        loaded >= 0.7 * baseline,
        "analysis slowed: {baseline:.1} → {loaded:.1} fps"
    );
    let stats = api.get("/api/stats");
    assert!(stats["live"]["ws_clients"].as_u64() >= Some(5), "{stats}");

    // A silent client that starts reading is told how many messages it lost, then gets new ones.
    let mut late = silent.into_iter().next().expect("a client");
    let mut told = None;
    let deadline = Instant::now() + Duration::from_secs(15);
    while told.is_none() && Instant::now() < deadline {
        let m = ws_next(&mut late);
        if m["type"] == "dropped" {
            told = m["messages"].as_u64();
        }
    }
    let told = told.expect("a `dropped` message");
    assert!(told > 0);
    let next = (0..200)
        .map(|_| ws_next(&mut late))
        .find(|m| m["type"] == "frame");
    assert!(next.is_some(), "frames flow again after the notice");
    let frames = reading.join().expect("reader");
    assert!(
        frames as f64 >= 0.5 * baseline * 25.0,
        "the reading client got {frames} frames in 25 s"
    );
    // Viewers that go away mid-stream are normal: no ERROR line for them.
    drop(_mjpeg);
    drop(late);
    std::thread::sleep(Duration::from_millis(500));
    let log = app.stderr_text();
    assert!(!log.contains("ERROR"), "{log}");
    drop(app);
}
