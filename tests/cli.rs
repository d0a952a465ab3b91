//! The command line itself: `--version`, `check-config`, and the setup script's idempotence.

mod common;

use std::process::Command;

#[test]
fn version_names_the_release_and_revision() {
    let out = Command::new(common::bin())
        .arg("--version")
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("edgesight {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(text.contains('('), "revision in parentheses: {text}");
}

#[test]
fn check_config_shows_what_a_good_file_configures() {
    let demo = common::repo().join("configs/demo.toml");
    let out = Command::new(common::bin())
        .args(["check-config", demo.to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ok"), "{text}");
    assert!(
        text.contains("camera demo: rtsp://127.0.0.1:8554/demo at 10 fps"),
        "{text}"
    );
}

#[test]
fn check_config_hides_passwords() {
    let example = common::repo().join("configs/examples/two-rtsp-cameras.toml");
    let out = Command::new(common::bin())
        .args(["check-config", example.to_str().expect("utf-8")])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("rtsp://viewer:***@192.168.1.20:554/stream1"),
        "{text}"
    );
    assert!(!text.contains("change-me"), "{text}");
}

/// `make test` has just run the setup script: a second run must find everything in place.
#[test]
fn setup_a_second_time_installs_nothing() {
    let out = Command::new("bash")
        .arg(common::repo().join("scripts/setup.sh"))
        .output()
        .expect("run setup.sh");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Debian packages: all present"), "{text}");
    assert!(text.contains("ONNX Runtime 1.32.0: present"), "{text}");
    assert!(text.contains("demo clip: present"), "{text}");
    assert!(
        !text.contains("installing") && !text.contains("downloading"),
        "{text}"
    );
}
