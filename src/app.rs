//! Wiring: `run` starts every stage in order and stops them in order; `detect` runs the model
//! on still images.
//!
//! Start: config → detector (refuses a bad model before anything else starts) → RTSP replay
//! children → one ingest supervisor per camera → the event store (with the sinks' outbox
//! routes) → the analysis thread → the sinks (webhooks, MQTT) → the web server.
//! Stop (first SIGINT/SIGTERM): ingest → analysis (ends open events) → store flush (writes
//! what is queued, outbox rows included) → sinks (send what is due, within
//! [`SINK_GRACE`]; MQTT says `offline`) → store → replay children → web. A second signal exits
//! at once.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::analysis::{self, AnalysisOptions};
use crate::cameras::CameraSet;
use crate::config::{CameraSpec, Config, ConfigError, RtspReplayConfig};
use crate::control::Control;
use crate::detector::{Detector, DetectorError, Timings};
use crate::events::EventBus;

use crate::http::{self, ApiParts, ApiState, StoreAccess};
use crate::ingest::fleet::Fleet;
use crate::postprocess::LabeledDetection;
use crate::sinks::{SinkContext, Sinks};
use crate::store::Store;

/// How long the sinks may go on sending at shutdown; the rest waits in the outbox.
pub const SINK_GRACE: Duration = Duration::from_secs(5);

/// Why the appliance could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Detector(#[from] DetectorError),
    #[error("GStreamer: {0}")]
    Gstreamer(String),
    #[error("{0}")]
    Io(String),
    #[error("event store: {0}; fix `[store] path` or free the folder")]
    Store(#[from] crate::store::StoreError),
}

/// How `run` was asked to start.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// A config file; `None` runs the embedded demo.
    pub config: Option<PathBuf>,
    /// `NAME=URL` cameras from the command line.
    pub cameras: Vec<String>,
    /// Overrides `http.bind`.
    pub http: Option<SocketAddr>,
    pub print_detections: bool,
    /// Print each event change as a JSON line on stdout.
    pub print_events: bool,
    /// Overrides `[store] path`.
    pub data: Option<PathBuf>,
    /// Webhook URLs from the command line (`--webhook`), each sent every event change.
    pub webhooks: Vec<String>,
    /// The signing secret of the `--webhook` URLs (`whsec_…`).
    pub webhook_secret: Option<String>,
}

/// The config `run` will use: the file or the embedded demo, with command-line overrides.
/// Cameras given on the command line without a config file replace the demo entirely.
pub fn resolve_config(opts: &RunOptions, home: &Path) -> Result<Config, ConfigError> {
    let mut config = match &opts.config {
        Some(path) => Config::load(path)?,
        None => Config::demo(home)?,
    };
    if !opts.cameras.is_empty() && opts.config.is_none() {
        config.cameras.clear();
        config.rtsp_replay.clear();
    }
    for (i, spec) in opts.cameras.iter().enumerate() {
        let field = format!("--camera #{}", i + 1);
        let (name, url) = spec.split_once('=').ok_or_else(|| {
            ConfigError::new(
                "command line",
                &field,
                format!("`{}` has no `=`", crate::config::redact_text(spec)),
            )
            .fix("write --camera NAME=URL, e.g. --camera door=rtsp://192.168.1.20/stream1")
        })?;
        let spec = CameraSpec {
            name: name.to_string(),
            url: url.to_string(),
            ..CameraSpec::default()
        };
        let cwd = std::env::current_dir().unwrap_or_else(|_| home.to_path_buf());
        let camera = crate::config::validate_camera(&spec, &field, "command line", &cwd)?;
        config.cameras.retain(|c| c.name != camera.name);
        config.cameras.push(camera);
    }
    if let Some(addr) = opts.http {
        config.http.bind = addr;
    }
    if let Some(dir) = &opts.data {
        config.store.path.clone_from(dir);
    }
    add_cli_webhooks(&mut config, opts)?;
    Ok(config)
}

/// `--webhook URL` endpoints, named `cli-1`, `cli-2`, …, signed with `--webhook-secret`.
fn add_cli_webhooks(config: &mut Config, opts: &RunOptions) -> Result<(), ConfigError> {
    if opts.webhooks.is_empty() {
        return Ok(());
    }
    let Some(secret) = &opts.webhook_secret else {
        return Err(ConfigError::new(
            "command line",
            "--webhook-secret",
            "--webhook needs a signing secret",
        )
        .fix("pass --webhook-secret whsec_… (make one with: echo whsec_$(openssl rand -base64 32)) or set EDGESIGHT_WEBHOOK_SECRET"));
    };
    for (i, url) in opts.webhooks.iter().enumerate() {
        let raw = crate::config::RawWebhook {
            name: format!("cli-{}", i + 1),
            url: url.clone(),
            secret: secret.clone(),
            ..Default::default()
        };
        let field = format!("--webhook #{}", i + 1);
        let hook = crate::config::validate_webhook(
            &raw,
            &field,
            "command line",
            config.http.public_url.as_ref(),
        )?;
        if config.webhooks.iter().any(|w| w.name == hook.name) {
            return Err(ConfigError::new(
                "command line",
                field,
                format!("the config already has a webhook named `{}`", hook.name),
            )
            .fix("rename that webhook in the config file"));
        }
        config.webhooks.push(hook);
    }
    Ok(())
}

/// Runs the appliance until SIGINT/SIGTERM.
pub fn run(opts: RunOptions) -> Result<(), AppError> {
    let home = crate::config::find_home();
    let config = resolve_config(&opts, &home)?;
    gstreamer::init().map_err(|e| AppError::Gstreamer(e.to_string()))?;
    let selection = crate::infer::select::select(&config.model, &home)?;
    let first = selection
        .detectors
        .first()
        .ok_or_else(|| AppError::Io("no detector was selected".into()))?;
    let (mut model, labels) = (first.info().clone(), first.label_names());
    let backends = selection.status.clone();
    model.workers = selection.detectors.len();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    tracing::info!(
        "model {} ({}, {}x{}, sha256 {}…) on {} ({} detection worker{}, {} inference thread{} each)",
        model.path,
        model.family.as_str(),
        model.input_width,
        model.input_height,
        &model.sha256[..12],
        model.backend,
        model.workers,
        plural(model.workers),
        model.threads,
        plural(model.threads),
    );

    let mut children: Vec<ReplayChild> =
        config.rtsp_replay.iter().filter_map(start_replay).collect();

    // One pending wake-up is enough: the analysis thread looks at every slot when it wakes.
    let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
    let fleet = Fleet::new(CameraSet::new(Vec::new()), wake_tx);
    for camera in config.cameras.iter().cloned() {
        fleet
            .start(camera)
            .map_err(|e| AppError::Io(format!("cannot start ingest thread: {e}")))?;
    }
    let control = Control::new(fleet, config.file.clone(), config.base.clone());
    let sinks = Sinks::new(&config.webhooks, config.mqtt.as_ref());
    let (store, store_writer) = Store::open_with_routes(&config.store, sinks.routes())?;
    tracing::info!("events stored in {}", store.data_dir().display());
    let auth = load_auth(&config, store.data_dir())?;
    let bus = Arc::new(EventBus::new(
        opts.print_events,
        Some(Box::new(store_writer.clone())),
    ));
    let stop_analysis = Arc::new(AtomicBool::new(false));
    let analysis = analysis::spawn(
        selection,
        config.model.clone(),
        control.cameras().clone(),
        bus.clone(),
        wake_rx,
        stop_analysis.clone(),
        AnalysisOptions {
            print_detections: opts.print_detections,
        },
    )
    .map_err(|e| AppError::Io(format!("cannot start analysis thread: {e}")))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tokio")
        .enable_all()
        .build()
        .map_err(|e| AppError::Io(format!("cannot start the async runtime: {e}")))?;
    let bind = config.http.bind;
    let sink_context = SinkContext {
        data_dir: store.data_dir().to_path_buf(),
        writer: store_writer.clone(),
        public_url: config.http.public_url.clone(),
        cameras: control.cameras().clone(),
    };
    let state = Arc::new(ApiState::new(ApiParts {
        control: control.clone(),
        store: StoreAccess {
            data_dir: store.data_dir().to_path_buf(),
            writer: store_writer.clone(),
        },
        bus: bus.clone(),
        sinks: sinks.stats(),
        model,
        backends,
        labels,
        config,
        auth: Arc::new(auth),
    }));
    let api = state.clone();
    // Ordered drain, run when the first signal arrives: ingest → analysis → store flush →
    // sinks → store → replay children; the web server stops last so health stays readable
    // while draining.
    let flush_writer = store_writer.clone();
    let stop_pipeline = move || {
        control.fleet().stop_all();
        stop_analysis.store(true, Ordering::SeqCst);
        let _ = analysis.join();
        // Analysis ended every open event: store what is queued, outbox rows with it.
        if let Err(e) = flush_writer.flush(Duration::from_secs(5)) {
            tracing::warn!("event store: {e}");
        }
    };
    let close_store = move || {
        if let Err(e) = store.shutdown(Duration::from_secs(5)) {
            tracing::warn!("event store: {e}");
        }
        children.iter_mut().for_each(ReplayChild::stop);
    };
    let served = runtime.block_on(async move {
        let running_sinks = sinks.start(sink_context);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let mut server = tokio::spawn(http::serve(
            state,
            bind,
            async move {
                let _ = stop_rx.await;
            },
            |addr| tracing::info!("console and API on http://{addr}"),
        ));
        let outcome = tokio::select! {
            result = &mut server => match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(AppError::Io(format!(
                    "cannot serve on {bind}: {e}; fix `http.bind` or pass --http ADDR"
                ))),
                Err(e) => Err(AppError::Io(format!("web server failed: {e}"))),
            },
            signal = shutdown_signal() => {
                tracing::info!("{signal}: shutting down (again to exit at once)");
                tokio::spawn(async {
                    let signal = shutdown_signal().await;
                    tracing::warn!("{signal} again: exiting now");
                    std::process::exit(130);
                });
                Ok(())
            }
        };
        let _ = tokio::task::spawn_blocking(stop_pipeline).await;
        running_sinks.shutdown(SINK_GRACE).await;
        let _ = tokio::task::spawn_blocking(close_store).await;
        api.close();
        let _ = stop_tx.send(());
        let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
        outcome
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    tracing::info!("stopped");
    served
}

/// Sets up the API token; a generated one is printed here, once.
fn load_auth(config: &Config, data_dir: &Path) -> Result<http::auth::Auth, AppError> {
    use http::auth::{Auth, TokenSource};
    let (auth, source) =
        Auth::load(&config.http, data_dir).map_err(|e| AppError::Io(e.to_string()))?;
    let reads = if auth.reads_need_token() {
        "every API call"
    } else {
        "changes (reads are open: bound to loopback)"
    };
    match source {
        TokenSource::Env => tracing::info!(
            "API token from {}; required for {reads}",
            http::auth::TOKEN_ENV
        ),
        TokenSource::Config => {
            tracing::info!("API token from http.token; required for {reads}")
        }
        TokenSource::Stored(path) => tracing::info!(
            "API token: the one generated earlier (its sha256 is in {}; delete that file for a new one); required for {reads}",
            path.display()
        ),
        TokenSource::Generated { token, path } => tracing::warn!(
            "API token generated: {token} — shown only now; keep it (the console asks for it). Its sha256 is in {}; required for {reads}",
            path.display()
        ),
    }
    Ok(auth)
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// A child `edgesight serve-rtsp` process. It exits by itself when its stdin closes.
struct ReplayChild {
    child: Child,
}

impl ReplayChild {
    fn stop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a replay server and waits (up to 10 s) until it listens. A failure is logged; the
/// camera that reads from it will show the reason as unreachable.
fn start_replay(replay: &RtspReplayConfig) -> Option<ReplayChild> {
    if !replay.file.is_file() {
        tracing::error!(
            "rtsp_replay: {} not found; run `make setup` to fetch the demo clip, or fix `rtsp_replay.file`",
            replay.file.display()
        );
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    let spawned = Command::new(exe)
        .arg("serve-rtsp")
        .arg(&replay.file)
        .args([
            "--port",
            &replay.port.to_string(),
            "--mount",
            &replay.mount,
            "--exit-with-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("rtsp_replay: cannot start serve-rtsp: {e}");
            return None;
        }
    };
    let stdout = child.stdout.take()?;
    let (tx, rx) = crossbeam_channel::bounded(1);
    let _ = std::thread::Builder::new()
        .name("replay-stdout".into())
        .spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("ready ") {
                    let _ = tx.try_send(url.to_string());
                }
            }
        });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(url) => tracing::info!("replaying {} at {url}", replay.file.display()),
        Err(_) => tracing::error!(
            "rtsp_replay: serve-rtsp for {} did not start listening on port {} within 10 s",
            replay.file.display(),
            replay.port
        ),
    }
    Some(ReplayChild { child })
}

/// One image's detections, as `edgesight detect` prints them.
#[derive(Serialize)]
pub struct ImageDetections {
    pub image: String,
    pub width: u32,
    pub height: u32,
    pub detections: Vec<LabeledDetection>,
    pub timings: Timings,
}

/// Runs the model of `config` (or the demo's bundled model) on each image. Returns one result
/// per image, or the reason it could not be read.
pub fn detect_images(
    config: Option<&Path>,
    images: &[PathBuf],
) -> Result<Vec<Result<ImageDetections, String>>, AppError> {
    let home = crate::config::find_home();
    let config = match config {
        Some(p) => Config::load(p)?,
        None => Config::demo(&home)?,
    };
    let mut detector = Detector::load(&config.model, &home)?;
    Ok(images
        .iter()
        .map(|path| {
            let img = image::open(path)
                .map_err(|e| format!("{}: cannot read image: {e}", path.display()))?
                .into_rgb8();
            let (width, height) = img.dimensions();
            let frame = crate::frame::Frame::from_rgb(width, height, img.into_raw());
            let (detections, timings) = detector
                .detect(frame.view())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(ImageDetections {
                image: path.display().to_string(),
                width,
                height,
                detections,
                timings,
            })
        })
        .collect())
}
