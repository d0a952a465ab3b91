//! edgesight: a real-time video analytics appliance.
//!
//! Frames flow through the modules in this order:
//!
//! ```text
//! ingest/      GStreamer per camera: source → decode → RGB → appsink; a supervisor per camera
//!   frame.rs   the latest-frame slot per camera (one frame; newer replaces older, counted)
//! batch/       the scheduler: which camera's newest frame is due next (round robin, detect fps)
//! preprocess/  frames (NV12, I420, RGB/BGR/RGBA/BGRA) → batch tensor (resize, channel order,
//!              normalise, layout, u8/f16/f32) on the CPU: the reference
//!   gpu/       the same on a CUDA device (kernels from cuda/, NVRTC, on-disk kernel cache)
//! infer/       Backend trait; ONNX Runtime on the CPU; TensorRT (feature `tensorrt`)
//! postprocess/ model-family decoders (SSD, YOLOX) + NMS → detections in source pixels
//!   detector.rs  preprocess → infer → postprocess for one image or a batch
//!   analysis/    the analysis thread (schedule, track, rules, publish) and its detection workers
//!   latency.rs   per-stage times of each analysed frame, summarised per camera
//! track/       per-camera multi-object tracker (Kalman + two-stage IoU assignment) → stable ids
//! rules/       per-camera zones, lines, anti-flicker, dwell, counters → event changes
//! event.rs     the event contract (new/update/end JSON for console, webhooks, MQTT)
//! events/      per camera: tracker → rules (camera.rs); the bus to store, console, stdout
//! store/       events → SQLite (WAL, one writer thread) + JPEG snapshots; retention; queries
//! sinks/       the outbox (written with each change) → webhooks (Standard Webhooks) and MQTT
//! cameras.rs   per-camera health, counters and latest result; the camera set, shared with the API
//! control.rs   run-time camera changes: validate → write the config file → start/stop that camera
//! http/        warp: JSON API, /metrics (metrics.rs) and the console from web/
//! app.rs       starts and stops everything in order
//! ```
//!
//! `config/` turns TOML into a validated [`config::Config`]; `serve_rtsp.rs` is the RTSP replay
//! server used for the demo camera and tests; `replay.rs` runs the whole pipeline on a file,
//! deterministically, for `edgesight replay`.

pub mod analysis;
pub mod app;
pub mod batch;
pub mod cameras;
pub mod config;
pub mod control;
pub mod detector;
pub mod event;
pub mod events;
pub mod frame;
pub mod gpu;
pub mod http;
pub mod infer;
pub mod ingest;
pub mod jpeg;
pub mod latency;
pub mod metrics;
pub mod postprocess;
pub mod preprocess;
pub mod replay;
pub mod rules;
pub mod serve_rtsp;
pub mod sinks;
pub mod store;
pub mod track;
