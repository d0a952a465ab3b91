//! The analysis thread: batch → preprocess → infer → postprocess → track → rules, for every
//! camera, on one named OS thread that owns the detector.
//!
//! It sleeps until a camera is due or a frame arrives (a bounded wake-up channel of one), takes
//! the newest frames of the cameras the [`Batcher`] picks, detects, follows each camera's
//! objects ([`CameraEvents`]) and publishes: the frame's detections and tracks on the camera's
//! record (and as a JSON line on stdout with `--print-detections`), event changes on the
//! [`EventBus`]. A failed frame is logged and skipped; the loop goes on. Cameras added, changed
//! or removed at run time are picked up at the next turn (the [`CameraSet`]'s generation
//! changed); a removed or changed camera's open events end. A camera without frames still ages
//! its tracks once a second. On stop, every open event ends. Every few seconds it logs what each
//! camera sees.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::batch::{Batcher, Next};
use crate::cameras::{CameraRecord, CameraSet, FrameResult, SceneStats};
use crate::detector::Detector;
use crate::events::{CameraEvents, EventBus};
use crate::frame::{Frame, unix_ms};
use crate::latency::StageTimes;

/// How often the per-camera summary is logged.
const SUMMARY_EVERY: Duration = Duration::from_secs(5);
/// Longest sleep without looking at the stop flag.
const MAX_SLEEP: Duration = Duration::from_millis(100);
/// A camera without a frame for this long has its tracks aged by an empty update.
const IDLE_AFTER: Duration = Duration::from_secs(1);

/// Options of the analysis loop.
#[derive(Clone, Copy, Debug, Default)]
pub struct AnalysisOptions {
    /// Print each frame's detections as a JSON line on stdout.
    pub print_detections: bool,
}

/// Starts the analysis thread (`analysis`). It runs until `stop` is set.
pub fn spawn(
    detector: Detector,
    cameras: Arc<CameraSet>,
    bus: Arc<EventBus>,
    wake: Receiver<()>,
    stop: Arc<AtomicBool>,
    options: AnalysisOptions,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("analysis".into())
        .spawn(move || {
            let mut analysis = Analysis {
                detector,
                bus,
                options,
                scenes: HashMap::new(),
            };
            analysis.run(&cameras, &wake, &stop);
        })
}

/// A camera's scene and when it last had a frame.
struct Scene {
    events: CameraEvents,
    last_frame: Instant,
    size: (u32, u32),
}

struct Analysis {
    detector: Detector,
    bus: Arc<EventBus>,
    options: AnalysisOptions,
    /// By camera record id.
    scenes: HashMap<u64, Scene>,
}

fn schedule_of(cameras: &[Arc<CameraRecord>]) -> Vec<(u64, f32)> {
    cameras
        .iter()
        .map(|c| (c.id, c.config.detect_fps))
        .collect()
}

impl Analysis {
    fn run(&mut self, set: &CameraSet, wake: &Receiver<()>, stop: &AtomicBool) {
        let mut generation = set.generation();
        let mut cameras = set.list();
        self.follow(&cameras);
        let mut batcher = Batcher::new(1, Duration::ZERO);
        batcher.sync(&schedule_of(&cameras), Instant::now());
        let mut last_summary = Instant::now();
        let mut last_tick = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            if set.generation() != generation {
                generation = set.generation();
                cameras = set.list();
                self.follow(&cameras);
                batcher.sync(&schedule_of(&cameras), now);
            }
            match batcher.next(now, |i| cameras[i].slot.has_frame()) {
                Next::Run(batch) => {
                    for i in batch {
                        if let Some(frame) = cameras[i].slot.take() {
                            self.analyse(&cameras[i], frame);
                        }
                    }
                }
                Next::Wait(until) => {
                    let _ = wake.recv_timeout(until.saturating_duration_since(now).min(MAX_SLEEP));
                }
            }
            if last_tick.elapsed() >= Duration::from_secs(1) {
                last_tick = Instant::now();
                cameras.iter().for_each(|c| c.tick());
                self.age_idle_scenes();
            }
            if last_summary.elapsed() >= SUMMARY_EVERY {
                last_summary = Instant::now();
                cameras.iter().for_each(|c| log_summary(c));
            }
        }
        let ids: Vec<u64> = self.scenes.keys().copied().collect();
        ids.into_iter().for_each(|id| self.end_scene(id));
    }

    /// Starts scenes for new cameras; ends those of cameras that went away.
    fn follow(&mut self, cameras: &[Arc<CameraRecord>]) {
        let gone: Vec<u64> = self
            .scenes
            .keys()
            .copied()
            .filter(|id| !cameras.iter().any(|c| c.id == *id))
            .collect();
        gone.into_iter().for_each(|id| self.end_scene(id));
        for camera in cameras {
            self.scenes.entry(camera.id).or_insert_with(|| Scene {
                events: CameraEvents::new(&camera.config),
                last_frame: Instant::now(),
                size: (0, 0),
            });
        }
    }

    fn end_scene(&mut self, id: u64) {
        if let Some(mut scene) = self.scenes.remove(&id) {
            for change in scene.events.finish(unix_ms()) {
                self.bus.publish(change, None);
            }
        }
    }

    fn age_idle_scenes(&mut self) {
        let now_ms = unix_ms();
        for scene in self.scenes.values_mut() {
            if scene.last_frame.elapsed() >= IDLE_AFTER {
                let (w, h) = scene.size;
                for change in scene.events.idle(now_ms, w, h) {
                    self.bus.publish(change, None);
                }
            }
        }
    }

    fn analyse(&mut self, camera: &CameraRecord, frame: Frame) {
        let queue_ms = frame.received_at.elapsed().as_secs_f64() * 1e3;
        let (mut detections, timings) = match self.detector.detect(frame.view()) {
            Ok(found) => found,
            Err(e) => {
                let failures = camera.count_failure();
                if failures.is_power_of_two() {
                    tracing::error!(
                        camera = camera.name(),
                        "analysis failed ({failures} so far): {e}"
                    );
                }
                return;
            }
        };
        if (frame.source_width, frame.source_height) != (frame.width, frame.height) {
            let sx = frame.source_width as f32 / frame.width as f32;
            let sy = frame.source_height as f32 / frame.height as f32;
            detections.iter_mut().for_each(|d| d.scale(sx, sy));
        }
        let (width, height) = (frame.source_width, frame.source_height);
        let frame = Arc::new(frame);
        let observation = match self.scenes.get_mut(&camera.id) {
            Some(scene) => {
                scene.last_frame = Instant::now();
                scene.size = (width, height);
                let observation =
                    scene
                        .events
                        .observe(&detections, width, height, frame.timestamp_ms);
                camera.set_scene_stats(SceneStats {
                    tracker: scene.events.tracker_stats().clone(),
                    rules: scene.events.rules_stats(),
                });
                observation
            }
            None => Default::default(),
        };
        let handed = Instant::now();
        for change in observation.changes {
            self.bus.publish(change, Some(&frame));
        }
        let total = frame.received_at.elapsed().as_secs_f64() * 1e3;
        let stages = StageTimes {
            queue_ms,
            preprocess_ms: timings.preprocess_ms,
            infer_ms: timings.infer_ms,
            postprocess_ms: timings.postprocess_ms,
            track_ms: observation.track_ms,
            rules_ms: observation.rules_ms + handed.elapsed().as_secs_f64() * 1e3,
            total_ms: total,
        };
        let result = Arc::new(FrameResult {
            camera: camera.name().to_string(),
            frame: frame.seq,
            timestamp_ms: frame.timestamp_ms,
            width,
            height,
            latency_ms: (total * 10.0).round() / 10.0,
            stages: stages.rounded(),
            detections,
            tracks: observation.tracks,
        });
        if self.options.print_detections {
            print_line(&result);
        }
        camera.publish(result.clone(), frame);
        self.bus.publish_frame(result);
    }
}

fn print_line(result: &FrameResult) {
    if let Ok(line) = serde_json::to_string(result) {
        let mut out = std::io::stdout().lock();
        // A closed stdout (e.g. `| head`) must not stop analysis.
        let _ = writeln!(out, "{line}");
    }
}

fn log_summary(camera: &CameraRecord) {
    let view = camera.view();
    let seen = camera
        .latest()
        .map(|r| {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for d in &r.detections {
                *counts.entry(d.label.as_str()).or_default() += 1;
            }
            if counts.is_empty() {
                "nothing".to_string()
            } else {
                counts
                    .iter()
                    .map(|(label, n)| format!("{n} {label}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        })
        .unwrap_or_else(|| "no frame analysed yet".into());
    tracing::info!(
        camera = camera.name(),
        "{}: {:.1} fps in, {:.1} analysed, {} dropped; latest frame: {seen}",
        view.health.state.as_str(),
        view.fps_in,
        view.fps_analysed,
        view.frames_dropped,
    );
}
