//! MQTT topic names and Home Assistant discovery configs, as pure functions.
//!
//! Layout (`P` is `topic_prefix`, default `edgesight`):
//!
//! | topic | payload | retained |
//! |---|---|---|
//! | `P/available` | `online` / `offline` (the last will) | yes |
//! | `P/events` | `{"type", "before", "after"}` per event change (QoS 1, from the outbox) | no |
//! | `P/<camera>/<label>` | objects of that label in progress on the camera (a number) | yes |
//! | `P/<camera>/<label>/snapshot` | the JPEG crop of the label's latest best view | yes |
//! | `P/<camera>/state` | the camera's ingest state (`streaming`, `backoff`, …) | yes |
//! | `D/sensor/<node>/<camera>_<label>_count/config` | count sensor | yes |
//! | `D/binary_sensor/<node>/<camera>_<label>_occupancy/config` | occupancy | yes |
//! | `D/sensor/<node>/<camera>_state/config` | camera state sensor | yes |
//!
//! `D` is `discovery_prefix` (`homeassistant`), `<node>` the client id. Labels with characters
//! outside `[A-Za-z0-9_-]` (e.g. `traffic light`) have them replaced by `_` in topics.

use serde_json::{Value, json};

/// `text` with every character outside `[A-Za-z0-9_-]` replaced by `_`.
pub fn topic_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub fn available(prefix: &str) -> String {
    format!("{prefix}/available")
}

pub fn events(prefix: &str) -> String {
    format!("{prefix}/events")
}

pub fn count(prefix: &str, camera: &str, label: &str) -> String {
    format!("{prefix}/{camera}/{}", topic_safe(label))
}

pub fn snapshot(prefix: &str, camera: &str, label: &str) -> String {
    format!("{prefix}/{camera}/{}/snapshot", topic_safe(label))
}

pub fn camera_state(prefix: &str, camera: &str) -> String {
    format!("{prefix}/{camera}/state")
}

/// The device block shared by a camera's entities.
fn device(node: &str, camera: &str) -> Value {
    json!({
        "identifiers": [format!("{node}_{camera}")],
        "name": camera,
        "manufacturer": "edgesight",
        "model": "camera",
        "sw_version": env!("CARGO_PKG_VERSION"),
    })
}

/// The discovery messages (topic, config) of one camera and label: an object count sensor
/// and an occupancy binary sensor.
pub fn label_discovery(
    discovery: &str,
    node: &str,
    prefix: &str,
    camera: &str,
    label: &str,
) -> Vec<(String, Value)> {
    let safe = topic_safe(label);
    let state_topic = count(prefix, camera, label);
    let count_id = format!("{node}_{camera}_{safe}_count");
    let occupancy_id = format!("{node}_{camera}_{safe}_occupancy");
    vec![
        (
            format!("{discovery}/sensor/{node}/{camera}_{safe}_count/config"),
            json!({
                "name": format!("{label} count"),
                "unique_id": count_id,
                "object_id": count_id,
                "state_topic": state_topic,
                "availability_topic": available(prefix),
                "unit_of_measurement": "objects",
                "state_class": "measurement",
                "icon": "mdi:counter",
                "device": device(node, camera),
            }),
        ),
        (
            format!("{discovery}/binary_sensor/{node}/{camera}_{safe}_occupancy/config"),
            json!({
                "name": format!("{label} occupancy"),
                "unique_id": occupancy_id,
                "object_id": occupancy_id,
                "state_topic": state_topic,
                "availability_topic": available(prefix),
                "value_template": "{{ 'ON' if value | int > 0 else 'OFF' }}",
                "device_class": "occupancy",
                "device": device(node, camera),
            }),
        ),
    ]
}

/// The discovery message of a camera's state sensor.
pub fn camera_discovery(
    discovery: &str,
    node: &str,
    prefix: &str,
    camera: &str,
) -> (String, Value) {
    let id = format!("{node}_{camera}_state");
    (
        format!("{discovery}/sensor/{node}/{camera}_state/config"),
        json!({
            "name": "state",
            "unique_id": id,
            "object_id": id,
            "state_topic": camera_state(prefix, camera),
            "availability_topic": available(prefix),
            "icon": "mdi:cctv",
            "device": device(node, camera),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_documented_layout() {
        assert_eq!(available("edgesight"), "edgesight/available");
        assert_eq!(events("edgesight"), "edgesight/events");
        assert_eq!(count("es", "door", "person"), "es/door/person");
        assert_eq!(
            count("es", "door", "traffic light"),
            "es/door/traffic_light"
        );
        assert_eq!(snapshot("es", "door", "car"), "es/door/car/snapshot");
        assert_eq!(camera_state("es", "door"), "es/door/state");
        assert_eq!(topic_safe("a/b+c#d é"), "a_b_c_d__");
    }

    #[test]
    fn discovery_points_at_the_state_topics() {
        let msgs = label_discovery("homeassistant", "edgesight", "es", "door", "person");
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            msgs[0].0,
            "homeassistant/sensor/edgesight/door_person_count/config"
        );
        assert_eq!(msgs[0].1["state_topic"], "es/door/person");
        assert_eq!(msgs[0].1["availability_topic"], "es/available");
        assert_eq!(
            msgs[1].0,
            "homeassistant/binary_sensor/edgesight/door_person_occupancy/config"
        );
        assert_eq!(msgs[1].1["device_class"], "occupancy");
        assert_ne!(msgs[0].1["unique_id"], msgs[1].1["unique_id"]);
        let (topic, config) = camera_discovery("homeassistant", "edgesight", "es", "door");
        assert_eq!(topic, "homeassistant/sensor/edgesight/door_state/config");
        assert_eq!(config["state_topic"], "es/door/state");
    }
}
