//! Rules engine behaviour on hand-made tracks (frame 1000×1000 px, so 1 px = 0.001).

use super::*;
use crate::event::{ChangeKind, EventChange, LineDirection};
use crate::postprocess::BoundingBox;
use crate::track::{Track, TrackState};

pub(crate) const FRAME: u32 = 1000;

/// A confirmed, matched person track whose box (40×100 px) has its bottom centre at (x, y) px.
pub(crate) fn tr(id: u64, x: f32, y: f32, t: u64) -> Track {
    Track {
        id,
        class_id: 0,
        label: "person".into(),
        score: 0.8,
        best_score: 0.8,
        bbox: BoundingBox {
            x1: x - 20.0,
            y1: y - 100.0,
            x2: x + 20.0,
            y2: y,
        },
        state: TrackState::Confirmed,
        hits: 10,
        first_seen_ms: 0,
        last_seen_ms: t,
        detection: Some(0),
    }
}

fn zone(name: &str, x1: f32, y1: f32, x2: f32, y2: f32) -> ZoneConfig {
    ZoneConfig {
        name: name.into(),
        polygon: vec![[x1, y1], [x2, y1], [x2, y2], [x1, y2]],
        labels: vec![],
        loiter_s: None,
    }
}

fn line(name: &str, from: [f32; 2], to: [f32; 2]) -> LineConfig {
    LineConfig {
        name: name.into(),
        from,
        to,
        labels: vec![],
    }
}

fn kinds(changes: &[EventChange]) -> Vec<(ChangeKind, u64)> {
    changes.iter().map(|c| (c.kind, c.event.track_id)).collect()
}

fn feed(rules: &mut Rules, tracks: &[Track], t: u64) -> Vec<EventChange> {
    rules.update(tracks, FRAME, FRAME, t)
}

/// Rules with a zone "yard" (right half, lower half) and a long update interval.
fn yard_rules(extra: impl FnOnce(&mut RulesConfig)) -> Rules {
    let mut cfg = RulesConfig {
        zones: vec![zone("yard", 0.5, 0.5, 1.0, 1.0)],
        update_interval_s: 1000.0,
        ..Default::default()
    };
    extra(&mut cfg);
    cfg.validate().expect("test config is valid");
    Rules::new("cam", cfg)
}

#[test]
fn zone_entry_and_exit_need_min_frames_and_occupancy_follows() {
    let mut rules = yard_rules(|_| {});
    let mut t = 0;
    let mut step = |rules: &mut Rules, tracks: &[Track]| {
        t += 100;
        feed(rules, tracks, t)
    };
    let new = step(&mut rules, &[tr(1, 200.0, 200.0, 0)]);
    assert_eq!(kinds(&new), [(ChangeKind::New, 1)]);
    assert!(new[0].best_improved && new[0].event.zones.is_empty());
    // Two frames inside, one outside: flicker, no entry.
    for (x, y) in [(700.0, 700.0), (700.0, 700.0), (200.0, 200.0)] {
        assert!(step(&mut rules, &[tr(1, x, y, 0)]).is_empty());
    }
    assert!(step(&mut rules, &[tr(1, 700.0, 700.0, 0)]).is_empty());
    assert!(step(&mut rules, &[tr(1, 700.0, 700.0, 0)]).is_empty());
    let entered = step(&mut rules, &[tr(1, 700.0, 700.0, 0)]);
    assert_eq!(kinds(&entered), [(ChangeKind::Update, 1)]);
    assert_eq!(entered[0].event.zones, ["yard"]);
    assert_eq!(entered[0].event.entered_zones, ["yard"]);
    assert_eq!(rules.stats().zones["yard"].occupancy["person"], 1);
    // A second person appears inside: its entry, too, counts after min_frames.
    let both = step(
        &mut rules,
        &[tr(1, 700.0, 700.0, 0), tr(2, 800.0, 800.0, 0)],
    );
    assert_eq!(
        kinds(&both),
        [(ChangeKind::New, 2)],
        "no zone change yet for 2"
    );
    for _ in 0..2 {
        step(
            &mut rules,
            &[tr(1, 700.0, 700.0, 0), tr(2, 800.0, 800.0, 0)],
        );
    }
    let s = rules.stats();
    assert_eq!(s.zones["yard"].occupancy["person"], 2);
    assert_eq!(s.zones["yard"].entries["person"], 2);
    // Person 1 leaves: two frames out are flicker, the third counts.
    let out = |rules: &mut Rules,
               step: &mut dyn FnMut(&mut Rules, &[Track]) -> Vec<EventChange>| {
        step(rules, &[tr(1, 200.0, 200.0, 0), tr(2, 800.0, 800.0, 0)])
    };
    assert!(out(&mut rules, &mut step).is_empty());
    assert!(out(&mut rules, &mut step).is_empty());
    let left = out(&mut rules, &mut step);
    assert_eq!(kinds(&left), [(ChangeKind::Update, 1)]);
    assert!(left[0].event.zones.is_empty());
    assert_eq!(left[0].event.entered_zones, ["yard"]);
    assert_eq!(rules.stats().zones["yard"].occupancy["person"], 1);
    // Person 2's track is removed: its event ends and it no longer counts.
    let ended = step(&mut rules, &[tr(1, 200.0, 200.0, 0)]);
    assert_eq!(kinds(&ended), [(ChangeKind::End, 2)]);
    assert!(ended[0].event.ended && !ended[0].best_improved);
    let s = rules.stats();
    assert_eq!(s.zones["yard"].occupancy.get("person"), None);
    assert_eq!((s.events_started, s.events_ended, s.open_events), (2, 1, 1));
}

#[test]
fn loitering_is_recorded_once_per_stay() {
    let mut rules = yard_rules(|c| c.zones[0].loiter_s = Some(2.0));
    let mut updates = Vec::new();
    for i in 0..60 {
        let t = i * 100;
        for c in feed(&mut rules, &[tr(1, 700.0, 700.0, t)], t) {
            if c.kind == ChangeKind::Update {
                updates.push((t, c.event.loitering.clone()));
            }
        }
    }
    // Entry counted at 200 ms (third frame inside), dated 0; 2 s after entry it is loitering,
    // and nothing more is sent while it stays.
    let times: Vec<u64> = updates.iter().map(|u| u.0).collect();
    assert_eq!(times, [200, 2000], "{updates:?}");
    assert!(updates[0].1.is_empty());
    let records = &updates[1].1;
    assert_eq!(records.len(), 1);
    assert_eq!(
        (
            records[0].zone.as_str(),
            records[0].seconds,
            records[0].since_ms
        ),
        ("yard", 2.0, 0)
    );
    // Leaving (3 frames outside from 6000 ms) finalises the stay at 6.0 s and sends an update.
    let mut last = None;
    for i in 60..63 {
        last = feed(&mut rules, &[tr(1, 200.0, 200.0, i * 100)], i * 100).pop();
    }
    let left = last.expect("an update on leaving");
    assert_eq!(left.event.loitering.len(), 1);
    assert_eq!(left.event.loitering[0].seconds, 6.0);
}

#[test]
fn filters_hold_back_small_big_and_unsure_objects() {
    let mut rules = yard_rules(|c| {
        c.filters.insert(
            "person".into(),
            ObjectFilter {
                min_score: 0.6,
                min_area: 0.002,
                max_area: 0.01,
            },
        );
        c.filters.insert(
            "car".into(),
            ObjectFilter {
                min_score: 0.0,
                min_area: 0.5,
                max_area: 1.0,
            },
        );
    });
    let mut unsure = tr(1, 300.0, 300.0, 0);
    unsure.score = 0.5;
    assert!(
        feed(&mut rules, &[unsure.clone()], 0).is_empty(),
        "score under min_score"
    );
    let mut small = tr(1, 300.0, 300.0, 0);
    small.bbox.x1 = 295.0; // 10×100 px = 0.001 of the frame
    small.bbox.x2 = 305.0;
    assert!(
        feed(&mut rules, &[small], 100).is_empty(),
        "area under min_area"
    );
    let mut big = tr(1, 300.0, 300.0, 0);
    big.bbox.y1 = 0.0; // 40×300 px = 0.012
    assert!(
        feed(&mut rules, &[big], 200).is_empty(),
        "area over max_area"
    );
    // The same object passing once becomes an event for good, even if it falls under later.
    assert_eq!(
        kinds(&feed(&mut rules, &[tr(1, 300.0, 300.0, 0)], 300)),
        [(ChangeKind::New, 1)]
    );
    assert!(feed(&mut rules, &[unsure.clone()], 400).is_empty());
    let mut car = tr(2, 300.0, 300.0, 0);
    car.label = "car".into();
    assert!(
        feed(&mut rules, &[unsure, car], 500).is_empty(),
        "the car filter holds back a small car"
    );
    assert_eq!(rules.stats().events_started, 1);
}

#[test]
fn only_confirmed_matched_tracks_of_listed_labels_become_events() {
    let mut rules = yard_rules(|c| c.labels = vec!["person".into()]);
    let mut tentative = tr(1, 300.0, 300.0, 0);
    tentative.state = TrackState::Tentative;
    let mut lost = tr(2, 300.0, 300.0, 0);
    lost.state = TrackState::Lost;
    lost.detection = None;
    let mut dog = tr(3, 300.0, 300.0, 0);
    dog.label = "dog".into();
    assert!(feed(&mut rules, &[tentative, lost, dog], 0).is_empty());
    assert_eq!(
        kinds(&feed(&mut rules, &[tr(1, 300.0, 300.0, 0)], 100)),
        [(ChangeKind::New, 1)]
    );
}

#[test]
fn zone_labels_limit_what_a_zone_sees() {
    let mut rules = yard_rules(|c| c.zones[0].labels = vec!["car".into()]);
    for i in 0..5 {
        feed(&mut rules, &[tr(1, 700.0, 700.0, 0)], i * 100);
    }
    assert!(rules.stats().zones["yard"].occupancy.is_empty());
}

#[test]
fn required_zones_delay_the_event_until_entry() {
    let mut rules = yard_rules(|c| c.required_zones = vec!["yard".into()]);
    // Object 2 never enters: no event at all, even when its track ends.
    for i in 0..5 {
        let t = i * 100;
        let changes = feed(
            &mut rules,
            &[tr(1, 200.0, 200.0, t), tr(2, 100.0, 100.0, t)],
            t,
        );
        assert!(changes.is_empty());
    }
    // Object 1 walks in: `new` once the entry counts, with the zone in it.
    let mut news = Vec::new();
    for i in 5..12 {
        let t = i * 100;
        news.extend(feed(&mut rules, &[tr(1, 700.0, 700.0, t)], t));
    }
    assert_eq!(kinds(&news), [(ChangeKind::New, 1)]);
    assert_eq!(news[0].event.entered_zones, ["yard"]);
    assert_eq!(news[0].event.first_seen_ms, 0);
    // Counters are not gated by required_zones.
    assert_eq!(rules.stats().zones["yard"].entries["person"], 1);
    assert!(rules.finish(2000).iter().all(|c| c.event.track_id == 1));
}

#[test]
fn updates_are_throttled_but_better_snapshots_go_at_once() {
    let mut rules = yard_rules(|c| {
        c.zones.clear();
        c.update_interval_s = 1.0;
    });
    let mut sent = Vec::new();
    for i in 0..=50 {
        let t = i * 100;
        let mut track = tr(1, 100.0 + i as f32, 300.0, t);
        track.score = if i == 23 {
            0.82
        } else if i == 27 {
            0.9
        } else {
            0.8
        };
        for c in feed(&mut rules, &[track], t) {
            sent.push((t, c.kind, c.best_improved, c.event.best_score));
        }
    }
    let times: Vec<u64> = sent.iter().map(|s| s.0).collect();
    // New at 0, periodic at 1000 and 2000, better snapshot at 2700 (0.9 ≥ 0.8 + 0.05; 0.82 is
    // not enough), then periodic from there.
    assert_eq!(times, [0, 1000, 2000, 2700, 3700, 4700]);
    assert_eq!(sent[3], (2700, ChangeKind::Update, true, 0.9));
    assert!(sent.iter().skip(1).filter(|s| s.0 != 2700).all(|s| !s.2));
    // An object that is not seen (lost) gets no periodic update.
    let mut lost = tr(1, 150.0, 300.0, 5000);
    lost.state = TrackState::Lost;
    lost.detection = None;
    assert!(feed(&mut rules, &[lost], 9000).is_empty());
}

#[test]
fn lines_count_both_directions_within_their_extent_only() {
    let mut rules = yard_rules(|c| {
        c.zones.clear();
        c.lines = vec![line("door", [0.2, 0.5], [0.8, 0.5])];
    });
    let mut t = 0;
    let mut walk = |rules: &mut Rules, id: u64, x: f32, ys: &[f32]| {
        let mut out = Vec::new();
        for &y in ys {
            t += 100;
            out.extend(feed(rules, &[tr(id, x, y, t)], t));
        }
        out
    };
    let down: Vec<f32> = (0..10).map(|i| 400.0 + 20.0 * i as f32).collect();
    let up: Vec<f32> = down.iter().rev().copied().collect();
    let changes = walk(&mut rules, 1, 500.0, &down);
    let crossing = changes
        .iter()
        .find(|c| !c.event.lines.is_empty())
        .expect("crossed");
    let recorded = &crossing.event.lines[0];
    assert_eq!(
        (recorded.line.as_str(), recorded.direction),
        ("door", LineDirection::LeftToRight)
    );
    // Back up: the other direction, in the same event.
    let changes = walk(&mut rules, 1, 500.0, &up);
    let last = changes.last().expect("crossed back");
    assert_eq!(last.event.lines.len(), 2);
    assert_eq!(last.event.lines[1].direction, LineDirection::RightToLeft);
    // Another object passes beyond the segment's end: not counted.
    walk(&mut rules, 2, 900.0, &down);
    let stats = rules.stats();
    assert_eq!(stats.lines["door"].left_to_right["person"], 1);
    assert_eq!(stats.lines["door"].right_to_left["person"], 1);
}

#[test]
fn a_lost_track_is_not_observed() {
    let mut rules = yard_rules(|c| {
        c.zones.clear();
        c.lines = vec![line("door", [0.0, 0.5], [1.0, 0.5])];
    });
    for i in 0..5 {
        feed(&mut rules, &[tr(1, 500.0, 400.0, i * 100)], i * 100);
    }
    for i in 5..15 {
        let mut lost = tr(1, 500.0, 600.0, 400);
        lost.state = TrackState::Lost;
        lost.detection = None;
        assert!(feed(&mut rules, &[lost], i * 100).is_empty());
    }
    assert!(rules.stats().lines["door"].left_to_right.is_empty());
}

#[test]
fn finish_ends_everything_once_and_events_never_restart() {
    let mut rules = yard_rules(|_| {});
    for i in 0..3 {
        feed(
            &mut rules,
            &[tr(1, 100.0, 100.0, i * 100), tr(2, 700.0, 700.0, i * 100)],
            i * 100,
        );
    }
    let ends = rules.finish(300);
    assert_eq!(kinds(&ends), [(ChangeKind::End, 1), (ChangeKind::End, 2)]);
    assert!(
        ends.iter()
            .all(|c| c.event.ended && c.event.last_seen_ms == 200)
    );
    assert!(rules.finish(400).is_empty());
    // The same tracks fed again are ignored; a new track starts a new event.
    let again = feed(
        &mut rules,
        &[tr(1, 100.0, 100.0, 500), tr(3, 300.0, 300.0, 500)],
        500,
    );
    assert_eq!(kinds(&again), [(ChangeKind::New, 3)]);
    assert_eq!(rules.stats().open_events, 1);
}

#[test]
fn event_ids_are_deterministic_and_boxes_rounded() {
    let mut rules = yard_rules(|_| {});
    let mut track = tr(7, 100.0, 100.0, 5000);
    track.first_seen_ms = 1_700_000_000_000;
    track.bbox.x1 = 80.04;
    let c = feed(&mut rules, &[track], 5000).pop().expect("new");
    assert_eq!(c.event.id, "loyw3v28-cam-7");
    assert_eq!(c.event.camera, "cam");
    assert_eq!(c.event.bbox.x1, 80.0);
    assert_eq!((c.event.frame_width, c.event.frame_height), (FRAME, FRAME));
    assert!(!c.event.has_snapshot);
}

#[test]
fn a_zero_frame_size_observes_nothing() {
    let mut rules = yard_rules(|_| {});
    assert!(rules.update(&[tr(1, 700.0, 700.0, 0)], 0, 0, 0).is_empty());
    assert!(rules.stats().zones["yard"].occupancy.is_empty());
}

#[test]
fn a_repeated_track_id_counts_once() {
    let mut rules = yard_rules(|_| {});
    let twice = [tr(1, 100.0, 100.0, 0), tr(1, 700.0, 700.0, 0)];
    assert_eq!(kinds(&feed(&mut rules, &twice, 0)), [(ChangeKind::New, 1)]);
    assert_eq!(kinds(&rules.finish(100)), [(ChangeKind::End, 1)]);
}
