//! The messages stored in the outbox, built once when the change is stored, so that every
//! redelivery sends the same bytes (a webhook's snapshot, when asked for, is the one addition
//! made at send time).
//!
//! Webhook body (Standard Webhooks payload structure):
//! `{"type": "event.new"|"event.update"|"event.end", "timestamp": RFC 3339, "data": <Event>}`.
//! MQTT `<prefix>/events` message (the layout Home Assistant users know from Frigate):
//! `{"type": "new"|"update"|"end", "before": <Event>, "after": <Event>}`; `before` is the event
//! as stored before this change (for `new`, the event itself).
//!
//! Failure: none beyond serde_json's, which cannot fail for these types.

use serde::Serialize;

use crate::event::{ChangeKind, Event};

/// The `type` of a change in webhook bodies.
pub fn webhook_type(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::New => "event.new",
        ChangeKind::Update => "event.update",
        ChangeKind::End => "event.end",
    }
}

/// The name of a change kind as stored and in MQTT messages.
pub fn kind_name(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::New => "new",
        ChangeKind::Update => "update",
        ChangeKind::End => "end",
    }
}

#[derive(Serialize)]
struct WebhookBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: String,
    data: &'a Event,
}

/// The webhook body of one change, stored at `at_ms` (Unix ms).
pub fn webhook_body(kind: ChangeKind, event: &Event, at_ms: u64) -> String {
    let body = WebhookBody {
        kind: webhook_type(kind),
        timestamp: rfc3339_ms(at_ms),
        data: event,
    };
    serde_json::to_string(&body).expect("events serialise")
}

#[derive(Serialize)]
struct MqttEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    before: &'a Event,
    after: &'a Event,
}

/// The `<prefix>/events` message of one change.
pub fn mqtt_event(kind: ChangeKind, before: Option<&Event>, after: &Event) -> String {
    let message = MqttEvent {
        kind: kind_name(kind),
        before: before.unwrap_or(after),
        after,
    };
    serde_json::to_string(&message).expect("events serialise")
}

/// `ms` (Unix milliseconds) as RFC 3339 in UTC with milliseconds: `2024-05-01T12:00:00.250Z`.
pub fn rfc3339_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EVENT_VERSION, EventBox};

    fn event() -> Event {
        Event {
            version: EVENT_VERSION,
            id: "abc-door-1".into(),
            camera: "door".into(),
            label: "person".into(),
            track_id: 1,
            score: 0.5,
            best_score: 0.5,
            bbox: EventBox {
                x1: 0.0,
                y1: 0.0,
                x2: 1.0,
                y2: 1.0,
            },
            frame_width: 10,
            frame_height: 10,
            first_seen_ms: 1,
            last_seen_ms: 2,
            zones: Vec::new(),
            entered_zones: Vec::new(),
            lines: Vec::new(),
            loitering: Vec::new(),
            ended: false,
            has_snapshot: false,
        }
    }

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        // `date -u -d @1614265330` → Thu Feb 25 15:02:10 UTC 2021
        assert_eq!(rfc3339_ms(1_614_265_330_250), "2021-02-25T15:02:10.250Z");
        // A leap day and the end of a century leap year.
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_ms(978_307_199_999), "2000-12-31T23:59:59.999Z");
    }

    #[test]
    fn webhook_body_has_the_standard_structure() {
        let body = webhook_body(ChangeKind::End, &event(), 1_614_265_330_000);
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["type"], "event.end");
        assert_eq!(v["timestamp"], "2021-02-25T15:02:10.000Z");
        assert_eq!(v["data"]["id"], "abc-door-1");
        assert_eq!(v.as_object().expect("object").len(), 3);
    }

    #[test]
    fn mqtt_event_has_before_and_after() {
        let after = event();
        let mut before = event();
        before.best_score = 0.25;
        let v: serde_json::Value =
            serde_json::from_str(&mqtt_event(ChangeKind::Update, Some(&before), &after))
                .expect("json");
        assert_eq!(v["type"], "update");
        assert_eq!(v["before"]["best_score"], 0.25);
        assert_eq!(v["after"]["best_score"], 0.5);
        let v: serde_json::Value =
            serde_json::from_str(&mqtt_event(ChangeKind::New, None, &after)).expect("json");
        assert_eq!(v["before"], v["after"]);
    }
}
