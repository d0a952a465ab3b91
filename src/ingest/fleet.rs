//! The running supervisors, one per enabled camera, kept in step with the [`CameraSet`].
//!
//! `start` adds a camera (or replaces the one of the same name: the old supervisor is stopped
//! and joined first, then the new record takes its place and its supervisor starts); `remove`
//! stops and forgets one. Nothing here touches the other cameras' pipelines. `stop_all` is the
//! first step of the ordered shutdown.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crossbeam_channel::Sender;

use super::CameraIngest;
use crate::cameras::{CameraRecord, CameraSet};
use crate::config::CameraConfig;

/// The cameras' supervisors.
pub struct Fleet {
    set: Arc<CameraSet>,
    wake: Sender<()>,
    running: Mutex<BTreeMap<String, CameraIngest>>,
}

impl Fleet {
    /// An empty fleet over `set`; frames wake the analysis thread through `wake`.
    pub fn new(set: Arc<CameraSet>, wake: Sender<()>) -> Self {
        Self {
            set,
            wake,
            running: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn set(&self) -> &Arc<CameraSet> {
        &self.set
    }

    /// Starts `config` (a disabled camera is listed, not started). A camera of the same name is
    /// stopped and replaced; its counters start again from zero.
    pub fn start(&self, config: CameraConfig) -> std::io::Result<Arc<CameraRecord>> {
        let name = config.name.clone();
        self.stop_supervisor(&name);
        let record = CameraRecord::new(config);
        if record.config.enabled {
            tracing::info!(camera = record.name(), "source {}", record.config.source);
            let ingest = CameraIngest::spawn(record.clone(), self.wake.clone())?;
            self.lock().insert(name, ingest);
        }
        self.set.upsert(record.clone());
        Ok(record)
    }

    /// Stops and removes the camera named `name`; `false` when there is none.
    pub fn remove(&self, name: &str) -> bool {
        self.stop_supervisor(name);
        self.set.remove(name).is_some()
    }

    /// Stops every supervisor (pipelines to NULL) and waits for them; the records stay, showing
    /// `stopped`.
    pub fn stop_all(&self) {
        let running = std::mem::take(&mut *self.lock());
        running.values().for_each(CameraIngest::request_stop);
        running.into_values().for_each(CameraIngest::join);
    }

    fn stop_supervisor(&self, name: &str) {
        let old = self.lock().remove(name);
        if let Some(ingest) = old {
            ingest.join();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, CameraIngest>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}
