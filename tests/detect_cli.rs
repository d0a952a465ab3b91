//! `edgesight detect` on still images with the bundled model, against the reference detections
//! in `../shared/models/README.md` (astronaut → person 0.73 [11,7,374,511]; chelsea → cat 0.91;
//! coffee → cup 0.91).

mod common;

use std::process::Command;

use serde_json::Value;

fn detect(images: &[&str]) -> (Vec<Value>, String, bool) {
    common::require_onnxruntime();
    let mut cmd = Command::new(common::bin());
    cmd.arg("detect");
    for name in images {
        cmd.arg(common::data(name));
    }
    let out = cmd.output().expect("run edgesight detect");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    (
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

fn best<'a>(result: &'a Value, label: &str) -> Option<&'a Value> {
    result["detections"]
        .as_array()?
        .iter()
        .filter(|d| d["label"] == label)
        .max_by(|a, b| {
            a["score"]
                .as_f64()
                .partial_cmp(&b["score"].as_f64())
                .expect("scores")
        })
}

/// Boxes within 4% of the image size of the reference: our resampler (bilinear, pixel-centre)
/// differs slightly from the one that produced the reference values.
fn assert_box_near(d: &Value, reference: [f64; 4], size: f64) {
    let b = &d["box"];
    let got = [
        b["x1"].as_f64(),
        b["y1"].as_f64(),
        b["x2"].as_f64(),
        b["y2"].as_f64(),
    ];
    for (g, r) in got.iter().zip(reference) {
        let g = g.expect("box coordinate");
        assert!(
            (g - r).abs() <= 0.04 * size,
            "box {got:?} vs reference {reference:?}"
        );
    }
}

#[test]
fn finds_person_cat_and_cup_like_the_reference() {
    let (results, stderr, ok) = detect(&["astronaut.png", "chelsea.png", "coffee.png"]);
    assert!(ok, "detect failed: {stderr}");
    assert_eq!(results.len(), 3, "{stderr}");

    let person = best(&results[0], "person").expect("a person in astronaut.png");
    let score = person["score"].as_f64().expect("score");
    assert!((score - 0.73).abs() < 0.08, "person score {score}");
    assert_box_near(person, [11.0, 7.0, 374.0, 511.0], 512.0);

    let cat = best(&results[1], "cat").expect("a cat in chelsea.png");
    assert!(cat["score"].as_f64().expect("score") > 0.8);
    assert_eq!(results[1]["width"], 451);

    let cup = best(&results[2], "cup").expect("a cup in coffee.png");
    assert!(cup["score"].as_f64().expect("score") > 0.8);
    // The cup is in the middle of the picture, not at an edge.
    let b = &cup["box"];
    let cx = (b["x1"].as_f64().expect("x1") + b["x2"].as_f64().expect("x2")) / 2.0;
    assert!((200.0..400.0).contains(&cx), "cup centre x {cx}");
}

#[test]
fn an_unreadable_image_is_an_error_and_the_others_still_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("broken.png");
    std::fs::write(&broken, b"not a png").expect("write");
    common::require_onnxruntime();
    let out = Command::new(common::bin())
        .arg("detect")
        .arg(&broken)
        .arg(common::data("chelsea.png"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.png") && stderr.contains("cannot read image"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("\"cat\""),
        "chelsea still analysed: {stdout}"
    );
}

/// The YOLOX family (anchor-free grid + class-aware NMS) with YOLOX-nano from `../shared/models/`
/// (not redistributable, so not in the project): skipped, saying so, where that copy is absent.
#[test]
fn yolox_family_finds_the_same_objects() {
    let shared = common::repo().join("../shared/models");
    let model = shared.join("yolox_nano.onnx");
    if !model.is_file() {
        eprintln!(
            "SKIPPED yolox_family_finds_the_same_objects: {} is absent",
            model.display()
        );
        return;
    }
    common::require_onnxruntime();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("yolox.toml");
    let text = format!(
        "[model]\npath = {:?}\nfamily = \"yolox\"\nlabels = {:?}\nscore_threshold = 0.3\n[[cameras]]\nname = \"x\"\nurl = \"test://ball\"\n",
        model,
        shared.join("coco_classes.txt")
    );
    std::fs::write(&config, text).expect("write config");
    let out = Command::new(common::bin())
        .args(["detect", "--config", config.to_str().expect("utf-8")])
        .args(["astronaut.png", "chelsea.png", "coffee.png"].map(common::data))
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let results: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    // Reference (models README): astronaut → person 0.93; chelsea → cat 0.62; coffee → cup 0.90.
    let person = best(&results[0], "person").expect("person");
    assert!(person["score"].as_f64().expect("score") > 0.85, "{person}");
    assert_box_near(person, [11.0, 7.0, 374.0, 511.0], 512.0);
    assert!(
        best(&results[1], "cat").expect("cat")["score"]
            .as_f64()
            .expect("score")
            > 0.5
    );
    assert!(
        best(&results[2], "cup").expect("cup")["score"]
            .as_f64()
            .expect("score")
            > 0.8
    );
}
