//! Multi-object tracking per camera: detections of each analysed frame → tracks with stable ids.
//!
//! Inputs: the labelled detections of one frame ([`LabeledDetection`], boxes in source pixels)
//! and the frame's time `t_ms` (any millisecond clock that does not run backwards; live cameras
//! pass Unix milliseconds, replays the media time). Output: every live [`Track`], sorted by id —
//! tentative, confirmed and lost ones. A track missing from the output was removed.
//!
//! Policy (ByteTrack-style, see [`TrackerConfig`] for the numbers):
//! 1. Tracks not seen for longer than `lost_timeout_ms` are removed; the others are moved to
//!    `t_ms` by their constant-velocity Kalman filters ([`kalman`]).
//! 2. High-score detections are matched to all tracks by overlap with the predicted boxes,
//!    optimally and only within a class ([`association`]).
//! 3. Low-score detections are matched to the confirmed tracks still unmatched that were seen
//!    at the previous update (a lost track is only picked up again by a high-score detection).
//! 4. A tentative track that misses an update is dropped; a confirmed one becomes lost.
//! 5. Unmatched high detections scoring `new_track_score` or more start tentative tracks (while
//!    fewer than `max_tracks` are live), confirmed after `min_hits` matched updates.
//!
//! Deterministic: the same detections and times give the same tracks and ids (ids increase from
//! 1 per tracker); no clock, no randomness, no hash-order iteration.
//!
//! Failure: none. Detections with non-finite values or empty boxes are ignored and counted in
//! [`TrackerStats`], as are detections beyond [`MAX_DETECTIONS_PER_UPDATE`] and those that would
//! exceed `max_tracks`. A time that goes backwards is treated as no time passing. Tracks are only
//! removed by an update: call [`Tracker::update`] (with no detections if need be) while a camera
//! is silent.

pub mod association;
mod bytetrack;
pub mod config;
pub mod kalman;

#[cfg(test)]
mod tests;

use serde::Serialize;

use crate::postprocess::BoundingBox;
#[cfg(doc)]
use crate::postprocess::LabeledDetection;

pub use bytetrack::Tracker;
pub use config::TrackerConfig;

/// At most this many detections of one update are considered (in the order given: the detector
/// sorts them by descending score); the rest are ignored and counted.
pub const MAX_DETECTIONS_PER_UPDATE: usize = 1024;

/// Where a track is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackState {
    /// Started by a detection, not yet matched `min_hits` times; dropped on its first miss.
    Tentative,
    /// Matched at least `min_hits` times and matched at this update.
    Confirmed,
    /// Confirmed before, not matched at this update; removed after `lost_timeout_ms` unseen.
    Lost,
}

/// One tracked object, as it stands after an update.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Track {
    /// Unique within the tracker, increasing from 1.
    pub id: u64,
    /// The class all its detections had.
    pub class_id: u32,
    /// The class's label.
    pub label: String,
    /// Score of the latest matched detection.
    pub score: f32,
    /// Highest score of any matched detection.
    pub best_score: f32,
    /// Filtered box in source pixels; while lost, the box predicted at this update's time.
    #[serde(rename = "box")]
    pub bbox: BoundingBox,
    /// Tentative, confirmed or lost.
    pub state: TrackState,
    /// Matched updates so far, counting the one that created the track.
    pub hits: u32,
    /// Time of the detection that created the track (ms).
    pub first_seen_ms: u64,
    /// Time of the latest matched detection (ms).
    pub last_seen_ms: u64,
    /// Index, in this update's detection slice, of the detection matched to this track at this
    /// update; `None` when it was not matched.
    pub detection: Option<usize>,
}

impl Track {
    /// Whether a detection was matched to this track at this update.
    pub fn matched(&self) -> bool {
        self.detection.is_some()
    }
}

/// Counters of one tracker since it was created.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TrackerStats {
    /// Tracks live now (all states).
    pub live: usize,
    /// Confirmed tracks matched at the latest update.
    pub confirmed: usize,
    /// Tracks started.
    pub created: u64,
    /// Tracks removed (tentative ones that missed, lost ones that timed out).
    pub removed: u64,
    /// Detections ignored because `max_tracks` tracks were live, or beyond
    /// [`MAX_DETECTIONS_PER_UPDATE`] in one update.
    pub ignored_over_capacity: u64,
    /// Detections ignored because a score or coordinate was not finite or the box was empty.
    pub ignored_invalid: u64,
}
