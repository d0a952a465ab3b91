//! Validated sink settings: what `[[webhooks]]` and `[mqtt]` become once checked
//! (`config/sinks.rs` does the checking; the keys are documented in `configs/reference.toml`).
//!
//! Secrets (the signing key, header values, the MQTT password) are held here but never shown:
//! `Debug` redacts them, and nothing in this module formats them.

use std::fmt;
use std::time::Duration;

use super::sign::SigningKey;
use crate::event::{ChangeKind, EventChange};

/// Which event changes a sink takes. Every list empty means "all".
///
/// An event passes once it is on one of `cameras`, has one of `labels`, has entered one of
/// `zones` and its `best_score` reached `min_score`; since `entered_zones` and `best_score`
/// only grow, every later change of an event that passed passes too (as far as `types` lets
/// it). A change whose event has not passed yet is not sent, so a sink with `zones` may see an
/// event's first message as an `update`.
#[derive(Clone, Debug, PartialEq)]
pub struct SinkFilter {
    pub cameras: Vec<String>,
    pub labels: Vec<String>,
    pub zones: Vec<String>,
    /// Kinds of change sent; all three by default.
    pub types: Vec<ChangeKind>,
    /// Lowest `best_score` (0..1) an event needs.
    pub min_score: f32,
}

impl Default for SinkFilter {
    fn default() -> Self {
        Self {
            cameras: Vec::new(),
            labels: Vec::new(),
            zones: Vec::new(),
            types: vec![ChangeKind::New, ChangeKind::Update, ChangeKind::End],
            min_score: 0.0,
        }
    }
}

impl SinkFilter {
    /// Whether `change` goes to the sink.
    pub fn matches(&self, change: &EventChange) -> bool {
        let e = &change.event;
        let any = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
        self.types.contains(&change.kind)
            && any(&self.cameras, &e.camera)
            && any(&self.labels, &e.label)
            && (self.zones.is_empty() || e.entered_zones.iter().any(|z| self.zones.contains(z)))
            && e.best_score >= self.min_score
    }
}

/// How a webhook carries the event's snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotMode {
    /// No snapshot.
    None,
    /// `snapshot_url`: the appliance's `http.public_url` + `/api/events/{id}/snapshot.jpg`.
    Url,
    /// `snapshot_jpeg`: the JPEG itself, base64, read when the message is sent.
    Inline,
}

/// One `[[webhooks]]` endpoint.
#[derive(Clone, PartialEq)]
pub struct WebhookConfig {
    /// Unique name: letters, digits, `-`, `_`; the sink is `webhook:{name}`.
    pub name: String,
    /// Where messages are POSTed (credentials in it are never shown).
    pub url: url::Url,
    pub key: SigningKey,
    pub filter: SinkFilter,
    /// Extra request headers (values may be secrets: never shown).
    pub headers: Vec<(String, String)>,
    pub snapshot: SnapshotMode,
    /// Time limit of one request, connection included.
    pub timeout: Duration,
    /// Attempts before a message becomes a dead letter.
    pub max_attempts: u32,
    /// Longest wait between two attempts of one message.
    pub backoff_max: Duration,
    /// Messages waiting at most; beyond it the oldest become dead letters.
    pub max_pending: u64,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("url", &crate::config::redact_text(self.url.as_str()))
            .field("key", &self.key)
            .field("filter", &self.filter)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("snapshot", &self.snapshot)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .field("backoff_max", &self.backoff_max)
            .field("max_pending", &self.max_pending)
            .finish()
    }
}

impl WebhookConfig {
    /// The outbox sink name: `webhook:{name}`.
    pub fn sink(&self) -> String {
        webhook_sink(&self.name)
    }
}

/// The outbox sink name of webhook `name`.
pub fn webhook_sink(name: &str) -> String {
    format!("webhook:{name}")
}

/// The outbox sink name of the MQTT event messages.
pub const MQTT_SINK: &str = "mqtt";

/// The `[mqtt]` table.
#[derive(Clone, PartialEq)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    /// User name and password (environment already substituted).
    pub credentials: Option<(String, String)>,
    /// First level of every topic, e.g. `edgesight`.
    pub topic_prefix: String,
    pub keepalive: Duration,
    /// Longest wait between reconnection attempts.
    pub reconnect_max: Duration,
    /// Publish Home Assistant discovery configs.
    pub discovery: bool,
    pub discovery_prefix: String,
    /// Publish the best crop of each event on `<prefix>/<camera>/<label>/snapshot`.
    pub snapshots: bool,
    /// Which changes go to `<prefix>/events`.
    pub filter: SinkFilter,
    /// Event messages waiting at most; beyond it the oldest become dead letters.
    pub max_pending: u64,
}

impl fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("client_id", &self.client_id)
            .field("username", &self.credentials.as_ref().map(|(u, _)| u))
            .field("topic_prefix", &self.topic_prefix)
            .field("keepalive", &self.keepalive)
            .field("reconnect_max", &self.reconnect_max)
            .field("discovery", &self.discovery)
            .field("discovery_prefix", &self.discovery_prefix)
            .field("snapshots", &self.snapshots)
            .field("filter", &self.filter)
            .field("max_pending", &self.max_pending)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EVENT_VERSION, Event, EventBox};

    fn change(
        kind: ChangeKind,
        camera: &str,
        label: &str,
        zones: &[&str],
        best: f32,
    ) -> EventChange {
        EventChange {
            kind,
            best_improved: false,
            event: Event {
                version: EVENT_VERSION,
                id: format!("x-{camera}-1"),
                camera: camera.into(),
                label: label.into(),
                track_id: 1,
                score: best,
                best_score: best,
                bbox: EventBox {
                    x1: 0.0,
                    y1: 0.0,
                    x2: 1.0,
                    y2: 1.0,
                },
                frame_width: 10,
                frame_height: 10,
                first_seen_ms: 0,
                last_seen_ms: 0,
                zones: Vec::new(),
                entered_zones: zones.iter().map(|z| z.to_string()).collect(),
                lines: Vec::new(),
                loitering: Vec::new(),
                ended: false,
                has_snapshot: false,
            },
        }
    }

    #[test]
    fn the_default_filter_takes_everything() {
        let f = SinkFilter::default();
        for kind in [ChangeKind::New, ChangeKind::Update, ChangeKind::End] {
            assert!(f.matches(&change(kind, "a", "cat", &[], 0.0)));
        }
    }

    #[test]
    fn every_filter_must_pass() {
        let f = SinkFilter {
            cameras: vec!["door".into()],
            labels: vec!["person".into(), "car".into()],
            zones: vec!["porch".into()],
            types: vec![ChangeKind::New, ChangeKind::End],
            min_score: 0.6,
        };
        let ok = change(ChangeKind::New, "door", "car", &["street", "porch"], 0.7);
        assert!(f.matches(&ok));
        assert!(!f.matches(&change(ChangeKind::Update, "door", "car", &["porch"], 0.7)));
        assert!(!f.matches(&change(ChangeKind::New, "yard", "car", &["porch"], 0.7)));
        assert!(!f.matches(&change(ChangeKind::New, "door", "dog", &["porch"], 0.7)));
        assert!(!f.matches(&change(ChangeKind::New, "door", "car", &["street"], 0.7)));
        assert!(!f.matches(&change(ChangeKind::New, "door", "car", &[], 0.7)));
        assert!(!f.matches(&change(ChangeKind::New, "door", "car", &["porch"], 0.59)));
        assert!(f.matches(&change(ChangeKind::End, "door", "person", &["porch"], 0.6)));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = WebhookConfig {
            name: "a".into(),
            url: url::Url::parse("https://user:hunter2@example.com/hook").expect("url"),
            key: SigningKey::parse("whsec_c2VjcmV0").expect("key"),
            filter: SinkFilter::default(),
            headers: vec![("authorization".into(), "Bearer tok3n".into())],
            snapshot: SnapshotMode::None,
            timeout: Duration::from_secs(1),
            max_attempts: 1,
            backoff_max: Duration::from_secs(1),
            max_pending: 1,
        };
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok3n"),
            "{shown}"
        );
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        let m = MqttConfig {
            host: "h".into(),
            port: 1,
            client_id: "c".into(),
            credentials: Some(("u".into(), "pa55word".into())),
            topic_prefix: "p".into(),
            keepalive: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(1),
            discovery: true,
            discovery_prefix: "homeassistant".into(),
            snapshots: true,
            filter: SinkFilter::default(),
            max_pending: 1,
        };
        assert!(!format!("{m:?}").contains("pa55word"));
    }
}
