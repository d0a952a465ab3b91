//! MQTT end to end against Debian's `mosquitto`, started by this test on a free port with its
//! own config file in a temporary folder, the real appliance on the pedestrian clip, and a
//! subscriber in the test (rumqttc).
//!
//! What is proved: availability (`online`; `offline` from the last will when the appliance is
//! SIGKILLed), event messages with `before`/`after`, counts, snapshots, camera states and
//! Home Assistant discovery arrive; a broker restarted mid-run loses no QoS 1 event message:
//! every outbox row ends delivered and reaches the subscriber, every event's `new` included.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{Proc, store_db, stored_event_ids, wait_for, write_clip_config};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::Value;

/// One appliance at a time: each decodes the clip, and 2 cores are shared.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// The mosquitto binary; fails (never skips) without it.
fn mosquitto_bin() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|d| d.join("mosquitto"));
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "mosquitto is not installed: run `make setup` (it installs Debian's mosquitto \
                 broker, which the MQTT tests start on their own port)"
            )
        })
}

/// A mosquitto process on 127.0.0.1:`port`, with persistence in its own folder.
struct Broker {
    port: u16,
    conf: PathBuf,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("broker folder");
        let port = common::free_port();
        let conf = dir.path().join("mosquitto.conf");
        let text = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
             persistence_location {}/\nlog_dest stderr\nlog_type error\nlog_type warning\n\
             user root\n",
            dir.path().display()
        );
        std::fs::write(&conf, text).expect("write mosquitto.conf");
        let mut broker = Broker {
            port,
            conf,
            child: None,
            _dir: dir,
        };
        broker.up();
        broker
    }

    fn up(&mut self) {
        let child = Command::new(mosquitto_bin())
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts");
        self.child = Some(child);
        wait_for(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", self.port))
                .ok()
                .map(|_| ())
        })
        .expect("mosquitto listens within 10 s");
    }

    /// Stops it the way a service manager does (SIGTERM: it saves its state and exits).
    fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            common::signal(child.id(), "TERM");
            let exited = wait_for(Duration::from_secs(10), || child.try_wait().ok().flatten());
            if exited.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One message as the subscriber got it.
#[derive(Clone, Debug)]
struct Message {
    topic: String,
    payload: Vec<u8>,
    retain: bool,
}

impl Message {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.payload).expect("JSON payload")
    }
}

/// A subscriber on its own thread, reconnecting by itself; `persistent` keeps its session
/// (and the QoS 1 messages queued for it) across its disconnections and broker restarts.
struct Subscriber {
    got: Arc<Mutex<Vec<Message>>>,
}

impl Subscriber {
    fn start(port: u16, id: &str, persistent: bool, topics: &[&str]) -> Self {
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(5))
            .set_clean_session(!persistent)
            .set_max_packet_size(16 * 1024 * 1024, 64 * 1024);
        let (client, mut connection) = Client::new(options, 64);
        let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        let got = Arc::new(Mutex::new(Vec::new()));
        let into = got.clone();
        std::thread::spawn(move || {
            for event in connection.iter() {
                match event {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        for t in &topics {
                            let _ = client.try_subscribe(t.clone(), QoS::AtLeastOnce);
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        into.lock().expect("lock").push(Message {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                        });
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(300)),
                }
            }
        });
        Subscriber { got }
    }

    fn messages(&self) -> Vec<Message> {
        self.got.lock().expect("lock").clone()
    }

    fn on(&self, topic: &str) -> Vec<Message> {
        self.messages()
            .into_iter()
            .filter(|m| m.topic == topic)
            .collect()
    }

    /// The last payload on `topic`, as text.
    fn last(&self, topic: &str) -> Option<String> {
        self.on(topic).last().map(Message::text)
    }
}

fn mqtt_table(port: u16, prefix: &str) -> String {
    format!(
        "[mqtt]\nhost = \"127.0.0.1\"\nport = {port}\nclient_id = \"es-test\"\n\
         topic_prefix = \"{prefix}\"\nkeepalive_s = 5\nreconnect_max_s = 1\n"
    )
}

fn start(config: &Path, data: &Path) -> (Proc, String) {
    common::require_onnxruntime();
    common::start_appliance(&[
        "--config",
        config.to_str().expect("utf-8"),
        "--data",
        data.to_str().expect("utf-8"),
    ])
}

/// (state, created_ms, payload) of every `mqtt` outbox row.
fn outbox(data: &Path) -> Vec<(String, u64, String)> {
    let conn = store_db(data);
    let mut stmt = conn
        .prepare("SELECT state, created_ms, payload FROM outbox WHERE sink = 'mqtt' ORDER BY id")
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

#[test]
fn events_states_and_availability_arrive_and_a_sigkill_says_offline() {
    let _serial = serial();
    let broker = Broker::start();
    let sub = Subscriber::start(
        broker.port,
        "test-watch",
        false,
        &["estest/#", "homeassistant/#"],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let config = write_clip_config(dir.path(), 5, &mqtt_table(broker.port, "estest"));
    let (mut app, _base) = start(&config, &data);
    let t0 = Instant::now();

    wait_for(Duration::from_secs(30), || {
        (sub.last("estest/available").as_deref() == Some("online")).then_some(())
    })
    .unwrap_or_else(|| panic!("no `online`; log:\n{}", app.stderr_text()));

    // Event messages: Frigate's shape, our event inside.
    let new = wait_for(Duration::from_secs(30), || {
        sub.on("estest/events")
            .into_iter()
            .map(|m| m.json())
            .find(|v| v["type"] == "new")
    })
    .unwrap_or_else(|| panic!("no event message; log:\n{}", app.stderr_text()));
    assert_eq!(
        new["before"], new["after"],
        "`before` of a new event is the event"
    );
    assert_eq!(new["after"]["camera"], "clip");
    assert!(
        new["after"]["id"]
            .as_str()
            .is_some_and(|id| id.contains("-clip-"))
    );
    wait_for(Duration::from_secs(30), || {
        sub.on("estest/events")
            .iter()
            .any(|m| m.json()["type"] == "update")
            .then_some(())
    })
    .expect("an update");

    // Retained state topics and discovery.
    let count = wait_for(Duration::from_secs(20), || {
        sub.on("estest/clip/person")
            .into_iter()
            .find(|m| m.text().parse::<u64>().is_ok_and(|n| n > 0))
    })
    .expect("a person count");
    wait_for(Duration::from_secs(20), || {
        (sub.last("estest/clip/state").as_deref() == Some("streaming")).then_some(())
    })
    .expect("the camera state");
    let snapshot = wait_for(Duration::from_secs(20), || {
        sub.on("estest/clip/person/snapshot").into_iter().next()
    })
    .expect("a snapshot");
    assert_eq!(&snapshot.payload[..2], &[0xFF, 0xD8], "a JPEG");
    let discovery = wait_for(Duration::from_secs(20), || {
        sub.on("homeassistant/sensor/es-test/clip_person_count/config")
            .into_iter()
            .next()
    })
    .expect("discovery of the person count");
    let config_json = discovery.json();
    assert_eq!(config_json["state_topic"], "estest/clip/person");
    assert_eq!(config_json["availability_topic"], "estest/available");
    assert!(
        !sub.on("homeassistant/binary_sensor/es-test/clip_person_occupancy/config")
            .is_empty()
    );
    assert!(
        !sub.on("homeassistant/sensor/es-test/clip_state/config")
            .is_empty()
    );

    // A subscriber arriving now gets the state from the broker's retained messages.
    let late = Subscriber::start(
        broker.port,
        "test-late",
        false,
        &["estest/#", "homeassistant/#"],
    );
    let retained = |topic: &str| late.on(topic).into_iter().find(|m| m.retain);
    wait_for(Duration::from_secs(10), || {
        [
            "estest/available",
            "estest/clip/state",
            "estest/clip/person",
            "estest/clip/person/snapshot",
            "homeassistant/sensor/es-test/clip_person_count/config",
        ]
        .iter()
        .all(|t| retained(t).is_some())
        .then_some(())
    })
    .unwrap_or_else(|| {
        let topics: BTreeSet<String> = late
            .messages()
            .iter()
            .filter(|m| m.retain)
            .map(|m| m.topic.clone())
            .collect();
        panic!("retained topics missing; got {topics:?}")
    });
    assert_eq!(
        retained("estest/available").map(|m| m.text()).as_deref(),
        Some("online")
    );
    assert!(count.text().parse::<u64>().is_ok());
    assert!(
        late.on("estest/events").iter().all(|m| !m.retain),
        "events are not retained"
    );

    // SIGKILL: the broker publishes the last will.
    app.child.kill().expect("SIGKILL");
    app.child.wait().expect("reaped");
    let killed = Instant::now();
    wait_for(Duration::from_secs(15), || {
        (sub.last("estest/available").as_deref() == Some("offline")).then_some(())
    })
    .expect("`offline` from the last will after a SIGKILL");
    eprintln!(
        "mqtt: {} messages, `offline` {:.1} s after the SIGKILL, test {:.0} s",
        sub.messages().len(),
        killed.elapsed().as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn a_broker_restart_loses_no_qos1_event_message() {
    let _serial = serial();
    let mut broker = Broker::start();
    let sub = Subscriber::start(broker.port, "test-keeper", true, &["keep/events"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let config = write_clip_config(dir.path(), 5, &mqtt_table(broker.port, "keep"));
    let (mut app, _base) = start(&config, &data);
    let t0 = Instant::now();
    wait_for(Duration::from_secs(40), || {
        (sub.on("keep/events").len() >= 5).then_some(())
    })
    .unwrap_or_else(|| panic!("no event messages; log:\n{}", app.stderr_text()));

    // Down for 10 s while events go on: they wait in the outbox.
    broker.down();
    let down_ms = now_ms();
    std::thread::sleep(Duration::from_secs(10));
    let waiting = outbox(&data)
        .iter()
        .filter(|r| r.1 >= down_ms && r.0 == "pending")
        .count();
    assert!(waiting > 0, "no event was stored while the broker was down");
    broker.up();
    let up_ms = now_ms();
    let undelivered = || {
        outbox(&data)
            .into_iter()
            .filter(|r| r.1 < up_ms && r.0 != "delivered")
            .count()
    };
    wait_for(Duration::from_secs(30), || {
        (undelivered() == 0).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "{} rows not delivered; log:\n{}",
            undelivered(),
            app.stderr_text()
        )
    });
    let recovered_s = (now_ms() - up_ms) as f64 / 1000.0;

    let status = app
        .terminate(Duration::from_secs(20))
        .expect("stops on SIGTERM");
    assert!(status.success(), "{status:?}");
    let rows = outbox(&data);
    for (state, _, payload) in &rows {
        assert_eq!(state, "delivered", "{payload}");
    }
    // Every row reached the subscriber, byte for byte (QoS 1 may bring one twice).
    let missing = || {
        let got: BTreeSet<String> = sub.on("keep/events").iter().map(Message::text).collect();
        rows.iter()
            .filter(|r| !got.contains(&r.2))
            .map(|r| r.2.clone())
            .collect::<Vec<_>>()
    };
    wait_for(Duration::from_secs(10), || {
        missing().is_empty().then_some(())
    })
    .unwrap_or_else(|| panic!("{} messages never reached the subscriber", missing().len()));
    let news: BTreeSet<String> = sub
        .on("keep/events")
        .iter()
        .map(Message::json)
        .filter(|v| v["type"] == "new")
        .filter_map(|v| v["after"]["id"].as_str().map(str::to_string))
        .collect();
    let events = stored_event_ids(&data);
    for id in &events {
        assert!(news.contains(id), "the `new` of {id} never arrived");
    }
    eprintln!(
        "mqtt broker restart: {} rows ({waiting} waiting while down), {} events, {} messages \
         received, backlog delivered {recovered_s:.1} s after the broker came back, test {:.0} s",
        rows.len(),
        events.len(),
        sub.on("keep/events").len(),
        t0.elapsed().as_secs_f64()
    );
}
