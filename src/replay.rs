//! `edgesight replay CLIP`: the whole pipeline — decode, detect, track, rules, events — on a
//! video file, as fast as the machine goes, with the events as JSON lines on stdout.
//!
//! Deterministic: every frame of the file is decoded (no dropping: the appsink holds the
//! decoder back while analysis works), frames are analysed on the camera's `detect_fps` grid of
//! the file's own timestamps, and every time in the events is media time (milliseconds from the
//! start of the file). The same file and config give the same output, line for line, which
//! makes zones, lines and filters testable before they go live.
//!
//! The model comes from the config (the bundled one without `--config`); the camera settings
//! (detect fps, detect size, tracker, rules) from the config's camera named by `--camera`, or
//! its first camera, or the defaults. A decode error ends the replay with that error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use serde::Serialize;

use crate::app::AppError;
use crate::batch::motion::MotionGate;
use crate::config::{CameraConfig, CameraSpec, Config};
use crate::detector::Detector;
use crate::events::CameraEvents;
use crate::ingest::{decoder, pipeline};
use crate::rules::RulesStats;

/// What `replay` was asked to do.
#[derive(Debug, Default)]
pub struct ReplayOptions {
    pub clip: PathBuf,
    pub config: Option<PathBuf>,
    /// The config's camera whose settings apply.
    pub camera: Option<String>,
}

/// What a replay did (printed on stderr at the end).
#[derive(Debug, Default, Serialize)]
pub struct ReplaySummary {
    pub camera: String,
    pub frames_decoded: u64,
    pub frames_analysed: u64,
    /// Frames the motion gate did not analyse.
    pub frames_skipped: u64,
    pub events: u64,
    pub changes: u64,
    /// The media time of the last frame, ms.
    pub duration_ms: u64,
    pub rules: RulesStats,
}

/// Replays `opts.clip`, writing each event change as a JSON line to `out`.
pub fn replay(opts: &ReplayOptions, out: &mut dyn Write) -> Result<ReplaySummary, AppError> {
    let home = crate::config::find_home();
    let config = match &opts.config {
        Some(path) => Config::load(path)?,
        None => Config::demo(&home)?,
    };
    let camera = camera_for(&config, opts)?;
    gst::init().map_err(|e| AppError::Gstreamer(e.to_string()))?;
    let mut detector = Detector::load(&config.model, &home)?;
    detector.set_score_floor(camera.tracker.low_score);

    // Back-pressure: the streaming thread waits here while a frame is analysed.
    let (tx, rx) = crossbeam_channel::bounded(1);
    let hooks = pipeline::Hooks {
        on_frame: Box::new(move |frame| {
            let _ = tx.send(frame);
        }),
        on_decoder: Box::new(|choice| match choice {
            Ok(chain) => tracing::info!("decoder: {chain}"),
            Err(why) => tracing::error!("decoder: {why}"),
        }),
    };
    let pipeline = pipeline::build(
        &camera,
        &decoder::GstRegistry,
        hooks,
        pipeline::Pacing::EveryFrame,
    )
    .map_err(|e| AppError::Gstreamer(e.to_string()))?;
    let bus = pipeline
        .bus()
        .ok_or_else(|| AppError::Gstreamer("pipeline has no bus".into()))?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| AppError::Gstreamer(format!("cannot play {}: {e}", camera.source)))?;

    let interval_ms = 1000.0 / f64::from(camera.detect_fps);
    let mut next_due_ms = 0.0f64;
    let mut events = CameraEvents::new(&camera);
    let mut gate = camera.motion.clone().map(MotionGate::new);
    let mut summary = ReplaySummary {
        camera: camera.name.clone(),
        ..ReplaySummary::default()
    };
    let mut write_changes = |changes: Vec<crate::event::EventChange>,
                             summary: &mut ReplaySummary|
     -> Result<(), AppError> {
        for change in changes {
            summary.changes += 1;
            if change.kind == crate::event::ChangeKind::New {
                summary.events += 1;
            }
            let line = serde_json::to_string(&change)
                .map_err(|e| AppError::Io(format!("cannot write an event: {e}")))?;
            writeln!(out, "{line}").map_err(|e| AppError::Io(format!("stdout: {e}")))?;
        }
        Ok(())
    };
    let mut ended = false;
    let outcome = loop {
        let frame = match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(frame) => frame,
            Err(_) if ended => break Ok(()),
            Err(_) => {
                while let Some(msg) = bus.pop() {
                    match msg.view() {
                        gst::MessageView::Eos(_) => ended = true,
                        gst::MessageView::Error(err) => {
                            let end = crate::ingest::classify(err);
                            let _ = pipeline.set_state(gst::State::Null);
                            return Err(AppError::Gstreamer(format!("{}: {end}", camera.source)));
                        }
                        _ => {}
                    }
                }
                continue;
            }
        };
        summary.frames_decoded += 1;
        let t_ms = frame
            .pts_ms
            .unwrap_or_else(|| ((summary.frames_decoded - 1) as f64 * interval_ms) as u64);
        summary.duration_ms = t_ms;
        if (t_ms as f64) + 0.5 < next_due_ms {
            continue;
        }
        while next_due_ms <= t_ms as f64 + 0.5 {
            next_due_ms += interval_ms;
        }
        if let Some(gate) = &mut gate {
            let verdict = gate.check(
                frame.width,
                frame.height,
                |x, y| frame.luma(x, y),
                t_ms,
                events.tracking(),
            );
            if !verdict.infer() {
                tracing::debug!("motion gate: no change at {t_ms} ms, not analysed");
                summary.frames_skipped += 1;
                continue;
            }
        }
        let mut detections = match detector.detect(frame.view()) {
            Ok((d, _)) => d,
            Err(e) => break Err(AppError::Io(format!("analysis failed at {t_ms} ms: {e}"))),
        };
        if (frame.source_width, frame.source_height) != (frame.width, frame.height) {
            let sx = frame.source_width as f32 / frame.width as f32;
            let sy = frame.source_height as f32 / frame.height as f32;
            detections.iter_mut().for_each(|d| d.scale(sx, sy));
        }
        summary.frames_analysed += 1;
        let observed = events.observe(&detections, frame.source_width, frame.source_height, t_ms);
        if let Err(e) = write_changes(observed.changes, &mut summary) {
            break Err(e);
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    outcome?;
    write_changes(events.finish(summary.duration_ms), &mut summary)?;
    summary.rules = events.rules_stats();
    Ok(summary)
}

/// The camera settings the replay uses, with the clip as its source.
fn camera_for(config: &Config, opts: &ReplayOptions) -> Result<CameraConfig, AppError> {
    let base = match &opts.camera {
        Some(name) => config
            .cameras
            .iter()
            .find(|c| &c.name == name)
            .map(|c| c.spec.clone())
            .ok_or_else(|| {
                AppError::Io(format!(
                    "--camera {name}: {} has no such camera; the cameras are: {}",
                    config.source,
                    config
                        .cameras
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?,
        None => config
            .cameras
            .first()
            .map(|c| c.spec.clone())
            .unwrap_or_else(|| CameraSpec {
                name: clip_name(&opts.clip),
                ..CameraSpec::default()
            }),
    };
    let clip = std::path::absolute(&opts.clip).unwrap_or_else(|_| opts.clip.clone());
    if !clip.is_file() {
        return Err(AppError::Io(format!(
            "{}: no such file; give the path of a video file",
            opts.clip.display()
        )));
    }
    let spec = CameraSpec {
        url: format!("file://{}", clip.display()),
        loop_file: Some(false),
        enabled: Some(true),
        ..base
    };
    Ok(crate::config::validate_camera(
        &spec,
        "camera",
        &config.source,
        &config.base,
    )?)
}

fn clip_name(clip: &Path) -> String {
    let stem: String = clip
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if stem.is_empty() {
        "replay".into()
    } else {
        stem
    }
}
