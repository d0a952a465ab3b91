//! Tracker settings, as written in the config file (one table per camera or a shared one).
//!
//! Every key is optional (defaults below) and unknown keys are refused. [`TrackerConfig::validate`]
//! checks the values without I/O; its message names the field and the fix. The field doc comments
//! are the reference for users.

use serde::{Deserialize, Serialize};

/// Upper bound accepted for `max_tracks`.
pub const MAX_TRACKS_LIMIT: usize = 4096;
/// Upper bound accepted for `min_hits`.
pub const MIN_HITS_LIMIT: u32 = 1000;
/// Upper bound accepted for `lost_timeout_ms` (10 minutes).
pub const LOST_TIMEOUT_LIMIT_MS: u64 = 600_000;

/// How detections become tracks (ByteTrack-style two-stage association).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// Detections scoring at least this are "high": they are matched first, against every
    /// track, and may start new tracks. 0..1, default 0.5.
    pub high_score: f32,
    /// Detections scoring at least this but under `high_score` are "low": they only keep
    /// already-confirmed, currently-seen tracks alive (an object partly hidden scores lower).
    /// Under it a detection is ignored. 0..`high_score`, default 0.1. The detector's own
    /// `score_threshold` must be at or under this for low detections to reach the tracker.
    pub low_score: f32,
    /// An unmatched high detection starts a new (tentative) track only if it scores at least
    /// this. `high_score`..1, default 0.5.
    pub new_track_score: f32,
    /// Smallest overlap (intersection over union, 0..1) between a track's predicted box and a
    /// high detection for them to match. Default 0.2.
    pub match_iou: f32,
    /// Smallest overlap between a track's predicted box and a low detection for them to match.
    /// Default 0.5 (stricter: low detections are weaker evidence).
    pub low_match_iou: f32,
    /// A track is confirmed (and can become an event) after this many matched updates,
    /// counting the one that created it. 1 confirms at once. Default 3.
    pub min_hits: u32,
    /// A confirmed track not matched for longer than this (milliseconds) is removed; within
    /// it, the object keeps its id when it is matched again. Default 2000.
    pub lost_timeout_ms: u64,
    /// At most this many live tracks per camera; detections that would start more are ignored
    /// and counted. Default 256.
    pub max_tracks: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            high_score: 0.5,
            low_score: 0.1,
            new_track_score: 0.5,
            match_iou: 0.2,
            low_match_iou: 0.5,
            min_hits: 3,
            lost_timeout_ms: 2000,
            max_tracks: 256,
        }
    }
}

impl TrackerConfig {
    /// Checks every value; `Err` names the field (relative to this table) and the fix.
    pub fn validate(&self) -> Result<(), String> {
        let unit = |field: &str, v: f32, lo: f32, lo_name: &str| -> Result<(), String> {
            if v.is_finite() && v >= lo && v <= 1.0 {
                Ok(())
            } else {
                Err(format!("{field}: {v} is out of range; use {lo_name} to 1"))
            }
        };
        unit("high_score", self.high_score, 0.0, "0")?;
        if self.high_score == 0.0 {
            return Err(
                "high_score: 0 makes every detection high; use a value above 0, e.g. 0.5"
                    .to_string(),
            );
        }
        unit("low_score", self.low_score, 0.0, "0")?;
        if self.low_score > self.high_score {
            return Err(format!(
                "low_score: {} is above high_score ({}); use a value at most high_score",
                self.low_score, self.high_score
            ));
        }
        unit(
            "new_track_score",
            self.new_track_score,
            self.high_score,
            "high_score",
        )?;
        for (field, v) in [
            ("match_iou", self.match_iou),
            ("low_match_iou", self.low_match_iou),
        ] {
            if !(v.is_finite() && v > 0.0 && v < 1.0) {
                return Err(format!(
                    "{field}: {v} is out of range; use a value above 0 and below 1"
                ));
            }
        }
        if !(1..=MIN_HITS_LIMIT).contains(&self.min_hits) {
            return Err(format!(
                "min_hits: {} is out of range; use 1 to {MIN_HITS_LIMIT}, e.g. 3",
                self.min_hits
            ));
        }
        if self.lost_timeout_ms > LOST_TIMEOUT_LIMIT_MS {
            return Err(format!(
                "lost_timeout_ms: {} is out of range; use 0 to {LOST_TIMEOUT_LIMIT_MS}, e.g. 2000",
                self.lost_timeout_ms
            ));
        }
        if !(1..=MAX_TRACKS_LIMIT).contains(&self.max_tracks) {
            return Err(format!(
                "max_tracks: {} is out of range; use 1 to {MAX_TRACKS_LIMIT}, e.g. 256",
                self.max_tracks
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_an_empty_table_gives_them() {
        TrackerConfig::default().validate().expect("defaults valid");
        let parsed: TrackerConfig = toml::from_str("").expect("empty table parses");
        assert_eq!(parsed, TrackerConfig::default());
        let parsed: TrackerConfig =
            toml::from_str("min_hits = 1\nlost_timeout_ms = 500").expect("parses");
        assert_eq!(parsed.min_hits, 1);
        assert_eq!(parsed.lost_timeout_ms, 500);
        assert_eq!(parsed.high_score, 0.5);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<TrackerConfig>("min_hit = 2").expect_err("typo refused");
        assert!(err.to_string().contains("min_hit"), "{err}");
    }

    #[test]
    fn errors_name_the_field_and_the_fix() {
        let cases: [(&str, TrackerConfig); 7] = [
            (
                "high_score",
                TrackerConfig {
                    high_score: f32::NAN,
                    ..Default::default()
                },
            ),
            (
                "low_score",
                TrackerConfig {
                    low_score: 0.7,
                    ..Default::default()
                },
            ),
            (
                "new_track_score",
                TrackerConfig {
                    new_track_score: 0.3,
                    ..Default::default()
                },
            ),
            (
                "match_iou",
                TrackerConfig {
                    match_iou: 0.0,
                    ..Default::default()
                },
            ),
            (
                "min_hits",
                TrackerConfig {
                    min_hits: 0,
                    ..Default::default()
                },
            ),
            (
                "lost_timeout_ms",
                TrackerConfig {
                    lost_timeout_ms: 3_600_000,
                    ..Default::default()
                },
            ),
            (
                "max_tracks",
                TrackerConfig {
                    max_tracks: 0,
                    ..Default::default()
                },
            ),
        ];
        for (field, cfg) in cases {
            let err = cfg.validate().expect_err(field);
            assert!(err.starts_with(&format!("{field}:")), "{err}");
            assert!(err.contains("use"), "no fix in: {err}");
        }
    }
}
