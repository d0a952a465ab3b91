//! The detector: one model, loaded and verified, run on one image at a time:
//! preprocess → infer → postprocess → labels and label filter.
//!
//! Loading refuses a model whose sha256 does not match the expected one (from the config, or a
//! `<model>.sha256` file beside it), with a message that says which file and what to do.
//! Buffers are allocated once at load; `detect` reuses them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::{ModelConfig, ModelFamily};
use crate::infer::onnx::OnnxBackend;
use crate::infer::{Backend, InferError, InputData};
use crate::postprocess::ssd::SsdDecoder;
use crate::postprocess::yolox::YoloxDecoder;
use crate::postprocess::{DecodeParams, Decoder, LabeledDetection, Labels, OutputView};
use crate::preprocess::{
    ChannelOrder, ElementType, InputSpec, Layout, Resize, RgbView, TensorSlot, preprocess_into,
};

/// Why a detector could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error("model file {path} not found; fix `model.path` in the config (or run `make setup`)")]
    ModelMissing { path: PathBuf },
    #[error("cannot read model file {path}: {message}")]
    ModelRead { path: PathBuf, message: String },
    #[error(
        "model {path} has sha256 {actual}, but {expected_from} expects {expected}: the file is damaged or not the expected model; restore it (e.g. `git checkout models/`) or, for a model of your own, fix or remove the expected hash"
    )]
    HashMismatch {
        path: PathBuf,
        actual: String,
        expected: String,
        expected_from: String,
    },
    #[error("{0}")]
    Labels(String),
    #[error("model {path}: {message}; set `model.input_size = [width, height]` in the config")]
    InputSize { path: PathBuf, message: String },
    #[error(transparent)]
    Infer(#[from] InferError),
    #[error("preprocess: {0}")]
    Preprocess(String),
    #[error("postprocess: {0}")]
    Decode(String),
}

/// Time spent per stage on one image.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Timings {
    pub preprocess_ms: f64,
    pub infer_ms: f64,
    pub postprocess_ms: f64,
}

/// What was loaded, for the API and logs.
#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    pub path: String,
    pub family: ModelFamily,
    pub sha256: String,
    pub backend: &'static str,
    pub input_width: u32,
    pub input_height: u32,
    pub labels: usize,
}

enum InputStorage {
    U8(Vec<u8>),
    F32(Vec<f32>),
}

/// A loaded model ready to run.
pub struct Detector {
    backend: Box<dyn Backend>,
    spec: InputSpec,
    shape: Vec<i64>,
    input: InputStorage,
    decoder: Box<dyn Decoder>,
    labels: Labels,
    params: DecodeParams,
    keep: Option<HashSet<u32>>,
    info: ModelInfo,
}

/// Reads a model file and checks its sha256 against the config or a `.sha256` file beside it.
/// Returns the bytes and their hash.
pub fn read_verified(cfg: &ModelConfig) -> Result<(Vec<u8>, String), DetectorError> {
    let path = &cfg.path;
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DetectorError::ModelMissing { path: path.clone() },
        _ => DetectorError::ModelRead {
            path: path.clone(),
            message: e.to_string(),
        },
    })?;
    let actual = format!("{:x}", Sha256::digest(&bytes));
    let sidecar = PathBuf::from(format!("{}.sha256", path.display()));
    let expected = match &cfg.sha256 {
        Some(h) => Some((h.clone(), "model.sha256 in the config".to_string())),
        None => std::fs::read_to_string(&sidecar).ok().map(|text| {
            let hash = text
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            (hash, sidecar.display().to_string())
        }),
    };
    if let Some((expected, expected_from)) = expected
        && expected != actual
    {
        return Err(DetectorError::HashMismatch {
            path: path.clone(),
            actual,
            expected,
            expected_from,
        });
    }
    Ok((bytes, actual))
}

impl Detector {
    /// Loads and verifies the model of `cfg`. `home` locates the ONNX Runtime library.
    pub fn load(cfg: &ModelConfig, home: &Path) -> Result<Self, DetectorError> {
        let (bytes, sha256) = read_verified(cfg)?;
        let labels = Labels::load(&cfg.labels).map_err(DetectorError::Labels)?;
        let backend: Box<dyn Backend> =
            Box::new(OnnxBackend::load(home, &cfg.path, &bytes, cfg.threads)?);
        let info = backend.input().clone();
        let size_err = |message: String| DetectorError::InputSize {
            path: cfg.path.clone(),
            message,
        };
        // 4-D input: NHWC when the last dimension is 3, else NCHW.
        let nhwc = info.shape[3] == 3;
        let (model_h, model_w) = if nhwc {
            (info.shape[1], info.shape[2])
        } else {
            (info.shape[2], info.shape[3])
        };
        let (width, height) = match cfg.input_size {
            Some(size) => size,
            None if model_w > 0 && model_h > 0 => (model_w as u32, model_h as u32),
            None => return Err(size_err("the input size is dynamic".into())),
        };
        if (model_w > 0 && model_w as u32 != width) || (model_h > 0 && model_h as u32 != height) {
            return Err(size_err(format!(
                "the model's input is {model_w}x{model_h}, the config says {width}x{height}"
            )));
        }
        let layout = if nhwc { Layout::Nhwc } else { Layout::Nchw };
        let (order, resize, decoder): (ChannelOrder, Resize, Box<dyn Decoder>) = match cfg.family {
            ModelFamily::Ssd => (
                ChannelOrder::Rgb,
                Resize::Stretch,
                Box::new(SsdDecoder::new(width, height)),
            ),
            ModelFamily::Yolox => (
                ChannelOrder::Bgr,
                Resize::Letterbox {
                    pad: 114,
                    center: false,
                },
                Box::new(YoloxDecoder::new(width, height)),
            ),
        };
        let spec = InputSpec {
            width,
            height,
            layout,
            order,
            dtype: info.dtype,
            resize,
            mean: [0.0; 3],
            std: [1.0; 3],
        };
        let shape = if nhwc {
            vec![1, i64::from(height), i64::from(width), 3]
        } else {
            vec![1, 3, i64::from(height), i64::from(width)]
        };
        let input = match info.dtype {
            ElementType::U8 => InputStorage::U8(vec![0; spec.elements()]),
            ElementType::F32 => InputStorage::F32(vec![0.0; spec.elements()]),
        };
        let keep = if cfg.only_labels.is_empty() {
            None
        } else {
            let mut ids = HashSet::new();
            for name in &cfg.only_labels {
                let id = labels.id_of(name).ok_or_else(|| {
                    DetectorError::Labels(format!(
                        "model.only_labels: `{name}` is not in {}; use names from that file",
                        cfg.labels.display()
                    ))
                })?;
                ids.insert(id);
            }
            Some(ids)
        };
        let model_info = ModelInfo {
            path: cfg.path.display().to_string(),
            family: cfg.family,
            sha256,
            backend: backend.name(),
            input_width: width,
            input_height: height,
            labels: labels.len(),
        };
        Ok(Self {
            backend,
            spec,
            shape,
            input,
            decoder,
            labels,
            params: DecodeParams {
                score_threshold: cfg.score_threshold,
                nms_iou: cfg.nms_iou,
                max_detections: cfg.max_detections,
            },
            keep,
            info: model_info,
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The label names in class-id order (for the console's label pickers); when
    /// `only_labels` is set, only those.
    pub fn label_names(&self) -> Vec<String> {
        self.labels
            .ids()
            .into_iter()
            .filter(|id| self.keep.as_ref().is_none_or(|k| k.contains(id)))
            .map(|id| self.labels.name(id))
            .collect()
    }

    /// Detects objects in `image`; boxes are in `image`'s pixels.
    pub fn detect(
        &mut self,
        image: RgbView<'_>,
    ) -> Result<(Vec<LabeledDetection>, Timings), DetectorError> {
        let t0 = Instant::now();
        let slot = match &mut self.input {
            InputStorage::U8(v) => TensorSlot::U8(v),
            InputStorage::F32(v) => TensorSlot::F32(v),
        };
        let transform = preprocess_into(image, &self.spec, slot)
            .map_err(|e| DetectorError::Preprocess(e.to_string()))?;
        let t1 = Instant::now();
        let data = match &self.input {
            InputStorage::U8(v) => InputData::U8(v),
            InputStorage::F32(v) => InputData::F32(v),
        };
        let outputs = self.backend.run(data, &self.shape)?;
        let t2 = Instant::now();
        let views: Vec<OutputView<'_>> = outputs
            .iter()
            .map(|o| OutputView {
                name: &o.name,
                shape: &o.shape,
                data: &o.data,
            })
            .collect();
        let found = self
            .decoder
            .decode(&views, &transform, &self.params)
            .map_err(|e| DetectorError::Decode(e.to_string()))?;
        let labeled = found
            .iter()
            .filter(|d| self.keep.as_ref().is_none_or(|k| k.contains(&d.class_id)))
            .map(|d| LabeledDetection::new(d, &self.labels))
            .collect();
        let t3 = Instant::now();
        let ms = |d: Duration| (d.as_secs_f64() * 1e5).round() / 100.0;
        Ok((
            labeled,
            Timings {
                preprocess_ms: ms(t1 - t0),
                infer_ms: ms(t2 - t1),
                postprocess_ms: ms(t3 - t2),
            },
        ))
    }
}
