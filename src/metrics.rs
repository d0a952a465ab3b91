//! Prometheus metrics at `GET /metrics` (OpenMetrics text), read from the camera records and
//! the sinks' counters at scrape time: nothing is counted twice and nothing runs between
//! scrapes.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `edgesight_camera_frames_received_total` | counter | `camera` |
//! | `edgesight_camera_frames_analysed_total` | counter | `camera` |
//! | `edgesight_camera_frames_dropped_total` | counter | `camera` |
//! | `edgesight_camera_frames_rate_limited_total` | counter | `camera` |
//! | `edgesight_camera_frames_skipped_total` | counter | `camera` |
//! | `edgesight_camera_reconnects_total` | counter | `camera` |
//! | `edgesight_camera_last_frame_age_seconds` | gauge | `camera` (absent before a first frame) |
//! | `edgesight_camera_state` | gauge, 1 for the current state | `camera`, `state` |
//! | `edgesight_stage_latency_seconds` | histogram | `camera`, `stage` (queue, preprocess, infer, postprocess, track, rules, total) |
//! | `edgesight_sink_messages_enqueued_total` | counter: outbox rows written | `sink` |
//! | `edgesight_sink_deliveries_total` | counter | `sink`, `outcome` (`delivered`, `retried`, `dead`, `overflow`) |
//! | `edgesight_sink_delivery_latency_seconds` | histogram: change stored → delivered | `sink` |
//! | `edgesight_sink_outbox_pending` | gauge: rows waiting | `sink` |

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::cameras::{CameraRecord, CameraState};
use crate::sinks::{Outcome, SinkStats};

const STATES: [CameraState; 7] = [
    CameraState::Connecting,
    CameraState::Streaming,
    CameraState::Stalled,
    CameraState::Backoff,
    CameraState::Failed,
    CameraState::Disabled,
    CameraState::Stopped,
];

#[derive(Debug)]
struct Cameras(Vec<Arc<CameraRecord>>);

impl std::fmt::Debug for CameraRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CameraRecord({})", self.name())
    }
}

impl Cameras {
    fn counter(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: impl Fn(&CameraRecord) -> u64,
    ) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for c in &self.0 {
            let labels = [("camera", c.name())];
            ConstCounter::new(value(c)).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

impl Collector for Cameras {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.counter(
            &mut encoder,
            "edgesight_camera_frames_received",
            "Frames decoded and handed to analysis",
            |c| c.slot.received(),
        )?;
        self.counter(
            &mut encoder,
            "edgesight_camera_frames_analysed",
            "Frames the detector ran on",
            CameraRecord::frames_analysed,
        )?;
        self.counter(
            &mut encoder,
            "edgesight_camera_frames_dropped",
            "Frames analysis wanted but did not take before a newer one replaced them (the detector is slower than the cameras)",
            |c| c.slot.dropped(),
        )?;
        self.counter(
            &mut encoder,
            "edgesight_camera_frames_rate_limited",
            "Frames the camera sent beyond its detect_fps, passed over by design",
            |c| c.slot.rate_limited(),
        )?;
        self.counter(
            &mut encoder,
            "edgesight_camera_frames_skipped",
            "Frames the motion gate found unchanged and did not analyse",
            CameraRecord::frames_skipped,
        )?;
        self.counter(
            &mut encoder,
            "edgesight_camera_reconnects",
            "Times the stream ended and a reconnection was scheduled",
            |c| c.health().reconnects,
        )?;
        let mut age = encoder.encode_descriptor(
            "edgesight_camera_last_frame_age_seconds",
            "Seconds since the camera's last frame arrived",
            None,
            MetricType::Gauge,
        )?;
        for c in &self.0 {
            if let Some(ms) = c.last_frame_age_ms() {
                let labels = [("camera", c.name())];
                ConstGauge::new(ms as f64 / 1000.0).encode(age.encode_family(&labels)?)?;
            }
        }
        let mut state = encoder.encode_descriptor(
            "edgesight_camera_state",
            "1 for the camera's current ingest state, 0 for the others",
            None,
            MetricType::Gauge,
        )?;
        for c in &self.0 {
            let current = c.health().state;
            for s in STATES {
                let labels = [("camera", c.name()), ("state", s.as_str())];
                ConstGauge::new(i64::from(s == current)).encode(state.encode_family(&labels)?)?;
            }
        }
        encode_stages(&self.0, &mut encoder)
    }
}

/// Per camera and stage: `edgesight_stage_latency_seconds`.
fn encode_stages(
    cameras: &[Arc<CameraRecord>],
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(
        "edgesight_stage_latency_seconds",
        "Time an analysed frame spent per stage: queue (waiting in its slot), preprocess, infer, postprocess, track, rules, total (arrival to published)",
        None,
        MetricType::Histogram,
    )?;
    for c in cameras {
        for (stage, histogram) in c.stage_histograms().stages() {
            let labels = [("camera", c.name()), ("stage", stage)];
            histogram.encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

#[derive(Debug)]
struct Sinks(Vec<Arc<SinkStats>>);

impl Collector for Sinks {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if self.0.is_empty() {
            return Ok(());
        }
        let mut enqueued = encoder.encode_descriptor(
            "edgesight_sink_messages_enqueued",
            "Outbox rows written for the sink, with the event changes they carry",
            None,
            MetricType::Counter,
        )?;
        for s in &self.0 {
            let labels = [("sink", s.sink())];
            ConstCounter::new(s.enqueued()).encode(enqueued.encode_family(&labels)?)?;
        }
        let mut outcomes = encoder.encode_descriptor(
            "edgesight_sink_deliveries",
            "Delivery outcomes: delivered, retried (an attempt failed), dead (max_attempts), \
             overflow (the outbox bound dead-lettered it)",
            None,
            MetricType::Counter,
        )?;
        for s in &self.0 {
            for outcome in Outcome::ALL {
                let labels = [("sink", s.sink()), ("outcome", outcome.as_str())];
                ConstCounter::new(s.count(outcome)).encode(outcomes.encode_family(&labels)?)?;
            }
        }
        let mut latency = encoder.encode_descriptor(
            "edgesight_sink_delivery_latency_seconds",
            "From the event change stored to its delivery acknowledged",
            None,
            MetricType::Histogram,
        )?;
        for s in &self.0 {
            let labels = [("sink", s.sink())];
            s.latency().encode(latency.encode_family(&labels)?)?;
        }
        let mut pending = encoder.encode_descriptor(
            "edgesight_sink_outbox_pending",
            "Outbox rows waiting to be delivered",
            None,
            MetricType::Gauge,
        )?;
        for s in &self.0 {
            let labels = [("sink", s.sink())];
            ConstGauge::new(s.pending() as i64).encode(pending.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// The metrics of `cameras` and `sinks` in OpenMetrics text.
pub fn render(cameras: Vec<Arc<CameraRecord>>, sinks: &[Arc<SinkStats>]) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Cameras(cameras)));
    registry.register_collector(Box::new(Sinks(sinks.to_vec())));
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
