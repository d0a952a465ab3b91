//! The tracker itself: the update step described in the module docs of [`crate::track`].

use crate::postprocess::LabeledDetection;

use super::association::{Candidate, associate};
use super::kalman::BoxFilter;
use super::{MAX_DETECTIONS_PER_UPDATE, Track, TrackState, TrackerConfig, TrackerStats};

/// One live track with its filter.
#[derive(Clone, Debug)]
struct Entry {
    track: Track,
    filter: BoxFilter,
    /// Time the filter's state stands at.
    filter_ms: u64,
}

/// Multi-object tracker for one camera. See [`crate::track`] for the policy.
#[derive(Clone, Debug)]
pub struct Tracker {
    config: TrackerConfig,
    /// Live tracks, in increasing id order (new ids are appended).
    entries: Vec<Entry>,
    /// The tracks as of the latest update, what [`Tracker::update`] returns.
    out: Vec<Track>,
    next_id: u64,
    stats: TrackerStats,
}

impl Tracker {
    /// A tracker with no tracks. `config` is expected to be validated
    /// ([`TrackerConfig::validate`]); out-of-range values are still safe: `min_hits` 0 acts as
    /// 1, `max_tracks` 0 starts no track.
    pub fn new(config: TrackerConfig) -> Self {
        Self {
            config,
            entries: Vec::new(),
            out: Vec::new(),
            next_id: 1,
            stats: TrackerStats::default(),
        }
    }

    /// The settings this tracker runs with.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Counters since creation; `live` and `confirmed` as of the latest update.
    pub fn stats(&self) -> &TrackerStats {
        &self.stats
    }

    /// The tracks as of the latest update (the same slice [`Tracker::update`] returned).
    pub fn tracks(&self) -> &[Track] {
        &self.out
    }

    /// Feeds one analysed frame's detections taken at `t_ms`; returns every live track sorted
    /// by id. See [`crate::track`] for the steps.
    pub fn update(&mut self, detections: &[LabeledDetection], t_ms: u64) -> &[Track] {
        let cfg = self.config.clone();
        let before = self.entries.len();
        self.entries
            .retain(|e| t_ms.saturating_sub(e.track.last_seen_ms) <= cfg.lost_timeout_ms);
        self.stats.removed += (before - self.entries.len()) as u64;
        for e in &mut self.entries {
            let dt_ms = t_ms.saturating_sub(e.filter_ms);
            e.filter.predict(dt_ms as f64 / 1000.0);
            e.filter_ms = e.filter_ms.max(t_ms);
            e.track.bbox = e.filter.bbox();
            e.track.detection = None;
        }

        let (high, low) = self.split(detections);
        let all: Vec<Candidate> = self.candidates(|_| true);
        let first = associate(&all, &high, cfg.match_iou);
        let mut det_taken = vec![false; detections.len()];
        let mut track_taken = vec![false; self.entries.len()];
        for &(t, d) in &first {
            track_taken[t] = true;
            det_taken[d] = true;
        }
        // Low detections only extend confirmed tracks that were seen at the previous update.
        let remaining = self.candidates(|i| !track_taken[i]);
        let remaining: Vec<Candidate> = remaining
            .into_iter()
            .filter(|c| self.entries[c.0].track.state == TrackState::Confirmed)
            .collect();
        let second = associate(&remaining, &low, cfg.low_match_iou);
        for &(t, d) in &second {
            track_taken[t] = true;
            det_taken[d] = true;
        }
        for (t, d) in first.into_iter().chain(second) {
            self.apply_match(t, d, &detections[d], t_ms);
        }

        let min_hits = cfg.min_hits.max(1);
        let before = self.entries.len();
        self.entries.retain_mut(|e| match e.track.state {
            _ if e.track.detection.is_some() => true,
            TrackState::Tentative => false,
            TrackState::Confirmed | TrackState::Lost => {
                if e.track.state == TrackState::Confirmed {
                    e.filter.freeze_size();
                }
                e.track.state = TrackState::Lost;
                true
            }
        });
        self.stats.removed += (before - self.entries.len()) as u64;
        for e in &mut self.entries {
            if e.track.detection.is_some() && e.track.hits >= min_hits {
                e.track.state = TrackState::Confirmed;
            }
        }

        for (d, _, _) in high {
            if det_taken[d] || detections[d].score < cfg.new_track_score {
                continue;
            }
            if self.entries.len() >= cfg.max_tracks {
                self.stats.ignored_over_capacity += 1;
                continue;
            }
            self.start_track(d, &detections[d], t_ms, min_hits);
        }

        self.out.clear();
        self.out
            .extend(self.entries.iter().map(|e| e.track.clone()));
        self.stats.live = self.out.len();
        self.stats.confirmed = self
            .out
            .iter()
            .filter(|t| t.state == TrackState::Confirmed)
            .count();
        &self.out
    }

    /// Valid detections as candidates, split into high and low by score; counts the rest.
    fn split(&mut self, detections: &[LabeledDetection]) -> (Vec<Candidate>, Vec<Candidate>) {
        let (mut high, mut low) = (Vec::new(), Vec::new());
        if detections.len() > MAX_DETECTIONS_PER_UPDATE {
            self.stats.ignored_over_capacity +=
                (detections.len() - MAX_DETECTIONS_PER_UPDATE) as u64;
        }
        for (i, d) in detections
            .iter()
            .enumerate()
            .take(MAX_DETECTIONS_PER_UPDATE)
        {
            let b = &d.bbox;
            let finite = [d.score, b.x1, b.y1, b.x2, b.y2]
                .iter()
                .all(|v| v.is_finite());
            if !finite || b.x2 <= b.x1 || b.y2 <= b.y1 {
                self.stats.ignored_invalid += 1;
            } else if d.score >= self.config.high_score {
                high.push((i, d.class_id, d.bbox));
            } else if d.score >= self.config.low_score {
                low.push((i, d.class_id, d.bbox));
            }
        }
        (high, low)
    }

    /// The live tracks whose index passes `keep`, as candidates keyed by index.
    fn candidates(&self, keep: impl Fn(usize) -> bool) -> Vec<Candidate> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(i, _)| keep(*i))
            .map(|(i, e)| (i, e.track.class_id, e.track.bbox))
            .collect()
    }

    fn apply_match(&mut self, t: usize, d: usize, det: &LabeledDetection, t_ms: u64) {
        let e = &mut self.entries[t];
        e.filter.update(&det.bbox);
        let track = &mut e.track;
        track.bbox = e.filter.bbox();
        track.score = det.score;
        track.best_score = track.best_score.max(det.score);
        track.hits = track.hits.saturating_add(1);
        track.last_seen_ms = track.last_seen_ms.max(t_ms);
        track.detection = Some(d);
    }

    fn start_track(&mut self, d: usize, det: &LabeledDetection, t_ms: u64, min_hits: u32) {
        let filter = BoxFilter::new(&det.bbox);
        let state = if min_hits <= 1 {
            TrackState::Confirmed
        } else {
            TrackState::Tentative
        };
        self.entries.push(Entry {
            track: Track {
                id: self.next_id,
                class_id: det.class_id,
                label: det.label.clone(),
                score: det.score,
                best_score: det.score,
                bbox: filter.bbox(),
                state,
                hits: 1,
                first_seen_ms: t_ms,
                last_seen_ms: t_ms,
                detection: Some(d),
            },
            filter,
            filter_ms: t_ms,
        });
        self.next_id += 1;
        self.stats.created += 1;
    }
}
