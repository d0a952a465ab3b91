//! Batched inference on the CPU gives what frame-by-frame inference gives.
//!
//! - YOLOX-nano re-exported with a dynamic batch dimension (`scripts/models/yolox_dynamic_batch.py`,
//!   run by `make setup` into `.deps/models/` from `../shared/models/yolox_nano.onnx`): a batch
//!   of 4 different frames (3 RGB stills, one BGRA) against each frame alone. Raw outputs within
//!   1e-4 (relative to max(1, |v|)); detections with the same labels, scores within 1e-4 (plus
//!   the output's 0.001 rounding step), boxes within 0.5 px. Skips, saying so, when the shared
//!   model is not on this machine; fails when it is but `make setup` has not re-exported it.
//! - The bundled SSD has a fixed batch of 1: the same API runs it frame by frame.

mod common;

use std::path::PathBuf;

use edgesight::config::{BackendKind, ModelConfig, ModelFamily};
use edgesight::detector::Detector;
use edgesight::infer::onnx::OnnxBackend;
use edgesight::infer::{Backend, InputData};
use edgesight::postprocess::LabeledDetection;
use edgesight::preprocess::{
    ChannelOrder, ElementType, FrameView, InputSpec, Layout, PixelFormat, Resize, TensorSlot,
    preprocess_batch,
};

/// The test frames: (format, width, height, bytes).
fn frames() -> Vec<(PixelFormat, u32, u32, Vec<u8>)> {
    let mut out = Vec::new();
    for name in ["astronaut.png", "chelsea.png", "coffee.png"] {
        let img = image::open(common::data(name))
            .expect("test image")
            .to_rgb8();
        out.push((PixelFormat::Rgb, img.width(), img.height(), img.into_raw()));
    }
    // A fourth, different picture in another format: the coffee still mirrored, as BGRA.
    let img = image::open(common::data("coffee.png"))
        .expect("coffee")
        .to_rgb8();
    let (w, h) = (img.width(), img.height());
    let mut bgra = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in (0..w).rev() {
            let p = img.get_pixel(x, y).0;
            bgra.extend_from_slice(&[p[2], p[1], p[0], 255]);
        }
    }
    out.push((PixelFormat::Bgra, w, h, bgra));
    out
}

fn views(frames: &[(PixelFormat, u32, u32, Vec<u8>)]) -> Vec<FrameView<'_>> {
    frames
        .iter()
        .map(|(f, w, h, d)| FrameView::packed(*f, d, *w, *h, *w as usize * f.packed_bytes()))
        .collect()
}

/// The dynamic-batch YOLOX, or `None` (after saying why) when the shared model is absent.
fn dynamic_yolox() -> Option<PathBuf> {
    let shared = common::repo().join("../shared/models/yolox_nano.onnx");
    if !shared.is_file() {
        eprintln!(
            "skipped: YOLOX-nano is not at {} (development machines only; see ../shared/models/README.md)",
            shared.display()
        );
        return None;
    }
    let path = common::repo().join(".deps/models/yolox_nano_dynamic.onnx");
    assert!(
        path.is_file(),
        "{} is missing: run `make setup` (it re-exports {} with a dynamic batch)",
        path.display(),
        shared.display()
    );
    Some(path)
}

fn model(path: PathBuf, family: ModelFamily, labels: PathBuf) -> ModelConfig {
    ModelConfig {
        path,
        family,
        labels,
        input_size: None,
        score_threshold: 0.3,
        nms_iou: 0.45,
        max_detections: 50,
        only_labels: Vec::new(),
        sha256: None,
        threads: 2,
        workers: 1,
        backends: vec![BackendKind::Cpu],
        max_batch: 8,
        max_wait: std::time::Duration::from_millis(10),
    }
}

fn assert_same(single: &[LabeledDetection], batch: &[LabeledDetection], what: &str) {
    assert_eq!(single.len(), batch.len(), "{what}: {single:?} vs {batch:?}");
    for s in single {
        let found = batch.iter().any(|b| {
            b.label == s.label
                && (b.score - s.score).abs() <= 1e-4 + 0.001
                && [
                    (b.bbox.x1, s.bbox.x1),
                    (b.bbox.y1, s.bbox.y1),
                    (b.bbox.x2, s.bbox.x2),
                    (b.bbox.y2, s.bbox.y2),
                ]
                .iter()
                .all(|(p, q)| (p - q).abs() <= 0.5)
        });
        assert!(found, "{what}: {s:?} has no match in the batch's {batch:?}");
    }
}

#[test]
fn yolox_batch_of_four_equals_frame_by_frame() {
    common::require_onnxruntime();
    let Some(path) = dynamic_yolox() else { return };
    let labels = common::repo().join("../shared/models/coco_classes.txt");
    let cfg = model(path.clone(), ModelFamily::Yolox, labels);
    let data = frames();
    let frames = views(&data);

    // Raw outputs: one inference of [4, 3, 416, 416] against four of [1, 3, 416, 416].
    let bytes = std::fs::read(&path).expect("model");
    let mut backend = OnnxBackend::load(&common::repo(), &path, &bytes, 2).expect("load");
    assert_eq!(
        backend.input().shape[0],
        -1,
        "the batch dimension is dynamic"
    );
    let spec = InputSpec {
        width: 416,
        height: 416,
        layout: Layout::Nchw,
        order: ChannelOrder::Bgr,
        dtype: ElementType::F32,
        resize: Resize::Letterbox {
            pad: 114,
            center: false,
        },
        mean: [0.0; 3],
        std: [1.0; 3],
    };
    let n = spec.elements();
    let mut tensor = vec![0f32; 4 * n];
    preprocess_batch(&frames, &spec, TensorSlot::F32(&mut tensor), 2).expect("preprocess");
    let batch = backend
        .run(InputData::F32(&tensor), &[4, 3, 416, 416])
        .expect("batch of 4")[0]
        .clone();
    assert_eq!(batch.shape, [4, 3549, 85]);
    let per = batch.data.len() / 4;
    let mut worst = 0f32;
    for (i, slot) in tensor.chunks_exact(n).enumerate() {
        let single = &backend
            .run(InputData::F32(slot), &[1, 3, 416, 416])
            .expect("one")[0];
        assert_eq!(single.shape, [1, 3549, 85]);
        for (j, (a, b)) in batch.data[i * per..(i + 1) * per]
            .iter()
            .zip(&single.data)
            .enumerate()
        {
            let d = (a - b).abs();
            worst = worst.max(d);
            assert!(
                d <= 1e-4 * b.abs().max(1.0),
                "frame {i} value {j}: {a} vs {b}"
            );
        }
    }
    eprintln!("largest raw difference, batch of 4 vs one by one: {worst:e}");

    // Detections through the detector.
    let mut detector = Detector::load(&cfg, &common::repo()).expect("detector");
    assert_eq!(detector.max_batch(), edgesight::detector::MAX_DYNAMIC_BATCH);
    let (batched, _) = detector.detect_batch(&frames).expect("batch");
    assert_eq!(batched.len(), 4);
    let mut total = 0;
    for (i, f) in frames.iter().enumerate() {
        let (single, _) = detector.detect(*f).expect("single");
        assert_same(&single, &batched[i], &format!("frame {i}"));
        total += single.len();
    }
    assert!(
        total >= 4,
        "the stills show a person, a cat and cups: {batched:?}"
    );
    let has = |i: usize, label: &str| batched[i].iter().any(|d| d.label == label);
    assert!(has(0, "person") && has(1, "cat") && has(2, "cup") && has(3, "cup"));
}

#[test]
fn fixed_batch_ssd_runs_a_batch_frame_by_frame() {
    common::require_onnxruntime();
    let repo = common::repo();
    let cfg = model(
        repo.join("models/ssd_mobilenet_v2_coco_quant_qdq.onnx"),
        ModelFamily::Ssd,
        repo.join("models/coco_labels.txt"),
    );
    let data = frames();
    let frames = views(&data);
    let mut detector = Detector::load(&cfg, &repo).expect("detector");
    assert_eq!(detector.max_batch(), 1);
    let (batched, _) = detector.detect_batch(&frames).expect("batch");
    assert_eq!(batched.len(), frames.len());
    for (i, f) in frames.iter().enumerate() {
        let (single, _) = detector.detect(*f).expect("single");
        assert_eq!(
            single, batched[i],
            "frame {i}: identical, one inference each"
        );
    }
    assert!(
        batched[0].iter().any(|d| d.label == "person"),
        "{batched:?}"
    );
}
