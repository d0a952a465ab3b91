//! The analysis thread: batch → (detection workers: preprocess → infer → postprocess) → track
//! → rules, for every camera, on one named OS thread (`analysis`).
//!
//! It sleeps until a camera is due, a frame arrives (a bounded wake-up channel of one) or a
//! worker finishes; takes the newest frames of the cameras the [`Batcher`] picks and hands them
//! to an idle detection worker ([`workers`]: one per `model.workers` on the CPU, each its own
//! inference session, so frames of different cameras are detected side by side); a camera with
//! a frame in flight waits, so each camera's frames are followed in order. For each detected
//! frame (once the freed worker has its next frames) it follows the camera's objects
//! ([`CameraEvents`]) and publishes: the frame's detections and tracks on the camera's record
//! (and as a JSON line on stdout with `--print-detections`), event changes on the [`EventBus`].
//! A failed frame is logged and skipped; the loop goes on. Cameras added, changed or removed at
//! run time are picked up at the next turn (the [`CameraSet`]'s generation changed); a removed
//! or changed camera's open events end. A camera without frames still ages its tracks once a
//! second. On stop, the workers finish what they hold and every open event ends. Every few
//! seconds it logs what each camera sees.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select};

use crate::batch::motion::MotionGate;
use crate::batch::{Batcher, Next};
use crate::cameras::{CameraRecord, CameraSet, FrameResult, SceneStats};
use crate::config::ModelConfig;
use crate::detector::Timings;
use crate::events::{CameraEvents, EventBus};
use crate::frame::{Frame, unix_ms};
use crate::infer::select::{Selection, SharedStatus, Upgrade};

mod workers;

use crate::latency::StageTimes;
use crate::postprocess::LabeledDetection;
use workers::{Done, Job, Workers};

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

/// Starts the analysis thread (`analysis`) on the selected backend (switching to a better one
/// when its background build finishes). It runs until `stop` is set.
pub fn spawn(
    selection: Selection,
    model: ModelConfig,
    cameras: Arc<CameraSet>,
    bus: Arc<EventBus>,
    wake: Receiver<()>,
    stop: Arc<AtomicBool>,
    options: AnalysisOptions,
) -> std::io::Result<JoinHandle<()>> {
    let first = selection.detectors.first().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "no detector selected")
    })?;
    let (report_threshold, max_batch) = (first.score_threshold(), first.max_batch());
    let workers = Workers::start(selection.detectors)?;
    std::thread::Builder::new()
        .name("analysis".into())
        .spawn(move || {
            let mut analysis = Analysis {
                workers,
                report_threshold,
                score_floor: report_threshold,
                max_batch,
                upgrade: selection.upgrade,
                backends: selection.status,
                model,
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
    gate: Option<MotionGate>,
    last_frame: Instant,
    size: (u32, u32),
}

struct Analysis {
    workers: Workers,
    /// The configured `model.score_threshold` (what is reported).
    report_threshold: f32,
    /// What the detectors decode down to: the lowest `tracker.low_score` of the cameras.
    score_floor: f32,
    /// Frames per inference.
    max_batch: usize,
    upgrade: Option<Upgrade>,
    backends: SharedStatus,
    model: ModelConfig,
    bus: Arc<EventBus>,
    options: AnalysisOptions,
    /// By camera record id.
    scenes: HashMap<u64, Scene>,
}

/// Follows a changed camera list in the batcher, and tells each camera's slot from when its
/// frames are wanted.
fn sync(batcher: &mut Batcher, cameras: &[Arc<CameraRecord>], now: Instant) {
    let schedule: Vec<(u64, f32)> = cameras
        .iter()
        .map(|c| (c.id, c.config.detect_fps))
        .collect();
    batcher.sync(&schedule, now);
    for (i, camera) in cameras.iter().enumerate() {
        camera.slot.want_from(batcher.wanted_from(i));
    }
}

impl Analysis {
    fn run(&mut self, set: &CameraSet, wake: &Receiver<()>, stop: &AtomicBool) {
        let mut generation = set.generation();
        let mut cameras = set.list();
        self.follow(&cameras);
        let mut batcher = self.batcher();
        sync(&mut batcher, &cameras, Instant::now());
        let mut last_summary = Instant::now();
        let mut last_tick = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            let collected: Vec<Done> = std::iter::from_fn(|| self.workers.try_collect()).collect();
            // The freed workers get their next frames before these results are tracked and
            // published: a worker does not wait for the analysis thread's bookkeeping.
            let wait = self.dispatch(&mut batcher, &cameras, Instant::now());
            collected.into_iter().for_each(|done| self.finish(done));
            let now = Instant::now();
            if set.generation() != generation {
                generation = set.generation();
                cameras = set.list();
                self.follow(&cameras);
                sync(&mut batcher, &cameras, now);
                continue;
            }
            if let Some(better) = Upgrade::poll(&mut self.upgrade, &self.backends) {
                self.replace_workers(vec![better]);
                self.set_score_floor(&cameras);
                batcher = self.batcher();
                sync(&mut batcher, &cameras, now);
                continue;
            }
            let mut wakers = Select::new();
            wakers.recv(self.workers.finished());
            let sleep = match wait {
                // Every worker is busy: the next thing to do is collecting a result.
                None => MAX_SLEEP,
                Some(until) => {
                    wakers.recv(wake);
                    until.saturating_duration_since(now).min(MAX_SLEEP)
                }
            };
            let _ = wakers.ready_timeout(sleep);
            let _ = wake.try_recv();
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
        let last = self.workers.stop();
        last.into_iter().for_each(|done| self.finish(done));
        let ids: Vec<u64> = self.scenes.keys().copied().collect();
        ids.into_iter().for_each(|id| self.end_scene(id));
    }

    /// Hands idle workers the frames the batcher picks, while any worker is idle. Returns when
    /// to look again: `None` when every worker is busy (look when one finishes), else the
    /// batcher's wake-up time (or earlier, when a frame arrives).
    fn dispatch(
        &mut self,
        batcher: &mut Batcher,
        cameras: &[Arc<CameraRecord>],
        now: Instant,
    ) -> Option<Instant> {
        while self.workers.idle() {
            let workers = &self.workers;
            let next = batcher.next(now, |i| {
                let camera = &cameras[i];
                match workers.holds(camera.id) {
                    true => None,
                    false => camera.slot.frame_at(),
                }
            });
            match next {
                Next::Run(batch) => {
                    let frames: Vec<_> = batch
                        .iter()
                        .filter_map(|&i| {
                            let frame = cameras[i].slot.take();
                            cameras[i].slot.want_from(batcher.wanted_from(i));
                            frame.map(|f| (cameras[i].clone(), f))
                        })
                        .filter(|(camera, frame)| self.motion_passes(camera, frame))
                        .collect();
                    self.submit(frames);
                }
                Next::Wait(until) => return Some(until),
            }
        }
        None
    }

    /// Hands a batch to an idle worker; its cameras wait until it comes back.
    fn submit(&mut self, frames: workers::Frames) {
        if frames.is_empty() {
            return;
        }
        self.workers.submit(Job {
            frames,
            score_floor: self.score_floor,
        });
    }

    /// Switches to other detectors (a backend upgrade): the current workers finish first.
    fn replace_workers(&mut self, detectors: Vec<crate::detector::Detector>) {
        if let Some(first) = detectors.first() {
            self.max_batch = first.max_batch();
        }
        match Workers::start(detectors) {
            Ok(fresh) => {
                let mut old = std::mem::replace(&mut self.workers, fresh);
                old.stop().into_iter().for_each(|done| self.finish(done));
            }
            Err(e) => tracing::error!("cannot start the upgraded backend's worker: {e}"),
        }
    }

    /// A batcher for the detector's batch size and the config's wait.
    fn batcher(&self) -> Batcher {
        Batcher::new(
            self.model.max_batch.min(self.max_batch),
            self.model.max_wait,
        )
    }

    /// Decode detections down to the lowest `tracker.low_score` of the cameras.
    fn set_score_floor(&mut self, cameras: &[Arc<CameraRecord>]) {
        let floor = cameras
            .iter()
            .map(|c| c.config.tracker.low_score)
            .fold(self.report_threshold, f32::min);
        self.score_floor = floor;
    }

    /// Starts scenes for new cameras; ends those of cameras that went away.
    fn follow(&mut self, cameras: &[Arc<CameraRecord>]) {
        self.set_score_floor(cameras);
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
                gate: camera.config.motion.clone().map(MotionGate::new),
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

    /// Whether the camera's motion gate (if any) wants `frame` analysed; counts a skip.
    fn motion_passes(&mut self, camera: &CameraRecord, frame: &Frame) -> bool {
        let Some(scene) = self.scenes.get_mut(&camera.id) else {
            return true;
        };
        let Some(gate) = &mut scene.gate else {
            return true;
        };
        let tracking = scene.events.tracking();
        let verdict = gate.check(
            frame.width,
            frame.height,
            |x, y| frame.luma(x, y),
            frame.timestamp_ms,
            tracking,
        );
        if !verdict.infer() {
            camera.count_skipped();
        }
        verdict.infer()
    }

    /// Follows the scenes of a worker's finished batch and publishes each frame.
    fn finish(&mut self, done: Done) {
        let (results, timings) = match done.detected {
            Ok(found) => found,
            Err(e) => {
                for (camera, _) in &done.frames {
                    let failures = camera.count_failure();
                    if failures.is_power_of_two() {
                        tracing::error!(
                            camera = camera.name(),
                            "analysis failed ({failures} so far): {e}"
                        );
                    }
                }
                return;
            }
        };
        for ((camera, frame), detections) in done.frames.into_iter().zip(results) {
            // Queue wait: from the frame's arrival to the start of its batch.
            let queue_ms = done
                .started
                .saturating_duration_since(frame.received_at)
                .as_secs_f64()
                * 1e3;
            self.publish(&camera, frame, detections, queue_ms, timings);
        }
    }

    /// Follows one analysed frame's scene and publishes its detections, tracks and events;
    /// `timings` are its batch's (every frame of a batch waits for the whole of it).
    fn publish(
        &mut self,
        camera: &CameraRecord,
        frame: Frame,
        mut found: Vec<LabeledDetection>,
        queue_ms: f64,
        timings: Timings,
    ) {
        if (frame.source_width, frame.source_height) != (frame.width, frame.height) {
            let sx = frame.source_width as f32 / frame.width as f32;
            let sy = frame.source_height as f32 / frame.height as f32;
            found.iter_mut().for_each(|d| d.scale(sx, sy));
        }
        let (width, height) = (frame.source_width, frame.source_height);
        let frame = Arc::new(frame);
        let observation = match self.scenes.get_mut(&camera.id) {
            Some(scene) => {
                scene.last_frame = Instant::now();
                scene.size = (width, height);
                let observation = scene
                    .events
                    .observe(&found, width, height, frame.timestamp_ms);
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
        // Reported: what reaches the configured threshold (the tracker saw lower ones too).
        let threshold = self.report_threshold;
        found.retain(|d| d.score >= threshold);
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
            pts_ms: frame.pts_ms,
            width,
            height,
            latency_ms: (total * 10.0).round() / 10.0,
            stages: stages.rounded(),
            detections: found,
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
        "{}: {:.1} fps in, {:.1} analysed, {} dropped, {} over detect_fps; latest frame: {seen}",
        view.health.state.as_str(),
        view.fps_in,
        view.fps_analysed,
        view.frames_dropped,
        view.frames_rate_limited,
    );
}
