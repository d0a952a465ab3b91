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

/// What the served stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Codec {
    H264,
    H265,
}

impl Codec {
    fn caps(self) -> &'static str {
        match self {
            Codec::H264 => "video/x-h264,stream-format=byte-stream,alignment=au",
            Codec::H265 => "video/x-h265,stream-format=byte-stream,alignment=au",
        }
    }

    fn parser(self) -> &'static str {
        match self {
            Codec::H264 => "h264parse",
            Codec::H265 => "h265parse",
        }
    }

    fn payloader(self) -> &'static str {
        match self {
            Codec::H264 => "rtph264pay",
            Codec::H265 => "rtph265pay",
        }
    }
}

/// Options of [`serve`].
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    pub port: u16,
    pub mount: String,
    /// Exit when standard input closes.
    pub exit_with_stdin: bool,
    /// Require these credentials (RTSP basic authentication).
    pub credentials: Option<(String, String)>,
}

/// Serves `file` at `rtsp://127.0.0.1:PORT/MOUNT` until the process ends. Prints
/// `ready rtsp://127.0.0.1:PORT/MOUNT` on stdout once listening (PORT 0 picks a free port).
/// H.264 and H.265 files are served as they are; other codecs are encoded to H.264.
pub fn serve(file: &Path, options: &ServeOptions) -> Result<(), ServeError> {
    let file = std::path::absolute(file).map_err(|e| ServeError::Gst(e.to_string()))?;
    if !file.is_file() {
        return Err(ServeError::FileMissing(file.display().to_string()));
    }
    gst::init().map_err(|e| ServeError::Gst(e.to_string()))?;
    let clients: Clients = Arc::default();
    let (reader, codec) = start_reader(&file, clients.clone())?;

    let server = rtsp::RTSPServer::new();
    server.set_address("127.0.0.1");
    server.set_service(&options.port.to_string());
    let factory = rtsp::RTSPMediaFactory::new();
    factory.set_launch(&format!(
        "( appsrc name=src is-live=true do-timestamp=true format=time caps=\"{}\" ! {} ! {} name=pay0 pt=96 config-interval=-1 )",
        codec.caps(),
        codec.parser(),
        codec.payloader()
    ));
    factory.set_shared(false);
    if let Some((user, password)) = &options.credentials {
        let auth = rtsp::RTSPAuth::new();
        let token = rtsp::RTSPToken::builder()
            .field(rtsp::RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
            .build();
        auth.add_basic(&rtsp::RTSPAuth::make_basic(user, password), &token);
        server.set_auth(Some(&auth));
        factory.add_role_from_structure(
            &gst::Structure::builder("user")
                .field(rtsp::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
                .field(rtsp::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
                .build(),
        );
    }
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
    mounts.add_factory(&options.mount, factory);
    let main_loop = glib::MainLoop::new(None, false);
    let _source = server
        .attach(None)
        .map_err(|_| ServeError::Bind(options.port))?;

    reader
        .set_state(gst::State::Playing)
        .map_err(|e| ServeError::Gst(format!("cannot play {}: {e}", file.display())))?;
    spawn_reader_watch(&reader, main_loop.clone())?;
    if options.exit_with_stdin {
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
    println!(
        "ready rtsp://127.0.0.1:{}{}",
        server.bound_port(),
        options.mount
    );
    main_loop.run();
    let _ = reader.set_state(gst::State::Null);
    Ok(())
}

/// file → (H.264/H.265 as is | raw → x264enc) → parser → appsink that fans out to clients.
/// Prerolls to learn the codec, which the RTSP factory needs before the first client.
fn start_reader(file: &Path, clients: Clients) -> Result<(gst::Pipeline, Codec), ServeError> {
    let err = |e: glib::BoolError| ServeError::Gst(e.to_string());
    let pipeline = gst::Pipeline::with_name("rtsp-replay-reader");
    let decode = gst::ElementFactory::make("uridecodebin")
        .property("uri", format!("file://{}", file.display()))
        .property(
            "caps",
            "video/x-h264; video/x-h265; video/x-raw".parse::<gst::Caps>()?,
        )
        .build()
        .map_err(err)?;
    let sink = gst_app::AppSink::builder()
        .sync(true)
        .max_buffers(8)
        .build();
    pipeline
        .add_many([&decode, sink.upcast_ref()])
        .map_err(err)?;

    let (codec_tx, codec_rx) = std::sync::mpsc::sync_channel::<Result<Codec, String>>(1);
    let pipeline_weak = pipeline.downgrade();
    let sink_weak = sink.downgrade();
    decode.connect_pad_added(move |_, pad| {
        let (Some(pipeline), Some(sink)) = (pipeline_weak.upgrade(), sink_weak.upgrade()) else {
            return;
        };
        let Some(name) = pad
            .current_caps()
            .and_then(|c| c.structure(0).map(|s| s.name().to_string()))
        else {
            return;
        };
        let codec = match name.as_str() {
            "video/x-h265" => Codec::H265,
            "video/x-h264" | "video/x-raw" => Codec::H264,
            _ => return,
        };
        let linked = link_branch(
            &pipeline,
            pad,
            name == "video/x-raw",
            codec,
            sink.upcast_ref(),
        );
        let _ = codec_tx.try_send(linked.map(|()| codec));
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
    pipeline
        .set_state(gst::State::Paused)
        .map_err(|e| ServeError::Gst(format!("cannot read {}: {e}", file.display())))?;
    let codec = codec_rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .map_err(|_| ServeError::Gst(format!("no video stream found in {}", file.display())))?
        .map_err(ServeError::Gst)?;
    Ok((pipeline, codec))
}

/// pad → [videoconvert → x264enc when raw] → parser (AUs, parameter sets at every key frame)
/// → capsfilter → sink.
fn link_branch(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    encode: bool,
    codec: Codec,
    sink: &gst::Element,
) -> Result<(), String> {
    let make = |name: &str| {
        gst::ElementFactory::make(name)
            .build()
            .map_err(|_| format!("GStreamer element `{name}` is missing"))
    };
    let mut chain = Vec::new();
    if encode {
        chain.push(make("videoconvert")?);
        let x264 = make("x264enc")?;
        x264.set_property_from_str("tune", "zerolatency");
        x264.set_property_from_str("speed-preset", "veryfast");
        x264.set_property("key-int-max", 30u32);
        chain.push(x264);
    }
    let parse = make(codec.parser())?;
    parse.set_property("config-interval", -1i32);
    chain.push(parse);
    let filter = make("capsfilter")?;
    filter.set_property(
        "caps",
        codec
            .caps()
            .parse::<gst::Caps>()
            .map_err(|e| e.to_string())?,
    );
    chain.push(filter);
    pipeline.add_many(&chain).map_err(|e| e.to_string())?;
    chain.push(sink.clone());
    gst::Element::link_many(&chain).map_err(|e| e.to_string())?;
    for e in &chain[..chain.len() - 1] {
        e.sync_state_with_parent().map_err(|e| e.to_string())?;
    }
    let first = chain[0].static_pad("sink").ok_or("no sink pad")?;
    pad.link(&first).map(|_| ()).map_err(|e| format!("{e:?}"))
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
