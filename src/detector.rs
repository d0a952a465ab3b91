//! The detector: one model, loaded and verified, run on one image or a batch of images:
//! preprocess → infer → postprocess → labels and label filter.
//!
//! Batches: a model whose batch dimension is dynamic runs up to [`MAX_DYNAMIC_BATCH`] frames
//! per inference; a fixed-batch model (the bundled SSD: 1) runs `N` at a time, the last group
//! padded with repeats of its last frame whose results are dropped. Outputs are split per batch
//! element along their first dimension and decoded one frame at a time. Frames of a batch may
//! differ in size and pixel format.
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
use crate::infer::{Backend, InferError, InputData, OutputBuffer};
use crate::postprocess::ssd::SsdDecoder;
use crate::postprocess::yolox::YoloxDecoder;
use crate::postprocess::{DecodeParams, Decoder, LabeledDetection, Labels, OutputView};
use crate::preprocess::{
    ChannelOrder, ElementType, FrameView, InputSpec, Layout, Resize, TensorSlot, preprocess_batch,
};

/// Most frames one inference takes on a model with a dynamic batch dimension.
pub const MAX_DYNAMIC_BATCH: usize = 32;

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

/// Time spent per stage on one image (or, from [`Detector::detect_batch`], on the whole batch).
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
    /// Detection workers serving the model (set by the application; one per detector).
    pub workers: usize,
    /// Inference threads of each worker's session (CPU backend).
    pub threads: usize,
}

enum InputStorage {
    U8(Vec<u8>),
    F16(Vec<half::f16>),
    F32(Vec<f32>),
}

/// A loaded model ready to run.
pub struct Detector {
    backend: Box<dyn Backend>,
    spec: InputSpec,
    /// Input shape; the first dimension is set per run.
    shape: Vec<i64>,
    /// Frames per inference: the model's fixed batch, or [`MAX_DYNAMIC_BATCH`].
    max_batch: usize,
    /// Threads for preprocessing a batch.
    threads: usize,
    input: InputStorage,
    decoder: Box<dyn Decoder>,
    labels: Labels,
    params: DecodeParams,
    keep: Option<HashSet<u32>>,
    /// `model.score_threshold`, whatever the decoding floor.
    report_threshold: f32,
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
    /// Loads and verifies the model of `cfg` on the ONNX Runtime CPU backend. `home` locates
    /// the ONNX Runtime library. (The analysis thread picks its backend from `model.backends`
    /// with [`crate::infer::select`].)
    pub fn load(cfg: &ModelConfig, home: &Path) -> Result<Self, DetectorError> {
        let (bytes, sha256) = read_verified(cfg)?;
        let backend: Box<dyn Backend> =
            Box::new(OnnxBackend::load(home, &cfg.path, &bytes, cfg.threads)?);
        Self::with_backend(cfg, backend, sha256)
    }

    /// Builds the detector of `cfg` around a loaded backend (the model's sha256 already
    /// checked).
    pub fn with_backend(
        cfg: &ModelConfig,
        backend: Box<dyn Backend>,
        sha256: String,
    ) -> Result<Self, DetectorError> {
        let labels = Labels::load(&cfg.labels).map_err(DetectorError::Labels)?;
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
        let max_batch = match info.shape[0] {
            n if n > 0 => n as usize,
            _ => MAX_DYNAMIC_BATCH,
        };
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
            ElementType::F16 => InputStorage::F16(vec![half::f16::ZERO; spec.elements()]),
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
            workers: 1,
            threads: cfg.threads,
        };
        Ok(Self {
            backend,
            spec,
            shape,
            max_batch,
            threads: cfg.threads.max(1),
            input,
            decoder,
            labels,
            params: DecodeParams {
                score_threshold: cfg.score_threshold,
                nms_iou: cfg.nms_iou,
                max_detections: cfg.max_detections,
            },
            keep,
            report_threshold: cfg.score_threshold,
            info: model_info,
        })
    }

    /// Decodes detections down to `floor` from now on (the tracker's low-score stage needs
    /// them), while [`Detector::score_threshold`] stays what the config reports. Never raises
    /// the threshold above the configured one.
    pub fn set_score_floor(&mut self, floor: f32) {
        self.params.score_threshold = floor.clamp(0.0, self.report_threshold);
    }

    /// The configured `model.score_threshold`: detections under it are not reported (API,
    /// `--print-detections`), though they may be decoded for tracking.
    pub fn score_threshold(&self) -> f32 {
        self.report_threshold
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Frames one inference takes (the model's fixed batch, or [`MAX_DYNAMIC_BATCH`]).
    pub fn max_batch(&self) -> usize {
        self.max_batch
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
    pub fn detect<'a>(
        &mut self,
        image: impl Into<FrameView<'a>>,
    ) -> Result<(Vec<LabeledDetection>, Timings), DetectorError> {
        let (mut found, timings) = self.detect_batch(&[image.into()])?;
        Ok((found.pop().unwrap_or_default(), timings))
    }

    /// Detects objects in each of `frames` (see the module docs for how they are batched);
    /// result `i` belongs to frame `i`, boxes in its pixels. Timings cover the whole call.
    pub fn detect_batch(
        &mut self,
        frames: &[FrameView<'_>],
    ) -> Result<(Vec<Vec<LabeledDetection>>, Timings), DetectorError> {
        let mut all = Vec::with_capacity(frames.len());
        let mut total = Timings::default();
        for group in frames.chunks(self.max_batch) {
            let t = self.run_group(group, &mut all)?;
            total.preprocess_ms += t.preprocess_ms;
            total.infer_ms += t.infer_ms;
            total.postprocess_ms += t.postprocess_ms;
        }
        Ok((all, total))
    }

    /// One inference over `group` (at most `max_batch` frames); appends one result per frame.
    fn run_group(
        &mut self,
        group: &[FrameView<'_>],
        results: &mut Vec<Vec<LabeledDetection>>,
    ) -> Result<Timings, DetectorError> {
        let t0 = Instant::now();
        let fixed = self.backend.input().shape[0] > 0;
        let slots = if fixed { self.max_batch } else { group.len() };
        let padded: Vec<FrameView<'_>>;
        let frames = if group.len() < slots {
            let last = group[group.len() - 1];
            padded = group
                .iter()
                .copied()
                .chain(std::iter::repeat_n(last, slots - group.len()))
                .collect();
            &padded[..]
        } else {
            group
        };
        let n = slots * self.spec.elements();
        let slot = match &mut self.input {
            InputStorage::U8(v) => {
                v.resize(n.max(v.len()), 0);
                TensorSlot::U8(&mut v[..n])
            }
            InputStorage::F16(v) => {
                v.resize(n.max(v.len()), half::f16::ZERO);
                TensorSlot::F16(&mut v[..n])
            }
            InputStorage::F32(v) => {
                v.resize(n.max(v.len()), 0.0);
                TensorSlot::F32(&mut v[..n])
            }
        };
        // One frame stays on this thread; a batch spreads over `threads`.
        let threads = if group.len() > 1 { self.threads } else { 1 };
        let transforms = preprocess_batch(frames, &self.spec, slot, threads)
            .map_err(|e| DetectorError::Preprocess(e.to_string()))?;
        let t1 = Instant::now();
        let data = match &self.input {
            InputStorage::U8(v) => InputData::U8(&v[..n]),
            InputStorage::F16(v) => InputData::F16(&v[..n]),
            InputStorage::F32(v) => InputData::F32(&v[..n]),
        };
        self.shape[0] = slots as i64;
        let outputs = self.backend.run(data, &self.shape)?;
        let t2 = Instant::now();
        let shapes = split_shapes(outputs, slots)?;
        for (i, transform) in transforms.iter().take(group.len()).enumerate() {
            let views: Vec<OutputView<'_>> = outputs
                .iter()
                .zip(&shapes)
                .map(|(o, shape)| {
                    let per = o.data.len() / slots;
                    OutputView {
                        name: &o.name,
                        shape,
                        data: &o.data[i * per..(i + 1) * per],
                    }
                })
                .collect();
            let found = self
                .decoder
                .decode(&views, transform, &self.params)
                .map_err(|e| DetectorError::Decode(e.to_string()))?;
            results.push(
                found
                    .iter()
                    .filter(|d| self.keep.as_ref().is_none_or(|k| k.contains(&d.class_id)))
                    .map(|d| LabeledDetection::new(d, &self.labels))
                    .collect(),
            );
        }
        let t3 = Instant::now();
        let ms = |d: Duration| (d.as_secs_f64() * 1e5).round() / 100.0;
        Ok(Timings {
            preprocess_ms: ms(t1 - t0),
            infer_ms: ms(t2 - t1),
            postprocess_ms: ms(t3 - t2),
        })
    }
}

/// Per output, the shape of one batch element (`[1, rest...]`); an output whose first
/// dimension is not the batch (or whose data does not split evenly) is an error. With one slot
/// the shapes are taken as they are.
fn split_shapes(outputs: &[OutputBuffer], slots: usize) -> Result<Vec<Vec<i64>>, DetectorError> {
    outputs
        .iter()
        .map(|o| {
            if slots == 1 {
                return Ok(o.shape.clone());
            }
            match o.shape.split_first() {
                Some((&first, rest)) if first == slots as i64 && o.data.len() % slots == 0 => {
                    Ok(std::iter::once(1).chain(rest.iter().copied()).collect())
                }
                _ => Err(DetectorError::Decode(format!(
                    "output `{}` has shape {:?}, which does not split into a batch of {slots}",
                    o.name, o.shape
                ))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(name: &str, shape: &[i64], len: usize) -> OutputBuffer {
        OutputBuffer {
            name: name.into(),
            shape: shape.to_vec(),
            data: vec![0.0; len],
        }
    }

    #[test]
    fn outputs_split_along_the_batch_or_say_why_not() {
        let ok = [out("output", &[4, 3549, 85], 4 * 3549 * 85)];
        assert_eq!(
            split_shapes(&ok, 4).expect("splits"),
            vec![vec![1, 3549, 85]]
        );
        // One slot: shapes as they are, whatever they look like.
        let count = [out("count", &[1], 1)];
        assert_eq!(split_shapes(&count, 1).expect("one"), vec![vec![1]]);
        let err = split_shapes(&count, 4).expect_err("a count is not per frame");
        assert_eq!(
            err.to_string(),
            "postprocess: output `count` has shape [1], which does not split into a batch of 4"
        );
        let short = [out("output", &[4, 10], 39)];
        assert!(split_shapes(&short, 4).is_err());
    }
}
