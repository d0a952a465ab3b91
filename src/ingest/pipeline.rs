//! Builds one camera's GStreamer pipeline: source → decode → convert to RGB → appsink.
//!
//! `rtsp://` and `file://` go through `uridecodebin` (the registry picks the decoder; rtspsrc is
//! set to 200 ms latency over TCP in `source-setup`), `test://PATTERN` through a live
//! `videotestsrc`. The appsink keeps one buffer and drops older ones (`max-buffers=1`,
//! `drop=true`); its callback maps the buffer without copying and hands it to `on_frame`, which
//! must not block.

use std::time::Instant;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use crate::config::SourceUrl;
use crate::frame::{Frame, FramePixels, unix_ms};

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

fn make(factory: &'static str) -> Result<gst::Element, BuildError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| BuildError::MissingElement(factory))
}

/// Builds (but does not start) the pipeline for `source`. `on_frame` runs on the streaming
/// thread for every decoded frame.
pub fn build(
    name: &str,
    source: &SourceUrl,
    on_frame: impl Fn(Frame) + Send + Sync + 'static,
) -> Result<gst::Pipeline, BuildError> {
    let pipeline = gst::Pipeline::with_name(&format!("cam-{name}"));
    let convert = make("videoconvert")?;
    let sink = gst_app::AppSink::builder()
        .name("sink")
        .caps(
            &gst_video::VideoCapsBuilder::new()
                .format(gst_video::VideoFormat::Rgb)
                .build(),
        )
        .max_buffers(1)
        .drop(true)
        // Files are paced to real time by the sink; live sources are taken as they come.
        .sync(source.scheme() == "file")
        .build();
    pipeline
        .add_many([&convert, sink.upcast_ref()])
        .map_err(|e| BuildError::Link(e.to_string()))?;
    convert
        .link(&sink)
        .map_err(|e| BuildError::Link(format!("videoconvert to appsink: {e}")))?;

    if source.scheme() == "test" {
        add_test_source(&pipeline, source, &convert)?;
    } else {
        add_uri_source(&pipeline, source, &convert)?;
    }

    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(frame) = sample_to_frame(&sample) {
                    on_frame(frame);
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    Ok(pipeline)
}

fn sample_to_frame(sample: &gst::Sample) -> Option<Frame> {
    let info = gst_video::VideoInfo::from_caps(sample.caps()?).ok()?;
    let buffer = sample.buffer_owned()?;
    let mapped = buffer.into_mapped_buffer_readable().ok()?;
    Some(Frame {
        width: info.width(),
        height: info.height(),
        stride: usize::try_from(info.stride()[0]).ok()?,
        pixels: FramePixels::Gst(mapped),
        received_at: Instant::now(),
        timestamp_ms: unix_ms(),
        seq: 0,
    })
}

fn add_uri_source(
    pipeline: &gst::Pipeline,
    source: &SourceUrl,
    convert: &gst::Element,
) -> Result<(), BuildError> {
    let decode = gst::ElementFactory::make("uridecodebin")
        .property("uri", source.secret_str())
        .build()
        .map_err(|_| BuildError::MissingElement("uridecodebin"))?;
    decode.connect("source-setup", false, |values| {
        if let Some(Ok(src)) = values.get(1).map(|v| v.get::<gst::Element>()) {
            configure_source(&src);
        }
        None
    });
    let convert_weak = convert.downgrade();
    decode.connect_pad_added(move |_, pad| {
        let Some(convert) = convert_weak.upgrade() else {
            return;
        };
        let is_video = pad
            .current_caps()
            .or_else(|| Some(pad.query_caps(None)))
            .and_then(|caps| caps.structure(0).map(|s| s.name().starts_with("video/")))
            .unwrap_or(false);
        if !is_video {
            return;
        }
        if let Some(sinkpad) = convert.static_pad("sink")
            && !sinkpad.is_linked()
            && let Err(e) = pad.link(&sinkpad)
        {
            tracing::warn!("cannot link decoded video pad: {e:?}");
        }
    });
    pipeline
        .add(&decode)
        .map_err(|e| BuildError::Link(e.to_string()))?;
    Ok(())
}

/// Sets what rtspsrc defaults badly for analytics: latency and transport.
fn configure_source(src: &gst::Element) {
    if src.has_property("latency") {
        src.set_property("latency", RTSP_LATENCY_MS);
    }
    if src.has_property("protocols") {
        src.set_property_from_str("protocols", "tcp");
    }
    if src.has_property("drop-on-latency") {
        src.set_property("drop-on-latency", true);
    }
}

/// `test://PATTERN?width=W&height=H&fps=F` → live videotestsrc.
fn add_test_source(
    pipeline: &gst::Pipeline,
    source: &SourceUrl,
    convert: &gst::Element,
) -> Result<(), BuildError> {
    let url = source.url();
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
        .and_then(|pspec| gst::glib::EnumClass::with_type(pspec.value_type()))
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
    gst::Element::link_many([&src, &caps, convert])
        .map_err(|e| BuildError::Link(format!("videotestsrc: {e}")))?;
    Ok(())
}
