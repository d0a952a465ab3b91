//! Intersection-over-union and greedy class-aware non-maximum suppression.
//!
//! Inputs: boxes as `[x1, y1, x2, y2]` (any consistent unit) and [`Detection`] lists.
//! Outputs: IoU in `0.0..=1.0`; NMS survivors sorted by descending score, at most `max` of them.
//! Failure: none — degenerate, NaN or infinite boxes give IoU 0 (never NaN), NaN scores are
//! dropped by NMS, and nothing here panics.

use super::Detection;

/// Intersection over union of two `[x1, y1, x2, y2]` boxes.
///
/// Returns a value in `0.0..=1.0`: 1 for identical boxes with positive area, 0 for disjoint
/// boxes, and 0 (not NaN) when the union has no positive area or involves NaN/infinity.
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = area(a) + area(b) - inter;
    let v = inter / union;
    if union > 0.0 && v.is_finite() {
        v.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Greedy class-aware NMS.
///
/// Detections with a NaN score are discarded; the rest are visited by descending score (ties
/// keep input order) and a detection is dropped when its IoU with an already kept detection of
/// the same `class_id` is strictly greater than `iou_threshold`. Stops after `max` survivors.
/// The result is sorted by descending score. O(n * kept).
pub fn nms_class_aware(mut dets: Vec<Detection>, iou_threshold: f32, max: usize) -> Vec<Detection> {
    dets.retain(|d| !d.score.is_nan());
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::with_capacity(max.min(dets.len()));
    for d in dets {
        if kept.len() >= max {
            break;
        }
        let suppressed = kept
            .iter()
            .any(|k| k.class_id == d.class_id && iou(&k.bbox, &d.bbox) > iou_threshold);
        if !suppressed {
            kept.push(d);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(class_id: u32, score: f32, bbox: [f32; 4]) -> Detection {
        Detection {
            class_id,
            score,
            bbox,
        }
    }

    #[test]
    fn iou_basics() {
        let a = [0.0, 0.0, 10.0, 10.0];
        assert_eq!(iou(&a, &a), 1.0);
        assert_eq!(iou(&a, &[20.0, 20.0, 30.0, 30.0]), 0.0);
        // Touching edges: no overlap.
        assert_eq!(iou(&a, &[10.0, 0.0, 20.0, 10.0]), 0.0);
        // Half overlap: inter 50, union 150.
        let v = iou(&a, &[5.0, 0.0, 15.0, 10.0]);
        assert!((v - 1.0 / 3.0).abs() < 1e-6, "{v}");
        assert_eq!(
            iou(&a, &[5.0, 0.0, 15.0, 10.0]),
            iou(&[5.0, 0.0, 15.0, 10.0], &a)
        );
    }

    #[test]
    fn iou_degenerate_is_zero_not_nan() {
        let z = [5.0, 5.0, 5.0, 5.0];
        assert_eq!(iou(&z, &z), 0.0);
        assert_eq!(iou(&z, &[0.0, 0.0, 10.0, 10.0]), 0.0);
        let inverted = [10.0, 10.0, 0.0, 0.0];
        assert_eq!(iou(&inverted, &inverted), 0.0);
        let nan = [f32::NAN, 0.0, 1.0, 1.0];
        assert_eq!(iou(&nan, &nan), 0.0);
        let inf = [0.0, 0.0, f32::INFINITY, f32::INFINITY];
        assert_eq!(iou(&inf, &inf), 0.0);
    }

    #[test]
    fn overlapping_same_class_suppressed() {
        let out = nms_class_aware(
            vec![
                det(1, 0.6, [1.0, 1.0, 11.0, 11.0]),
                det(1, 0.9, [0.0, 0.0, 10.0, 10.0]),
                det(1, 0.5, [50.0, 50.0, 60.0, 60.0]),
            ],
            0.5,
            10,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        assert_eq!(out[1].score, 0.5);
    }

    #[test]
    fn different_classes_kept_and_sorted() {
        let out = nms_class_aware(
            vec![
                det(1, 0.6, [0.0, 0.0, 10.0, 10.0]),
                det(2, 0.9, [0.0, 0.0, 10.0, 10.0]),
            ],
            0.5,
            10,
        );
        assert_eq!(out.iter().map(|d| d.class_id).collect::<Vec<_>>(), [2, 1]);
    }

    #[test]
    fn threshold_is_strict_and_max_applies() {
        let a = [0.0, 0.0, 10.0, 10.0];
        let b = [5.0, 0.0, 15.0, 10.0]; // IoU 1/3
        let kept = nms_class_aware(vec![det(0, 0.9, a), det(0, 0.8, b)], 0.5, 10);
        assert_eq!(kept.len(), 2);
        let kept = nms_class_aware(vec![det(0, 0.9, a), det(0, 0.8, b)], 0.3, 10);
        assert_eq!(kept.len(), 1);
        let many: Vec<_> = (0..10)
            .map(|i| {
                det(
                    0,
                    i as f32 / 10.0,
                    [i as f32 * 20.0, 0.0, i as f32 * 20.0 + 5.0, 5.0],
                )
            })
            .collect();
        let kept = nms_class_aware(many, 0.5, 3);
        assert_eq!(
            kept.iter().map(|d| d.score).collect::<Vec<_>>(),
            [0.9, 0.8, 0.7]
        );
        assert!(nms_class_aware(vec![det(0, 0.9, a)], 0.5, 0).is_empty());
    }

    #[test]
    fn nan_scores_do_not_panic_and_are_dropped() {
        let out = nms_class_aware(
            vec![
                det(0, f32::NAN, [0.0, 0.0, 10.0, 10.0]),
                det(0, 0.4, [0.0, 0.0, 10.0, 10.0]),
                det(0, -f32::NAN, [0.0, 0.0, 1.0, 1.0]),
            ],
            0.5,
            10,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].score, 0.4);
    }
}
