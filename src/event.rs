//! The event contract: one JSON shape for the web console, webhooks and MQTT.
//!
//! Inputs: built by [`crate::rules::Rules`] from tracks (never by hand elsewhere).
//! Outputs: [`EventChange`] values — `new`, `update`, `end` of one [`Event`] — that the caller
//! serialises with serde. The field names and their doc comments below are the published
//! contract: renaming a field is a breaking change and needs a new [`EVENT_VERSION`] (a unit test
//! pins every name).
//!
//! Policy: an event is one object (one confirmed track) on one camera, for its whole life there.
//! Its `id` is deterministic: the same input gives the same ids, so a replayed file produces the
//! same events. Lists inside an event are bounded ([`MAX_LINE_CROSSINGS`], [`MAX_LOITERING`]).
//!
//! Failure: none; this module is data only.

use serde::{Deserialize, Serialize};

use crate::postprocess::BoundingBox;

/// The version of the event JSON described here; bumped on any incompatible change.
pub const EVENT_VERSION: u32 = 1;

/// At most this many line crossings are kept in one event (the most recent ones).
pub const MAX_LINE_CROSSINGS: usize = 32;

/// At most this many loitering records are kept in one event (the most recent ones).
pub const MAX_LOITERING: usize = 32;

/// What happened to an event in this change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// The object qualified as an event for the first time; sent once per event id.
    New,
    /// Something meaningful changed (zone entered or left, line crossed, loitering started,
    /// better snapshot), or the periodic refresh while the object is still seen.
    Update,
    /// The object is gone (its track was removed) or the camera stopped; sent at most once, and
    /// nothing is sent for this id afterwards.
    End,
}

/// One change of one event, as the rules engine emits it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventChange {
    /// `"new"`, `"update"` or `"end"`.
    pub kind: ChangeKind,
    /// The event as it stands after this change.
    pub event: Event,
    /// The event's `best_score` went up with this change: the frame this change was computed on
    /// is the best view of the object so far, and the caller keeps it as the event's snapshot.
    /// Always true for `new`, always false for `end`.
    pub best_improved: bool,
}

/// A box in source-frame pixels, rounded to 0.1 px.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventBox {
    /// Left edge, pixels from the frame's left.
    pub x1: f32,
    /// Top edge, pixels from the frame's top.
    pub y1: f32,
    /// Right edge (`x2 > x1`).
    pub x2: f32,
    /// Bottom edge (`y2 > y1`).
    pub y2: f32,
}

impl From<BoundingBox> for EventBox {
    fn from(b: BoundingBox) -> Self {
        let r1 = |v: f32| (v * 10.0).round() / 10.0;
        Self {
            x1: r1(b.x1),
            y1: r1(b.y1),
            x2: r1(b.x2),
            y2: r1(b.y2),
        }
    }
}

/// The two ways across a line, named as seen by someone standing on the line's `from` point and
/// facing its `to` point, in the frame as displayed (x to the right, y down).
///
/// Example: a horizontal line drawn from the left edge to the right edge of the frame
/// (`from = [0, 0.5]`, `to = [1, 0.5]`) has its left side above it; an object moving down the
/// frame crosses it `left_to_right`, one moving up crosses it `right_to_left`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineDirection {
    /// From the left side of `from → to` to its right side.
    LeftToRight,
    /// From the right side of `from → to` to its left side.
    RightToLeft,
}

impl LineDirection {
    /// The name used in the JSON and in counters: `"left_to_right"` or `"right_to_left"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LeftToRight => "left_to_right",
            Self::RightToLeft => "right_to_left",
        }
    }
}

/// One counted crossing of a configured line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCrossing {
    /// The line's configured name.
    pub line: String,
    /// Which way the object crossed.
    pub direction: LineDirection,
    /// When the object's anchor point was first seen on the far side (the caller's clock, ms).
    pub at_ms: u64,
}

/// One stay in a zone that lasted longer than the zone's `loiter_s`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Loitering {
    /// The zone's configured name.
    pub zone: String,
    /// Time inside the zone so far (while the object is still inside), or of the whole stay
    /// (once it left or the event ended), in seconds; at least the zone's `loiter_s`.
    pub seconds: f32,
    /// When the stay began: the object's entry time into the zone (ms).
    pub since_ms: u64,
}

/// One object on one camera, from its first qualifying sight to its end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Version of this JSON shape; [`EVENT_VERSION`] (1).
    pub version: u32,
    /// Stable id, unique per camera and deterministic:
    /// `"{first_seen_ms in base 36}-{camera}-{track_id}"`.
    pub id: String,
    /// The camera's configured name.
    pub camera: String,
    /// The object's label (class name), e.g. `"person"`.
    pub label: String,
    /// The tracker's id of the object on this camera (increasing from 1 per tracker run).
    pub track_id: u64,
    /// Detection score on the latest frame the object was seen (0..1).
    pub score: f32,
    /// The score on the frame kept as the event's snapshot: the highest seen in this event's
    /// changes (0..1).
    pub best_score: f32,
    /// The object's box on the latest frame it was seen (tracker-filtered, source pixels).
    #[serde(rename = "box")]
    pub bbox: EventBox,
    /// Width of the source frame in pixels (the space of `box`).
    pub frame_width: u32,
    /// Height of the source frame in pixels.
    pub frame_height: u32,
    /// When the object was first detected (ms, the caller's clock), before it was confirmed.
    pub first_seen_ms: u64,
    /// When the object was last detected (ms).
    pub last_seen_ms: u64,
    /// Names of the zones the object is inside now (in configuration order).
    pub zones: Vec<String>,
    /// Names of every zone the object has entered during the event, each once, in the order of
    /// first entry.
    pub entered_zones: Vec<String>,
    /// Counted line crossings, oldest first (at most the 32 most recent).
    pub lines: Vec<LineCrossing>,
    /// Stays in zones longer than the zone's `loiter_s`, oldest first (at most the 32 most
    /// recent).
    pub loitering: Vec<Loitering>,
    /// True from the `end` change on.
    pub ended: bool,
    /// A snapshot image is stored for this event. Always false as the rules engine emits it;
    /// the component that stores snapshots sets it.
    pub has_snapshot: bool,
}

/// The event id for an object: `"{first_seen_ms in base 36}-{camera}-{track_id}"`.
pub fn event_id(camera: &str, first_seen_ms: u64, track_id: u64) -> String {
    format!("{}-{camera}-{track_id}", base36(first_seen_ms))
}

/// `v` in base 36, lowercase digits then letters.
fn base36(mut v: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::with_capacity(13);
    loop {
        out.push(DIGITS[(v % 36) as usize]);
        v /= 36;
        if v == 0 {
            break;
        }
    }
    out.reverse();
    out.into_iter().map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EventChange {
        EventChange {
            kind: ChangeKind::Update,
            best_improved: false,
            event: Event {
                version: EVENT_VERSION,
                id: event_id("gate", 1_700_000_000_000, 7),
                camera: "gate".into(),
                label: "person".into(),
                track_id: 7,
                score: 0.75,
                best_score: 0.875,
                bbox: EventBox {
                    x1: 10.5,
                    y1: 20.0,
                    x2: 60.0,
                    y2: 180.5,
                },
                frame_width: 1280,
                frame_height: 720,
                first_seen_ms: 1_700_000_000_000,
                last_seen_ms: 1_700_000_012_500,
                zones: vec!["yard".into()],
                entered_zones: vec!["street".into(), "yard".into()],
                lines: vec![LineCrossing {
                    line: "door".into(),
                    direction: LineDirection::LeftToRight,
                    at_ms: 1_700_000_004_000,
                }],
                loitering: vec![Loitering {
                    zone: "yard".into(),
                    seconds: 8.5,
                    since_ms: 1_700_000_004_000,
                }],
                ended: false,
                has_snapshot: false,
            },
        }
    }

    #[test]
    fn base36_ids_are_as_documented() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
        assert_eq!(event_id("gate", 1_700_000_000_000, 7), "loyw3v28-gate-7");
    }

    #[test]
    fn json_round_trips() {
        let change = sample();
        let text = serde_json::to_string(&change).expect("serialisable");
        let back: EventChange = serde_json::from_str(&text).expect("parses back");
        assert_eq!(back, change);
    }

    /// Pins every field name and spelling of the published JSON: a rename fails here.
    #[test]
    fn field_names_are_pinned() {
        let golden = r#"{
  "kind": "update",
  "event": {
    "version": 1,
    "id": "loyw3v28-gate-7",
    "camera": "gate",
    "label": "person",
    "track_id": 7,
    "score": 0.75,
    "best_score": 0.875,
    "box": {
      "x1": 10.5,
      "y1": 20.0,
      "x2": 60.0,
      "y2": 180.5
    },
    "frame_width": 1280,
    "frame_height": 720,
    "first_seen_ms": 1700000000000,
    "last_seen_ms": 1700000012500,
    "zones": [
      "yard"
    ],
    "entered_zones": [
      "street",
      "yard"
    ],
    "lines": [
      {
        "line": "door",
        "direction": "left_to_right",
        "at_ms": 1700000004000
      }
    ],
    "loitering": [
      {
        "zone": "yard",
        "seconds": 8.5,
        "since_ms": 1700000004000
      }
    ],
    "ended": false,
    "has_snapshot": false
  },
  "best_improved": false
}"#;
        let text = serde_json::to_string_pretty(&sample()).expect("serialisable");
        assert_eq!(text, golden);
        let parsed: EventChange = serde_json::from_str(golden).expect("golden parses");
        assert_eq!(parsed, sample());
        for (kind, name) in [
            (ChangeKind::New, "\"new\""),
            (ChangeKind::Update, "\"update\""),
            (ChangeKind::End, "\"end\""),
        ] {
            assert_eq!(serde_json::to_string(&kind).expect("serialisable"), name);
        }
        let rtl = serde_json::to_string(&LineDirection::RightToLeft).expect("serialisable");
        assert_eq!(rtl, "\"right_to_left\"");
        assert_eq!(LineDirection::RightToLeft.as_str(), "right_to_left");
    }
}
