//! The console end to end in real headless Chromium (Debian's `chromium`, driven by
//! `playwright-core` from `tests/browser/console_e2e.cjs`), against the real appliance analysing
//! the pedestrian clip (a looping `file://` camera) with a real config file:
//! - the live grid shows the camera with boxes drawn over its frame;
//! - the events page lists events whose snapshots load;
//! - a line drawn with the mouse in the editor and saved (the console asks for the token) is
//!   written into the config file and produces line-crossing events;
//! - the page fits a phone screen; the dark theme works.
//!
//! Screenshots: `tests/artifacts/console-*.png` (git-ignored). Chromium, Node.js and
//! playwright-core come from `make setup`; without them this test fails and says so.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{TOKEN, get_json, start_appliance, wait_for};
use serde_json::Value;

const CAMERA: &str = "street";

fn chromium() -> PathBuf {
    PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()))
}

fn node_modules() -> PathBuf {
    common::repo().join(".deps/node/node_modules")
}

/// Fails, naming the fix, when the browser or its driver is missing.
fn require_browser() {
    let chromium = chromium();
    assert!(
        chromium.is_file(),
        "Chromium is missing at {}: run `make setup` (it installs Debian's chromium)",
        chromium.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "Node.js is missing: run `make setup` (it installs Debian's nodejs)"
    );
    let driver = node_modules().join("playwright-core/package.json");
    assert!(
        driver.is_file(),
        "playwright-core is missing at {}: run `make setup`",
        driver.display()
    );
}

fn write_config(dir: &Path) -> PathBuf {
    let repo = common::repo();
    let path = dir.join("site.toml");
    let text = format!(
        "[model]\n\
         path = \"{}\"\n\
         family = \"ssd\"\n\
         labels = \"{}\"\n\
         \n\
         [[cameras]]\n\
         name = \"{CAMERA}\"\n\
         url = \"file://{}\"\n\
         detect_fps = 5\n",
        repo.join("models/ssd_mobilenet_v2_coco_quant_qdq.onnx")
            .display(),
        repo.join("models/coco_labels.txt").display(),
        common::pedestrian_clip().display(),
    );
    std::fs::write(&path, text).expect("write config");
    path
}

fn artifacts() -> PathBuf {
    let dir = common::repo().join("tests/artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts folder");
    dir
}

#[test]
fn console_shows_boxes_events_and_saves_a_line_that_counts_crossings() {
    common::require_onnxruntime();
    require_browser();
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path());
    let (app, base) = start_appliance(&["--config", config.to_str().expect("utf-8")]);
    let artifacts = artifacts();
    for old in std::fs::read_dir(&artifacts).expect("artifacts") {
        let path = old.expect("entry").path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("console-"))
        {
            let _ = std::fs::remove_file(path);
        }
    }
    let profile = tempfile::tempdir().expect("browser profile");

    let output = Command::new("node")
        .arg(common::repo().join("tests/browser/console_e2e.cjs"))
        .env("NODE_PATH", node_modules())
        .env("BASE", &base)
        .env("TOKEN", TOKEN)
        .env("CAMERA", CAMERA)
        .env("ARTIFACTS", &artifacts)
        .env("PROFILE", profile.path())
        .env("CHROMIUM", chromium())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("browser steps:\n{stdout}");
    assert!(
        output.status.success(),
        "the browser run failed ({}):\n{stdout}\n{}\nappliance log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        app.stderr_text()
    );
    let steps: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let step = |name: &str| {
        steps
            .iter()
            .find(|s| s["step"] == name)
            .unwrap_or_else(|| panic!("no `{name}` step in:\n{stdout}"))
            .clone()
    };
    assert!(step("live")["boxes"].as_u64() >= Some(1));
    assert!(step("events")["snapshot"]["width"].as_u64() > Some(0));
    assert_eq!(step("done")["ok"], true);

    // The line is in the config file, as the console drew it.
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(text.contains("[[cameras.rules.lines]]"), "{text}");
    assert!(text.contains("name = \"middle\""), "{text}");
    let parsed: toml::Value = toml::from_str(&text).expect("valid TOML");
    let line = &parsed["cameras"][0]["rules"]["lines"][0];
    let (from, to) = (&line["from"], &line["to"]);
    let x = |v: &toml::Value, i: usize| v[i].as_float().expect("coordinate");
    assert!(
        (x(from, 0) - 0.5).abs() < 0.03 && (x(to, 0) - 0.5).abs() < 0.03,
        "{line}"
    );
    assert!(x(from, 1) < 0.2 && x(to, 1) > 0.85, "{line}");

    // And the appliance counts people crossing it: an event with the crossing.
    let crossing = wait_for(Duration::from_secs(60), || {
        let page = get_json(&format!("{base}/api/events?camera={CAMERA}&limit=200"))?;
        page["events"]
            .as_array()?
            .iter()
            .find(|e| e["lines"].as_array().is_some_and(|l| !l.is_empty()))
            .cloned()
    })
    .unwrap_or_else(|| {
        panic!(
            "no line-crossing event within 60 s; stats: {:?}",
            get_json(&format!("{base}/api/stats"))
        )
    });
    assert_eq!(crossing["lines"][0]["line"], "middle", "{crossing}");
    let stats = get_json(&format!("{base}/api/stats")).expect("stats");
    let counted = &stats["cameras"][0]["rules"]["lines"]["middle"];
    assert!(counted.is_object(), "{stats}");

    for name in [
        "console-live.png",
        "console-events.png",
        "console-editor.png",
    ] {
        let shot = artifacts.join(name);
        assert!(
            std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000),
            "{} missing or empty",
            shot.display()
        );
    }
    println!(
        "console end to end: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
