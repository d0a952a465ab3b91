//! `edgesight serve-rtsp FILE`: serves a video file in an endless loop as an RTSP camera on
//! 127.0.0.1, for the demo, tests and benchmarks.
//!
//! One reader pipeline plays the file at real-time pace (H.264 is passed through; anything else
//! is encoded to H.264 once) and, at its end, seeks back to the start. Each RTSP client gets its
//! own media (`shared=false`: gst-rtsp-server 1.22 can abort when clients race on a shared one)
//! whose `appsrc` receives the reader's access units, starting at a key frame, re-timestamped on
//! arrival. A client's queue is bounded (leaky, oldest dropped). It runs as its own process so a
//! crash here cannot take the appliance down; with `exit_with_stdin` it exits when its parent
//! closes its stdin (the parent died or shut down).

use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0} not found")]
    FileMissing(String),
    #[error("GStreamer: {0}")]
    Gst(String),
    #[error("cannot listen on 127.0.0.1:{0} (is the port taken?)")]
    Bind(u16),
}

struct Client {
    src: glib::WeakRef<gst_app::AppSrc>,
    started: bool,
}

type Clients = Arc<Mutex<Vec<Client>>>;

const H264_CAPS: &str = "video/x-h264,stream-format=byte-stream,alignment=au";

/// Serves `file` at `rtsp://127.0.0.1:PORT/MOUNT` until the process ends. Prints
/// `ready rtsp://127.0.0.1:PORT/MOUNT` on stdout once listening (PORT 0 picks a free port).
pub fn serve(file: &Path, port: u16, mount: &str, exit_with_stdin: bool) -> Result<(), ServeError> {
    let file = std::path::absolute(file).map_err(|e| ServeError::Gst(e.to_string()))?;
    if !file.is_file() {
        return Err(ServeError::FileMissing(file.display().to_string()));
    }
    gst::init().map_err(|e| ServeError::Gst(e.to_string()))?;
    let clients: Clients = Arc::default();
    let reader = build_reader(&file, clients.clone())?;

    let server = rtsp::RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service(&port.to_string());
    let factory = rtsp::RTSPMediaFactory::new();
    factory.set_launch(&format!(
        "( appsrc name=src is-live=true do-timestamp=true format=time caps=\"{H264_CAPS}\" ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    ));
    factory.set_shared(false);
    factory.connect_media_configure(move |_, media| {
        let Some(src) = media
            .element()
            .downcast_ref::<gst::Bin>()
            .and_then(|bin| bin.by_name_recurse_up("src"))
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        else {
            return;
        };
        src.set_max_buffers(30);
        if src.has_property("leaky-type") {
            src.set_property_from_str("leaky-type", "downstream");
        }
        if let Ok(mut list) = clients.lock() {
            list.push(Client {
                src: src.downgrade(),
                started: false,
            });
        }
    });
    let mounts = server
        .mount_points()
        .ok_or_else(|| ServeError::Gst("server has no mount points".into()))?;
    mounts.add_factory(mount, factory);
    let main_loop = glib::MainLoop::new(None, false);
    let _source = server.attach(None).map_err(|_| ServeError::Bind(port))?;

    reader
        .set_state(gst::State::Playing)
        .map_err(|e| ServeError::Gst(format!("cannot play {}: {e}", file.display())))?;
    spawn_reader_watch(&reader, main_loop.clone())?;
    if exit_with_stdin {
        let main_loop = main_loop.clone();
        std::thread::Builder::new()
            .name("stdin-watch".into())
            .spawn(move || {
                let mut sink = [0u8; 64];
                while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
                main_loop.quit();
            })
            .map_err(|e| ServeError::Gst(e.to_string()))?;
    }
    println!("ready rtsp://127.0.0.1:{}{mount}", server.bound_port());
    main_loop.run();
    let _ = reader.set_state(gst::State::Null);
    Ok(())
}

/// file → (H.264 as is | raw → x264enc) → h264parse → appsink that fans out to clients.
fn build_reader(file: &Path, clients: Clients) -> Result<gst::Pipeline, ServeError> {
    let err = |e: glib::BoolError| ServeError::Gst(e.to_string());
    let pipeline = gst::Pipeline::with_name("rtsp-replay-reader");
    let decode = gst::ElementFactory::make("uridecodebin")
        .property("uri", format!("file://{}", file.display()))
        .property("caps", "video/x-h264; video/x-raw".parse::<gst::Caps>()?)
        .build()
        .map_err(err)?;
    let parse = gst::ElementFactory::make("h264parse")
        .property("config-interval", -1i32)
        .build()
        .map_err(err)?;
    let capsfilter = gst::ElementFactory::make("capsfilter")
        .property("caps", H264_CAPS.parse::<gst::Caps>()?)
        .build()
        .map_err(err)?;
    let sink = gst_app::AppSink::builder()
        .sync(true)
        .max_buffers(8)
        .build();
    pipeline
        .add_many([&decode, &parse, &capsfilter, sink.upcast_ref()])
        .map_err(err)?;
    gst::Element::link_many([&parse, &capsfilter, sink.upcast_ref()]).map_err(err)?;

    let pipeline_weak = pipeline.downgrade();
    let parse_weak = parse.downgrade();
    decode.connect_pad_added(move |_, pad| {
        let (Some(pipeline), Some(parse)) = (pipeline_weak.upgrade(), parse_weak.upgrade()) else {
            return;
        };
        let Some(name) = pad
            .current_caps()
            .and_then(|c| c.structure(0).map(|s| s.name().to_string()))
        else {
            return;
        };
        let result = if name == "video/x-h264" {
            parse
                .static_pad("sink")
                .map(|sinkpad| pad.link(&sinkpad).map(|_| ()).map_err(|e| format!("{e:?}")))
                .unwrap_or(Err("h264parse has no sink pad".into()))
        } else if name == "video/x-raw" {
            link_encoder(&pipeline, pad, &parse)
        } else {
            Ok(())
        };
        if let Err(e) = result {
            eprintln!("serve-rtsp: cannot link {name}: {e}");
        }
    });

    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(buffer) = sample.buffer() {
                    fan_out(&clients, buffer);
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    Ok(pipeline)
}

/// Raw video (a file that is not H.264): videoconvert → x264enc → the shared h264parse.
fn link_encoder(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    parse: &gst::Element,
) -> Result<(), String> {
    let convert = gst::ElementFactory::make("videoconvert")
        .build()
        .map_err(|e| e.to_string())?;
    let encode = gst::ElementFactory::make("x264enc")
        .property_from_str("tune", "zerolatency")
        .property_from_str("speed-preset", "veryfast")
        .property("key-int-max", 30u32)
        .build()
        .map_err(|_| "x264enc is missing (gstreamer1.0-plugins-ugly)".to_string())?;
    pipeline
        .add_many([&convert, &encode])
        .map_err(|e| e.to_string())?;
    gst::Element::link_many([&convert, &encode, parse]).map_err(|e| e.to_string())?;
    for e in [&convert, &encode] {
        e.sync_state_with_parent().map_err(|e| e.to_string())?;
    }
    let sinkpad = convert
        .static_pad("sink")
        .ok_or("videoconvert has no sink pad")?;
    pad.link(&sinkpad).map(|_| ()).map_err(|e| format!("{e:?}"))
}

/// Pushes one access unit to every live client; a new client starts at a key frame.
fn fan_out(clients: &Clients, buffer: &gst::BufferRef) {
    let Ok(mut list) = clients.lock() else { return };
    let key = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
    list.retain_mut(|client| {
        let Some(src) = client.src.upgrade() else {
            return false;
        };
        if !client.started && !key {
            return true;
        }
        client.started = true;
        let mut copy = buffer.copy();
        {
            let b = copy.make_mut();
            b.set_pts(gst::ClockTime::NONE);
            b.set_dts(gst::ClockTime::NONE);
            b.set_duration(gst::ClockTime::NONE);
        }
        // Flushing or EOS means this client is going away; it is dropped on its next failure.
        src.push_buffer(copy).is_ok()
    });
}

/// Loops the file at EOS; a reader error ends the server.
fn spawn_reader_watch(reader: &gst::Pipeline, main_loop: glib::MainLoop) -> Result<(), ServeError> {
    let bus = reader
        .bus()
        .ok_or_else(|| ServeError::Gst("reader has no bus".into()))?;
    let reader = reader.downgrade();
    std::thread::Builder::new()
        .name("rtsp-replay-loop".into())
        .spawn(move || {
            for msg in bus.iter_timed(gst::ClockTime::NONE) {
                let Some(reader) = reader.upgrade() else {
                    break;
                };
                match msg.view() {
                    gst::MessageView::Eos(_)
                        if reader
                            .seek_simple(
                                gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT,
                                gst::ClockTime::ZERO,
                            )
                            .is_err() =>
                    {
                        eprintln!("serve-rtsp: cannot seek back to the start");
                        main_loop.quit();
                        break;
                    }
                    gst::MessageView::Error(e) => {
                        eprintln!("serve-rtsp: reader error: {} ({:?})", e.error(), e.debug());
                        main_loop.quit();
                        break;
                    }
                    _ => {}
                }
            }
        })
        .map_err(|e| ServeError::Gst(e.to_string()))?;
    Ok(())
}

impl From<glib::BoolError> for ServeError {
    fn from(e: glib::BoolError) -> Self {
        ServeError::Gst(e.to_string())
    }
}
