//! Per-stage latency of analysed frames: what one frame spent in each stage ([`StageTimes`]),
//! and a window of the most recent frames per camera ([`StageWindow`]) summarised for
//! `GET /api/stats` and the console's latency chart.
//!
//! Inputs: one [`StageTimes`] per analysed frame, recorded by the analysis thread. Outputs: per
//! stage, the latest value, the mean, the median, the 95th percentile and the maximum over the
//! window. Bounded: the window keeps the last [`WINDOW`] frames; recording replaces the oldest
//! and never blocks for longer than a short lock held by a reader copying at most that many
//! values.

use std::collections::VecDeque;
use std::sync::Mutex;

use prometheus_client::metrics::histogram::Histogram;
use serde::Serialize;

/// Frames kept per camera (12 s at 10 analysed frames per second).
pub const WINDOW: usize = 120;

/// Milliseconds one analysed frame spent in each stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct StageTimes {
    /// From the frame's arrival in the camera's slot to the analysis thread taking it.
    pub queue_ms: f64,
    /// Frame → model input tensor.
    pub preprocess_ms: f64,
    /// The model itself.
    pub infer_ms: f64,
    /// Model outputs → labelled detections in source pixels.
    pub postprocess_ms: f64,
    /// Detections → tracks.
    pub track_ms: f64,
    /// Tracks → zones, lines and event changes (handing them to the event bus included).
    pub rules_ms: f64,
    /// From arrival to the result being published; at least the sum of the stages.
    pub total_ms: f64,
}

/// The stage names, in pipeline order, as they appear in [`StagesSummary`].
pub const STAGES: [&str; 7] = [
    "queue",
    "preprocess",
    "infer",
    "postprocess",
    "track",
    "rules",
    "total",
];

impl StageTimes {
    fn values(&self) -> [f64; 7] {
        [
            self.queue_ms,
            self.preprocess_ms,
            self.infer_ms,
            self.postprocess_ms,
            self.track_ms,
            self.rules_ms,
            self.total_ms,
        ]
    }

    /// Every value rounded to 0.01 ms, for display.
    pub fn rounded(self) -> Self {
        let r = |v: f64| (v * 100.0).round() / 100.0;
        Self {
            queue_ms: r(self.queue_ms),
            preprocess_ms: r(self.preprocess_ms),
            infer_ms: r(self.infer_ms),
            postprocess_ms: r(self.postprocess_ms),
            track_ms: r(self.track_ms),
            rules_ms: r(self.rules_ms),
            total_ms: r(self.total_ms),
        }
    }
}

/// One stage over the window, milliseconds (rounded to 0.01).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct StageSummary {
    pub last: f64,
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
}

/// Every stage over the window.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StagesSummary {
    /// Frames the summary covers (at most [`WINDOW`]).
    pub frames: usize,
    pub queue: StageSummary,
    pub preprocess: StageSummary,
    pub infer: StageSummary,
    pub postprocess: StageSummary,
    pub track: StageSummary,
    pub rules: StageSummary,
    pub total: StageSummary,
}

/// The most recent [`WINDOW`] frames' stage times of one camera.
#[derive(Default)]
pub struct StageWindow {
    frames: Mutex<VecDeque<StageTimes>>,
}

impl StageWindow {
    /// Adds one frame's times, forgetting the oldest beyond [`WINDOW`].
    pub fn record(&self, times: StageTimes) {
        let mut frames = self.frames.lock().unwrap_or_else(|p| p.into_inner());
        if frames.len() == WINDOW {
            frames.pop_front();
        }
        frames.push_back(times);
    }

    /// The summary of the frames in the window; all zero before the first frame.
    pub fn summary(&self) -> StagesSummary {
        let frames: Vec<StageTimes> = self
            .frames
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect();
        let Some(last) = frames.last() else {
            return StagesSummary::default();
        };
        let last = last.values();
        let mut out = [StageSummary::default(); 7];
        for (i, stage) in out.iter_mut().enumerate() {
            let mut values: Vec<f64> = frames.iter().map(|f| f.values()[i]).collect();
            values.sort_by(f64::total_cmp);
            let n = values.len();
            let at = |q: f64| values[((n - 1) as f64 * q).round() as usize];
            let r = |v: f64| (v * 100.0).round() / 100.0;
            *stage = StageSummary {
                last: r(last[i]),
                mean: r(values.iter().sum::<f64>() / n as f64),
                p50: r(at(0.5)),
                p95: r(at(0.95)),
                max: r(values[n - 1]),
            };
        }
        let [queue, preprocess, infer, postprocess, track, rules, total] = out;
        StagesSummary {
            frames: frames.len(),
            queue,
            preprocess,
            infer,
            postprocess,
            track,
            rules,
            total,
        }
    }
}

#[cfg(test)]
mod histogram_tests {
    use super::*;

    #[test]
    fn every_stage_is_observed_in_seconds() {
        let h = StageHistograms::default();
        h.observe(&StageTimes {
            queue_ms: 3.0,
            total_ms: 20.0,
            ..StageTimes::default()
        });
        let names: Vec<&str> = h.stages().map(|(n, _)| n).collect();
        assert_eq!(names, STAGES);
        let mut text = String::new();
        let mut registry = prometheus_client::registry::Registry::default();
        for (name, hist) in h.stages() {
            registry.register(format!("t_{name}"), "", hist.clone());
        }
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        assert!(text.contains("t_queue_sum 0.003"), "{text}");
        assert!(text.contains("t_total_bucket{le=\"0.032\"} 1"), "{text}");
        assert!(text.contains("t_total_bucket{le=\"0.016\"} 0"), "{text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(v: f64) -> StageTimes {
        StageTimes {
            queue_ms: v,
            preprocess_ms: 2.0 * v,
            infer_ms: 10.0 * v,
            postprocess_ms: 0.5,
            track_ms: 0.25,
            rules_ms: 0.125,
            total_ms: 14.0 * v,
        }
    }

    #[test]
    fn the_window_keeps_the_newest_frames_and_summarises_each_stage() {
        let w = StageWindow::default();
        assert_eq!(w.summary(), StagesSummary::default());
        for i in 0..(WINDOW + 20) {
            w.record(times(i as f64));
        }
        let s = w.summary();
        assert_eq!(s.frames, WINDOW);
        // Frames 20..140 remain: the oldest 20 were forgotten.
        assert_eq!(s.queue.max, (WINDOW + 19) as f64);
        assert_eq!(s.queue.last, (WINDOW + 19) as f64);
        assert_eq!(s.queue.mean, (20 + WINDOW + 19) as f64 / 2.0);
        assert_eq!(s.infer.p50, 10.0 * 80.0);
        assert_eq!(s.infer.p95, 10.0 * 133.0);
        assert_eq!(s.track.p95, 0.25);
        assert_eq!(s.rules.mean, 0.13);
        assert_eq!(STAGES.len(), 7);
    }
}

/// Bucket bounds of the per-stage histograms, seconds: 0.5 ms to about 4 s, doubling.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048,
    4.096,
];

/// Every analysed frame's stage times as Prometheus histograms (seconds), for `/metrics`.
/// Recording is a few atomic operations per stage; nothing is kept per frame.
#[derive(Debug)]
pub struct StageHistograms([Histogram; 7]);

impl Default for StageHistograms {
    fn default() -> Self {
        Self(std::array::from_fn(|_| Histogram::new(BUCKETS)))
    }
}

impl StageHistograms {
    /// Adds one frame's times.
    pub fn observe(&self, times: &StageTimes) {
        for (h, ms) in self.0.iter().zip(times.values()) {
            h.observe(ms / 1000.0);
        }
    }

    /// The histogram of each stage, with its name from [`STAGES`].
    pub fn stages(&self) -> impl Iterator<Item = (&'static str, &Histogram)> {
        STAGES.into_iter().zip(self.0.iter())
    }
}
