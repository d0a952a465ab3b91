//! Motion-gated detection through `edgesight replay`: on a static scene the detector runs at
//! least three times less often (tracked objects still refreshed), and on the pedestrian clip
//! the gate loses no event compared with running without it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// 10 s at 10 fps of one still photo (a person), encoded like a camera would.
fn static_clip(dir: &Path) -> PathBuf {
    let out = dir.join("static.mp4");
    let photo = format!("location={}", common::data("astronaut.png").display());
    let sink = format!("location={}", out.display());
    common::gst_launch(&[
        "filesrc",
        &photo,
        "!",
        "pngdec",
        "!",
        "imagefreeze",
        "num-buffers=100",
        "!",
        "video/x-raw,framerate=10/1",
        "!",
        "videoconvert",
        "!",
        "x264enc",
        "key-int-max=10",
        "!",
        "h264parse",
        "!",
        "mp4mux",
        "!",
        "filesink",
        &sink,
    ]);
    out
}

/// The first 20 s (200 frames) of the pedestrian clip.
fn clip_start(dir: &Path) -> PathBuf {
    let src = format!("location={}", common::pedestrian_clip().display());
    let out = dir.join("start.mp4");
    let sink = format!("location={}", out.display());
    common::gst_launch(&[
        "filesrc",
        &src,
        "!",
        "qtdemux",
        "!",
        "h264parse",
        "!",
        "identity",
        "eos-after=200",
        "!",
        "mp4mux",
        "!",
        "filesink",
        &sink,
    ]);
    out
}

fn config(dir: &Path, gate: bool) -> PathBuf {
    let repo = common::repo();
    let path = dir.join(if gate { "gate.toml" } else { "nogate.toml" });
    let motion = if gate { "[cameras.motion]\n" } else { "" };
    std::fs::write(
        &path,
        format!(
            "[model]\npath = \"{}\"\nfamily = \"ssd\"\nlabels = \"{}\"\n\n[[cameras]]\nname = \"cam\"\nurl = \"test://ball\"\ndetect_fps = 10\n{motion}[cameras.rules]\nlabels = [\"person\"]\n[[cameras.rules.lines]]\nname = \"path\"\nfrom = [0.5, 0.0]\nto = [0.5, 1.0]\n",
            repo.join("models/ssd_mobilenet_v2_coco_quant_qdq.onnx").display(),
            repo.join("models/coco_labels.txt").display()
        ),
    )
    .expect("write config");
    path
}

/// Runs a replay; returns (events as JSON lines, summary).
fn replay(clip: &Path, config: &Path) -> (String, Value) {
    let out = Command::new(common::bin())
        .arg("replay")
        .arg(clip)
        .arg("--config")
        .arg(config)
        .env("EDGESIGHT_LOG", "warn")
        .output()
        .expect("edgesight replay");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let summary = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("replay: "))
        .expect("summary line");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        serde_json::from_str(summary).expect("summary JSON"),
    )
}

#[test]
fn a_static_scene_needs_far_fewer_inferences_and_the_clip_loses_no_event() {
    common::require_onnxruntime();
    let dir = tempfile::tempdir().expect("tempdir");
    let (gate, no_gate) = (config(dir.path(), true), config(dir.path(), false));

    let still = static_clip(dir.path());
    let (_, plain) = replay(&still, &no_gate);
    let (_, gated) = replay(&still, &gate);
    let (all, few) = (
        plain["frames_analysed"].as_u64().expect("n"),
        gated["frames_analysed"].as_u64().expect("n"),
    );
    println!("static scene: {all} inferences without the gate, {few} with it");
    assert_eq!(all, 100);
    assert!(few * 3 <= all, "{few} of {all}: not 3x fewer");
    // The person in the photo is still found, and stays one event.
    assert_eq!(gated["events"], plain["events"], "{gated}");
    assert_eq!(gated["events"], 1, "{gated}");

    let clip = clip_start(dir.path());
    let (events_plain, plain) = replay(&clip, &no_gate);
    let (events_gated, gated) = replay(&clip, &gate);
    println!(
        "pedestrian clip: {} and {} inferences, {} and {} events",
        plain["frames_analysed"], gated["frames_analysed"], plain["events"], gated["events"]
    );
    let ids = |text: &str| -> std::collections::BTreeSet<String> {
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
            .map(|c| c["event"]["id"].as_str().expect("id").to_string())
            .collect()
    };
    let missing: Vec<_> = ids(&events_plain)
        .difference(&ids(&events_gated))
        .cloned()
        .collect();
    assert!(missing.is_empty(), "events lost with the gate: {missing:?}");
    assert_eq!(
        gated["rules"]["lines"], plain["rules"]["lines"],
        "line counts differ"
    );
}
