//! The `edgesight` command.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use edgesight::app::{self, RunOptions};
use edgesight::config::Config;

#[derive(Parser)]
#[command(name = "edgesight", version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("EDGESIGHT_GIT"), ")"), about = "Real-time video analytics: cameras in, detections out")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the appliance (the embedded demo when no --config is given).
    Run {
        /// Config file (TOML); see configs/reference.toml.
        #[arg(long)]
        config: Option<PathBuf>,
        /// A camera as NAME=URL (repeatable). Without --config, these replace the demo camera.
        #[arg(long = "camera", value_name = "NAME=URL")]
        cameras: Vec<String>,
        /// Address of the console and API, e.g. 127.0.0.1:8080 (overrides http.bind).
        #[arg(long, value_name = "ADDR")]
        http: Option<SocketAddr>,
        /// Print each analysed frame's detections as a JSON line on stdout.
        #[arg(long)]
        print_detections: bool,
        /// Print each event change (new/update/end) as a JSON line on stdout.
        #[arg(long)]
        print_events: bool,
        /// Folder for the event store (overrides `[store] path`).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// Send every event change to this URL, signed (Standard Webhooks); repeatable.
        #[arg(long = "webhook", value_name = "URL")]
        webhooks: Vec<String>,
        /// The signing secret of the --webhook URLs: `whsec_` + base64.
        #[arg(
            long,
            value_name = "whsec_…",
            env = "EDGESIGHT_WEBHOOK_SECRET",
            hide_env_values = true
        )]
        webhook_secret: Option<String>,
    },
    /// Run the whole pipeline on a video file as fast as possible and print the events as JSON
    /// lines (the same file and config give the same events).
    Replay {
        clip: PathBuf,
        /// Config whose model and camera settings (tracker, rules, detect fps) to use.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The config's camera whose settings apply (default: its first camera).
        #[arg(long, value_name = "NAME")]
        camera: Option<String>,
    },
    /// Check a config file and print what it configures.
    CheckConfig { file: PathBuf },
    /// Run the detector on still images and print one JSON line per image.
    Detect {
        /// Config whose [model] to use (default: the bundled model).
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Serve a video file in a loop as an RTSP camera on 127.0.0.1.
    ServeRtsp {
        file: PathBuf,
        /// TCP port (0 picks a free one; the URL is printed as `ready rtsp://…`).
        #[arg(long, default_value_t = 8554)]
        port: u16,
        #[arg(long, default_value = "/demo")]
        mount: String,
        /// Exit when standard input closes (used when the appliance runs it as a child).
        #[arg(long)]
        exit_with_stdin: bool,
        /// Require this user name (RTSP basic authentication; needs --password).
        #[arg(long, requires = "password")]
        user: Option<String>,
        /// Password for --user.
        #[arg(long, requires = "user")]
        password: Option<String>,
    },
}

/// The log filter: `EDGESIGHT_LOG` (default `info`). Warp logs every connection that ends
/// early at ERROR (a viewer closing its MJPEG stream, a client sending a malformed request):
/// those are the clients' doing, not the appliance's, so they are off unless the filter names
/// warp (e.g. `EDGESIGHT_LOG=info,warp=debug`).
fn log_filter(given: Option<String>) -> tracing_subscriber::EnvFilter {
    let mut directives = given
        .filter(|g| !g.trim().is_empty())
        .unwrap_or_else(|| "info".into());
    if !directives.contains("warp") {
        directives.push_str(",warp::server=off");
    }
    tracing_subscriber::EnvFilter::try_new(&directives).unwrap_or_else(|e| {
        eprintln!("EDGESIGHT_LOG={directives:?} is not a log filter ({e}); logging at info");
        tracing_subscriber::EnvFilter::new("info,warp::server=off")
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(std::env::var("EDGESIGHT_LOG").ok()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run {
            config,
            cameras,
            http,
            print_detections,
            print_events,
            data,
            webhooks,
            webhook_secret,
        } => {
            app::run(RunOptions {
                config,
                cameras,
                http,
                print_detections,
                print_events,
                data,
                webhooks,
                webhook_secret,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay {
            clip,
            config,
            camera,
        } => {
            let options = edgesight::replay::ReplayOptions {
                clip,
                config,
                camera,
            };
            let summary = edgesight::replay::replay(&options, &mut std::io::stdout().lock())?;
            eprintln!("replay: {}", serde_json::to_string(&summary)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig { file } => {
            let config = Config::load(&file)?;
            println!(
                "{}: ok — model {} ({}), {} camera(s), console on {}",
                file.display(),
                config.model.path.display(),
                config.model.family.as_str(),
                config.cameras.len(),
                config.http.bind
            );
            for c in &config.cameras {
                println!(
                    "  camera {}: {} at {} fps{}",
                    c.name,
                    c.source,
                    c.detect_fps,
                    if c.enabled { "" } else { " (disabled)" }
                );
            }
            for w in &config.webhooks {
                println!(
                    "  webhook {}: {}",
                    w.name,
                    edgesight::config::redact_text(w.url.as_str())
                );
            }
            if let Some(m) = &config.mqtt {
                println!("  mqtt: {}:{} under `{}/`", m.host, m.port, m.topic_prefix);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Detect { config, images } => {
            let mut failed = false;
            for result in app::detect_images(config.as_deref(), &images)? {
                match result {
                    Ok(found) => println!("{}", serde_json::to_string(&found)?),
                    Err(e) => {
                        eprintln!("error: {e}");
                        failed = true;
                    }
                }
            }
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::ServeRtsp {
            file,
            port,
            mount,
            exit_with_stdin,
            user,
            password,
        } => {
            let options = edgesight::serve_rtsp::ServeOptions {
                port,
                mount,
                exit_with_stdin,
                credentials: user.zip(password),
            };
            edgesight::serve_rtsp::serve(&file, &options)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
