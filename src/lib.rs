//! edgesight: a real-time video analytics appliance.
//!
//! Frames flow through the modules in this order:
//!
//! ```text
//! ingest/      GStreamer per camera: source → decode → RGB → appsink; a supervisor per camera
//!   frame.rs   the latest-frame slot per camera (one frame; newer replaces older, counted)
//! batch/       the scheduler: which camera's newest frame is due next (round robin, detect fps)
//! preprocess/  frame → model input tensor (resize, channel order, normalise, layout)
//! infer/       Backend trait; ONNX Runtime on the CPU
//! postprocess/ model-family decoders (SSD, YOLOX) + NMS → detections in source pixels
//!   detector.rs  preprocess → infer → postprocess for one image
//!   analysis.rs  the analysis thread that runs the detector on due frames
//! track/       per-camera multi-object tracker (Kalman + two-stage IoU assignment) → stable ids
//! rules/       per-camera zones, lines, anti-flicker, dwell, counters → event changes
//! event.rs     the event contract (new/update/end JSON for console, webhooks, MQTT)
//! store/       events → SQLite (WAL, one writer thread) + JPEG snapshots; retention; queries
//! cameras.rs   per-camera health, counters and latest result, shared with the API
//! http/        warp: JSON API and the console from web/
//! app.rs       starts and stops everything in order
//! ```
//!
//! `config/` turns TOML into a validated [`config::Config`]; `serve_rtsp.rs` is the RTSP replay
//! server used for the demo camera and tests.

pub mod analysis;
pub mod app;
pub mod batch;
pub mod cameras;
pub mod config;
pub mod detector;
pub mod event;
pub mod frame;
pub mod http;
pub mod infer;
pub mod ingest;
pub mod metrics;
pub mod postprocess;
pub mod preprocess;
pub mod rules;
pub mod serve_rtsp;
pub mod store;
pub mod track;
