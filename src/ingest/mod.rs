//! Ingest: one supervisor thread per camera keeps its GStreamer pipeline running.
//!
//! `run()` calls `run_once()` in a loop. `run_once` builds the pipeline, starts it on its own
//! [`StateThread`] (an element that blocks in its start, such as a named pipe with no writer,
//! shows as `failed` with reason `blocked` after 15 s instead of holding the supervisor), then
//! watches its bus and a frame watchdog; it returns why the stream ended: a bus error classified
//! into a reason, end of stream, no first frame in time (`no-frames`), or frames that stopped
//! (`stalled`: after 2 s without a frame the camera shows `stalled`, after its `stall_timeout_s`
//! the pipeline is rebuilt). The supervisor records the reason, waits with exponential backoff
//! and jitter (0.5 s doubling up to the camera's `reconnect_max_s`, reset once a stream delivered
//! frames) and tries again, until shutdown. Reasons that need a person (`not-found`,
//! `unauthorized`, `unsupported-codec`, `pipeline`) show as `failed` and retry at the cap.
//! A file that ends replays at once (or stops, with `loop = false`). Each attempt's pipeline is
//! in NULL before the next is built; one that does not get there within 5 s shows as `blocked`
//! too, and at shutdown it is left behind rather than waited for. Other cameras never notice.
//! Decoded frames go to the camera's [`FrameSlot`](crate::frame::FrameSlot) (newest wins) and a
//! wake-up is sent to the analysis thread without blocking.

pub mod decoder;
pub mod fleet;
pub mod pipeline;
pub mod state_thread;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use gstreamer as gst;
use gstreamer::prelude::*;

use crate::cameras::{CameraRecord, CameraState};
use crate::frame::unix_ms;
use state_thread::{Start, StateThread, Stopping};

/// No first frame within this time: the attempt fails as `no-frames`.
pub const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(15);
/// No frame for this long while streaming: the camera shows `stalled`.
pub const STALL_WARNING: Duration = Duration::from_secs(2);
/// A pipeline not in NULL this long after the stop: the camera shows `failed` (`blocked`).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_START: Duration = Duration::from_millis(500);
const POLL: Duration = Duration::from_millis(100);

/// Why one attempt at streaming ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEnd {
    /// Short machine-readable reason: `not-found`, `unauthorized`, `unreachable`,
    /// `protocol-error`, `unsupported-codec`, `decode-error`, `eos`, `no-frames`, `stalled`,
    /// `pipeline`.
    pub reason: &'static str,
    pub message: String,
}

impl StreamEnd {
    fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    /// Whether waiting will not fix it: a person has to (wrong path, password, codec).
    pub fn needs_attention(&self) -> bool {
        matches!(
            self.reason,
            "not-found" | "unauthorized" | "unsupported-codec" | "protocol-error" | "pipeline"
        )
    }
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

impl Drop for CameraIngest {
    fn drop(&mut self) {
        self.request_stop();
    }
}

/// Exponential backoff with equal jitter: `next()` returns a wait in [d/2, d] and doubles d up
/// to `max`.
pub struct Backoff {
    current: Duration,
    max: Duration,
    seed: u64,
}

impl Backoff {
    pub fn new(max: Duration) -> Self {
        let seed = Instant::now().elapsed().as_nanos() as u64 ^ (unix_ms() << 20) | 1;
        Self {
            current: BACKOFF_START.min(max),
            max,
            seed,
        }
    }

    /// The next wait.
    pub fn next_wait(&mut self) -> Duration {
        // xorshift64: jitter only needs to spread cameras apart, not be unpredictable.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let fraction = (self.seed % 1000) as f64 / 1000.0;
        let wait = self.current.mul_f64(0.5 + 0.5 * fraction);
        self.current = (self.current * 2).min(self.max);
        wait
    }

    /// The longest wait, for failures that will not pass by themselves.
    pub fn at_cap(&mut self) {
        self.current = self.max;
    }

    pub fn reset(&mut self) {
        self.current = BACKOFF_START.min(self.max);
    }
}

fn run(camera: &Arc<CameraRecord>, wake: &Sender<()>, stop: &AtomicBool) {
    let mut backoff = Backoff::new(camera.config.reconnect_max);
    while !stop.load(Ordering::SeqCst) {
        camera.set_state(CameraState::Connecting, None, None);
        let Attempt {
            end,
            delivered,
            stopping,
        } = run_once(camera, wake, stop);
        // One pipeline per camera: the next attempt waits for this one to stop.
        if let Some(stopping) = stopping
            && !wait_stopped(camera, &stopping, stop)
        {
            break;
        }
        let Some(end) = end else { break };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if delivered {
            backoff.reset();
        }
        let is_file = camera.config.source.scheme() == "file";
        if end.reason == "eos" && is_file {
            if camera.config.loop_file {
                tracing::debug!(camera = camera.name(), "end of file; replaying");
                continue;
            }
            tracing::info!(camera = camera.name(), "end of file");
            camera.set_state(
                CameraState::Stopped,
                Some((end.reason, "end of file")),
                None,
            );
            return;
        }
        let state = if end.needs_attention() {
            backoff.at_cap();
            CameraState::Failed
        } else {
            CameraState::Backoff
        };
        let wait = backoff.next_wait();
        tracing::warn!(
            camera = camera.name(),
            "stream ended ({end}); retrying in {:.1} s",
            wait.as_secs_f32()
        );
        camera.set_state(
            state,
            Some((end.reason, &end.message)),
            Some(unix_ms() + wait.as_millis() as u64),
        );
        let until = Instant::now() + wait;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
        }
    }
    camera.set_state(CameraState::Stopped, None, None);
}

/// How one attempt ended.
struct Attempt {
    /// Why the stream ended; `None` when asked to stop.
    end: Option<StreamEnd>,
    /// Whether any frame arrived.
    delivered: bool,
    /// The pipeline on its way to NULL, if one was started.
    stopping: Option<Stopping>,
}

/// Waits for the last attempt's pipeline to reach NULL. After [`STOP_TIMEOUT`] the camera shows
/// `failed` (`blocked`) and the wait goes on, unless the supervisor is asked to stop (shutdown,
/// camera removed or replaced): then the pipeline is left to its thread and `false` returned.
fn wait_stopped(camera: &CameraRecord, stopping: &Stopping, stop: &AtomicBool) -> bool {
    if stopping.wait(STOP_TIMEOUT) {
        return true;
    }
    let secs = STOP_TIMEOUT.as_secs();
    if stop.load(Ordering::SeqCst) {
        tracing::warn!(
            camera = camera.name(),
            "the pipeline has not stopped after {secs} s (an element is blocked); left behind"
        );
        return false;
    }
    let message = format!(
        "the last pipeline has not stopped after {secs} s (an element is blocked); \
         the next attempt waits for it"
    );
    show_blocked(camera, &message);
    loop {
        if stopping.wait(POLL) {
            tracing::info!(camera = camera.name(), "the blocked pipeline has stopped");
            return true;
        }
        if stop.load(Ordering::SeqCst) {
            return false;
        }
    }
}

/// Shows the camera as `failed` with reason `blocked`: an element is stuck in a state change.
fn show_blocked(camera: &CameraRecord, message: &str) {
    tracing::warn!(camera = camera.name(), "{message}");
    camera.set_state(CameraState::Failed, Some(("blocked", message)), None);
}

/// One attempt: builds the pipeline, starts it on its [`StateThread`] and watches it.
fn run_once(camera: &Arc<CameraRecord>, wake: &Sender<()>, stop: &AtomicBool) -> Attempt {
    let last_frame_ms = Arc::new(AtomicU64::new(0));
    let on_frame = {
        let camera = camera.clone();
        let wake = wake.clone();
        let last = last_frame_ms.clone();
        move |frame| {
            let now = unix_ms();
            last.store(now, Ordering::Relaxed);
            camera.frame_arrived(now);
            camera.slot.put(frame);
            // Full means a wake-up is already pending: nothing to do.
            let _ = wake.try_send(());
        }
    };
    let on_decoder = {
        let camera = camera.clone();
        move |choice: Result<String, String>| match choice {
            Ok(chain) => {
                tracing::info!(camera = camera.name(), "decoder: {chain}");
                camera.set_decoder(chain);
            }
            Err(why) => {
                tracing::error!(camera = camera.name(), "decoder: {why}");
                camera.set_decoder(why);
            }
        }
    };
    let hooks = pipeline::Hooks {
        on_frame: Box::new(on_frame),
        on_decoder: Box::new(on_decoder),
    };
    let pipeline = match pipeline::build(
        &camera.config,
        &decoder::GstRegistry,
        hooks,
        pipeline::Pacing::Live,
    ) {
        Ok(p) => p,
        Err(e) => {
            return Attempt {
                end: Some(StreamEnd::new("pipeline", e.to_string())),
                delivered: false,
                stopping: None,
            };
        }
    };
    let (end, stopping) = match StateThread::start(&pipeline, camera.name()) {
        Ok(thread) => {
            let end = watch(camera, &pipeline, &thread, &last_frame_ms, stop);
            (end, Some(thread.stop()))
        }
        Err(e) => (
            Some(StreamEnd::new(
                "pipeline",
                format!("cannot start a thread: {e}"),
            )),
            None,
        ),
    };
    Attempt {
        end,
        delivered: last_frame_ms.load(Ordering::Relaxed) > 0,
        stopping,
    }
}

fn watch(
    camera: &CameraRecord,
    pipeline: &gst::Pipeline,
    thread: &StateThread,
    last_frame_ms: &AtomicU64,
    stop: &AtomicBool,
) -> Option<StreamEnd> {
    let Some(bus) = pipeline.bus() else {
        return Some(StreamEnd::new("pipeline", "pipeline has no bus"));
    };
    // The first frame is awaited from the end of the start; a start that blocks is reported.
    let mut started = Instant::now();
    let mut starting = true;
    let mut blocked = false;
    let stall_timeout = camera.config.stall_timeout.as_millis() as u64;
    let mut state = CameraState::Connecting;
    loop {
        if stop.load(Ordering::SeqCst) {
            return None;
        }
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(POLL.as_millis() as u64)) {
            match msg.view() {
                gst::MessageView::Error(err) => return Some(classify(err)),
                gst::MessageView::Eos(_) => {
                    return Some(StreamEnd::new("eos", "the source ended the stream"));
                }
                _ => {}
            }
        }
        if starting {
            match thread.poll_start() {
                Start::Pending => {
                    if !blocked && started.elapsed() > FIRST_FRAME_TIMEOUT {
                        let message = format!(
                            "the source has not finished starting after {} s (a named pipe \
                             with no writer, a device that does not answer); waiting for it",
                            FIRST_FRAME_TIMEOUT.as_secs()
                        );
                        show_blocked(camera, &message);
                        blocked = true;
                    }
                    continue;
                }
                Start::Failed(e) => {
                    // The bus usually holds the real reason.
                    return Some(drain_error(&bus).unwrap_or_else(|| {
                        StreamEnd::new("pipeline", format!("cannot start: {e}"))
                    }));
                }
                Start::Done => {
                    starting = false;
                    started = Instant::now();
                    if blocked {
                        tracing::info!(camera = camera.name(), "the source has started");
                        camera.set_state(CameraState::Connecting, None, None);
                    }
                }
            }
        }
        let last = last_frame_ms.load(Ordering::Relaxed);
        if last == 0 {
            if started.elapsed() > FIRST_FRAME_TIMEOUT {
                return Some(StreamEnd::new(
                    "no-frames",
                    format!("no frame within {} s", FIRST_FRAME_TIMEOUT.as_secs()),
                ));
            }
            continue;
        }
        let age = unix_ms().saturating_sub(last);
        let now_state = if age > STALL_WARNING.as_millis() as u64 {
            CameraState::Stalled
        } else {
            CameraState::Streaming
        };
        if now_state != state {
            match now_state {
                CameraState::Streaming => tracing::info!(camera = camera.name(), "streaming"),
                _ => tracing::warn!(camera = camera.name(), "stalled: no frame for {age} ms"),
            }
            camera.set_state(now_state, None, None);
            state = now_state;
        }
        if age > stall_timeout {
            return Some(StreamEnd::new(
                "stalled",
                format!("no frame for {:.1} s", age as f64 / 1000.0),
            ));
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

/// Maps a GStreamer error to a reason a person can act on. The message keeps the element,
/// GStreamer's text and the last line of its debug detail; passwords are redacted.
pub fn classify(err: &gst::message::Error) -> StreamEnd {
    let e = err.error();
    let detail = err
        .debug()
        .and_then(|d| d.lines().last().map(|l| l.trim().to_string()))
        .filter(|l| !l.is_empty());
    let reason = reason_of(&e, detail.as_deref());
    let source = err
        .src()
        .map(|s| s.name().to_string())
        .unwrap_or_else(|| "pipeline".into());
    let message = match detail {
        Some(d) => format!("{source}: {} ({d})", e.message()),
        None => format!("{source}: {}", e.message()),
    };
    StreamEnd::new(reason, crate::config::redact_text(&message))
}

fn reason_of(e: &gst::glib::Error, detail: Option<&str>) -> &'static str {
    if let Some(kind) = e.kind::<gst::ResourceError>() {
        match kind {
            gst::ResourceError::NotFound => "not-found",
            gst::ResourceError::NotAuthorized => "unauthorized",
            // Reachable, but what came back is not the protocol (rtspsrc: "Parse error").
            gst::ResourceError::Read if detail.is_some_and(|d| d.contains("Parse error")) => {
                "protocol-error"
            }
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(4));
        let waits: Vec<Duration> = (0..6).map(|_| b.next_wait()).collect();
        let caps = [500, 1000, 2000, 4000, 4000, 4000];
        for (w, cap) in waits.iter().zip(caps) {
            let cap = Duration::from_millis(cap);
            assert!(
                *w >= cap / 2 && *w <= cap,
                "{w:?} not in [{:?}, {cap:?}]",
                cap / 2
            );
        }
        b.reset();
        assert!(b.next_wait() <= Duration::from_millis(500));
        b.at_cap();
        assert!(b.next_wait() >= Duration::from_secs(2));
    }

    #[test]
    fn reasons_that_need_a_person_are_told_apart() {
        assert!(StreamEnd::new("unauthorized", "").needs_attention());
        assert!(StreamEnd::new("not-found", "").needs_attention());
        assert!(!StreamEnd::new("unreachable", "").needs_attention());
        assert!(!StreamEnd::new("eos", "").needs_attention());
        assert!(!StreamEnd::new("stalled", "").needs_attention());
    }
}
