//! The TensorRT backend (feature `tensorrt`): without libnvinfer it refuses to load and says
//! why (tested on every machine); with a GPU and TensorRT, YOLOX-nano through GPU preprocessing
//! → TensorRT, with nothing on the host in between, matches ONNX Runtime on the CPU, and a
//! second start takes the engine from the cache (skipped, printing why, elsewhere).
//! Built without the feature, the backend still exists and says it was built without it.

mod common;

use std::path::PathBuf;

use edgesight::infer::InferError;
use edgesight::infer::tensorrt::{TensorRtBackend, TensorRtOptions};

fn ssd() -> (PathBuf, Vec<u8>) {
    let path = common::repo().join("models/ssd_mobilenet_v2_coco_quant_qdq.onnx");
    let bytes = std::fs::read(&path).expect("bundled model");
    (path, bytes)
}

#[cfg(not(feature = "tensorrt"))]
#[test]
fn built_without_the_feature_the_backend_says_so() {
    let (path, bytes) = ssd();
    match TensorRtBackend::load(&path, &bytes, "0", &TensorRtOptions::default()) {
        Err(InferError::Unavailable { backend, reason }) => {
            assert_eq!(backend, "tensorrt");
            assert!(
                reason.contains("built without feature `tensorrt`"),
                "{reason}"
            );
        }
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("a backend built without TensorRT loaded"),
    }
}

#[cfg(feature = "tensorrt")]
#[test]
fn without_libnvinfer_the_backend_says_why() {
    let (path, bytes) = ssd();
    let dir = tempfile::tempdir().expect("temp dir");
    let (headers, strongly_typed) = edgesight::infer::tensorrt::built_with().expect("feature on");
    eprintln!("shim built with TensorRT {headers} headers (strongly typed: {strongly_typed})");

    // A library that is not there: the error names it and what dlopen said.
    let missing = dir.path().join("libnvinfer.so.missing");
    let opts = TensorRtOptions {
        library: Some(missing.clone()),
        cache_dir: dir.path().to_path_buf(),
        ..TensorRtOptions::default()
    };
    match TensorRtBackend::load(&path, &bytes, "0", &opts) {
        Err(InferError::Unavailable { backend, reason }) => {
            assert_eq!(backend, "tensorrt");
            assert!(reason.starts_with("cannot load TensorRT ("), "{reason}");
            assert!(reason.contains(&missing.display().to_string()), "{reason}");
            let message = InferError::Unavailable { backend, reason }.to_string();
            assert!(
                message.starts_with("tensorrt unavailable: cannot load TensorRT"),
                "{message}"
            );
        }
        Err(e) => panic!("expected Unavailable, got {e}"),
        Ok(_) => panic!("loaded a library that does not exist"),
    }

    // The usual names: on a machine without TensorRT, the error names the library looked for.
    let major = headers.split('.').next().expect("major");
    let opts = TensorRtOptions {
        cache_dir: dir.path().to_path_buf(),
        ..TensorRtOptions::default()
    };
    match TensorRtBackend::load(&path, &bytes, "0", &opts) {
        Err(InferError::Unavailable { reason, .. })
            if reason.starts_with("cannot load TensorRT") =>
        {
            assert!(
                reason.contains(&format!("libnvinfer.so.{major}")),
                "{reason}"
            );
            eprintln!("as expected without TensorRT: {reason}");
        }
        Err(InferError::Unavailable { reason, .. }) => {
            eprintln!("TensorRT loaded, but no usable GPU or version: {reason}");
        }
        Err(e) => eprintln!("TensorRT present; loading the SSD failed: {e}"),
        Ok(b) => eprintln!("TensorRT present: engine {:?}", b.key),
    }
}

#[cfg(feature = "tensorrt")]
#[test]
fn yolox_through_gpu_preprocessing_and_tensorrt_matches_onnxruntime_gpu() {
    use std::sync::Arc;

    use edgesight::gpu::kernels::KernelCache;
    use edgesight::gpu::preprocess::{DeviceFrame, GpuPreprocessor};
    use edgesight::gpu::{Gpu, GpuError};
    use edgesight::infer::Backend;
    use edgesight::infer::InputData;
    use edgesight::infer::onnx::OnnxBackend;
    use edgesight::preprocess::{
        ChannelOrder, ElementType, FrameView, InputSpec, Layout, PixelFormat, Resize, TensorSlot,
        preprocess_batch,
    };
    use sha2::{Digest, Sha256};

    let gpu = match Gpu::open(0) {
        Ok(g) => Arc::new(g),
        Err(GpuError::Unavailable(reason)) => {
            eprintln!("skipped: no CUDA device ({reason})");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let model = common::repo().join(".deps/models/yolox_nano_dynamic.onnx");
    if !model.is_file() {
        eprintln!(
            "skipped: {} missing (needs ../shared/models and `make setup`)",
            model.display()
        );
        return;
    }
    let bytes = std::fs::read(&model).expect("model");
    let sha = format!("{:x}", Sha256::digest(&bytes));
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = TensorRtOptions {
        max_batch: 4,
        cache_dir: dir.path().join("engines"),
        ..TensorRtOptions::default()
    };
    let mut trt = match TensorRtBackend::load_on(gpu.clone(), &model, &bytes, &sha, &opts) {
        Ok(t) => t,
        Err(InferError::Unavailable { reason, .. }) => {
            eprintln!("skipped: TensorRT unavailable ({reason})");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert!(!trt.from_cache);

    // Four frames (the three stills, one twice), preprocessed on the GPU straight into the
    // engine's input binding.
    let stills: Vec<_> = [
        "astronaut.png",
        "chelsea.png",
        "coffee.png",
        "astronaut.png",
    ]
    .iter()
    .map(|n| image::open(common::data(n)).expect("still").to_rgb8())
    .collect();
    let views: Vec<FrameView<'_>> = stills
        .iter()
        .map(|i| {
            FrameView::packed(
                PixelFormat::Rgb,
                i.as_raw(),
                i.width(),
                i.height(),
                i.width() as usize * 3,
            )
        })
        .collect();
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
    let device: Vec<DeviceFrame> = views
        .iter()
        .map(|v| DeviceFrame::upload(&gpu, v).expect("upload"))
        .collect();
    let refs: Vec<&DeviceFrame> = device.iter().collect();
    let mut pre =
        GpuPreprocessor::new(&gpu, &KernelCache::new(dir.path().join("kernels"))).expect("kernel");
    pre.run(&gpu, &refs, &spec, trt.input_tensor())
        .expect("preprocess into the binding");
    let got = trt.infer_device(4).expect("infer")[0].clone();
    assert_eq!(got.shape, [4, 3549, 85]);

    let mut cpu = vec![0f32; 4 * spec.elements()];
    preprocess_batch(&views, &spec, TensorSlot::F32(&mut cpu), 2).expect("cpu preprocess");
    let mut ort = OnnxBackend::load(&common::repo(), &model, &bytes, 2).expect("onnxruntime");
    let want = ort
        .run(InputData::F32(&cpu), &[4, 3, 416, 416])
        .expect("ort")[0]
        .clone();
    // Tolerance (TensorRT may run FP16/TF32): probabilities within 0.03, box terms within 0.1 +
    // 2% of their value.
    let mut worst = 0f32;
    for (i, (g, w)) in got.data.iter().zip(&want.data).enumerate() {
        let tol = if i % 85 < 4 {
            0.1 + 0.02 * w.abs()
        } else {
            0.03
        };
        worst = worst.max((g - w).abs());
        assert!(
            (g - w).abs() <= tol,
            "element {i} (column {}): TensorRT {g}, ONNX Runtime {w}",
            i % 85
        );
    }
    eprintln!(
        "TensorRT {:?} = ONNX Runtime within tolerance; largest difference {worst}",
        trt.key
    );

    drop(trt);
    let again = TensorRtBackend::load_on(gpu, &model, &bytes, &sha, &opts).expect("second start");
    assert!(
        again.from_cache,
        "the second start deserializes the cached engine"
    );
}
