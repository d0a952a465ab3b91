//! Property tests: crossings through the tracker, jitter on a line, event lifecycle invariants,
//! determinism.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::tests::{FRAME, tr};
use super::*;
use crate::event::{ChangeKind, EventChange, LineDirection};
use crate::postprocess::{BoundingBox, LabeledDetection};
use crate::track::{Tracker, TrackerConfig};

fn det(class_id: u32, score: f32, x1: f32, y1: f32, x2: f32, y2: f32) -> LabeledDetection {
    LabeledDetection {
        label: ["person", "car", "dog"][class_id as usize % 3].to_string(),
        class_id,
        score,
        bbox: BoundingBox { x1, y1, x2, y2 },
    }
}

/// One object walking straight up or down its own lane across the line y = 360 (1280×720).
#[derive(Clone, Debug)]
struct Walker {
    down: bool,
    speed: f32,
    start_ms: u64,
    class_id: u32,
}

const LANE_W: f32 = 60.0;
const LANE_H: f32 = 120.0;
const TRAVEL: f32 = 450.0;

fn walkers() -> impl Strategy<Value = Vec<Walker>> {
    prop::collection::vec(
        (any::<bool>(), 60.0_f32..220.0, 0_u64..2000, 0_u32..2).prop_map(
            |(down, speed, start_ms, class_id)| Walker {
                down,
                speed,
                start_ms,
                class_id,
            },
        ),
        1..=4,
    )
}

/// Runs the walkers through tracker and rules; returns, per walker, the track ids its
/// detections were matched to, and every event change (finish included).
fn run_walkers(
    fps: u32,
    ws: &[Walker],
    noise: &[(f32, f32)],
) -> (Vec<BTreeSet<u64>>, Vec<EventChange>, RulesStats) {
    let mut tracker = Tracker::new(TrackerConfig::default());
    let cfg = RulesConfig {
        lines: vec![LineConfig {
            name: "door".into(),
            from: [0.05, 0.5],
            to: [0.95, 0.5],
            labels: vec![],
        }],
        ..Default::default()
    };
    let mut rules = Rules::new("cam", cfg);
    let mut ids = vec![BTreeSet::new(); ws.len()];
    let mut changes = Vec::new();
    let step = 1000 / u64::from(fps);
    let end = ws
        .iter()
        .map(|w| w.start_ms + (TRAVEL / w.speed * 1000.0) as u64)
        .max()
        .unwrap_or(0)
        + 3000;
    let (mut t, mut frame) = (0, 0);
    while t <= end {
        let mut dets = Vec::new();
        let mut owner = Vec::new();
        for (i, w) in ws.iter().enumerate() {
            let travelled = w.speed * t.saturating_sub(w.start_ms) as f32 / 1000.0;
            if t < w.start_ms || travelled > TRAVEL {
                continue;
            }
            let y = if w.down {
                150.0 + travelled
            } else {
                600.0 - travelled
            };
            let x = 200.0 + 280.0 * i as f32;
            let (nx, ny) = noise[(frame + 7 * i) % noise.len()];
            let (x, y) = (x + nx, y + ny);
            dets.push(det(
                w.class_id,
                0.9,
                x - LANE_W / 2.0,
                y - LANE_H,
                x + LANE_W / 2.0,
                y,
            ));
            owner.push(i);
        }
        let tracks = tracker.update(&dets, t);
        for track in tracks {
            if let Some(d) = track.detection {
                ids[owner[d]].insert(track.id);
            }
        }
        changes.extend(rules.update(tracks, 1280, 720, t));
        t += step;
        frame += 1;
    }
    changes.extend(rules.finish(t));
    (ids, changes, rules.stats())
}

/// Per event id, the changes in order.
fn by_event(changes: &[EventChange]) -> BTreeMap<String, Vec<&EventChange>> {
    let mut map: BTreeMap<String, Vec<&EventChange>> = BTreeMap::new();
    for c in changes {
        map.entry(c.event.id.clone()).or_default().push(c);
    }
    map
}

/// A person track standing still at x (px) with its anchor `offset` px below (+) or above (−)
/// the line y = 500 of a 1000×1000 frame.
fn jitter_track(x: f32, offset: f32, t: u64) -> crate::track::Track {
    tr(1, x, 500.0 + offset, t)
}

/// Feeds the runs `(below, frames)` to rules with a line from [0.1, 0.5] to [0.9, 0.5] and no
/// dead band (the debounce alone is under test); returns the crossings counted.
fn run_jitter(min_frames: u32, runs: &[(bool, u32)], x: f32, dist: &[f32]) -> Vec<LineDirection> {
    let cfg = RulesConfig {
        lines: vec![LineConfig {
            name: "l".into(),
            from: [0.1, 0.5],
            to: [0.9, 0.5],
            labels: vec![],
        }],
        min_frames,
        line_margin: 0.0,
        ..Default::default()
    };
    let mut rules = Rules::new("cam", cfg);
    let mut t = 0;
    let mut changes = Vec::new();
    for &(below, frames) in runs {
        for _ in 0..frames {
            let d = dist[(t / 100) as usize % dist.len()];
            let offset = if below { d } else { -d };
            changes.extend(rules.update(&[jitter_track(x, offset, t)], FRAME, FRAME, t));
            t += 100;
        }
    }
    changes.extend(rules.finish(t));
    let last = changes.last().expect("at least the new and the end");
    assert_eq!(last.kind, ChangeKind::End);
    let stats = &rules.stats().lines["l"];
    let counted: u64 = stats
        .left_to_right
        .values()
        .chain(stats.right_to_left.values())
        .sum();
    assert_eq!(counted as usize, last.event.lines.len());
    last.event.lines.iter().map(|l| l.direction).collect()
}

/// Jitter runs: `(first, second)` pairs where the second never reaches `min_frames`.
fn jitter_runs() -> impl Strategy<Value = (u32, Vec<(u32, u32)>, f32, Vec<f32>)> {
    (2_u32..=6).prop_flat_map(|m| {
        (
            Just(m),
            prop::collection::vec((1_u32..8, 1..m), 0..20),
            150.0_f32..850.0,
            prop::collection::vec(0.5_f32..40.0, 1..16),
        )
    })
}

/// An object of a scene: class, x, y, vx, vy (px/s), w, h (px).
type SceneObject = (u32, f32, f32, f32, f32, f32, f32);
/// A frame of a scene: time step (ms), which objects are detected (bit per object), their
/// scores, and clutter boxes (class, x, y, score).
type SceneFrame = (u64, u8, Vec<f32>, Vec<(u32, f32, f32, f32)>);

/// A random scene: objects on random straight paths, dropping in and out, plus clutter.
#[derive(Clone, Debug)]
struct Scene {
    objects: Vec<SceneObject>,
    frames: Vec<SceneFrame>,
    min_hits: u32,
    min_frames: u32,
    update_interval_s: f32,
    required: bool,
}

fn scenes() -> impl Strategy<Value = Scene> {
    let object = (
        0_u32..3,
        0.0_f32..640.0,
        0.0_f32..480.0,
        -150.0_f32..150.0,
        -150.0_f32..150.0,
        20.0_f32..120.0,
        20.0_f32..160.0,
    );
    let dt = prop::sample::select(vec![33_u64, 66, 100, 100, 200, 500, 2500]);
    let clutter = (0_u32..3, 0.0_f32..600.0, 0.0_f32..440.0, 0.05_f32..1.0);
    let frame = (
        dt,
        any::<u8>(),
        prop::collection::vec(0.05_f32..1.0, 6),
        prop::collection::vec(clutter, 0..3),
    );
    (
        prop::collection::vec(object, 0..6),
        prop::collection::vec(frame, 5..80),
        1_u32..4,
        1_u32..4,
        prop::sample::select(vec![0.0_f32, 0.5, 2.0]),
        any::<bool>(),
    )
        .prop_map(
            |(objects, frames, min_hits, min_frames, update_interval_s, required)| Scene {
                objects,
                frames,
                min_hits,
                min_frames,
                update_interval_s,
                required,
            },
        )
}

/// Runs a scene through tracker and rules (640×480); every change, finish included.
fn run_scene(s: &Scene) -> (Vec<EventChange>, RulesStats) {
    let mut tracker = Tracker::new(TrackerConfig {
        min_hits: s.min_hits,
        ..Default::default()
    });
    let mut zone = ZoneConfig {
        name: "left".into(),
        polygon: vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]],
        labels: vec![],
        loiter_s: Some(1.0),
    };
    zone.labels = vec!["person".into(), "car".into()];
    let mut filters = BTreeMap::new();
    filters.insert(
        "car".to_string(),
        ObjectFilter {
            min_score: 0.6,
            ..Default::default()
        },
    );
    let cfg = RulesConfig {
        zones: vec![zone],
        lines: vec![LineConfig {
            name: "mid".into(),
            from: [0.1, 0.5],
            to: [0.9, 0.5],
            labels: vec![],
        }],
        filters,
        required_zones: if s.required {
            vec!["left".into()]
        } else {
            vec![]
        },
        min_frames: s.min_frames,
        update_interval_s: s.update_interval_s,
        ..Default::default()
    };
    cfg.validate().expect("scene config is valid");
    let mut rules = Rules::new("cam", cfg);
    let mut changes = Vec::new();
    let mut t = 1_000_000;
    for (dt, mask, scores, clutter) in &s.frames {
        t += dt;
        let secs = (t - 1_000_000) as f32 / 1000.0;
        let mut dets = Vec::new();
        for (i, &(class, x, y, vx, vy, w, h)) in s.objects.iter().enumerate() {
            if mask & (1 << i) == 0 {
                continue;
            }
            let x1 = (x + vx * secs).rem_euclid(640.0 - w);
            let y1 = (y + vy * secs).rem_euclid(480.0 - h);
            dets.push(det(class, scores[i], x1, y1, x1 + w, y1 + h));
        }
        for &(class, x, y, score) in clutter {
            dets.push(det(class, score, x, y, x + 40.0, y + 40.0));
        }
        let tracks = tracker.update(&dets, t);
        changes.extend(rules.update(tracks, 640, 480, t));
    }
    changes.extend(rules.finish(t + 1));
    (changes, rules.stats())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// (a) Objects walking straight across a line, with noise, at realistic rates: no id
    /// switch, exactly one crossing each, in the right direction.
    #[test]
    fn clean_crossings_count_once_without_id_switches(
        fps in prop::sample::select(vec![5_u32, 8, 10, 15, 25, 30]),
        ws in walkers(),
        noise in prop::collection::vec((-2.0_f32..2.0, -2.0_f32..2.0), 1..32),
    ) {
        let (ids, changes, stats) = run_walkers(fps, &ws, &noise);
        let mut all = BTreeSet::new();
        for (i, set) in ids.iter().enumerate() {
            prop_assert_eq!(set.len(), 1, "walker {} had tracks {:?}", i, set);
            prop_assert!(all.insert(*set.first().expect("one")), "two walkers shared a track");
        }
        let events = by_event(&changes);
        prop_assert_eq!(events.len(), ws.len());
        for (w, set) in ws.iter().zip(&ids) {
            let id = *set.first().expect("one");
            let last = changes.iter().rev().find(|c| c.event.track_id == id).expect("an event");
            prop_assert_eq!(last.kind, ChangeKind::End);
            let expected = if w.down { LineDirection::LeftToRight } else { LineDirection::RightToLeft };
            let dirs: Vec<_> = last.event.lines.iter().map(|l| l.direction).collect();
            prop_assert_eq!(dirs, vec![expected]);
        }
        let door = &stats.lines["door"];
        let downs = ws.iter().filter(|w| w.down).count() as u64;
        prop_assert_eq!(door.left_to_right.values().sum::<u64>(), downs);
        prop_assert_eq!(door.right_to_left.values().sum::<u64>(), ws.len() as u64 - downs);
    }

    /// (b) Jitter that never stays `min_frames` on the far side counts nothing.
    #[test]
    fn jitter_that_never_settles_counts_zero((m, pairs, x, dist) in jitter_runs()) {
        let mut runs = vec![(false, m + 2)];
        runs.extend(pairs.iter().flat_map(|&(above, below)| [(true, below), (false, above)]));
        prop_assert_eq!(run_jitter(m, &runs, x, &dist), vec![]);
    }

    /// (b) Jitter, then settling on the other side (and jittering there): counts exactly once.
    #[test]
    fn jitter_that_settles_counts_once(
        (m, pairs, x, dist) in jitter_runs(),
        settle_extra in 0_u32..5,
        (_, after, _, _) in jitter_runs(),
    ) {
        let mut runs = vec![(false, m)];
        runs.extend(pairs.iter().flat_map(|&(above, below)| [(true, below), (false, above)]));
        runs.push((true, m + settle_extra));
        // After settling below, excursions above last under `m` frames.
        runs.extend(after.iter().flat_map(|&(below, above)| [(false, above.min(m - 1)), (true, below)]));
        prop_assert_eq!(run_jitter(m, &runs, x, &dist), vec![LineDirection::LeftToRight]);
    }

    /// (b) An object walking along a line, its feet wobbling across it within the dead band
    /// (the default quarter of its height), is never counted, however long the wobble lasts;
    /// the same object then walking off across the line is counted once.
    #[test]
    fn walking_along_a_line_counts_nothing_and_leaving_across_it_counts_once(
        wobble in prop::collection::vec(-24.0_f32..24.0, 10..200),
        x0 in 150.0_f32..300.0,
    ) {
        let cfg = RulesConfig {
            lines: vec![LineConfig {
                name: "l".into(),
                from: [0.1, 0.5],
                to: [0.9, 0.5],
                labels: vec![],
            }],
            ..Default::default()
        };
        let mut rules = Rules::new("cam", cfg);
        let mut t = 0;
        let mut step = |rules: &mut Rules, x: f32, y: f32| {
            rules.update(&[tr(1, x, y, t)], FRAME, FRAME, t);
            t += 100;
        };
        let count = |rules: &Rules| {
            let stats = &rules.stats().lines["l"];
            (
                stats.left_to_right.values().sum::<u64>(),
                stats.right_to_left.values().sum::<u64>(),
            )
        };
        // Boxes are 100 px tall in a 1000 px frame: the band is ±25 px around y = 500.
        // Settled above the line first.
        for i in 0..5 {
            step(&mut rules, x0 - 50.0 + 10.0 * i as f32, 460.0);
        }
        for (i, dy) in wobble.iter().enumerate() {
            step(&mut rules, x0 + 2.0 * i as f32, 500.0 + dy);
        }
        prop_assert_eq!(count(&rules), (0, 0));
        // Now it walks down and away, past the band: one crossing, downwards.
        for k in 0..10 {
            step(&mut rules, x0 + 400.0, 540.0 + 4.0 * k as f32);
        }
        prop_assert_eq!(count(&rules), (1, 0));
    }

    /// (d) For any detections: one `new` per event, first; at most one `end`, last; `finish`
    /// ends all; the flags agree with the kinds.
    #[test]
    fn event_lifecycle_invariants(scene in scenes()) {
        let (changes, stats) = run_scene(&scene);
        let events = by_event(&changes);
        let mut tracks = BTreeSet::new();
        for (id, list) in &events {
            prop_assert_eq!(list[0].kind, ChangeKind::New, "{} does not start with new", id);
            prop_assert!(list[0].best_improved);
            prop_assert_eq!(list[0].event.best_score, list[0].event.score);
            prop_assert_eq!(list.iter().filter(|c| c.kind == ChangeKind::New).count(), 1);
            prop_assert_eq!(list.iter().filter(|c| c.kind == ChangeKind::End).count(), 1);
            let last = list.last().expect("non-empty");
            prop_assert_eq!(last.kind, ChangeKind::End, "{} has changes after its end", id);
            prop_assert!(!last.best_improved);
            for c in list {
                prop_assert_eq!(c.event.ended, c.kind == ChangeKind::End);
                // Every emitted frame with a higher score became the best; an end repeats the
                // latest frame, which may have been beaten by less than the step unannounced.
                prop_assert!(c.kind == ChangeKind::End || c.event.best_score >= c.event.score);
            }
            for pair in list.windows(2) {
                prop_assert!(pair[0].event.last_seen_ms <= pair[1].event.last_seen_ms);
                prop_assert!(pair[0].event.best_score <= pair[1].event.best_score);
            }
            prop_assert!(tracks.insert(list[0].event.track_id), "two events for one track");
        }
        prop_assert_eq!(stats.open_events, 0);
        prop_assert_eq!(stats.events_started, events.len() as u64);
        prop_assert_eq!(stats.events_ended, events.len() as u64);
    }

    /// Determinism: the same input twice gives identical changes and counters.
    #[test]
    fn same_input_same_output(scene in scenes()) {
        let first = run_scene(&scene);
        let second = run_scene(&scene);
        prop_assert_eq!(
            serde_json::to_string(&first).expect("serialisable"),
            serde_json::to_string(&second).expect("serialisable")
        );
    }
}
