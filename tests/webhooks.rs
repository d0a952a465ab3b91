//! Webhooks end to end: the real appliance on the pedestrian clip (a looping file camera),
//! sending to a real HTTP server in this test that checks every request with its own
//! implementation of the Standard Webhooks signature (HMAC-SHA256 built from SHA-256 by hand,
//! base64 by hand): nothing here shares code with the product's signer.
//!
//! What is proved: signatures verify, and a tampered body or a stale timestamp does not; a
//! receiver down for 30 s loses nothing and gets no change under two ids; a SIGKILL with
//! deliveries pending loses nothing after a restart; a refusing endpoint ends in dead letters
//! that the API replays with their ids.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Proc, store_db, stored_event_ids, wait_for, write_clip_config};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The key is the base64 of "edgesight-test-webhook-key-32byte".
const SECRET: &str = "whsec_ZWRnZXNpZ2h0LXRlc3Qtd2ViaG9vay1rZXktMzJieXRl";
/// Standard Webhooks' recommended tolerance for timestamps.
const TOLERANCE_S: u64 = 300;

/// One appliance at a time: each decodes the clip, and 2 cores are shared.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

// ---- the receiver's own Standard Webhooks implementation ----

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64_decode(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let v = B64.iter().position(|&x| x == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    Some(out)
}

/// HMAC (RFC 2104) over SHA-256, from the hash alone.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn sign(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = b64_decode(secret.strip_prefix("whsec_").expect("whsec_ prefix")).expect("base64");
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    format!("v1,{}", b64_encode(&hmac_sha256(&key, &signed)))
}

/// Checks one request the way a receiver must: fresh timestamp, then one matching `v1`
/// signature, compared in constant time.
fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: u64,
) -> Result<(), String> {
    let ts: u64 = timestamp.parse().map_err(|_| "timestamp is not a number")?;
    if ts.abs_diff(now) > TOLERANCE_S {
        return Err(format!("stale timestamp: {ts} vs now {now}"));
    }
    let expected = sign(secret, id, timestamp, body);
    let matches = signatures.split(' ').any(|candidate| {
        candidate.len() == expected.len()
            && candidate
                .bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if matches {
        Ok(())
    } else {
        Err("no signature matches".into())
    }
}

#[test]
fn the_receiver_verifier_is_right_against_the_published_vector() {
    // The Standard Webhooks test vector: a verifier that gets it wrong proves nothing below.
    let body = br#"{"test": 2432232314}"#;
    let signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    assert_eq!(sign(secret, id, "1614265330", body), signature);
    verify(secret, id, "1614265330", signature, body, 1_614_265_330).expect("valid");
    verify(
        secret,
        id,
        "1614265330",
        signature,
        b"{\"test\": 1}",
        1_614_265_330,
    )
    .expect_err("tampered body");
    verify(
        secret,
        id,
        "1614265330",
        signature,
        body,
        1_614_265_330 + 301,
    )
    .expect_err("stale timestamp");
    assert_eq!(b64_decode(&b64_encode(b"ab")).as_deref(), Some(&b"ab"[..]));
}

// ---- the receiver: a real HTTP/1.1 server on 127.0.0.1 ----

#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
    /// Verification at the moment it arrived.
    verified: Result<(), String>,
    status: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

struct Receiver {
    port: u16,
    status: Arc<AtomicU16>,
    got: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Listens on `port` (0: any) and answers `status` to every request.
    fn start(port: u16, status: u16) -> Self {
        let mut r = Receiver {
            port,
            status: Arc::new(AtomicU16::new(status)),
            got: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        };
        r.up();
        r
    }

    /// Starts listening again on the same port.
    fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("receiver binds");
        self.port = listener.local_addr().expect("addr").port();
        self.stop.store(false, Ordering::SeqCst);
        let (status, got, stop) = (self.status.clone(), self.got.clone(), self.stop.clone());
        self.thread = Some(std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    handle(stream, status.load(Ordering::SeqCst), &got);
                }
            }
        }));
    }

    /// Stops listening: connections are refused until [`Receiver::up`].
    fn down(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            t.join().expect("receiver thread");
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/edgesight", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    /// Ids of the requests answered 2xx.
    fn accepted_ids(&self) -> BTreeSet<String> {
        self.received()
            .into_iter()
            .filter(|r| r.status < 300)
            .map(|r| r.id)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.down();
        }
    }
}

/// Reads one request, records it, answers `status` and closes the connection.
fn handle(stream: TcpStream, status: u16, got: &Mutex<Vec<Received>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let mut headers = HashMap::new();
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 || !line.starts_with("POST ") {
        return;
    }
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let header = |k: &str| headers.get(k).cloned().unwrap_or_default();
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let verified = verify(SECRET, &id, &timestamp, &signature, &body, now_s());
    assert_eq!(header("content-type"), "application/json");
    got.lock().expect("lock").push(Received {
        id,
        timestamp,
        signature,
        body,
        verified,
        status,
    });
    let reason = if status < 300 { "OK" } else { "Refused" };
    let _ = write!(
        &stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Length: 7\r\nConnection: close\r\n\r\nanswer\n"
    );
}

// ---- helpers over the appliance ----

fn start(config: &Path, data: &Path) -> (Proc, String) {
    common::require_onnxruntime();
    common::start_appliance(&[
        "--config",
        config.to_str().expect("utf-8"),
        "--data",
        data.to_str().expect("utf-8"),
    ])
}

fn webhook_table(name: &str, url: &str, extra: &str) -> String {
    format!("[[webhooks]]\nname = \"{name}\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\n{extra}\n")
}

/// (id, message_id, state, created_ms, payload) of every outbox row of `sink`.
fn outbox(data: &Path, sink: &str) -> Vec<(i64, String, String, u64, String)> {
    let conn = store_db(data);
    let mut stmt = conn
        .prepare(
            "SELECT id, message_id, state, created_ms, payload FROM outbox WHERE sink = ?1
             ORDER BY id",
        )
        .expect("prepare");
    stmt.query_map([sink], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

/// Every request verified, and one change never came under two ids (one id may come twice,
/// always with the same content).
fn check_ids_and_signatures(received: &[Received]) {
    let mut by_id: BTreeMap<&str, &Value> = BTreeMap::new();
    let mut by_change: HashMap<String, &str> = HashMap::new();
    let parsed: Vec<(&Received, Value)> = received.iter().map(|r| (r, r.json())).collect();
    for (r, body) in &parsed {
        assert_eq!(r.verified, Ok(()), "request {} did not verify", r.id);
        assert!(
            matches!(
                body["type"].as_str(),
                Some("event.new" | "event.update" | "event.end")
            ),
            "{body}"
        );
        assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
        let event_id = body["data"]["id"].as_str().expect("data.id");
        assert!(
            r.id.starts_with(&format!("{event_id}.")),
            "{} for {event_id}",
            r.id
        );
        if let Some(previous) = by_id.insert(&r.id, body) {
            assert_eq!(previous, body, "id {} came with two contents", r.id);
        }
        let change = format!("{}|{}", body["type"], body["data"]);
        if let Some(other) = by_change.insert(change, &r.id) {
            assert_eq!(other, r.id, "one change came under two ids");
        }
    }
}

#[test]
fn a_receiver_down_for_30_s_gets_every_event_once_signed_and_tampering_fails() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut receiver = Receiver::start(0, 200);
    let extra = webhook_table(
        "recv",
        &receiver.url(),
        "backoff_max_s = 2\nmax_attempts = 1000\ntimeout_s = 2",
    );
    let config = write_clip_config(dir.path(), 5, &extra);
    let (mut app, _base) = start(&config, &data);
    let t0 = Instant::now();

    wait_for(Duration::from_secs(30), || {
        (receiver.received().len() >= 3).then_some(())
    })
    .unwrap_or_else(|| panic!("no webhook within 30 s; log:\n{}", app.stderr_text()));
    let first = &receiver.received()[0];
    assert_eq!(first.verified, Ok(()));
    // Tampering is caught by the verifier: one byte of the body, or a replay with an old
    // timestamp (correctly signed, so only its age gives it away), or a timestamp changed
    // without the secret.
    let mut tampered = first.body.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x01;
    let check =
        |ts: &str, sig: &str, body: &[u8]| verify(SECRET, &first.id, ts, sig, body, now_s());
    check(&first.timestamp, &first.signature, &first.body).expect("the original verifies");
    check(&first.timestamp, &first.signature, &tampered).expect_err("a tampered body fails");
    let stale = (now_s() - TOLERANCE_S - 60).to_string();
    let stale_sig = sign(SECRET, &first.id, &stale, &first.body);
    let e = check(&stale, &stale_sig, &first.body).expect_err("a stale timestamp fails");
    assert!(e.contains("stale"), "{e}");
    let shifted = (first.timestamp.parse::<u64>().expect("ts") + 1).to_string();
    check(&shifted, &first.signature, &first.body).expect_err("a moved timestamp fails");

    // Down for 30 s while events go on.
    receiver.down();
    let down_ms = now_ms();
    std::thread::sleep(Duration::from_secs(30));
    let up_ms = now_ms();
    let during = outbox(&data, "webhook:recv")
        .iter()
        .filter(|r| r.3 >= down_ms && r.3 < up_ms)
        .count();
    assert!(during > 0, "no event occurred while the receiver was down");
    receiver.up();

    // Everything stored before it came back arrives.
    let missing = || {
        let accepted = receiver.accepted_ids();
        outbox(&data, "webhook:recv")
            .into_iter()
            .filter(|r| r.3 < up_ms && !accepted.contains(&r.1))
            .map(|r| r.1)
            .collect::<Vec<_>>()
    };
    wait_for(Duration::from_secs(30), || {
        missing().is_empty().then_some(())
    })
    .unwrap_or_else(|| panic!("still missing after 30 s: {:?}", missing()));
    let recovered_s = (now_ms() - up_ms) as f64 / 1000.0;

    let status = app
        .terminate(Duration::from_secs(20))
        .expect("stops on SIGTERM");
    assert!(status.success(), "{status:?}");
    // The clean stop sent what was due: every row delivered and received, nothing dead.
    let rows = outbox(&data, "webhook:recv");
    let accepted = receiver.accepted_ids();
    for (_, message_id, state, _, _) in &rows {
        assert_eq!(state, "delivered", "{message_id}");
        assert!(accepted.contains(message_id), "{message_id} never arrived");
    }
    let received = receiver.received();
    check_ids_and_signatures(&received);
    // Every event of the store announced itself with its `new`.
    let events = stored_event_ids(&data);
    let news: BTreeSet<String> = received
        .iter()
        .map(Received::json)
        .filter(|b| b["type"] == "event.new")
        .filter_map(|b| b["data"]["id"].as_str().map(str::to_string))
        .collect();
    for id in &events {
        assert!(news.contains(id), "event {id} never arrived as new");
    }
    assert!(
        !app.stderr_text().contains(&SECRET[6..]),
        "the secret is in the log"
    );
    eprintln!(
        "webhooks outage: {} rows ({} while down), {} requests, {} events, backlog delivered \
         {recovered_s:.1} s after the receiver came back, test {:.0} s",
        rows.len(),
        during,
        received.len(),
        events.len(),
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn sigkill_with_deliveries_pending_then_a_restart_delivers_them() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // Nobody listens on the port yet.
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}/hooks/edgesight");
    let extra = webhook_table("late", &url, "backoff_max_s = 1\nmax_attempts = 1000");
    let config = write_clip_config(dir.path(), 5, &extra);
    let (mut app, _base) = start(&config, &data);
    let pending = || {
        outbox(&data, "webhook:late")
            .into_iter()
            .filter(|r| r.2 == "pending")
            .map(|r| r.1)
            .collect::<BTreeSet<_>>()
    };
    wait_for(Duration::from_secs(40), || {
        (pending().len() >= 10).then_some(())
    })
    .unwrap_or_else(|| panic!("no pending deliveries; log:\n{}", app.stderr_text()));
    app.child.kill().expect("SIGKILL");
    app.child.wait().expect("reaped");
    let undelivered = pending();
    assert!(undelivered.len() >= 10, "{undelivered:?}");

    let receiver = Receiver::start(port, 200);
    let (mut again, _base) = start(&config, &data);
    let missing = || {
        let accepted = receiver.accepted_ids();
        undelivered
            .iter()
            .filter(|id| !accepted.contains(*id))
            .cloned()
            .collect::<Vec<_>>()
    };
    wait_for(Duration::from_secs(30), || {
        missing().is_empty().then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "not delivered after the restart: {:?}; log:\n{}",
            missing(),
            again.stderr_text()
        )
    });
    check_ids_and_signatures(&receiver.received());
    // Events the kill cut short were ended at the restart, and their `end` went out too.
    let cut: BTreeSet<String> = receiver
        .received()
        .iter()
        .filter(|r| undelivered.contains(&r.id))
        .filter_map(|r| r.json()["data"]["id"].as_str().map(str::to_string))
        .collect();
    let unended = || {
        let ends: BTreeSet<String> = receiver
            .received()
            .iter()
            .map(Received::json)
            .filter(|b| b["type"] == "event.end")
            .filter_map(|b| b["data"]["id"].as_str().map(str::to_string))
            .collect();
        cut.iter()
            .filter(|id| !ends.contains(*id))
            .cloned()
            .collect::<Vec<_>>()
    };
    wait_for(Duration::from_secs(10), || {
        unended().is_empty().then_some(())
    })
    .unwrap_or_else(|| panic!("events cut by the kill never ended: {:?}", unended()));
    assert!(again.terminate(Duration::from_secs(20)).is_some());
    eprintln!(
        "webhooks sigkill: {} deliveries pending at the kill, all delivered after the restart",
        undelivered.len()
    );
}

#[test]
fn a_refusing_endpoint_ends_in_dead_letters_that_the_api_replays() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let receiver = Receiver::start(0, 500);
    let extra = webhook_table(
        "refuses",
        &receiver.url(),
        "types = [\"new\"]\nmax_attempts = 2\nbackoff_max_s = 1",
    );
    let config = write_clip_config(dir.path(), 5, &extra);
    let (mut app, base) = start(&config, &data);
    let client = reqwest::blocking::Client::new();
    let get = |path: &str| -> (u16, Value) {
        let r = client.get(format!("{base}{path}")).send().expect("request");
        (r.status().as_u16(), r.json().expect("json"))
    };
    let post = |path: &str| -> (u16, Value) {
        let r = client
            .post(format!("{base}{path}"))
            .bearer_auth(common::TOKEN)
            .send()
            .expect("request");
        (r.status().as_u16(), r.json().expect("json"))
    };

    let dead = wait_for(Duration::from_secs(40), || {
        let (status, page) = get("/api/webhooks/dead-letters?endpoint=refuses");
        assert_eq!(status, 200, "{page}");
        let rows = page["deliveries"].as_array()?.clone();
        (rows.len() >= 2).then_some(rows)
    })
    .unwrap_or_else(|| panic!("no dead letters; log:\n{}", app.stderr_text()));
    for row in &dead {
        assert_eq!(row["state"], "dead");
        assert_eq!(row["attempts"], 2, "{row}");
        assert_eq!(row["sink"], "webhook:refuses");
        assert_eq!(row["type"], "new");
        let error = row["last_error"].as_str().expect("last_error");
        assert!(error.contains("500"), "{error}");
    }
    let refused: Vec<String> = receiver
        .received()
        .iter()
        .filter(|r| r.id == dead[0]["message_id"].as_str().expect("id"))
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(refused.len(), 2, "two attempts, same id");

    // The endpoint is fixed: replay one dead letter, then all of the endpoint's.
    receiver.status.store(200, Ordering::SeqCst);
    let one = dead[0]["id"].as_i64().expect("row id");
    let one_msg = dead[0]["message_id"]
        .as_str()
        .expect("message id")
        .to_string();
    let (status, body) = post(&format!("/api/webhooks/dead-letters/{one}/replay"));
    assert_eq!(
        (status, &body["replayed"]),
        (200, &Value::from(1)),
        "{body}"
    );
    wait_for(Duration::from_secs(15), || {
        receiver.accepted_ids().contains(&one_msg).then_some(())
    })
    .expect("the replayed dead letter arrives with its id");
    let (status, body) = post(&format!("/api/webhooks/dead-letters/{one}/replay"));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_dead"))
    );
    let (status, body) = post("/api/webhooks/dead-letters/999999999/replay");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("delivery_not_found"))
    );
    let (status, body) = post("/api/webhooks/replay?endpoint=nope");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("webhook_not_found"))
    );
    let (status, body) = get("/api/webhooks/deliveries?state=lost");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_query"))
    );

    let (status, body) = post("/api/webhooks/replay?endpoint=refuses");
    assert_eq!(status, 200, "{body}");
    assert!(body["replayed"].as_u64().expect("count") >= 1, "{body}");
    let rest: Vec<String> = dead[1..]
        .iter()
        .map(|r| r["message_id"].as_str().expect("id").to_string())
        .collect();
    wait_for(Duration::from_secs(15), || {
        let accepted = receiver.accepted_ids();
        rest.iter().all(|id| accepted.contains(id)).then_some(())
    })
    .expect("every replayed dead letter arrives");
    let (_, page) = get("/api/webhooks/deliveries?endpoint=refuses&state=delivered&limit=500");
    let delivered: BTreeSet<&str> = page["deliveries"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["message_id"].as_str())
        .collect();
    assert!(delivered.contains(one_msg.as_str()));
    check_ids_and_signatures(
        &receiver
            .received()
            .into_iter()
            .filter(|r| r.status < 300)
            .collect::<Vec<_>>(),
    );

    // Counters and metrics.
    let (_, sinks) = get("/api/webhooks");
    let sink = &sinks["sinks"][0];
    assert_eq!(sink["endpoint"], "refuses");
    assert!(sink["dead_total"].as_u64().expect("dead") >= 2, "{sink}");
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    for needle in [
        "edgesight_sink_deliveries_total{sink=\"webhook:refuses\",outcome=\"dead\"}",
        "edgesight_sink_deliveries_total{sink=\"webhook:refuses\",outcome=\"delivered\"}",
        "edgesight_sink_delivery_latency_seconds_count{sink=\"webhook:refuses\"}",
        "edgesight_sink_outbox_pending{sink=\"webhook:refuses\"}",
        "edgesight_sink_messages_enqueued_total{sink=\"webhook:refuses\"}",
    ] {
        assert!(metrics.contains(needle), "{needle} missing:\n{metrics}");
    }
    // The secret is nowhere to be seen.
    let listing = format!("{sinks}{page}{metrics}{}", app.stderr_text());
    assert!(!listing.contains(&SECRET[6..]), "the secret leaked");
    assert!(app.terminate(Duration::from_secs(20)).is_some());
}

#[test]
fn the_quick_start_flags_send_every_event_signed_and_refuse_a_missing_or_bad_secret() {
    let _serial = serial();
    common::require_onnxruntime();
    let receiver = Receiver::start(0, 200);
    let camera = format!("clip=file://{}", common::pedestrian_clip().display());
    let url = receiver.url();
    let (mut app, _base) = common::start_appliance(&[
        "--camera",
        &camera,
        "--webhook",
        &url,
        "--webhook-secret",
        SECRET,
    ]);
    wait_for(Duration::from_secs(30), || {
        (receiver.accepted_ids().len() >= 3).then_some(())
    })
    .unwrap_or_else(|| panic!("nothing sent; log:\n{}", app.stderr_text()));
    check_ids_and_signatures(&receiver.received());
    assert!(app.terminate(Duration::from_secs(20)).is_some());

    for (secret, expect) in [
        (None, "--webhook-secret"),
        (Some("whsec_???notbase64"), "not valid base64"),
    ] {
        let mut args = vec!["run", "--camera", &camera, "--webhook", &url];
        if let Some(s) = secret {
            args.extend(["--webhook-secret", s]);
        }
        let out = std::process::Command::new(common::bin())
            .args(&args)
            .env_remove("EDGESIGHT_WEBHOOK_SECRET")
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains(expect) && stderr.contains("fix:"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("???notbase64"),
            "the secret is echoed: {stderr}"
        );
    }
}
