//! Tracker behaviour: confirmation, loss and removal, association across classes, capacity,
//! and the occlusion property.

use proptest::prelude::*;

use super::*;
use crate::postprocess::{BoundingBox, LabeledDetection};

pub(crate) fn det(class_id: u32, score: f32, cx: f32, cy: f32, w: f32, h: f32) -> LabeledDetection {
    LabeledDetection {
        label: match class_id {
            0 => "person".to_string(),
            1 => "car".to_string(),
            n => format!("class-{n}"),
        },
        class_id,
        score,
        bbox: BoundingBox {
            x1: cx - w / 2.0,
            y1: cy - h / 2.0,
            x2: cx + w / 2.0,
            y2: cy + h / 2.0,
        },
    }
}

fn states(tracks: &[Track]) -> Vec<(u64, TrackState)> {
    tracks.iter().map(|t| (t.id, t.state)).collect()
}

#[test]
fn confirmed_after_min_hits_and_ids_increase_from_one() {
    let mut tr = Tracker::new(TrackerConfig::default());
    let frame = |x: f32| {
        vec![
            det(0, 0.9, x, 100.0, 40.0, 80.0),
            det(1, 0.8, 400.0, 300.0, 120.0, 60.0),
        ]
    };
    let a = tr.update(&frame(100.0), 0).to_vec();
    assert_eq!(
        states(&a),
        [(1, TrackState::Tentative), (2, TrackState::Tentative)]
    );
    assert_eq!(a[0].detection, Some(0));
    let b = tr.update(&frame(102.0), 100).to_vec();
    assert_eq!(
        states(&b),
        [(1, TrackState::Tentative), (2, TrackState::Tentative)]
    );
    let c = tr.update(&frame(104.0), 200).to_vec();
    assert_eq!(
        states(&c),
        [(1, TrackState::Confirmed), (2, TrackState::Confirmed)]
    );
    assert_eq!(
        (c[0].hits, c[0].first_seen_ms, c[0].last_seen_ms),
        (3, 0, 200)
    );
    assert_eq!((c[1].label.as_str(), c[1].class_id), ("car", 1));

    let mut quick = Tracker::new(TrackerConfig {
        min_hits: 1,
        ..Default::default()
    });
    assert_eq!(
        states(quick.update(&frame(0.0), 0)),
        [(1, TrackState::Confirmed), (2, TrackState::Confirmed)]
    );
}

#[test]
fn a_tentative_track_that_misses_is_dropped() {
    let mut tr = Tracker::new(TrackerConfig::default());
    tr.update(&[det(0, 0.9, 100.0, 100.0, 40.0, 80.0)], 0);
    tr.update(&[det(0, 0.9, 100.0, 100.0, 40.0, 80.0)], 100);
    assert!(tr.update(&[], 200).is_empty());
    assert_eq!(tr.stats().removed, 1);
    // The object coming back starts a new track with a new id.
    assert_eq!(
        tr.update(&[det(0, 0.9, 100.0, 100.0, 40.0, 80.0)], 300)[0].id,
        2
    );
}

#[test]
fn a_lost_track_is_removed_after_the_timeout() {
    let mut tr = Tracker::new(TrackerConfig::default());
    for i in 0..3 {
        tr.update(&[det(0, 0.9, 100.0, 100.0, 40.0, 80.0)], i * 100);
    }
    let lost = tr.update(&[], 300).to_vec();
    assert_eq!(states(&lost), [(1, TrackState::Lost)]);
    assert!(!lost[0].matched());
    assert_eq!(lost[0].last_seen_ms, 200);
    assert_eq!(
        states(tr.update(&[], 2200)),
        [(1, TrackState::Lost)],
        "2000 ms unseen: kept"
    );
    assert!(tr.update(&[], 2201).is_empty(), "2001 ms unseen: removed");
    assert_eq!(tr.stats().removed, 1);
}

#[test]
fn a_lost_track_comes_back_with_its_id() {
    let mut tr = Tracker::new(TrackerConfig::default());
    for i in 0..5 {
        tr.update(&[det(0, 0.9, 100.0, 100.0, 40.0, 80.0)], i * 100);
    }
    for i in 5..15 {
        tr.update(&[], i * 100);
    }
    let back = tr
        .update(&[det(0, 0.9, 101.0, 100.0, 40.0, 80.0)], 1500)
        .to_vec();
    assert_eq!(states(&back), [(1, TrackState::Confirmed)]);
    assert_eq!(back[0].hits, 6);
}

#[test]
fn crossing_objects_of_different_classes_never_swap() {
    // A person walks right and a car drives left along the same row; they overlap fully halfway.
    let mut tr = Tracker::new(TrackerConfig::default());
    let mut ids = (None, None);
    for i in 0..=40 {
        let t = i as f32 / 10.0;
        let dets = [
            det(0, 0.9, 100.0 + 100.0 * t, 200.0, 60.0, 60.0),
            det(1, 0.9, 500.0 - 100.0 * t, 200.0, 60.0, 60.0),
        ];
        let tracks = tr.update(&dets, i * 100).to_vec();
        for track in tracks.iter().filter(|t| t.matched()) {
            let d = &dets[track.detection.expect("matched")];
            assert_eq!(
                track.class_id, d.class_id,
                "a track took the other class's detection"
            );
            let slot = if d.class_id == 0 {
                &mut ids.0
            } else {
                &mut ids.1
            };
            assert_eq!(
                *slot.get_or_insert(track.id),
                track.id,
                "id switch at frame {i}"
            );
        }
        assert_eq!(tracks.len(), 2, "frame {i}: {tracks:?}");
    }
    assert_eq!(ids, (Some(1), Some(2)));
}

#[test]
fn low_score_detections_extend_but_never_start_tracks() {
    let mut tr = Tracker::new(TrackerConfig::default());
    assert!(
        tr.update(&[det(0, 0.3, 100.0, 100.0, 40.0, 80.0)], 0)
            .is_empty()
    );
    for i in 1..4 {
        tr.update(&[det(0, 0.9, 100.0, 100.0, 40.0, 80.0)], i * 100);
    }
    let t = tr
        .update(&[det(0, 0.3, 101.0, 100.0, 40.0, 80.0)], 400)
        .to_vec();
    assert_eq!(states(&t), [(1, TrackState::Confirmed)]);
    assert_eq!((t[0].score, t[0].best_score), (0.3, 0.9));
    // Under low_score: ignored; the track is lost.
    assert_eq!(
        states(tr.update(&[det(0, 0.05, 101.0, 100.0, 40.0, 80.0)], 500)),
        [(1, TrackState::Lost)]
    );
    // A lost track is not picked up again by a low detection.
    assert_eq!(
        states(tr.update(&[det(0, 0.3, 101.0, 100.0, 40.0, 80.0)], 600)),
        [(1, TrackState::Lost)]
    );
}

#[test]
fn new_tracks_need_new_track_score() {
    let mut tr = Tracker::new(TrackerConfig {
        new_track_score: 0.7,
        ..Default::default()
    });
    assert!(
        tr.update(&[det(0, 0.6, 100.0, 100.0, 40.0, 80.0)], 0)
            .is_empty()
    );
    assert_eq!(
        tr.update(&[det(0, 0.7, 100.0, 100.0, 40.0, 80.0)], 100)
            .len(),
        1
    );
}

#[test]
fn capacity_and_invalid_detections_are_counted() {
    let mut tr = Tracker::new(TrackerConfig {
        max_tracks: 2,
        ..Default::default()
    });
    let mut dets: Vec<_> = (0..4)
        .map(|i| det(0, 0.9, 100.0 + 200.0 * i as f32, 100.0, 40.0, 80.0))
        .collect();
    dets.push(det(0, f32::NAN, 50.0, 50.0, 10.0, 10.0));
    dets.push(det(0, 0.9, 50.0, 50.0, 0.0, 10.0));
    let tracks = tr.update(&dets, 0);
    assert_eq!(
        tracks.iter().map(|t| t.detection).collect::<Vec<_>>(),
        [Some(0), Some(1)]
    );
    let s = tr.stats();
    assert_eq!(
        (
            s.live,
            s.created,
            s.ignored_over_capacity,
            s.ignored_invalid
        ),
        (2, 2, 2, 2)
    );
}

#[test]
fn time_going_backwards_is_harmless() {
    let mut tr = Tracker::new(TrackerConfig::default());
    for i in 0..3 {
        tr.update(&[det(0, 0.9, 100.0, 100.0, 40.0, 80.0)], 1000 + i * 100);
    }
    let t = tr
        .update(&[det(0, 0.9, 100.0, 100.0, 40.0, 80.0)], 500)
        .to_vec();
    assert_eq!(states(&t), [(1, TrackState::Confirmed)]);
    assert_eq!(t[0].last_seen_ms, 1200);
}

/// One object moving in a straight line at `fps`; detections missing for `gap_ms` from `start`.
fn occluded_run(fps: u32, speed: f32, gap_ms: u64, seed_noise: &[f32]) -> Vec<u64> {
    let cfg = TrackerConfig::default();
    let mut tr = Tracker::new(cfg);
    let step = 1000 / fps as u64;
    let occlusion_start = 1500;
    let mut ids = Vec::new();
    let mut t = 0;
    while t <= occlusion_start + gap_ms + 1500 {
        let hidden = t >= occlusion_start && t < occlusion_start + gap_ms;
        let n = seed_noise[(t / step) as usize % seed_noise.len()];
        let x = 100.0 + speed * t as f32 / 1000.0;
        let dets = if hidden {
            vec![]
        } else {
            vec![det(0, 0.9, x + n, 300.0 - n, 50.0, 120.0)]
        };
        for track in tr.update(&dets, t) {
            if track.matched()
                && track.state == TrackState::Confirmed
                && ids.last() != Some(&track.id)
            {
                ids.push(track.id);
            }
        }
        t += step;
    }
    ids
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// (c) An occlusion shorter than the lost timeout keeps the id; a longer one gives a new id.
    #[test]
    fn occlusion_keeps_the_id_only_within_the_timeout(
        fps in prop::sample::select(vec![5_u32, 10, 15, 25, 30]),
        speed in -60.0_f32..60.0,
        short_gap in 200_u64..1800,
        long_gap in 2300_u64..5000,
        noise in prop::collection::vec(-1.5_f32..1.5, 8),
    ) {
        let ids = occluded_run(fps, speed, short_gap, &noise);
        prop_assert_eq!(ids, vec![1]);
        let ids = occluded_run(fps, speed, long_gap, &noise);
        prop_assert_eq!(ids, vec![1, 2]);
    }
}
