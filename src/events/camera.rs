//! One camera's scene: detections → tracker → rules → event changes.
//!
//! Inputs: each analysed frame's detections (source pixels, every score down to the tracker's
//! floor), the frame's size and its time in ms (Unix ms live, media time in a replay; never
//! going backwards: an earlier time is taken as the latest one seen). Outputs: the confirmed
//! tracks seen in that frame (for the console and the API) and the event changes.
//!
//! A camera that delivers no frames still ages its tracks: [`CameraEvents::idle`] runs an empty
//! update, so objects of a camera that went dark end after the tracker's lost timeout. When a
//! camera is removed or changed, [`CameraEvents::finish`] ends every open event.

use std::time::Instant;

use serde::Serialize;

use crate::config::CameraConfig;
use crate::event::EventChange;
use crate::postprocess::{BoundingBox, LabeledDetection};
use crate::rules::{Rules, RulesStats};
use crate::track::{TrackState, Tracker, TrackerStats};

/// A confirmed track seen in the frame, as the console draws it.
#[derive(Clone, Debug, Serialize)]
pub struct TrackView {
    pub id: u64,
    pub label: String,
    pub score: f32,
    #[serde(rename = "box")]
    pub bbox: BoundingBox,
}

/// What one frame changed.
#[derive(Default)]
pub struct Observation {
    pub tracks: Vec<TrackView>,
    pub changes: Vec<EventChange>,
    /// Time the tracker took, milliseconds.
    pub track_ms: f64,
    /// Time the rules took, milliseconds.
    pub rules_ms: f64,
}

/// Tracker and rules of one camera.
pub struct CameraEvents {
    tracker: Tracker,
    rules: Rules,
    last_ms: u64,
}

impl CameraEvents {
    pub fn new(camera: &CameraConfig) -> Self {
        Self {
            tracker: Tracker::new(camera.tracker.clone()),
            rules: Rules::new(camera.name.clone(), camera.rules.clone()),
            last_ms: 0,
        }
    }

    fn clock(&mut self, t_ms: u64) -> u64 {
        self.last_ms = self.last_ms.max(t_ms);
        self.last_ms
    }

    /// Follows one analysed frame.
    pub fn observe(
        &mut self,
        detections: &[LabeledDetection],
        width: u32,
        height: u32,
        t_ms: u64,
    ) -> Observation {
        let t = self.clock(t_ms);
        let started = Instant::now();
        let tracks = self.tracker.update(detections, t);
        let track_ms = started.elapsed().as_secs_f64() * 1e3;
        let started = Instant::now();
        let views = tracks
            .iter()
            .filter(|t| t.state == TrackState::Confirmed && t.matched())
            .map(|t| TrackView {
                id: t.id,
                label: t.label.clone(),
                score: t.score,
                bbox: t.bbox,
            })
            .collect();
        let changes = self.rules.update(tracks, width, height, t);
        Observation {
            tracks: views,
            changes,
            track_ms,
            rules_ms: started.elapsed().as_secs_f64() * 1e3,
        }
    }

    /// Ages tracks when no frame came: call about once a second for a camera without frames.
    pub fn idle(&mut self, t_ms: u64, width: u32, height: u32) -> Vec<EventChange> {
        if self.tracker.tracks().is_empty() {
            return Vec::new();
        }
        self.observe(&[], width, height, t_ms).changes
    }

    /// Ends every open event (camera removed or changed, end of a replayed file, shutdown).
    pub fn finish(&mut self, t_ms: u64) -> Vec<EventChange> {
        let t = self.clock(t_ms);
        self.rules.finish(t)
    }

    /// Whether objects are being tracked (the motion gate keeps refreshing them).
    pub fn tracking(&self) -> bool {
        !self.tracker.tracks().is_empty()
    }

    /// Milliseconds of the latest frame or idle update.
    pub fn last_ms(&self) -> u64 {
        self.last_ms
    }

    pub fn tracker_stats(&self) -> &TrackerStats {
        self.tracker.stats()
    }

    pub fn rules_stats(&self) -> RulesStats {
        self.rules.stats()
    }
}
