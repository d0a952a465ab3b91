//! `edgesightdetect`: runs the edgesight detector on raw RGB video and reports on the bus.
//!
//! Input and output: `video/x-raw,format=RGB`, any size and frame rate. Buffers pass through
//! untouched (the element never writes to them and never copies them).
//!
//! Every `interval`-th buffer (the first one included) is analysed on the streaming thread, and an
//! element message is posted with a structure named `edgesight-detections`:
//!
//! | field   | type      | meaning |
//! |---------|-----------|---------|
//! | `frame` | `guint64` | index of the buffer since the element started (0, 1, ...), skipped ones counted |
//! | `pts`   | `guint64` | the buffer's PTS in ns; `GST_CLOCK_TIME_NONE` (`u64::MAX`) when it has none |
//! | `count` | `guint`   | number of detections |
//! | `json`  | `gchararray` | the detections as a JSON array of `{label, class_id, score, box: {x1, y1, x2, y2}}`, box in the frame's pixels |
//!
//! Back-pressure: none of its own; analysis runs in `transform`, so a slow model slows the
//! pipeline. Raise `interval`, or put a leaky `queue` in front, to keep a live source real-time.
//!
//! Properties (read when the element starts, i.e. going from READY to PAUSED):
//! - `config`: path of an edgesight TOML config whose `[model]` section is used; empty (the
//!   default) uses the embedded demo config and the bundled SSD MobileNet model.
//! - `interval`: analyse every Nth buffer (default 1, every buffer).
//!
//! Failure: a config that cannot be read or is invalid, a missing or damaged model, or a missing
//! ONNX Runtime library make the state change to PAUSED fail with an error message on the bus that
//! carries the library's text (which file, what to do). A failure on a frame is an error too and
//! stops the stream.
//!
//! The project folder (for the demo config's model and for ONNX Runtime's `.deps/`) is
//! [`edgesight::config::find_home`]: `$EDGESIGHT_HOME`, else an ancestor of the executable that has
//! `models/` and `configs/`, else the current directory. Run `gst-launch-1.0` from the project
//! folder, or set `EDGESIGHT_HOME` to it.
//!
//! ```text
//! GST_PLUGIN_PATH=target/debug gst-launch-1.0 -m filesrc location=tests/data/astronaut.png ! pngdec ! imagefreeze num-buffers=5 ! videoconvert ! video/x-raw,format=RGB ! edgesightdetect interval=1 ! fakesink
//! ```

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;

mod imp;

/// The name of the structure of the element messages posted for analysed frames.
pub const MESSAGE_NAME: &str = "edgesight-detections";

glib::wrapper! {
    /// The `edgesightdetect` element.
    pub struct EdgesightDetect(ObjectSubclass<imp::EdgesightDetect>)
        @extends gstreamer_video::VideoFilter, gstreamer_base::BaseTransform, gst::Element, gst::Object;
}

/// Registers `edgesightdetect` with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "edgesightdetect",
        gst::Rank::NONE,
        EdgesightDetect::static_type(),
    )
}
