//! `edgesightdetect` in real pipelines: a still image decoded and frozen into a few RGB frames,
//! analysed by the bundled model; and a config that does not exist.
//!
//! Needs ONNX Runtime (`make setup`); without it these tests fail and say so.

use std::sync::Once;

use edgesight::config::find_home;
use gstreamer as gst;
use gstreamer::prelude::*;

const ASTRONAUT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/data/astronaut.png"
);

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().expect("GStreamer initialises");
        gstedgesight::plugin_register_static().expect("the edgesight plugin registers");
    });
    if let Err(e) = edgesight::infer::onnx::find_library(&find_home()) {
        panic!("ONNX Runtime is needed for these tests; run `make setup` first ({e})");
    }
    assert!(
        std::path::Path::new(ASTRONAUT).is_file(),
        "test image {ASTRONAUT} is missing"
    );
}

fn pipeline(detect_props: &str) -> gst::Pipeline {
    let text = format!(
        "filesrc location={ASTRONAUT} ! pngdec ! imagefreeze num-buffers=3 ! videoconvert \
         ! video/x-raw,format=RGB ! edgesightdetect name=detect {detect_props} ! fakesink"
    );
    gst::parse::launch(&text)
        .expect("pipeline parses")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline")
}

/// Runs `pipeline` until EOS or an error; returns the detection messages' structures, or the
/// error's message (what `gst-launch-1.0` shows after `ERROR:`) and debug text.
fn run(pipeline: &gst::Pipeline) -> Result<Vec<gst::Structure>, (String, String)> {
    let bus = pipeline.bus().expect("a pipeline has a bus");
    let started = pipeline.set_state(gst::State::Playing);
    let mut found = Vec::new();
    let mut outcome = Ok(());
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(err) => {
                outcome = Err((
                    err.error().to_string(),
                    err.debug().map(|d| d.to_string()).unwrap_or_default(),
                ));
                break;
            }
            gst::MessageView::Element(el) => {
                if let Some(s) = el.structure()
                    && s.name() == gstedgesight::detect::MESSAGE_NAME
                {
                    found.push(s.to_owned());
                }
            }
            _ => {}
        }
    }
    pipeline
        .set_state(gst::State::Null)
        .expect("the pipeline stops");
    outcome?;
    started.map_err(|e| {
        (
            format!("state change failed without an error message: {e}"),
            String::new(),
        )
    })?;
    Ok(found)
}

#[test]
fn detects_the_astronaut() {
    init();
    let messages = run(&pipeline("")).expect("the pipeline runs to EOS");
    assert_eq!(messages.len(), 3, "one message per frame: {messages:?}");

    let mut best_person = None::<serde_json::Value>;
    for (i, s) in messages.iter().enumerate() {
        assert_eq!(s.get::<u64>("frame").expect("frame field"), i as u64);
        let pts = s.get::<Option<gst::ClockTime>>("pts").expect("pts field");
        assert!(pts.is_some(), "imagefreeze timestamps its buffers");
        let count = s.get::<u32>("count").expect("count field");
        let json = s.get::<String>("json").expect("json field");
        let detections: Vec<serde_json::Value> =
            serde_json::from_str(&json).expect("json is an array");
        assert_eq!(detections.len(), count as usize);
        for d in detections {
            if d["label"] == "person" && d["score"].as_f64().unwrap_or(0.0) > 0.5 {
                best_person = Some(d);
            }
        }
    }
    let person = best_person.expect("a person with score > 0.5 is detected");
    let x2 = person["box"]["x2"].as_f64().expect("box.x2 is a number");
    assert!(x2 > 300.0, "the person's box reaches past x=300: {person}");
}

#[test]
fn interval_skips_frames() {
    init();
    let messages = run(&pipeline("interval=2")).expect("the pipeline runs to EOS");
    let frames: Vec<u64> = messages
        .iter()
        .map(|s| s.get::<u64>("frame").expect("frame field"))
        .collect();
    assert_eq!(frames, [0, 2]);
}

#[test]
fn missing_config_fails_with_its_name() {
    init();
    let missing = "/nonexistent/edgesight-no-such-config.toml";
    let (message, debug) = run(&pipeline(&format!("config={missing}")))
        .expect_err("a missing config stops the pipeline");
    assert!(
        message.contains(missing),
        "the error message names the file: {message} (debug: {debug})"
    );
}

#[test]
fn missing_model_fails_with_its_name() {
    init();
    let dir = std::env::temp_dir().join(format!("gst-edgesight-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("missing-model.toml");
    let model = dir.join("no-such-model.onnx");
    std::fs::write(
        &config,
        format!(
            "[model]\npath = \"{}\"\nfamily = \"ssd\"\nlabels = \"{}\"\n",
            model.display(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/coco_labels.txt"),
        ),
    )
    .expect("config written");
    let result = run(&pipeline(&format!("config={}", config.display())));
    let _ = std::fs::remove_dir_all(&dir);
    let (message, debug) = result.expect_err("a missing model stops the pipeline");
    assert!(
        message.contains(&model.display().to_string()) && message.contains("make setup"),
        "the error message names the model and the fix: {message} (debug: {debug})"
    );
}
