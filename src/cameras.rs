//! The shared record of each camera: its health (written by ingest), its counters and latest
//! analysis result (written by the analysis thread), read by the HTTP API and the log summary.
//! Writers take a short lock or bump an atomic; nobody waits on a reader.
//!
//! [`CameraSet`] is the current list of cameras. It changes at run time (cameras added, changed
//! or removed through the API); readers take a cheap snapshot and notice changes through its
//! generation number.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;

use crate::config::CameraConfig;
use crate::events::TrackView;
use crate::frame::{Frame, FrameSlot, unix_ms};
use crate::latency::{StageHistograms, StageTimes, StageWindow, StagesSummary};
use crate::postprocess::LabeledDetection;
use crate::rules::RulesStats;
use crate::track::TrackerStats;

/// Where a camera's ingest stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraState {
    /// Pipeline being built, waiting for the first frame.
    Connecting,
    /// Frames are flowing.
    Streaming,
    /// Frames stopped arriving; the stream is rebuilt if none comes within `stall_timeout_s`.
    Stalled,
    /// The last attempt failed for a reason that may pass (network, end of stream); the next
    /// attempt starts at `next_retry_ms`.
    Backoff,
    /// The last attempt failed for a reason that needs a person (wrong path or password,
    /// unsupported codec); attempts go on at the longest backoff.
    Failed,
    /// Configured with `enabled = false`.
    Disabled,
    /// Shut down.
    Stopped,
}

impl CameraState {
    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Connecting => "connecting",
            CameraState::Streaming => "streaming",
            CameraState::Stalled => "stalled",
            CameraState::Backoff => "backoff",
            CameraState::Failed => "failed",
            CameraState::Disabled => "disabled",
            CameraState::Stopped => "stopped",
        }
    }
}

/// Health as shown on the API.
#[derive(Clone, Debug, Serialize)]
pub struct Health {
    pub state: CameraState,
    /// Why the camera last stopped streaming, as a stable word: `not-found`, `unauthorized`,
    /// `unreachable`, `protocol-error`, `unsupported-codec`, `decode-error`, `eos`, `no-frames`,
    /// `stalled`, `pipeline`, `blocked` (the source has not finished starting or stopping).
    pub reason: Option<String>,
    /// The same with details: `reason: message` (passwords redacted).
    pub last_error: Option<String>,
    /// When the state last changed (ms since the Unix epoch).
    pub since_ms: u64,
    /// When the next connection attempt starts, in `backoff`.
    pub next_retry_ms: Option<u64>,
    pub reconnects: u64,
}

/// The detections of one analysed frame.
#[derive(Clone, Debug, Serialize)]
pub struct FrameResult {
    pub camera: String,
    /// Sequence number of the frame within the camera's stream.
    pub frame: u64,
    /// When the frame arrived (ms since the Unix epoch).
    pub timestamp_ms: u64,
    /// The frame's presentation time in its stream, milliseconds (for a live camera, its
    /// capture time on the pipeline's clock as the stream's RTP timestamps place it); `null`
    /// when the source gives none. Lines detections up with a recording of the stream.
    pub pts_ms: Option<u64>,
    pub width: u32,
    pub height: u32,
    /// Time from the frame's arrival to its detections, milliseconds.
    pub latency_ms: f64,
    /// The same, split by stage.
    pub stages: StageTimes,
    pub detections: Vec<LabeledDetection>,
    /// Confirmed objects seen in this frame, with their track ids.
    pub tracks: Vec<TrackView>,
}

/// Per-second rates, refreshed by [`CameraRecord::tick`].
#[derive(Default, Clone, Copy)]
struct Rates {
    last_received: u64,
    last_analysed: u64,
    last_tick_ms: u64,
    fps_in: f64,
    fps_analysed: f64,
}

/// Everything known about one camera.
pub struct CameraRecord {
    /// Unique for the life of the process: a camera changed through the API gets a new record
    /// (and a new id) under the same name.
    pub id: u64,
    pub config: CameraConfig,
    pub slot: Arc<FrameSlot>,
    health: Mutex<Health>,
    analysed: AtomicU64,
    skipped: AtomicU64,
    failures: AtomicU64,
    last_frame_ms: AtomicU64,
    decoder: Mutex<Option<String>>,
    latest: Mutex<Option<Arc<FrameResult>>>,
    /// The frame `latest` was computed on (analysis size), for `frame.jpg` and MJPEG.
    latest_frame: Mutex<Option<Arc<Frame>>>,
    stages: StageWindow,
    histograms: StageHistograms,
    scene: Mutex<SceneStats>,
    rates: Mutex<Rates>,
}

/// What the camera's tracker and rules count, as of its latest analysed frame.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SceneStats {
    pub tracker: TrackerStats,
    /// Zone occupancy and entries, line crossings, event counts.
    pub rules: RulesStats,
}

/// A camera as the API shows it.
#[derive(Serialize)]
pub struct CameraView {
    pub name: String,
    /// The source with any password replaced by `***`.
    pub url: String,
    pub enabled: bool,
    pub detect_fps: f32,
    #[serde(flatten)]
    pub health: Health,
    pub fps_in: f64,
    pub fps_analysed: f64,
    pub frames_in: u64,
    pub frames_analysed: u64,
    /// Frames analysis wanted but did not take before a newer one replaced them (the detector
    /// is slower than the cameras).
    pub frames_dropped: u64,
    /// Frames the camera sent beyond its `detect_fps`, passed over by design.
    pub frames_rate_limited: u64,
    /// Frames the motion gate found unchanged and did not analyse.
    pub frames_skipped: u64,
    /// Milliseconds since the last frame arrived from the camera.
    pub last_frame_age_ms: Option<u64>,
    /// Age of the newest analysed frame's detections, when there are any.
    pub last_result_ms: Option<u64>,
    /// The decoder of the current stream, e.g. `h264 → avdec_h264`.
    pub decoder: Option<String>,
}

impl CameraRecord {
    pub fn new(config: CameraConfig) -> Arc<Self> {
        let state = if config.enabled {
            CameraState::Connecting
        } else {
            CameraState::Disabled
        };
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Arc::new(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            config,
            slot: FrameSlot::new(),
            health: Mutex::new(Health {
                state,
                reason: None,
                last_error: None,
                since_ms: unix_ms(),
                next_retry_ms: None,
                reconnects: 0,
            }),
            analysed: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_frame_ms: AtomicU64::new(0),
            decoder: Mutex::new(None),
            latest: Mutex::new(None),
            latest_frame: Mutex::new(None),
            stages: StageWindow::default(),
            histograms: StageHistograms::default(),
            scene: Mutex::new(SceneStats::default()),
            rates: Mutex::new(Rates::default()),
        })
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Moves to `state`; `error` (reason, message) replaces the last error when given. Entering
    /// `backoff` or `failed` counts a reconnection.
    pub fn set_state(
        &self,
        state: CameraState,
        error: Option<(&str, &str)>,
        next_retry_ms: Option<u64>,
    ) {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        if h.state != state {
            h.since_ms = unix_ms();
        }
        if matches!(state, CameraState::Backoff | CameraState::Failed) {
            h.reconnects += 1;
        }
        h.state = state;
        h.next_retry_ms = next_retry_ms;
        if let Some((reason, message)) = error {
            h.reason = Some(reason.to_string());
            h.last_error = Some(format!("{reason}: {message}"));
        }
    }

    /// Records a decoded frame's arrival and the stream's size before scaling.
    pub fn frame_arrived(&self, now_ms: u64) {
        self.last_frame_ms.store(now_ms, Ordering::Relaxed);
    }

    /// Milliseconds since the last frame arrived, if one ever did.
    pub fn last_frame_age_ms(&self) -> Option<u64> {
        match self.last_frame_ms.load(Ordering::Relaxed) {
            0 => None,
            t => Some(unix_ms().saturating_sub(t)),
        }
    }

    /// The decoder chosen for the current stream, e.g. `h264 → avdec_h264`.
    pub fn set_decoder(&self, decoder: String) {
        *self.decoder.lock().unwrap_or_else(|p| p.into_inner()) = Some(decoder);
    }

    pub fn health(&self) -> Health {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records the result of one analysed frame and the frame it was computed on.
    pub fn publish(&self, result: Arc<FrameResult>, frame: Arc<Frame>) {
        self.analysed.fetch_add(1, Ordering::Relaxed);
        self.stages.record(result.stages);
        self.histograms.observe(&result.stages);
        *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        // The previous frame is released outside the lock.
        let _previous = self
            .latest_frame
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(frame);
    }

    /// The newest analysed frame (its pixels are at analysis size; `seq` numbers it).
    pub fn latest_frame(&self) -> Option<Arc<Frame>> {
        self.latest_frame
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Per-stage latency over the most recent analysed frames.
    /// Every analysed frame's stage times so far, as histograms (`/metrics`).
    pub fn stage_histograms(&self) -> &StageHistograms {
        &self.histograms
    }

    pub fn stages(&self) -> StagesSummary {
        self.stages.summary()
    }

    /// Replaces the tracker and rules counters (by the analysis thread, after each frame).
    pub fn set_scene_stats(&self, stats: SceneStats) {
        *self.scene.lock().unwrap_or_else(|p| p.into_inner()) = stats;
    }

    pub fn scene_stats(&self) -> SceneStats {
        self.scene.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Frames analysis could not handle so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub fn latest(&self) -> Option<Arc<FrameResult>> {
        self.latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Counts a frame the motion gate let pass without analysis.
    pub fn count_skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// Frames the motion gate skipped.
    pub fn frames_skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Counts a frame analysis could not handle; returns the count so far.
    pub fn count_failure(&self) -> u64 {
        self.failures.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn frames_analysed(&self) -> u64 {
        self.analysed.load(Ordering::Relaxed)
    }

    /// Refreshes the per-second rates; call about once a second.
    pub fn tick(&self) {
        let now = unix_ms();
        let received = self.slot.received();
        let analysed = self.frames_analysed();
        let mut r = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        if r.last_tick_ms > 0 && now > r.last_tick_ms {
            let dt = (now - r.last_tick_ms) as f64 / 1000.0;
            r.fps_in = (received - r.last_received) as f64 / dt;
            r.fps_analysed = (analysed - r.last_analysed) as f64 / dt;
        }
        r.last_tick_ms = now;
        r.last_received = received;
        r.last_analysed = analysed;
    }

    /// A snapshot for the API.
    pub fn view(&self) -> CameraView {
        let rates = *self.rates.lock().unwrap_or_else(|p| p.into_inner());
        CameraView {
            name: self.config.name.clone(),
            url: self.config.source.to_string(),
            enabled: self.config.enabled,
            detect_fps: self.config.detect_fps,
            health: self.health(),
            fps_in: (rates.fps_in * 10.0).round() / 10.0,
            fps_analysed: (rates.fps_analysed * 10.0).round() / 10.0,
            frames_in: self.slot.received(),
            frames_analysed: self.frames_analysed(),
            frames_dropped: self.slot.dropped(),
            frames_rate_limited: self.slot.rate_limited(),
            frames_skipped: self.frames_skipped(),
            last_frame_age_ms: self.last_frame_age_ms(),
            decoder: self
                .decoder
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            last_result_ms: self
                .latest()
                .map(|r| unix_ms().saturating_sub(r.timestamp_ms)),
        }
    }
}

/// The cameras of the running appliance, in configuration order. Changed only by
/// [`crate::control`]; read by analysis, the API and metrics.
#[derive(Default)]
pub struct CameraSet {
    cameras: RwLock<Vec<Arc<CameraRecord>>>,
    generation: AtomicU64,
}

impl CameraSet {
    pub fn new(cameras: Vec<Arc<CameraRecord>>) -> Arc<Self> {
        Arc::new(Self {
            cameras: RwLock::new(cameras),
            generation: AtomicU64::new(0),
        })
    }

    /// The cameras now.
    pub fn list(&self) -> Vec<Arc<CameraRecord>> {
        self.cameras
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The camera named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<CameraRecord>> {
        self.cameras
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|c| c.name() == name)
            .cloned()
    }

    /// Bumped by every change; compare with an earlier value to know the list changed.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Adds `camera`, or replaces the camera of the same name in its place.
    pub fn upsert(&self, camera: Arc<CameraRecord>) {
        let mut list = self.cameras.write().unwrap_or_else(|p| p.into_inner());
        match list.iter_mut().find(|c| c.name() == camera.name()) {
            Some(slot) => *slot = camera,
            None => list.push(camera),
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Removes the camera named `name`; returns it.
    pub fn remove(&self, name: &str) -> Option<Arc<CameraRecord>> {
        let mut list = self.cameras.write().unwrap_or_else(|p| p.into_inner());
        let i = list.iter().position(|c| c.name() == name)?;
        let removed = list.remove(i);
        self.generation.fetch_add(1, Ordering::AcqRel);
        Some(removed)
    }
}
