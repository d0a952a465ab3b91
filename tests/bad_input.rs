//! Bad input gets a clear message: a typo'd config key, a missing model, a model whose sha256
//! does not match. (An unreachable camera is covered in end_to_end.rs.)

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn edgesight(args: &[&str]) -> Output {
    Command::new(common::bin())
        .args(args)
        .output()
        .expect("run edgesight")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn write_config(dir: &Path, model: &Path, extra: &str) -> std::path::PathBuf {
    let labels = common::repo().join("models/coco_labels.txt");
    let text = format!(
        "[http]\nbind = \"127.0.0.1:0\"\n[model]\npath = {model:?}\nfamily = \"ssd\"\nlabels = {labels:?}\n{extra}\n[[cameras]]\nname = \"pattern\"\nurl = \"test://ball\"\n"
    );
    let path = dir.join("edgesight.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

#[test]
fn a_typo_in_a_key_names_the_key_and_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = common::repo().join("models/ssd_mobilenet_v2_coco_quant_qdq.onnx");
    let path = write_config(dir.path(), &model, "scor_threshold = 0.4");
    let out = edgesight(&["check-config", path.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("edgesight.toml"), "{err}");
    assert!(err.contains("scor_threshold"), "{err}");
    assert!(err.contains("line 7"), "{err}");
    assert!(
        err.contains("score_threshold"),
        "the expected keys are listed: {err}"
    );
}

#[test]
fn a_missing_model_file_is_refused_with_the_path() {
    common::require_onnxruntime();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(dir.path(), &dir.path().join("nope.onnx"), "");
    let out = edgesight(&["run", "--config", path.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("nope.onnx") && err.contains("not found"),
        "{err}"
    );
    assert!(err.contains("model.path"), "names the field to fix: {err}");
}

#[test]
fn a_model_whose_hash_does_not_match_is_refused() {
    common::require_onnxruntime();
    let dir = tempfile::tempdir().expect("tempdir");
    let bundled = common::repo().join("models/ssd_mobilenet_v2_coco_quant_qdq.onnx");
    let copy = dir.path().join("model.onnx");
    let mut bytes = std::fs::read(&bundled).expect("read bundled model");
    bytes.push(0);
    std::fs::write(&copy, &bytes).expect("write copy");
    std::fs::copy(
        common::repo().join("models/ssd_mobilenet_v2_coco_quant_qdq.onnx.sha256"),
        dir.path().join("model.onnx.sha256"),
    )
    .expect("copy sha256");
    let path = write_config(dir.path(), &copy, "");
    let out = edgesight(&["run", "--config", path.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("sha256") && err.contains("model.onnx"),
        "{err}"
    );
    assert!(
        err.contains("aa64dd6e33a7e34c904f4049a3ef58f397dbeb37c304d28a3648c98d3d594d32"),
        "{err}"
    );

    // The same hash given in the config is checked too.
    let path = write_config(
        dir.path(),
        &bundled,
        &format!("sha256 = \"{}\"", "0".repeat(64)),
    );
    let out = edgesight(&["detect", "--config", path.to_str().expect("utf-8"), "x.png"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("model.sha256 in the config"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bad_camera_on_the_command_line_names_the_flag() {
    let out = edgesight(&["run", "--camera", "door=ftp://x/y"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("--camera #1") && err.contains("ftp"), "{err}");
    let out = edgesight(&["run", "--camera", "no-equals-sign"]);
    assert!(stderr(&out).contains("NAME=URL"), "{}", stderr(&out));
}

#[test]
fn a_missing_onnx_runtime_library_names_the_setup_command() {
    let out = Command::new(common::bin())
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .args([
            "detect",
            common::data("astronaut.png").to_str().expect("utf-8"),
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("ONNX Runtime library not found"), "{err}");
    assert!(err.contains("/nonexistent/libonnxruntime.so"), "{err}");
    assert!(err.contains("make setup"), "{err}");
}
