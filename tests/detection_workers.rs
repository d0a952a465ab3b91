//! Detection workers: with `model.workers = 2`, two `detect-N` threads each run their own
//! inference session, both take work, and every camera's frames are still followed in order
//! (a camera never has two frames in flight): in `--print-detections`, each camera's frame
//! numbers (and the stream times, `pts_ms`) only go up. `/api/health` says how many workers
//! serve.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{get_json, start_appliance, wait_for};

const CAMERAS: usize = 6;

/// CPU ticks (utime + stime) of each thread of `pid` whose name starts with `prefix`.
fn thread_ticks(pid: u32, prefix: &str) -> Vec<(String, u64)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| {
            let name = std::fs::read_to_string(task.path().join("comm")).ok()?;
            let name = name.trim().to_string();
            if !name.starts_with(prefix) {
                return None;
            }
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let after = stat.rsplit_once(')')?.1;
            let f: Vec<&str> = after.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
            Some((name, ticks))
        })
        .collect()
}

#[test]
fn two_workers_share_the_detection_and_each_cameras_frames_stay_in_order() {
    common::require_onnxruntime();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut text = common::model_table("workers = 2\nthreads = 1\nbackends = [\"cpu\"]\n");
    for i in 0..CAMERAS {
        // Every frame wanted, more than one worker can take: both must work.
        text.push_str(&format!(
            "\n[[cameras]]\nname = \"cam{i}\"\nurl = \"test://ball?fps=15&width=320&height=240\"\ndetect_fps = 30\n"
        ));
    }
    let config = dir.path().join("workers.toml");
    std::fs::write(&config, text).expect("write config");
    let (mut app, base) = start_appliance(&[
        "--config",
        config.to_str().expect("utf-8"),
        "--print-detections",
    ]);
    let line = app
        .wait_line("detection worker", Duration::from_secs(5))
        .expect("the start line names the workers");
    assert!(
        line.contains("2 detection workers, 1 inference thread each"),
        "{line}"
    );
    let streaming = wait_for(Duration::from_secs(30), || {
        let list = get_json(&format!("{base}/api/cameras"))?;
        let list = list.as_array()?;
        (list.len() == CAMERAS && list.iter().all(|c| c["state"] == "streaming")).then_some(())
    });
    assert!(streaming.is_some(), "{}", app.stderr_text());
    let health = get_json(&format!("{base}/api/health")).expect("health");
    assert_eq!(health["model"]["workers"], 2, "{health}");
    assert_eq!(health["model"]["threads"], 1, "{health}");
    let pid = app.child.id();
    let before = thread_ticks(pid, "detect-");
    std::thread::sleep(Duration::from_secs(6));
    let after = thread_ticks(pid, "detect-");
    app.terminate(Duration::from_secs(20));

    let mut names: Vec<&str> = after.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["detect-0", "detect-1"], "one thread per worker");
    for (name, ticks) in &after {
        let was = before
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, t)| *t);
        assert!(
            *ticks > was,
            "{name} did no work in 6 s ({was} → {ticks} ticks)"
        );
    }

    let lines = app.stdout.lock().expect("lock").clone();
    let mut last: HashMap<String, (u64, u64)> = HashMap::new();
    let mut results = 0;
    for line in &lines {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(camera), Some(frame)) = (v["camera"].as_str(), v["frame"].as_u64()) else {
            continue;
        };
        // The stream's own time of the frame goes up with the frame number.
        let pts = v["pts_ms"]
            .as_u64()
            .unwrap_or_else(|| panic!("no pts_ms: {line}"));
        results += 1;
        if let Some((previous, previous_pts)) = last.insert(camera.to_string(), (frame, pts)) {
            assert!(
                frame > previous && pts > previous_pts,
                "{camera}: frame {frame} (pts {pts} ms) published after frame {previous} (pts {previous_pts} ms)"
            );
        }
    }
    assert_eq!(last.len(), CAMERAS, "every camera analysed: {last:?}");
    assert!(
        results >= 60,
        "only {results} frames analysed in all: {}",
        app.stderr_text()
    );
}
