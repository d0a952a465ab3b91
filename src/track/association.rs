//! Matching predicted track boxes to detections: optimal assignment by overlap, per class.
//!
//! Inputs: candidates on both sides as `(key, class_id, box)`, and the smallest overlap
//! (intersection over union) a pair needs. Output: the matched `(track key, detection key)`
//! pairs, sorted by track key.
//!
//! Policy: a track and a detection of different classes never match. Within a class, the
//! assignment maximises the summed IoU over pairs that reach the threshold (Hungarian method,
//! `pathfinding::kuhn_munkres` on IoU scaled to integers so that ties resolve deterministically).
//!
//! Failure: none; empty or disjoint inputs give no pairs. Cost is O(n³) per class, n the larger
//! side, bounded by the tracker's `max_tracks`.

use std::collections::BTreeSet;

use pathfinding::prelude::{Matrix, kuhn_munkres};

use crate::postprocess::BoundingBox;

/// IoU is scaled by this to integer weights for the assignment.
const WEIGHT_SCALE: f32 = 1_000_000.0;

/// One candidate: a caller-chosen key, the class and the box.
pub type Candidate = (usize, u32, BoundingBox);

/// Intersection over union of two boxes; 0 for disjoint or degenerate boxes.
pub fn iou(a: &BoundingBox, b: &BoundingBox) -> f32 {
    let iw = (a.x2.min(b.x2) - a.x1.max(b.x1)).max(0.0);
    let ih = (a.y2.min(b.y2) - a.y1.max(b.y1)).max(0.0);
    let inter = iw * ih;
    let area = |r: &BoundingBox| (r.x2 - r.x1).max(0.0) * (r.y2 - r.y1).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 && inter > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// Matches tracks to detections of the same class; pairs need `iou >= min_iou`.
pub fn associate(tracks: &[Candidate], dets: &[Candidate], min_iou: f32) -> Vec<(usize, usize)> {
    let classes: BTreeSet<u32> = tracks.iter().map(|t| t.1).collect();
    let mut pairs = Vec::new();
    for class in classes {
        let ts: Vec<&Candidate> = tracks.iter().filter(|t| t.1 == class).collect();
        let ds: Vec<&Candidate> = dets.iter().filter(|d| d.1 == class).collect();
        if ts.is_empty() || ds.is_empty() {
            continue;
        }
        let weight = |t: &Candidate, d: &Candidate| -> i64 {
            let v = iou(&t.2, &d.2);
            if v >= min_iou && v > 0.0 {
                ((v * WEIGHT_SCALE).round() as i64).max(1)
            } else {
                0
            }
        };
        // kuhn_munkres needs rows <= columns: the smaller side goes on the rows.
        let tracks_on_rows = ts.len() <= ds.len();
        let (rows, cols) = if tracks_on_rows {
            (ts.len(), ds.len())
        } else {
            (ds.len(), ts.len())
        };
        let at = |r: usize, c: usize| {
            if tracks_on_rows {
                (ts[r], ds[c])
            } else {
                (ts[c], ds[r])
            }
        };
        let weights = Matrix::from_fn(rows, cols, |(r, c)| {
            let (t, d) = at(r, c);
            weight(t, d)
        });
        if weights.values().all(|w| *w == 0) {
            continue;
        }
        let (_, assignment) = kuhn_munkres(&weights);
        for (r, c) in assignment.into_iter().enumerate() {
            if weights[(r, c)] > 0 {
                let (t, d) = at(r, c);
                pairs.push((t.0, d.0));
            }
        }
    }
    pairs.sort_unstable();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(x1: f32, y1: f32, x2: f32, y2: f32) -> BoundingBox {
        BoundingBox { x1, y1, x2, y2 }
    }

    #[test]
    fn iou_basics() {
        let a = bx(0.0, 0.0, 10.0, 10.0);
        assert_eq!(iou(&a, &a), 1.0);
        assert!((iou(&a, &bx(5.0, 0.0, 15.0, 10.0)) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou(&a, &bx(20.0, 20.0, 30.0, 30.0)), 0.0);
        assert_eq!(iou(&a, &bx(5.0, 5.0, 5.0, 5.0)), 0.0);
    }

    #[test]
    fn optimal_not_greedy() {
        // Greedy would give track 0 the detection it overlaps most (det 10) and leave track 1
        // with nothing; the optimal assignment matches both.
        let tracks = [
            (0, 0, bx(0.0, 0.0, 10.0, 10.0)),
            (1, 0, bx(4.0, 0.0, 14.0, 10.0)),
        ];
        let dets = [
            (10, 0, bx(2.0, 0.0, 12.0, 10.0)),
            (11, 0, bx(-3.0, 0.0, 7.0, 10.0)),
        ];
        assert_eq!(associate(&tracks, &dets, 0.2), vec![(0, 11), (1, 10)]);
    }

    #[test]
    fn classes_never_mix_and_threshold_applies() {
        let tracks = [
            (0, 1, bx(0.0, 0.0, 10.0, 10.0)),
            (1, 2, bx(50.0, 0.0, 60.0, 10.0)),
        ];
        let dets = [
            (0, 2, bx(0.0, 0.0, 10.0, 10.0)),
            (1, 2, bx(58.0, 0.0, 68.0, 10.0)),
        ];
        // Det 0 sits exactly on track 0 but is of another class; det 1 overlaps track 1 by 0.11.
        assert!(associate(&tracks, &dets, 0.2).is_empty());
        assert_eq!(associate(&tracks, &dets, 0.1), vec![(1, 1)]);
    }

    #[test]
    fn more_tracks_than_detections() {
        let tracks = [
            (0, 0, bx(0.0, 0.0, 10.0, 10.0)),
            (1, 0, bx(100.0, 0.0, 110.0, 10.0)),
            (2, 0, bx(200.0, 0.0, 210.0, 10.0)),
        ];
        let dets = [(7, 0, bx(201.0, 0.0, 211.0, 10.0))];
        assert_eq!(associate(&tracks, &dets, 0.2), vec![(2, 7)]);
        assert!(associate(&tracks, &[], 0.2).is_empty());
        assert!(associate(&[], &dets, 0.2).is_empty());
    }
}
