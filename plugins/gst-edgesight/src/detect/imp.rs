//! The `edgesightdetect` implementation: a passthrough [`VideoFilter`] over
//! [`edgesight::detector::Detector`]. See the parent module for the contract.

use std::path::Path;
use std::sync::{LazyLock, Mutex, MutexGuard};

use edgesight::config::{Config, find_home};
use edgesight::detector::{Detector, DetectorError};
use edgesight::infer::InferError;
use edgesight::preprocess::RgbView;
use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer::subclass::prelude::*;
use gstreamer_base as gst_base;
use gstreamer_base::subclass::prelude::*;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;
use gstreamer_video::subclass::prelude::*;

use super::MESSAGE_NAME;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "edgesightdetect",
        gst::DebugColorFlags::empty(),
        Some("edgesight object detection"),
    )
});

const DEFAULT_CONFIG: &str = "";
const DEFAULT_INTERVAL: u32 = 1;

/// Properties, as set by the application.
#[derive(Clone, Debug)]
struct Settings {
    /// Path of an edgesight TOML config; empty: the embedded demo config.
    config: String,
    /// Analyse every Nth buffer.
    interval: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            config: DEFAULT_CONFIG.to_string(),
            interval: DEFAULT_INTERVAL,
        }
    }
}

/// What exists between `start` and `stop`.
struct State {
    detector: Detector,
    interval: u32,
    /// Buffers seen since `start`.
    frames: u64,
}

#[derive(Default)]
pub struct EdgesightDetect {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

/// Locks `m`, carrying on after a panic elsewhere (the guarded data stays consistent: every
/// update is a single assignment).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The GStreamer error for a detector that could not be loaded.
fn load_error(e: &DetectorError) -> gst::ErrorMessage {
    let text = e.to_string();
    match e {
        DetectorError::ModelMissing { .. } => {
            gst::error_msg!(gst::ResourceError::NotFound, ("{}", text))
        }
        DetectorError::ModelRead { .. } | DetectorError::HashMismatch { .. } => {
            gst::error_msg!(gst::ResourceError::OpenRead, ("{}", text))
        }
        DetectorError::Infer(
            InferError::RuntimeMissing { .. } | InferError::RuntimeLoad { .. },
        ) => {
            gst::error_msg!(gst::LibraryError::Init, ("{}", text))
        }
        _ => gst::error_msg!(gst::LibraryError::Settings, ("{}", text)),
    }
}

#[glib::object_subclass]
impl ObjectSubclass for EdgesightDetect {
    const NAME: &'static str = "EdgesightDetect";
    type Type = super::EdgesightDetect;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for EdgesightDetect {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("config")
                    .nick("Config")
                    .blurb(
                        "Path of an edgesight TOML config whose [model] is used; \
                         empty: the bundled demo model (read at start)",
                    )
                    .default_value(Some(DEFAULT_CONFIG))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("interval")
                    .nick("Interval")
                    .blurb("Analyse every Nth buffer (read at start)")
                    .minimum(1)
                    .default_value(DEFAULT_INTERVAL)
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = lock(&self.settings);
        match pspec.name() {
            "config" => {
                let config = value
                    .get::<Option<String>>()
                    .expect("type checked upstream")
                    .unwrap_or_default();
                gst::info!(
                    CAT,
                    imp = self,
                    "config: {:?} -> {:?}",
                    settings.config,
                    config
                );
                settings.config = config;
            }
            "interval" => {
                let interval = value.get::<u32>().expect("type checked upstream");
                gst::info!(
                    CAT,
                    imp = self,
                    "interval: {} -> {}",
                    settings.interval,
                    interval
                );
                settings.interval = interval;
            }
            name => unreachable!("property {name} is not registered"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = lock(&self.settings);
        match pspec.name() {
            "config" => settings.config.to_value(),
            "interval" => settings.interval.to_value(),
            name => unreachable!("property {name} is not registered"),
        }
    }
}

impl GstObjectImpl for EdgesightDetect {}

impl ElementImpl for EdgesightDetect {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Edgesight object detector",
                "Filter/Analyzer/Video",
                "Detects objects with the edgesight detector and posts them as element messages",
                "edgesight",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static PAD_TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst_video::VideoCapsBuilder::new()
                .format(gst_video::VideoFormat::Rgb)
                .build();
            let src = gst::PadTemplate::new(
                "src",
                gst::PadDirection::Src,
                gst::PadPresence::Always,
                &caps,
            )
            .expect("valid src pad template");
            let sink = gst::PadTemplate::new(
                "sink",
                gst::PadDirection::Sink,
                gst::PadPresence::Always,
                &caps,
            )
            .expect("valid sink pad template");
            vec![src, sink]
        });
        PAD_TEMPLATES.as_ref()
    }
}

impl BaseTransformImpl for EdgesightDetect {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = lock(&self.settings).clone();
        let home = find_home();
        let config = if settings.config.is_empty() {
            Config::demo(&home)
        } else {
            Config::load(Path::new(&settings.config))
        }
        .map_err(|e| gst::error_msg!(gst::LibraryError::Settings, ("{}", e)))?;
        gst::debug!(
            CAT,
            imp = self,
            "loading {} (from {}, home {})",
            config.model.path.display(),
            config.source,
            home.display()
        );
        let detector = Detector::load(&config.model, &home).map_err(|e| load_error(&e))?;
        let info = detector.info();
        gst::info!(
            CAT,
            imp = self,
            "loaded {} ({}, {}x{}, {})",
            info.path,
            info.family.as_str(),
            info.input_width,
            info.input_height,
            info.backend
        );
        *lock(&self.state) = Some(State {
            detector,
            interval: settings.interval.max(1),
            frames: 0,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        lock(&self.state).take();
        gst::debug!(CAT, imp = self, "stopped");
        Ok(())
    }
}

impl VideoFilterImpl for EdgesightDetect {
    fn transform_frame_ip_passthrough(
        &self,
        frame: &gst_video::VideoFrameRef<&gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = lock(&self.state);
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let index = state.frames;
        state.frames += 1;
        if index % u64::from(state.interval) != 0 {
            return Ok(gst::FlowSuccess::Ok);
        }
        let data = frame.plane_data(0).map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Failed, ("cannot map frame: {}", e));
            gst::FlowError::Error
        })?;
        let stride = usize::try_from(frame.plane_stride()[0]).map_err(|_| {
            gst::element_imp_error!(self, gst::StreamError::Format, ("negative stride"));
            gst::FlowError::NotNegotiated
        })?;
        let view = RgbView {
            data,
            width: frame.width(),
            height: frame.height(),
            stride,
        };
        let (detections, timings) = state.detector.detect(view).map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Failed, ("{}", e));
            gst::FlowError::Error
        })?;
        drop(guard);

        let json = serde_json::to_string(&detections).map_err(|e| {
            gst::element_imp_error!(self, gst::LibraryError::Failed, ("json: {}", e));
            gst::FlowError::Error
        })?;
        let count = u32::try_from(detections.len()).unwrap_or(u32::MAX);
        gst::log!(
            CAT,
            imp = self,
            "frame {}: {} detections (preprocess {} ms, infer {} ms, postprocess {} ms)",
            index,
            count,
            timings.preprocess_ms,
            timings.infer_ms,
            timings.postprocess_ms
        );
        let s = gst::Structure::builder(MESSAGE_NAME)
            .field("frame", index)
            .field("pts", frame.buffer().pts())
            .field("count", count)
            .field("json", json)
            .build();
        let obj = self.obj();
        // Posting fails only when the element has no bus (not in a pipeline); nothing to report then.
        let _ = obj.post_message(gst::message::Element::builder(s).src(&*obj).build());
        Ok(gst::FlowSuccess::Ok)
    }
}
