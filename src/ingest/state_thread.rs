//! A pipeline's state changes, on a thread of their own.
//!
//! An element can block inside a state change: a named pipe opens only once something writes
//! to it, a device may never answer. Done on the supervisor's thread, that froze the camera in
//! `connecting` with no reason, and the shutdown (or removing the camera) waited for it forever.
//! Here one thread per pipeline sets it to PLAYING, reports the outcome, waits to be told to
//! stop and sets it to NULL; the supervisor polls both and keeps its watchdog, its state and its
//! stop flag running meanwhile. The two changes stay in order (a stop never overtakes the start),
//! and a camera never has more than one pipeline: the supervisor waits for the old one to stop
//! before it builds the next.

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, bounded};
use gstreamer as gst;
use gstreamer::prelude::*;

/// The thread that starts, then stops, one pipeline.
pub struct StateThread {
    started: Receiver<Result<(), gst::StateChangeError>>,
    stop: Sender<()>,
    stopped: Receiver<()>,
}

/// Where the start stands.
#[derive(Debug, PartialEq, Eq)]
pub enum Start {
    /// Still inside `set_state(Playing)`.
    Pending,
    Done,
    Failed(gst::StateChangeError),
}

impl StateThread {
    /// Starts `pipeline` on a new thread named `state-CAMERA`.
    pub fn start(pipeline: &gst::Pipeline, camera: &str) -> std::io::Result<Self> {
        let (started_tx, started) = bounded(1);
        let (stop, stop_rx) = bounded::<()>(1);
        let (stopped_tx, stopped) = bounded::<()>(1);
        let pipeline = pipeline.clone();
        std::thread::Builder::new()
            .name(format!("state-{camera}"))
            .spawn(move || {
                let _ = started_tx.send(pipeline.set_state(gst::State::Playing).map(drop));
                // A message, or the handle dropped: either way, stop.
                let _ = stop_rx.recv();
                let _ = pipeline.set_state(gst::State::Null);
                drop(pipeline);
                let _ = stopped_tx.send(());
            })?;
        Ok(Self {
            started,
            stop,
            stopped,
        })
    }

    /// Whether the start has finished; `Done` or `Failed` is reported once, then `Done`.
    pub fn poll_start(&self) -> Start {
        match self.started.try_recv() {
            Ok(Ok(())) | Err(TryRecvError::Disconnected) => Start::Done,
            Ok(Err(e)) => Start::Failed(e),
            Err(TryRecvError::Empty) => Start::Pending,
        }
    }

    /// Asks for the pipeline to be set to NULL (after its start, if that is still running).
    pub fn stop(self) -> Stopping {
        let _ = self.stop.try_send(());
        Stopping {
            stopped: self.stopped,
        }
    }
}

/// A pipeline on its way to NULL.
pub struct Stopping {
    stopped: Receiver<()>,
}

impl Stopping {
    /// Waits up to `timeout`; `true` once the pipeline is in NULL and released.
    pub fn wait(&self, timeout: Duration) -> bool {
        !matches!(
            self.stopped.recv_timeout(timeout),
            Err(RecvTimeoutError::Timeout)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn pipeline(description: &str) -> gst::Pipeline {
        gst::init().expect("GStreamer");
        gst::parse::launch(description)
            .expect("pipeline")
            .downcast::<gst::Pipeline>()
            .expect("a pipeline")
    }

    fn wait_start(thread: &StateThread) -> Start {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match thread.poll_start() {
                Start::Pending if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                other => return other,
            }
        }
    }

    #[test]
    fn starts_then_stops_in_order() {
        let p = pipeline("videotestsrc is-live=true ! fakesink");
        let thread = StateThread::start(&p, "t").expect("thread");
        assert_eq!(wait_start(&thread), Start::Done);
        assert_eq!(p.current_state(), gst::State::Playing);
        assert!(thread.stop().wait(Duration::from_secs(10)));
        assert_eq!(p.current_state(), gst::State::Null);
    }

    #[test]
    fn a_failed_start_is_reported() {
        let p = pipeline("filesrc location=/nonexistent/edgesight ! fakesink");
        let thread = StateThread::start(&p, "t").expect("thread");
        assert!(matches!(wait_start(&thread), Start::Failed(_)));
        assert!(thread.stop().wait(Duration::from_secs(10)));
    }

    #[test]
    fn a_start_that_blocks_holds_neither_the_caller_nor_its_stop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("no-writer");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        // filesrc opens the pipe when it starts; with no writer, open() blocks.
        let p = pipeline(&format!("filesrc location={} ! fakesink", fifo.display()));
        let thread = StateThread::start(&p, "t").expect("thread");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(thread.poll_start(), Start::Pending);
        let stopping = thread.stop();
        assert!(
            !stopping.wait(Duration::from_millis(300)),
            "stopped while blocked"
        );
        // A writer lets the open finish (and closing it ends the stream); the stop follows.
        drop(
            std::fs::OpenOptions::new()
                .write(true)
                .open(&fifo)
                .expect("open the pipe for writing"),
        );
        assert!(stopping.wait(Duration::from_secs(10)), "never stopped");
        assert_eq!(p.current_state(), gst::State::Null);
    }
}
