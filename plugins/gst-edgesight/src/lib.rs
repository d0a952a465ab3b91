//! GStreamer plugin `edgesight`: the edgesight detector as a pipeline element.
//!
//! Elements:
//! - [`edgesightdetect`](detect): passes `video/x-raw,format=RGB` through untouched, runs the
//!   detector on every Nth buffer and posts an `edgesight-detections` element message on the bus.
//!
//! Try it from the project folder (so the bundled model and ONNX Runtime are found; elsewhere set
//! `EDGESIGHT_HOME`) after `cargo build -p gst-edgesight`:
//!
//! ```text
//! GST_PLUGIN_PATH=target/debug gst-launch-1.0 -m filesrc location=tests/data/astronaut.png ! pngdec ! imagefreeze num-buffers=5 ! videoconvert ! video/x-raw,format=RGB ! edgesightdetect ! fakesink
//! ```

// `gst::plugin_define!` expands to the C plugin descriptor and its `extern "C"` entry points,
// which need `unsafe`; no hand-written unsafe code lives in this crate.
#![allow(unsafe_code)]

use gstreamer as gst;

pub mod detect;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), gst::glib::BoolError> {
    detect::register(plugin)
}

gst::plugin_define!(
    edgesight,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    // GStreamer's spelling of Apache-2.0 (it refuses to load a plugin with a license it does not know).
    "Apache 2.0",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    "edgesight",
    env!("BUILD_REL_DATE")
);
