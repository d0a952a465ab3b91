//! Backend selection: `model.backends` in order of preference; the first that loads serves.
//!
//! - `cpu` (ONNX Runtime) loads at once, or is unavailable with the reason.
//! - `tensorrt` builds its engine from the ONNX model on first use, which can take minutes, so
//!   when a backend after it in the list can serve meanwhile, the engine is built (and cached)
//!   on a background thread (`tensorrt-build`) while that backend serves; the analysis thread
//!   polls [`Upgrade::poll`] between batches and switches when the engine is ready (loading it
//!   from the cache on its own thread, where its CUDA context lives). When TensorRT is the last
//!   choice, it loads in the foreground.
//!
//! Every fallback is logged with its reason and kept in a shared [`BackendStatus`] list that
//! `/api/health` shows. When no backend loads, the error names each one's reason.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crossbeam_channel::Receiver;
use serde::Serialize;

use super::onnx::OnnxBackend;
use super::tensorrt::{TensorRtBackend, TensorRtOptions};
use super::{Backend, InferError};
use crate::config::{BackendKind, ModelConfig};
use crate::detector::{Detector, DetectorError, read_verified};

/// Where a backend of the list stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendState {
    /// Runs the model now.
    Serving,
    /// Its engine is being built in the background; it takes over when ready.
    Building,
    /// Could not load here (the reason says why).
    Unavailable,
    /// Not tried: a backend earlier in the list serves.
    Standby,
}

/// One backend of `model.backends`, as `/api/health` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct BackendStatus {
    pub name: &'static str,
    pub state: BackendState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The backends' states, shared with the API.
pub type SharedStatus = Arc<Mutex<Vec<BackendStatus>>>;

/// A TensorRT engine being built in the background.
pub struct Upgrade {
    index: usize,
    done: Receiver<Result<(), String>>,
    cfg: ModelConfig,
    bytes: Vec<u8>,
    sha256: String,
}

/// The serving detectors (one per detection worker: `model.workers` on the CPU backend, one on
/// a GPU), the states, and a pending upgrade.
pub struct Selection {
    pub detectors: Vec<Detector>,
    pub status: SharedStatus,
    pub upgrade: Option<Upgrade>,
}

fn trt_options(cfg: &ModelConfig) -> TensorRtOptions {
    TensorRtOptions {
        max_batch: cfg.max_batch,
        ..TensorRtOptions::default()
    }
}

fn set(status: &SharedStatus, i: usize, state: BackendState, reason: Option<String>) {
    let mut list = status.lock().unwrap_or_else(|p| p.into_inner());
    list[i].state = state;
    list[i].reason = reason;
}

/// Loads the first backend of `cfg.backends` that can serve. `home` locates ONNX Runtime.
pub fn select(cfg: &ModelConfig, home: &Path) -> Result<Selection, DetectorError> {
    let (bytes, sha256) = read_verified(cfg)?;
    let status: SharedStatus = Arc::new(Mutex::new(
        cfg.backends
            .iter()
            .map(|k| BackendStatus {
                name: k.as_str(),
                state: BackendState::Standby,
                reason: None,
            })
            .collect(),
    ));
    let cpu_session = || -> Result<Box<dyn Backend>, InferError> {
        Ok(Box::new(OnnxBackend::load(
            home,
            &cfg.path,
            &bytes,
            cfg.threads,
        )?))
    };
    let mut upgrade = None;
    let mut reasons = Vec::new();
    for (i, kind) in cfg.backends.iter().enumerate() {
        let last = i + 1 == cfg.backends.len();
        let loaded: Result<Box<dyn Backend>, InferError> = match kind {
            BackendKind::Cpu => cpu_session(),
            BackendKind::Tensorrt if last => {
                TensorRtBackend::load(&cfg.path, &bytes, &sha256, &trt_options(cfg))
                    .map(|b| Box::new(b) as _)
            }
            BackendKind::Tensorrt => match start_build(cfg, &bytes, &sha256, i) {
                Ok(pending) => {
                    tracing::info!(
                        "tensorrt: building the engine in the background; the next backend serves meanwhile"
                    );
                    set(&status, i, BackendState::Building, None);
                    upgrade = Some(pending);
                    continue;
                }
                Err(e) => Err(e),
            },
        };
        match loaded {
            Ok(backend) => {
                set(&status, i, BackendState::Serving, None);
                // One session per detection worker on the CPU; a GPU runs one, which batches.
                let more = match kind {
                    BackendKind::Cpu => cfg.workers.saturating_sub(1),
                    BackendKind::Tensorrt => 0,
                };
                let mut detectors = vec![Detector::with_backend(cfg, backend, sha256.clone())?];
                for _ in 0..more {
                    detectors.push(Detector::with_backend(cfg, cpu_session()?, sha256.clone())?);
                }
                return Ok(Selection {
                    detectors,
                    status,
                    upgrade,
                });
            }
            Err(e) => {
                let reason = e.to_string();
                // A binary built without TensorRT passing over it is the plan, not a problem.
                let expected = *kind == BackendKind::Tensorrt
                    && super::tensorrt::built_with().is_none()
                    && !last;
                if expected {
                    tracing::info!("backend {}: {reason}; trying the next one", kind.as_str());
                } else {
                    tracing::warn!("backend {}: {reason}; trying the next one", kind.as_str());
                }
                set(&status, i, BackendState::Unavailable, Some(reason.clone()));
                reasons.push(format!("{}: {reason}", kind.as_str()));
                if last {
                    return Err(match e {
                        InferError::Unavailable { .. } => {
                            DetectorError::Infer(InferError::Unavailable {
                                backend: "every backend",
                                reason: reasons.join("; "),
                            })
                        }
                        other => other.into(),
                    });
                }
            }
        }
    }
    Err(DetectorError::Infer(InferError::Unavailable {
        backend: "every backend",
        reason: format!(
            "no backend could serve ({}); add \"cpu\" to `model.backends`",
            reasons.join("; ")
        ),
    }))
}

/// Starts the background engine build, unless TensorRT cannot load at all (then its reason).
fn start_build(
    cfg: &ModelConfig,
    bytes: &[u8],
    sha256: &str,
    index: usize,
) -> Result<Upgrade, InferError> {
    if super::tensorrt::built_with().is_none() {
        // The stand-in says why without a thread.
        TensorRtBackend::load(&cfg.path, bytes, sha256, &trt_options(cfg))?;
    }
    let (tx, done) = crossbeam_channel::bounded(1);
    let (path, owned, sha, opts) = (
        cfg.path.clone(),
        bytes.to_vec(),
        sha256.to_string(),
        trt_options(cfg),
    );
    std::thread::Builder::new()
        .name("tensorrt-build".into())
        .spawn(move || {
            // Builds (or finds in the cache) the engine, then lets it go: the analysis thread
            // loads it from the cache where its CUDA context lives.
            let outcome = TensorRtBackend::load(&path, &owned, &sha, &opts)
                .map(drop)
                .map_err(|e| e.to_string());
            let _ = tx.send(outcome);
        })
        .map_err(|e| InferError::Unavailable {
            backend: "tensorrt",
            reason: format!("cannot start the build thread: {e}"),
        })?;
    Ok(Upgrade {
        index,
        done,
        cfg: cfg.clone(),
        bytes: bytes.to_vec(),
        sha256: sha256.to_string(),
    })
}

impl Upgrade {
    /// Between batches: `Some(detector)` on the upgraded backend once its engine is ready;
    /// `None` while building. Takes `self` out of `slot` when the build ended either way.
    pub fn poll(slot: &mut Option<Upgrade>, status: &SharedStatus) -> Option<Detector> {
        let outcome = slot.as_ref()?.done.try_recv().ok()?;
        let up = slot.take()?;
        let loaded = outcome.and_then(|()| {
            TensorRtBackend::load(&up.cfg.path, &up.bytes, &up.sha256, &trt_options(&up.cfg))
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    Detector::with_backend(&up.cfg, Box::new(b), up.sha256.clone())
                        .map_err(|e| e.to_string())
                })
        });
        match loaded {
            Ok(detector) => {
                tracing::info!("tensorrt: engine ready; switching inference to it");
                let mut list = status.lock().unwrap_or_else(|p| p.into_inner());
                for (i, b) in list.iter_mut().enumerate() {
                    if i == up.index {
                        b.state = BackendState::Serving;
                    } else if b.state == BackendState::Serving {
                        b.state = BackendState::Standby;
                    }
                }
                Some(detector)
            }
            Err(reason) => {
                tracing::warn!("backend tensorrt: {reason}; staying on the current backend");
                set(status, up.index, BackendState::Unavailable, Some(reason));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_serialize_as_words() {
        let s = BackendStatus {
            name: "tensorrt",
            state: BackendState::Unavailable,
            reason: Some("no GPU".into()),
        };
        assert_eq!(
            serde_json::to_string(&s).expect("json"),
            r#"{"name":"tensorrt","state":"unavailable","reason":"no GPU"}"#
        );
    }
}
