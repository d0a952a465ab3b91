//! Ingest: one supervisor thread per camera keeps its GStreamer pipeline running.
//!
//! `run()` calls `run_once()` in a loop. `run_once` builds and starts the pipeline, then watches
//! its bus and a frame watchdog; it returns why the stream ended (a bus error classified into a
//! reason, end of stream, no first frame in time, or frames that stopped). The supervisor records
//! the reason on the camera, waits with exponential backoff (1 s doubling to 30 s, reset after a
//! stream that delivered frames) and tries again, until shutdown. Other cameras never notice.
//! Decoded frames go to the camera's [`FrameSlot`](crate::frame::FrameSlot) (newest wins) and a
//! wake-up is sent to the analysis thread without blocking.

pub mod decoder;
pub mod pipeline;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use gstreamer as gst;
use gstreamer::prelude::*;

use crate::cameras::{CameraRecord, CameraState};
use crate::frame::unix_ms;

/// No first frame within this time: the attempt fails as `no-frames`.
pub const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(20);
/// No frame for this long while streaming: the attempt fails as `stalled`.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// Why one attempt at streaming ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEnd {
    /// Short machine-readable reason: `not-found`, `unauthorized`, `unreachable`,
    /// `unsupported-codec`, `decode-error`, `eos`, `no-frames`, `stalled`, `pipeline`.
    pub reason: &'static str,
    pub message: String,
}

impl std::fmt::Display for StreamEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

/// A running camera supervisor.
pub struct CameraIngest {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CameraIngest {
    /// Starts supervising `camera` on a thread named `ingest-NAME`.
    pub fn spawn(camera: Arc<CameraRecord>, wake: Sender<()>) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name(format!("ingest-{}", camera.name()))
            .spawn({
                let stop = stop.clone();
                move || run(&camera, &wake, &stop)
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Asks the supervisor to stop; [`CameraIngest::join`] waits for it.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Stops the pipeline and waits for the thread.
    pub fn join(mut self) {
        self.request_stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(camera: &Arc<CameraRecord>, wake: &Sender<()>, stop: &AtomicBool) {
    let mut backoff = BACKOFF_START;
    while !stop.load(Ordering::SeqCst) {
        camera.set_state(CameraState::Connecting, None, None);
        let (end, delivered) = run_once(camera, wake, stop);
        let Some(end) = end else { break };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if delivered {
            backoff = BACKOFF_START;
        }
        // A file that ended is replayed from the start at once.
        let wait = if end.reason == "eos" && camera.config.source.scheme() == "file" {
            Duration::ZERO
        } else {
            backoff
        };
        tracing::warn!(
            camera = camera.name(),
            "stream ended ({end}); retrying in {:.1} s",
            wait.as_secs_f32()
        );
        camera.set_state(
            CameraState::Backoff,
            Some(end.to_string()),
            Some(unix_ms() + wait.as_millis() as u64),
        );
        let until = Instant::now() + wait;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
        }
        if wait > Duration::ZERO {
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
    camera.set_state(CameraState::Stopped, None, None);
}

/// One attempt. Returns `None` when asked to stop, else why the stream ended, and whether any
/// frame arrived.
fn run_once(
    camera: &Arc<CameraRecord>,
    wake: &Sender<()>,
    stop: &AtomicBool,
) -> (Option<StreamEnd>, bool) {
    let last_frame_ms = Arc::new(AtomicU64::new(0));
    let on_frame = {
        let slot = camera.slot.clone();
        let wake = wake.clone();
        let last = last_frame_ms.clone();
        move |frame| {
            last.store(unix_ms(), Ordering::Relaxed);
            slot.put(frame);
            // Full means a wake-up is already pending: nothing to do.
            let _ = wake.try_send(());
        }
    };
    let pipeline = match pipeline::build(camera.name(), &camera.config.source, on_frame) {
        Ok(p) => p,
        Err(e) => {
            return (
                Some(StreamEnd {
                    reason: "pipeline",
                    message: e.to_string(),
                }),
                false,
            );
        }
    };
    let end = watch(camera, &pipeline, &last_frame_ms, stop);
    let _ = pipeline.set_state(gst::State::Null);
    (end, last_frame_ms.load(Ordering::Relaxed) > 0)
}

fn watch(
    camera: &CameraRecord,
    pipeline: &gst::Pipeline,
    last_frame_ms: &AtomicU64,
    stop: &AtomicBool,
) -> Option<StreamEnd> {
    let Some(bus) = pipeline.bus() else {
        return Some(StreamEnd {
            reason: "pipeline",
            message: "pipeline has no bus".into(),
        });
    };
    if let Err(e) = pipeline.set_state(gst::State::Playing) {
        // The bus usually holds the real reason.
        if let Some(end) = drain_error(&bus) {
            return Some(end);
        }
        return Some(StreamEnd {
            reason: "pipeline",
            message: format!("cannot start: {e}"),
        });
    }
    let started = Instant::now();
    let mut streaming = false;
    loop {
        if stop.load(Ordering::SeqCst) {
            return None;
        }
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(POLL.as_millis() as u64)) {
            match msg.view() {
                gst::MessageView::Error(err) => return Some(classify(err)),
                gst::MessageView::Eos(_) => {
                    return Some(StreamEnd {
                        reason: "eos",
                        message: "the source ended the stream".into(),
                    });
                }
                _ => {}
            }
        }
        let last = last_frame_ms.load(Ordering::Relaxed);
        if last == 0 {
            if started.elapsed() > FIRST_FRAME_TIMEOUT {
                return Some(StreamEnd {
                    reason: "no-frames",
                    message: format!("no frame within {} s", FIRST_FRAME_TIMEOUT.as_secs()),
                });
            }
        } else {
            if !streaming {
                streaming = true;
                tracing::info!(camera = camera.name(), "streaming");
                camera.set_state(CameraState::Streaming, None, None);
            }
            let age = unix_ms().saturating_sub(last);
            if age > STALL_TIMEOUT.as_millis() as u64 {
                return Some(StreamEnd {
                    reason: "stalled",
                    message: format!("no frame for {} s", age / 1000),
                });
            }
        }
    }
}

fn drain_error(bus: &gst::Bus) -> Option<StreamEnd> {
    while let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(200)) {
        if let gst::MessageView::Error(err) = msg.view() {
            return Some(classify(err));
        }
    }
    None
}

/// Maps a GStreamer error to a reason a person can act on. Credentials never appear: URLs in
/// the message are redacted.
pub fn classify(err: &gst::message::Error) -> StreamEnd {
    let e = err.error();
    let reason = if let Some(kind) = e.kind::<gst::ResourceError>() {
        match kind {
            gst::ResourceError::NotFound => "not-found",
            gst::ResourceError::NotAuthorized => "unauthorized",
            gst::ResourceError::OpenRead
            | gst::ResourceError::OpenReadWrite
            | gst::ResourceError::Read
            | gst::ResourceError::Write => "unreachable",
            _ => "unreachable",
        }
    } else if let Some(kind) = e.kind::<gst::StreamError>() {
        match kind {
            gst::StreamError::CodecNotFound
            | gst::StreamError::WrongType
            | gst::StreamError::TypeNotFound
            | gst::StreamError::Format => "unsupported-codec",
            _ => "decode-error",
        }
    } else if e.kind::<gst::CoreError>() == Some(gst::CoreError::MissingPlugin) {
        "unsupported-codec"
    } else {
        "pipeline"
    };
    let source = err
        .src()
        .map(|s| s.name().to_string())
        .unwrap_or_else(|| "pipeline".into());
    StreamEnd {
        reason,
        message: crate::config::redact_text(&format!("{source}: {}", e.message())),
    }
}
