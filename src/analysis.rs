//! The analysis thread: schedule → preprocess → infer → postprocess, for every camera, on one
//! named OS thread that owns the detector.
//!
//! It sleeps until a camera is due or a frame arrives (a bounded wake-up channel of one), takes
//! the newest frame of the camera the [`Scheduler`] picks, detects, and publishes the result on
//! the camera's record (and as a JSON line on stdout with `--print-detections`). A failed frame
//! is logged and skipped; the loop goes on. Every few seconds it logs what each camera sees.
//! Cameras added, changed or removed at run time are picked up at the next loop turn (the
//! [`CameraSet`]'s generation changed).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::batch::{Batcher, Next};
use crate::cameras::{CameraRecord, CameraSet, FrameResult};
use crate::detector::Detector;

/// How often the per-camera summary is logged.
const SUMMARY_EVERY: Duration = Duration::from_secs(5);
/// Longest sleep without looking at the stop flag.
const MAX_SLEEP: Duration = Duration::from_millis(100);

/// Options of the analysis loop.
#[derive(Clone, Copy, Debug, Default)]
pub struct AnalysisOptions {
    /// Print each frame's detections as a JSON line on stdout.
    pub print_detections: bool,
}

/// Starts the analysis thread (`analysis`). It runs until `stop` is set.
pub fn spawn(
    mut detector: Detector,
    cameras: Arc<CameraSet>,
    wake: Receiver<()>,
    stop: Arc<AtomicBool>,
    options: AnalysisOptions,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("analysis".into())
        .spawn(move || run(&mut detector, &cameras, &wake, &stop, options))
}

fn schedule_of(cameras: &[Arc<CameraRecord>]) -> Vec<(u64, f32)> {
    cameras
        .iter()
        .map(|c| (c.id, c.config.detect_fps))
        .collect()
}

fn run(
    detector: &mut Detector,
    set: &CameraSet,
    wake: &Receiver<()>,
    stop: &AtomicBool,
    options: AnalysisOptions,
) {
    let mut generation = set.generation();
    let mut cameras = set.list();
    let mut batcher = Batcher::new(1, Duration::ZERO);
    batcher.sync(&schedule_of(&cameras), Instant::now());
    let mut last_summary = Instant::now();
    let mut last_tick = Instant::now();
    let mut failures: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if set.generation() != generation {
            generation = set.generation();
            cameras = set.list();
            batcher.sync(&schedule_of(&cameras), now);
        }
        let next = batcher.next(now, |i| cameras[i].slot.has_frame());
        if let Next::Run(batch) = next {
            let i = batch[0];
            let camera = &cameras[i];
            let Some(frame) = camera.slot.take() else {
                continue;
            };
            match detector.detect(frame.view()) {
                Ok((mut detections, _timings)) => {
                    if (frame.source_width, frame.source_height) != (frame.width, frame.height) {
                        let sx = frame.source_width as f32 / frame.width as f32;
                        let sy = frame.source_height as f32 / frame.height as f32;
                        detections.iter_mut().for_each(|d| d.scale(sx, sy));
                    }
                    let result = FrameResult {
                        camera: camera.name().to_string(),
                        frame: frame.seq,
                        timestamp_ms: frame.timestamp_ms,
                        width: frame.source_width,
                        height: frame.source_height,
                        latency_ms: (frame.received_at.elapsed().as_secs_f64() * 1e4).round()
                            / 10.0,
                        detections,
                    };
                    if options.print_detections {
                        print_line(&result);
                    }
                    camera.publish(result);
                }
                Err(e) => {
                    failures += 1;
                    if failures.is_power_of_two() {
                        tracing::error!(
                            camera = camera.name(),
                            "analysis failed ({failures} so far): {e}"
                        );
                    }
                }
            }
        } else if let Next::Wait(until) = next {
            let _ = wake.recv_timeout(until.saturating_duration_since(now).min(MAX_SLEEP));
        }
        if last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick = Instant::now();
            cameras.iter().for_each(|c| c.tick());
        }
        if last_summary.elapsed() >= SUMMARY_EVERY {
            last_summary = Instant::now();
            cameras.iter().for_each(|c| log_summary(c));
        }
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
