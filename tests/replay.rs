//! `edgesight replay` on the pedestrian clip with a counting line: the whole pipeline (decode,
//! detect, track, rules, events) gives the same events on two runs, every event has a clean
//! lifecycle, and the line counts fall in the range the clip shows.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Command;

use serde_json::Value;

/// A vertical line through the middle of the frame (x = 384 of 768 px), crossing the footpath
/// that runs left-right through the scene, and a zone over the road on the right.
fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let repo = common::repo();
    let path = dir.join("plaza.toml");
    let text = format!(
        r#"[model]
path = "{model}"
family = "ssd"
labels = "{labels}"

[[cameras]]
name = "plaza"
url = "test://ball"
detect_fps = 10
[cameras.rules]
labels = ["person"]
[[cameras.rules.lines]]
name = "path"
from = [0.5, 0.0]
to = [0.5, 1.0]
[[cameras.rules.zones]]
name = "road"
polygon = [[0.75, 0.1], [1.0, 0.1], [1.0, 0.8], [0.75, 0.8]]
"#,
        model = repo
            .join("models/ssd_mobilenet_v2_coco_quant_qdq.onnx")
            .display(),
        labels = repo.join("models/coco_labels.txt").display(),
    );
    std::fs::write(&path, text).expect("write config");
    path
}

fn replay(args: &[&str]) -> (String, String, bool) {
    let out = Command::new(common::bin())
        .arg("replay")
        .args(args)
        .env("EDGESIGHT_LOG", "warn")
        .output()
        .expect("run edgesight replay");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

#[test]
fn replaying_the_clip_twice_gives_the_same_events_and_plausible_line_counts() {
    common::require_onnxruntime();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path());
    let clip = common::pedestrian_clip();
    let args = [
        clip.to_str().expect("utf-8"),
        "--config",
        config.to_str().expect("utf-8"),
    ];
    let (first, err, ok) = replay(&args);
    assert!(ok, "replay failed: {err}");
    let (second, _, ok) = replay(&args);
    assert!(ok);
    assert!(!first.is_empty(), "no events at all: {err}");
    assert_eq!(first, second, "two replays of one clip differ");

    // Lifecycle: one `new` per id, first; at most one `end`, last; every event ended at the end
    // of the file.
    let mut kinds: HashMap<String, Vec<String>> = HashMap::new();
    let mut crossings: BTreeMap<(String, String), HashSet<(String, u64)>> = BTreeMap::new();
    let mut road_entries = HashSet::new();
    for line in first.lines() {
        let change: Value = serde_json::from_str(line).expect("a JSON line");
        let event = &change["event"];
        let id = event["id"].as_str().expect("id").to_string();
        assert_eq!(event["label"], "person", "only persons are configured");
        assert_eq!(event["version"], 1);
        kinds
            .entry(id.clone())
            .or_default()
            .push(change["kind"].as_str().expect("kind").to_string());
        for c in event["lines"].as_array().expect("lines") {
            let key = (
                c["line"].as_str().expect("line").to_string(),
                c["direction"].as_str().expect("direction").to_string(),
            );
            crossings
                .entry(key)
                .or_default()
                .insert((id.clone(), c["at_ms"].as_u64().expect("at_ms")));
        }
        if event["entered_zones"]
            .as_array()
            .expect("zones")
            .iter()
            .any(|z| z == "road")
        {
            road_entries.insert(id);
        }
    }
    for (id, seq) in &kinds {
        assert_eq!(
            seq.first().map(String::as_str),
            Some("new"),
            "{id}: {seq:?}"
        );
        assert_eq!(seq.last().map(String::as_str), Some("end"), "{id}: {seq:?}");
        assert_eq!(seq.iter().filter(|k| *k == "new").count(), 1, "{id}");
        assert_eq!(seq.iter().filter(|k| *k == "end").count(), 1, "{id}");
    }
    let summary: Value = serde_json::from_str(
        err.lines()
            .rev()
            .find_map(|l| l.strip_prefix("replay: "))
            .expect("summary line on stderr"),
    )
    .expect("summary JSON");
    assert_eq!(summary["frames_decoded"], 795, "{summary}");
    assert_eq!(
        summary["frames_analysed"], 795,
        "10 fps clip at detect_fps 10"
    );

    // Why this range: frames sampled once a second show walkers crossing the middle of the
    // path both ways all through the clip (three of them between 24 and 30 s alone, right to
    // left on screen, which is `left_to_right` for a line drawn top to bottom), and a group
    // standing on the line by the sign from 3 to 12 s: roughly 8 to 12 real crossings a way.
    // Counting is of tracked objects, so a walker whose track breaks while standing in the
    // group is not counted when it leaves. Measured here: 6 and 6. Under 4 a way would mean
    // real crossings are missed; over 14 would mean people lingering or walking along the line
    // are counted again and again (without the line's dead band this clip gave 16 and 13).
    for direction in ["left_to_right", "right_to_left"] {
        let n = crossings
            .get(&("path".to_string(), direction.to_string()))
            .map_or(0, HashSet::len);
        assert!((4..=14).contains(&n), "path {direction}: {n} crossings");
    }
    // The counters in the summary agree with the crossings carried by the events.
    let counted = &summary["rules"]["lines"]["path"];
    for direction in ["left_to_right", "right_to_left"] {
        let from_events = crossings
            .get(&("path".to_string(), direction.to_string()))
            .map_or(0, HashSet::len) as u64;
        assert_eq!(counted[direction]["person"], from_events, "{summary}");
    }
    // People walk down the road on the right during the clip.
    assert!(!road_entries.is_empty(), "nobody entered the road zone");
}

#[test]
fn a_missing_clip_or_camera_is_named() {
    common::require_onnxruntime();
    let (_, err, ok) = replay(&["/no/such/clip.mp4"]);
    assert!(!ok);
    assert!(
        err.contains("/no/such/clip.mp4") && err.contains("no such file"),
        "{err}"
    );
    let clip = common::pedestrian_clip();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path());
    let (_, err, ok) = replay(&[
        clip.to_str().expect("utf-8"),
        "--config",
        config.to_str().expect("utf-8"),
        "--camera",
        "nope",
    ]);
    assert!(!ok);
    assert!(err.contains("nope") && err.contains("plaza"), "{err}");
}
