//! Builds one camera's GStreamer pipeline: source → decoder → scale → RGB → appsink.
//!
//! - `rtsp://`, `file://`, `http(s)://` (MJPEG, HLS): `uridecodebin`; rtspsrc gets 200 ms of
//!   latency, the camera's transport and credentials in `source-setup`.
//! - `v4l2:///dev/videoN`: `v4l2src ! decodebin`.
//! - `test://PATTERN?width=&height=&fps=`: a live `videotestsrc`.
//!
//! Decoders are chosen by [`decoder::choose`](super::decoder::choose) in `autoplug-select`;
//! audio is never decoded. Frames are scaled to the camera's detect size in GStreamer
//! (`nvvidconv` where the decoder outputs device memory, else `videoscale`), so only the pixels
//! analysis needs reach our code, in I420 or NV12 (`videoconvert` passes the decoders' own I420
//! through; the preprocessing reads YUV directly). The appsink keeps one buffer and drops
//! older ones (`max-buffers=1`, `drop=true`); its callback maps the buffer without copying and
//! hands it to `on_frame`, which must not block.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use super::decoder::{self, Codec, Registry};
use crate::config::CameraConfig;
use crate::frame::{Frame, FramePixels, unix_ms};
use crate::preprocess::{Colorimetry, PixelFormat, PlaneLayout, YuvMatrix, YuvRange};

/// Latency of rtspsrc's jitter buffer, in milliseconds (rtspsrc's own default is 2000).
pub const RTSP_LATENCY_MS: u32 = 200;

/// A pipeline could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("GStreamer element `{0}` is missing; install the GStreamer plugins (make setup)")]
    MissingElement(&'static str),
    #[error("cannot link {0}")]
    Link(String),
    #[error("test source: {0}")]
    TestSource(String),
}

/// How frames are taken from the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// A live appliance: the appsink keeps the newest frame and drops older ones; files play
    /// at real-time pace.
    Live,
    /// A replay: every frame, as fast as analysis takes them (`on_frame` may block, which holds
    /// the pipeline back), no clock.
    EveryFrame,
}

/// What the pipeline reports besides frames.
pub struct Hooks {
    /// Every decoded frame, on the streaming thread; must not block.
    pub on_frame: Box<dyn Fn(Frame) + Send + Sync>,
    /// The decoder chosen for the stream (`h264 → avdec_h264`), or why none could be.
    pub on_decoder: Box<dyn Fn(Result<String, String>) + Send + Sync>,
}

fn make(factory: &'static str) -> Result<gst::Element, BuildError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| BuildError::MissingElement(factory))
}

/// Builds (but does not start) the pipeline for `camera`.
pub fn build(
    camera: &CameraConfig,
    registry: &dyn Registry,
    hooks: Hooks,
    pacing: Pacing,
) -> Result<gst::Pipeline, BuildError> {
    let pipeline = gst::Pipeline::with_name(&format!("cam-{}", camera.name));
    let link_err = |e: glib::BoolError| BuildError::Link(e.to_string());
    // Jetson decoders output device memory: nvvidconv scales and copies it out.
    let scaler = if registry.has("nvv4l2decoder") && registry.has("nvvidconv") {
        make("nvvidconv")?
    } else {
        make("videoscale")?
    };
    let mut size = gst::Caps::builder("video/x-raw");
    if let Some(w) = camera.detect_size.0 {
        size = size.field("width", w as i32);
    }
    if let Some(h) = camera.detect_size.1 {
        size = size.field("height", h as i32);
    }
    let sized = gst::ElementFactory::make("capsfilter")
        .property("caps", size.build())
        .build()
        .map_err(|_| BuildError::MissingElement("capsfilter"))?;
    let convert = make("videoconvert")?;
    let sink = gst_app::AppSink::builder()
        .name("sink")
        .caps(
            // The decoders' own formats: no whole-frame colour conversion in GStreamer (the
            // preprocessing reads YUV directly; DESIGN.md, decode cost).
            &gst_video::VideoCapsBuilder::new()
                .format_list([gst_video::VideoFormat::I420, gst_video::VideoFormat::Nv12])
                .build(),
        )
        .max_buffers(1)
        .drop(pacing == Pacing::Live)
        // Live: files are paced to real time by the sink; live sources are taken as they come.
        .sync(pacing == Pacing::Live && camera.source.scheme() == "file")
        .build();
    pipeline
        .add_many([&scaler, &sized, &convert, sink.upcast_ref()])
        .map_err(link_err)?;
    gst::Element::link_many([&scaler, &sized, &convert, sink.upcast_ref()]).map_err(link_err)?;

    // The stream's size before scaling, for mapping boxes back: (width << 32) | height.
    let source_size = Arc::new(AtomicU64::new(0));
    if let Some(pad) = scaler.static_pad("sink") {
        let source_size = source_size.clone();
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(event)) = &info.data
                && let gst::EventView::Caps(caps) = event.view()
                && let Some(s) = caps.caps().structure(0)
                && let (Ok(w), Ok(h)) = (s.get::<i32>("width"), s.get::<i32>("height"))
            {
                source_size.store(((w as u64) << 32) | h as u64, Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        });
    }

    let on_decoder: Arc<dyn Fn(Result<String, String>) + Send + Sync> = Arc::from(hooks.on_decoder);
    match camera.source.scheme() {
        "test" => add_test_source(&pipeline, camera, &scaler)?,
        "v4l2" => add_v4l2_source(&pipeline, camera, &scaler, on_decoder)?,
        _ => add_uri_source(&pipeline, camera, &scaler, on_decoder)?,
    }

    let on_frame = hooks.on_frame;
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(frame) = sample_to_frame(&sample, source_size.load(Ordering::Relaxed)) {
                    on_frame(frame);
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    Ok(pipeline)
}

fn buffer_pts_ms(buffer: &gst::BufferRef) -> Option<u64> {
    buffer.pts().map(|t| t.mseconds())
}

fn sample_to_frame(sample: &gst::Sample, source_size: u64) -> Option<Frame> {
    let info = gst_video::VideoInfo::from_caps(sample.caps()?).ok()?;
    let buffer = sample.buffer_owned()?;
    let pts_ms = buffer_pts_ms(&buffer);
    let format = match info.format() {
        gst_video::VideoFormat::I420 => PixelFormat::I420,
        gst_video::VideoFormat::Nv12 => PixelFormat::Nv12,
        _ => return None,
    };
    // A decoder that pads its planes says where they are in a video meta.
    let (offsets, strides): (Vec<usize>, Vec<i32>) = match buffer.meta::<gst_video::VideoMeta>() {
        Some(meta) => (meta.offset().to_vec(), meta.stride().to_vec()),
        None => (info.offset().to_vec(), info.stride().to_vec()),
    };
    let mut planes = [PlaneLayout::default(); 3];
    for (p, layout) in planes.iter_mut().enumerate().take(format.planes()) {
        *layout = PlaneLayout {
            offset: *offsets.get(p)?,
            stride: usize::try_from(*strides.get(p)?).ok()?,
        };
    }
    let c = info.colorimetry();
    let colorimetry = Colorimetry {
        matrix: if c.matrix() == gst_video::VideoColorMatrix::Bt709 {
            YuvMatrix::Bt709
        } else {
            YuvMatrix::Bt601
        },
        range: if c.range() == gst_video::VideoColorRange::Range0_255 {
            YuvRange::Full
        } else {
            YuvRange::Limited
        },
    };
    let mapped = buffer.into_mapped_buffer_readable().ok()?;
    let (sw, sh) = match ((source_size >> 32) as u32, source_size as u32) {
        (0, _) | (_, 0) => (info.width(), info.height()),
        size => size,
    };
    Some(Frame {
        width: info.width(),
        height: info.height(),
        source_width: sw,
        source_height: sh,
        format,
        planes,
        colorimetry,
        pixels: FramePixels::Gst(mapped),
        received_at: Instant::now(),
        timestamp_ms: unix_ms(),
        pts_ms,
        seq: 0,
    })
}

/// Links a decodebin's video pads to `next`, and lets [`decoder::choose`] pick its decoders.
fn wire_decodebin(
    decode: &gst::Element,
    next: &gst::Element,
    wanted: Option<String>,
    on_decoder: Arc<dyn Fn(Result<String, String>) + Send + Sync>,
) {
    decode.connect("autoplug-select", false, move |values| {
        let caps = values.get(2)?.get::<gst::Caps>().ok()?;
        let factory = values.get(3)?.get::<gst::ElementFactory>().ok()?;
        let klass = factory.metadata(gst::ELEMENT_METADATA_KLASS).unwrap_or("");
        let verdict = if !klass.contains("Decoder") {
            AUTOPLUG_TRY
        } else if klass.contains("Audio") {
            AUTOPLUG_SKIP
        } else {
            let codec = caps
                .structure(0)
                .and_then(|s| Codec::from_caps_name(s.name()));
            match codec.map(|c| {
                (
                    c,
                    decoder::choose(c, &decoder::GstRegistry, wanted.as_deref()),
                )
            }) {
                Some((codec, Ok(chosen))) if chosen == factory.name() => {
                    on_decoder(Ok(format!("{} → {chosen}", codec.as_str())));
                    AUTOPLUG_TRY
                }
                Some((_, Ok(_))) => AUTOPLUG_SKIP,
                Some((_, Err(why))) => {
                    on_decoder(Err(why));
                    AUTOPLUG_SKIP
                }
                None => AUTOPLUG_TRY,
            }
        };
        autoplug_value(verdict)
    });
    let next = next.downgrade();
    decode.connect_pad_added(move |_, pad| {
        let Some(next) = next.upgrade() else { return };
        let is_video = pad
            .current_caps()
            .unwrap_or_else(|| pad.query_caps(None))
            .structure(0)
            .is_some_and(|s| s.name().starts_with("video/"));
        if let Some(sinkpad) = next.static_pad("sink")
            && is_video
            && !sinkpad.is_linked()
            && let Err(e) = pad.link(&sinkpad)
        {
            tracing::warn!("cannot link decoded video: {e:?}");
        }
    });
}

/// `GstAutoplugSelectResult` values.
const AUTOPLUG_TRY: i32 = 0;
const AUTOPLUG_SKIP: i32 = 2;

fn autoplug_value(v: i32) -> Option<glib::Value> {
    let class = glib::EnumClass::with_type(glib::Type::from_name("GstAutoplugSelectResult")?)?;
    class.to_value(v)
}

fn add_uri_source(
    pipeline: &gst::Pipeline,
    camera: &CameraConfig,
    next: &gst::Element,
    on_decoder: Arc<dyn Fn(Result<String, String>) + Send + Sync>,
) -> Result<(), BuildError> {
    let decode = gst::ElementFactory::make("uridecodebin")
        .property("uri", camera.source.secret_str())
        .build()
        .map_err(|_| BuildError::MissingElement("uridecodebin"))?;
    let protocols = camera.transport.protocols();
    let credentials = camera.credentials.clone();
    decode.connect("source-setup", false, move |values| {
        if let Some(Ok(src)) = values.get(1).map(|v| v.get::<gst::Element>()) {
            configure_source(&src, protocols, credentials.as_ref());
        }
        None
    });
    // An MJPEG camera's multipart stream never says that no more streams will come, and
    // decodebin waits for that before it hands out decoded frames: tell the demuxer there is
    // one stream.
    decode.connect("deep-element-added", false, |values| {
        if let Some(Ok(element)) = values.get(2).map(|v| v.get::<gst::Element>())
            && element
                .factory()
                .is_some_and(|f| f.name() == "multipartdemux")
        {
            element.set_property("single-stream", true);
        }
        None
    });
    wire_decodebin(&decode, next, camera.decoder.clone(), on_decoder);
    pipeline
        .add(&decode)
        .map_err(|e| BuildError::Link(e.to_string()))
}

/// Sets what rtspsrc defaults badly for analytics: latency, transport, credentials.
fn configure_source(
    src: &gst::Element,
    protocols: &str,
    credentials: Option<&crate::config::Credentials>,
) {
    if src.has_property("latency") {
        src.set_property("latency", RTSP_LATENCY_MS);
    }
    if src.has_property("protocols") {
        src.set_property_from_str("protocols", protocols);
    }
    if src.has_property("drop-on-latency") {
        src.set_property("drop-on-latency", true);
    }
    // souphttpsrc (MJPEG, HLS): a camera is live. Without this, uridecodebin buffers the
    // endless multipart stream as if it were a download and no frame comes out.
    if src.has_property("is-live") && src.has_property("location") {
        src.set_property("is-live", true);
    }
    if let Some(c) = credentials
        && src.has_property("user-id")
    {
        src.set_property("user-id", &c.username);
        src.set_property("user-pw", &c.password);
    }
}

fn add_v4l2_source(
    pipeline: &gst::Pipeline,
    camera: &CameraConfig,
    next: &gst::Element,
    on_decoder: Arc<dyn Fn(Result<String, String>) + Send + Sync>,
) -> Result<(), BuildError> {
    let src = gst::ElementFactory::make("v4l2src")
        .property("device", camera.source.url().path())
        .build()
        .map_err(|_| BuildError::MissingElement("v4l2src"))?;
    let decode = make("decodebin")?;
    wire_decodebin(&decode, next, camera.decoder.clone(), on_decoder);
    pipeline
        .add_many([&src, &decode])
        .map_err(|e| BuildError::Link(e.to_string()))?;
    src.link(&decode)
        .map_err(|e| BuildError::Link(format!("v4l2src: {e}")))
}

/// `test://PATTERN?width=W&height=H&fps=F` → live videotestsrc.
fn add_test_source(
    pipeline: &gst::Pipeline,
    camera: &CameraConfig,
    next: &gst::Element,
) -> Result<(), BuildError> {
    let url = camera.source.url();
    let pattern = url.host_str().unwrap_or("smpte").to_string();
    let (mut width, mut height, mut fps) = (640i32, 480i32, 10i32);
    for (key, value) in url.query_pairs() {
        let parsed: i32 = value
            .parse()
            .map_err(|_| BuildError::TestSource(format!("`{key}={value}` is not a number")))?;
        match key.as_ref() {
            "width" => width = parsed,
            "height" => height = parsed,
            "fps" => fps = parsed,
            other => {
                return Err(BuildError::TestSource(format!(
                    "unknown parameter `{other}`"
                )));
            }
        }
    }
    let src = make("videotestsrc")?;
    src.set_property("is-live", true);
    let known = src
        .find_property("pattern")
        .and_then(|pspec| glib::EnumClass::with_type(pspec.value_type()))
        .is_some_and(|class| class.value_by_nick(&pattern).is_some());
    if !known {
        return Err(BuildError::TestSource(format!(
            "unknown pattern `{pattern}`; try ball, smpte, snow or gradient"
        )));
    }
    src.set_property_from_str("pattern", &pattern);
    let caps = gst::ElementFactory::make("capsfilter")
        .property(
            "caps",
            gst_video::VideoCapsBuilder::new()
                .width(width)
                .height(height)
                .framerate(gst::Fraction::new(fps, 1))
                .build(),
        )
        .build()
        .map_err(|_| BuildError::MissingElement("capsfilter"))?;
    pipeline
        .add_many([&src, &caps])
        .map_err(|e| BuildError::Link(e.to_string()))?;
    gst::Element::link_many([&src, &caps, next])
        .map_err(|e| BuildError::Link(format!("videotestsrc: {e}")))?;
    Ok(())
}
