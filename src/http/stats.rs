//! `GET /api/stats`: what the appliance is doing now, for the console's dashboards and charts.
//!
//! Per camera: state, rates and counters, the labels of the newest analysed frame, per-stage
//! latency over the recent frames (`crate::latency`), the tracker's counters, and the rules'
//! counters — zone occupancy and entries by label, line crossings by label and direction, open
//! and finished events. Then the event bus's counts, the store writer's counters, and the live
//! clients (WebSocket, MJPEG). Everything is read from shared state at request time; nothing is
//! computed between requests.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::frames::MediaStats;
use super::live::LiveStats;
use super::{ApiState, with_state};
use crate::cameras::{CameraRecord, CameraState, SceneStats};
use crate::events::bus::BusCounts;
use crate::frame::unix_ms;
use crate::latency::StagesSummary;
use crate::store::WriterStats;

#[derive(Serialize)]
struct Stats {
    time_ms: u64,
    uptime_s: u64,
    cameras: Vec<CameraStats>,
    events: BusCounts,
    store: WriterStats,
    live: LiveStats,
    media: MediaStats,
}

#[derive(Serialize)]
struct CameraStats {
    name: String,
    state: CameraState,
    fps_in: f64,
    fps_analysed: f64,
    frames_in: u64,
    frames_analysed: u64,
    frames_dropped: u64,
    frames_rate_limited: u64,
    analysis_failures: u64,
    /// Detections in the newest analysed frame, by label.
    detections: BTreeMap<String, u32>,
    /// Per-stage latency over the most recent analysed frames, milliseconds.
    latency: StagesSummary,
    #[serde(flatten)]
    scene: SceneStats,
}

fn camera_stats(c: &CameraRecord) -> CameraStats {
    let view = c.view();
    let mut detections = BTreeMap::new();
    if let Some(latest) = c.latest() {
        for d in &latest.detections {
            *detections.entry(d.label.clone()).or_insert(0) += 1;
        }
    }
    CameraStats {
        name: view.name,
        state: view.health.state,
        fps_in: view.fps_in,
        fps_analysed: view.fps_analysed,
        frames_in: view.frames_in,
        frames_analysed: view.frames_analysed,
        frames_dropped: view.frames_dropped,
        frames_rate_limited: view.frames_rate_limited,
        analysis_failures: c.failures(),
        detections,
        latency: c.stages(),
        scene: c.scene_stats(),
    }
}

/// The stats route.
pub fn routes(
    state: Arc<ApiState>,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    warp::path!("api" / "stats")
        .and(warp::get())
        .and(with_state(&state))
        .map(|s: Arc<ApiState>| {
            let stats = Stats {
                time_ms: unix_ms(),
                uptime_s: s.started.elapsed().as_secs(),
                cameras: s.cameras().list().iter().map(|c| camera_stats(c)).collect(),
                events: s.bus.counts(),
                store: s.store.writer.stats(),
                live: s.live.stats(),
                media: s.media.stats(),
            };
            warp::reply::json(&stats).into_response()
        })
}
