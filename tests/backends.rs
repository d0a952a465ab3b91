//! The backend fallback list through the real appliance on this machine (no GPU, no TensorRT
//! library): TensorRT says why it cannot serve, the CPU serves, `/api/health` shows both; a list
//! with nothing that can serve refuses to start, naming each reason.

mod common;

use std::time::Duration;

use common::{get_json, start_appliance, wait_for};

fn config(dir: &std::path::Path, backends: &str) -> std::path::PathBuf {
    let repo = common::repo();
    let path = dir.join("backends.toml");
    std::fs::write(
        &path,
        format!(
            "[model]\npath = \"{}\"\nfamily = \"ssd\"\nlabels = \"{}\"\nbackends = {backends}\n\n[[cameras]]\nname = \"pattern\"\nurl = \"test://ball?fps=5\"\n",
            repo.join("models/ssd_mobilenet_v2_coco_quant_qdq.onnx").display(),
            repo.join("models/coco_labels.txt").display()
        ),
    )
    .expect("write config");
    path
}

#[test]
fn tensorrt_says_why_and_the_cpu_serves() {
    common::require_onnxruntime();
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, base) = start_appliance(&[
        "--config",
        config(dir.path(), r#"["tensorrt", "cpu"]"#)
            .to_str()
            .expect("utf-8"),
    ]);
    // A background build, where the feature is compiled in, fails within moments here.
    let health = wait_for(Duration::from_secs(20), || {
        let h = get_json(&format!("{base}/api/health"))?;
        (h["backends"][0]["state"] == "unavailable").then_some(h)
    })
    .unwrap_or_else(|| {
        panic!(
            "tensorrt never said why: {:?}",
            get_json(&format!("{base}/api/health"))
        )
    });
    println!("{}", health["backends"]);
    assert_eq!(health["backends"][0]["name"], "tensorrt");
    let reason = health["backends"][0]["reason"].as_str().expect("a reason");
    assert!(
        reason.contains("feature `tensorrt`") || reason.contains("libnvinfer"),
        "{reason}"
    );
    assert_eq!(health["backends"][1]["name"], "cpu");
    assert_eq!(health["backends"][1]["state"], "serving");
    assert_eq!(health["model"]["backend"], "onnxruntime-cpu");
    let line = app
        .wait_line("backend tensorrt:", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("the fallback is not logged: {}", app.stderr_text()));
    if !cfg!(feature = "tensorrt") {
        // Built without TensorRT, passing over it is the plan: said, not warned about.
        assert!(line.contains("INFO") && !line.contains("WARN"), "{line}");
    }
    // And it analyses.
    let analysed = wait_for(Duration::from_secs(20), || {
        let c = common::camera(&base, "pattern")?;
        (c["frames_analysed"].as_u64()? > 3).then_some(())
    });
    assert!(analysed.is_some());
}

#[test]
fn cpu_first_leaves_tensorrt_on_standby_and_nothing_to_serve_is_refused() {
    common::require_onnxruntime();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_app, base) = start_appliance(&[
        "--config",
        config(dir.path(), r#"["cpu", "tensorrt"]"#)
            .to_str()
            .expect("utf-8"),
    ]);
    let health = get_json(&format!("{base}/api/health")).expect("health");
    assert_eq!(health["backends"][0]["state"], "serving", "{health}");
    assert_eq!(health["backends"][1]["state"], "standby", "{health}");

    let only = config(dir.path(), r#"["tensorrt"]"#);
    let out = std::process::Command::new(common::bin())
        .args(["run", "--http", "127.0.0.1:0", "--config"])
        .arg(&only)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tensorrt"), "{err}");
    assert!(
        err.contains("feature `tensorrt`") || err.contains("libnvinfer"),
        "{err}"
    );
}
