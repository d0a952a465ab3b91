//! Detection workers: threads (`detect-N`) that each own a [`Detector`] and turn a job — the
//! frames of one batch — into detections (preprocess → infer → postprocess). With several
//! workers, frames of different cameras are detected side by side while the analysis thread
//! tracks, applies rules and publishes the ones already done.
//!
//! Bounded by construction: the analysis thread hands a job only to an idle worker, so at most
//! one job per worker is queued or running, and both channels hold one per worker. The workers
//! know which cameras have a frame out ([`Workers::holds`]); the analysis thread gives such a
//! camera no second one, so each camera's frames are followed in order.

use std::collections::HashSet;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use crate::cameras::CameraRecord;
use crate::detector::{Detector, DetectorError, Timings};
use crate::frame::Frame;
use crate::postprocess::LabeledDetection;
use crate::preprocess::FrameView;

/// Frames of one batch, with the camera each came from.
pub type Frames = Vec<(Arc<CameraRecord>, Frame)>;

/// Detections of each frame of a batch (in the batch's order) and the batch's timings.
pub type Detected = Result<(Vec<Vec<LabeledDetection>>, Timings), DetectorError>;

/// Work for one worker.
pub struct Job {
    pub frames: Frames,
    /// Decode detections down to this score (the tracker's low-score stage needs them).
    pub score_floor: f32,
}

/// A finished job.
pub struct Done {
    pub frames: Frames,
    /// When the worker started on it (the end of the frames' queue wait).
    pub started: Instant,
    pub detected: Detected,
}

/// The running workers.
pub struct Workers {
    jobs: Option<Sender<Job>>,
    done: Receiver<Done>,
    handles: Vec<JoinHandle<()>>,
    busy: usize,
    /// Cameras (record ids) with a frame in a job not yet collected.
    cameras: HashSet<u64>,
}

impl Workers {
    /// One worker thread per detector.
    pub fn start(detectors: Vec<Detector>) -> std::io::Result<Self> {
        let n = detectors.len().max(1);
        let (jobs_tx, jobs_rx) = crossbeam_channel::bounded::<Job>(n);
        let (done_tx, done_rx) = crossbeam_channel::bounded::<Done>(n);
        let mut handles = Vec::with_capacity(n);
        for (i, detector) in detectors.into_iter().enumerate() {
            let (jobs, done) = (jobs_rx.clone(), done_tx.clone());
            let handle = std::thread::Builder::new()
                .name(format!("detect-{i}"))
                .spawn(move || work(detector, &jobs, &done))?;
            handles.push(handle);
        }
        Ok(Self {
            jobs: Some(jobs_tx),
            done: done_rx,
            handles,
            busy: 0,
            cameras: HashSet::new(),
        })
    }

    /// Whether a worker waits for a job.
    pub fn idle(&self) -> bool {
        self.busy < self.handles.len()
    }

    /// Whether a frame of camera `id` is out at a worker.
    pub fn holds(&self, id: u64) -> bool {
        self.cameras.contains(&id)
    }

    /// Hands `job` to an idle worker (call only when [`Workers::idle`]).
    pub fn submit(&mut self, job: Job) {
        let ids: Vec<u64> = job.frames.iter().map(|(camera, _)| camera.id).collect();
        if let Some(jobs) = &self.jobs
            && jobs.send(job).is_ok()
        {
            self.busy += 1;
            self.cameras.extend(ids);
        }
    }

    /// Books `done` as collected.
    fn collected(&mut self, done: &Done) {
        self.busy = self.busy.saturating_sub(1);
        for (camera, _) in &done.frames {
            self.cameras.remove(&camera.id);
        }
    }

    /// The channel finished jobs arrive on (to wait on it with others).
    pub fn finished(&self) -> &Receiver<Done> {
        &self.done
    }

    /// A finished job, if one is there.
    pub fn try_collect(&mut self) -> Option<Done> {
        let done = self.done.try_recv().ok()?;
        self.collected(&done);
        Some(done)
    }

    /// Lets the workers finish what they hold and stop; returns those last jobs.
    pub fn stop(&mut self) -> Vec<Done> {
        self.jobs = None;
        let mut last = Vec::new();
        while self.busy > 0 {
            match self.done.recv() {
                Ok(done) => {
                    self.collected(&done);
                    last.push(done);
                }
                Err(_) => break,
            }
        }
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
        last
    }
}

fn work(mut detector: Detector, jobs: &Receiver<Job>, done: &Sender<Done>) {
    for job in jobs.iter() {
        detector.set_score_floor(job.score_floor);
        let started = Instant::now();
        let views: Vec<FrameView<'_>> = job.frames.iter().map(|(_, f)| f.view()).collect();
        let detected = detector.detect_batch(&views);
        drop(views);
        let finished = Done {
            frames: job.frames,
            started,
            detected,
        };
        if done.send(finished).is_err() {
            break;
        }
    }
}
