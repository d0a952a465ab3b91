//! Events through the real appliance: a file camera of the pedestrian clip produces events that
//! are stored (SQLite + JPEG snapshots), queried page by page over the API, served as images,
//! deleted, and still there after a restart on the same data folder.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{get_json, start_appliance, wait_for};
use reqwest::blocking::Client;
use serde_json::Value;

fn jpeg(client: &Client, url: &str) -> Option<image::RgbImage> {
    let r = client.get(url).send().ok()?;
    if r.status() != 200 {
        return None;
    }
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/jpeg")
    );
    let bytes = r.bytes().ok()?;
    Some(
        image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
            .expect("a valid JPEG")
            .into_rgb8(),
    )
}

#[test]
fn events_are_stored_queried_served_deleted_and_kept_across_restarts() {
    common::require_onnxruntime();
    let data = tempfile::tempdir().expect("data folder");
    let data_arg = data.path().to_str().expect("utf-8");
    let clip = format!("clip=file://{}", common::pedestrian_clip().display());
    let (mut app, base) = start_appliance(&["--camera", &clip, "--data", data_arg]);
    let client = Client::new();

    // Events with snapshots arrive.
    let with_snapshot = wait_for(Duration::from_secs(40), || {
        let page = get_json(&format!("{base}/api/events?label=person&limit=50"))?;
        let events = page["events"].as_array()?;
        let n = events.iter().filter(|e| e["has_snapshot"] == true).count();
        (n >= 3).then(|| events.clone())
    })
    .unwrap_or_else(|| panic!("no stored events with snapshots: {}", app.stderr_text()));
    let event = with_snapshot
        .iter()
        .find(|e| e["has_snapshot"] == true)
        .expect("one with a snapshot");
    let id = event["id"].as_str().expect("id");

    // The snapshot is the whole frame with the box drawn; the crop is the object.
    let full = jpeg(&client, &format!("{base}/api/events/{id}/snapshot.jpg")).expect("snapshot");
    assert_eq!(full.dimensions(), (768, 576));
    let crop = jpeg(&client, &format!("{base}/api/events/{id}/crop.jpg")).expect("crop");
    assert!(crop.width() < 768 && crop.height() < 576 && crop.width() > 4);
    let drawn = full
        .pixels()
        .filter(|p| p[0] > 200 && p[1] < 80 && p[2] > 200)
        .count();
    assert!(
        drawn > 100,
        "no magenta box in the snapshot ({drawn} pixels)"
    );

    // One event by id; unknown ids and malformed ids are errors that never touch a file.
    let one = get_json(&format!("{base}/api/events/{id}")).expect("event by id");
    assert_eq!(one["id"], id);
    for (path, status) in [
        ("/api/events/no-such-event", 404),
        ("/api/events/no-such-event/snapshot.jpg", 404),
        ("/api/events/..%2F..%2Fetc%2Fpasswd/snapshot.jpg", 400),
        ("/api/events/%2Fetc%2Fpasswd", 400),
        (&format!("/api/events/{id}/..%2F..%2Fevents.db"), 404),
        ("/api/events?limit=9999", 400),
        ("/api/events?cursor=garbage", 400),
        ("/api/events?colour=red", 400),
    ] {
        let r = client.get(format!("{base}{path}")).send().expect("request");
        assert_eq!(r.status().as_u16(), status, "{path}");
        let body = r.text().expect("body");
        assert!(!body.contains("root:"), "{path} leaked a file");
        let parsed: Value = serde_json::from_str(&body).expect("JSON error");
        assert!(parsed["error"]["code"].is_string(), "{path}: {body}");
    }

    // Pages: no duplicates, no gaps, newest first.
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    let mut last_first_seen = u64::MAX;
    for _ in 0..200 {
        let mut url = format!("{base}/api/events?limit=3&camera=clip");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = get_json(&url).expect("page");
        for e in page["events"].as_array().expect("events") {
            assert!(seen.insert(e["id"].as_str().expect("id").to_string()));
            let first = e["first_seen_ms"].as_u64().expect("ms");
            assert!(first <= last_first_seen, "not newest first");
            last_first_seen = first;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert!(seen.len() >= 3);
    let other = get_json(&format!("{base}/api/events?camera=elsewhere")).expect("filtered");
    assert_eq!(other["events"].as_array().map(Vec::len), Some(0));

    // Counts for charts.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let counts = get_json(&format!(
        "{base}/api/events/counts?from_ms={}&to_ms={}&bucket_ms=60000",
        now - 3_600_000,
        now + 60_000
    ))
    .expect("counts");
    let persons: u64 = counts
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["label"] == "person" && r["camera"] == "clip")
        .filter_map(|r| r["count"].as_u64())
        .sum();
    assert!(persons >= 3, "{counts}");

    // Delete: the row and its files go.
    let r = client
        .delete(format!("{base}/api/events/{id}"))
        .bearer_auth(common::TOKEN)
        .send()
        .expect("delete");
    assert_eq!(r.status(), 200);
    assert!(get_json(&format!("{base}/api/events/{id}")).is_none());
    assert!(jpeg(&client, &format!("{base}/api/events/{id}/snapshot.jpg")).is_none());

    // Restart on the same folder: the events are still there, and the ones that were open when
    // the appliance stopped are ended.
    let before: HashSet<String> = seen;
    assert!(app.terminate(Duration::from_secs(15)).is_some());
    let (_app, base) = start_appliance(&["--camera", "idle=test://ball?fps=5", "--data", data_arg]);
    let page = get_json(&format!("{base}/api/events?camera=clip&limit=500")).expect("page");
    let after: Vec<&Value> = page["events"].as_array().expect("events").iter().collect();
    assert!(
        after.len() + 1 >= before.len(),
        "events lost: {} of {}",
        after.len(),
        before.len()
    );
    assert!(
        after.iter().all(|e| e["ended"] == true),
        "an event stayed open"
    );
    assert!(
        after.iter().all(|e| e["id"] != id),
        "the deleted event came back"
    );
}
