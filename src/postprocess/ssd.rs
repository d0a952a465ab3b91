//! Decoder for SSD-MobileNet-v2 exported with `TFLite_Detection_PostProcess` (NMS in-graph).
//!
//! Inputs: exactly 4 outputs, in this order:
//! 0. boxes `[1, N, 4]` as `[ymin, xmin, ymax, xmax]`, normalised 0..1 (clamped to 0..1);
//! 1. class ids `[1, N]` as floats (0-based);
//! 2. scores `[1, N]` (descending);
//! 3. number of valid detections, a single value (shape `[1]`; any shape with one element).
//!
//! The model input was a stretched frame, so normalised coordinates are scaled by the model
//! input size (`input_width`, `input_height`) and then mapped with [`Transform::to_source`].
//!
//! Output: detections in source pixels for rows `0..count` (count rounded, clamped to `0..=N`)
//! whose score is `>= score_threshold`, whose class id is a finite non-negative number and whose
//! box has positive area; sorted by descending score, truncated to `max_detections`. NMS is not
//! re-run (`nms_iou` is ignored).
//!
//! Failure: [`DecodeError`] for a wrong output count, wrong shapes, data length not matching a
//! shape, disagreeing `N`s, or a zero model input size. Never panics.

use super::{
    DecodeError, DecodeParams, Decoder, Detection, OutputView, check_data_len, is_degenerate,
    output_label,
};
use crate::preprocess::Transform;

const NAME: &str = "ssd";

/// SSD (TFLite_Detection_PostProcess) decoder; carries the model input size the frame was
/// stretched to, since normalised boxes are relative to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SsdDecoder {
    /// Model input width in pixels (must be > 0).
    pub input_width: u32,
    /// Model input height in pixels (must be > 0).
    pub input_height: u32,
}

impl SsdDecoder {
    /// Decoder for a model whose input tensor is `input_width x input_height` pixels.
    pub fn new(input_width: u32, input_height: u32) -> Self {
        SsdDecoder {
            input_width,
            input_height,
        }
    }
}

/// Validates `[1, N, ...tail]` and the data length; returns `N`.
fn rows_of(
    index: usize,
    out: &OutputView<'_>,
    tail: Option<i64>,
    expected: &'static str,
) -> Result<usize, DecodeError> {
    let shape_ok = match (out.shape, tail) {
        ([1, n, t], Some(want)) => *n >= 0 && *t == want,
        ([1, n], None) => *n >= 0,
        _ => false,
    };
    if !shape_ok {
        return Err(DecodeError::Shape {
            decoder: NAME,
            output: output_label(index, out),
            expected,
            got: out.shape.to_vec(),
        });
    }
    check_data_len(NAME, index, out)?;
    usize::try_from(out.shape[1]).map_err(|_| DecodeError::Shape {
        decoder: NAME,
        output: output_label(index, out),
        expected,
        got: out.shape.to_vec(),
    })
}

impl Decoder for SsdDecoder {
    /// See the module docs for the expected outputs and filtering rules.
    fn decode(
        &self,
        outputs: &[OutputView<'_>],
        transform: &Transform,
        params: &DecodeParams,
    ) -> Result<Vec<Detection>, DecodeError> {
        if self.input_width == 0 || self.input_height == 0 {
            return Err(DecodeError::Config {
                decoder: NAME,
                message: format!(
                    "model input size must be non-zero, got {}x{}",
                    self.input_width, self.input_height
                ),
            });
        }
        let [boxes, classes, scores, count] = outputs else {
            return Err(DecodeError::OutputCount {
                decoder: NAME,
                expected: 4,
                what: "boxes, classes, scores, count",
                got: outputs.len(),
            });
        };
        let n = rows_of(0, boxes, Some(4), "[1, N, 4]")?;
        let n_classes = rows_of(1, classes, None, "[1, N]")?;
        let n_scores = rows_of(2, scores, None, "[1, N]")?;
        check_data_len(NAME, 3, count)?;
        if n_classes != n || n_scores != n {
            return Err(DecodeError::Mismatch {
                decoder: NAME,
                message: format!(
                    "boxes has {n} rows but classes has {n_classes} and scores has {n_scores}"
                ),
            });
        }
        let [raw_count] = count.data else {
            return Err(DecodeError::Shape {
                decoder: NAME,
                output: output_label(3, count),
                expected: "[1]",
                got: count.shape.to_vec(),
            });
        };
        let valid = if raw_count.is_finite() && *raw_count > 0.0 {
            (raw_count.round() as usize).min(n)
        } else {
            0
        };

        let (w, h) = (self.input_width as f32, self.input_height as f32);
        let mut dets = Vec::new();
        let rows = boxes
            .data
            .chunks_exact(4)
            .zip(classes.data)
            .zip(scores.data)
            .take(valid);
        for ((b, &class), &score) in rows {
            let usable = score >= params.score_threshold && class >= 0.0 && class.is_finite();
            if !usable {
                continue;
            }
            let [ymin, xmin, ymax, xmax] = [b[0], b[1], b[2], b[3]].map(|v| v.clamp(0.0, 1.0));
            let model = [xmin * w, ymin * h, xmax * w, ymax * h];
            if is_degenerate(&model) {
                continue;
            }
            let bbox = transform.to_source(model);
            if is_degenerate(&bbox) {
                continue;
            }
            dets.push(Detection {
                class_id: class.round() as u32,
                score,
                bbox,
            });
        }
        dets.sort_by(|a, b| b.score.total_cmp(&a.score));
        dets.truncate(params.max_detections);
        Ok(dets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 300x300 model input, 600x300 source, stretched.
    fn transform() -> Transform {
        Transform {
            scale_x: 0.5,
            scale_y: 1.0,
            offset_x: 0.0,
            offset_y: 0.0,
            src_width: 600,
            src_height: 300,
        }
    }

    fn params(max: usize) -> DecodeParams {
        DecodeParams {
            score_threshold: 0.5,
            nms_iou: 0.5,
            max_detections: max,
        }
    }

    struct Tensors {
        boxes: Vec<f32>,
        classes: Vec<f32>,
        scores: Vec<f32>,
        count: Vec<f32>,
        bshape: Vec<i64>,
        nshape: Vec<i64>,
    }

    impl Tensors {
        fn new(rows: &[([f32; 4], f32, f32)], count: f32) -> Self {
            let n = rows.len() as i64;
            Tensors {
                boxes: rows.iter().flat_map(|r| r.0).collect(),
                classes: rows.iter().map(|r| r.1).collect(),
                scores: rows.iter().map(|r| r.2).collect(),
                count: vec![count],
                bshape: vec![1, n, 4],
                nshape: vec![1, n],
            }
        }

        fn views(&self) -> Vec<OutputView<'_>> {
            vec![
                OutputView {
                    name: "detection_boxes",
                    shape: &self.bshape,
                    data: &self.boxes,
                },
                OutputView {
                    name: "detection_classes",
                    shape: &self.nshape,
                    data: &self.classes,
                },
                OutputView {
                    name: "detection_scores",
                    shape: &self.nshape,
                    data: &self.scores,
                },
                OutputView {
                    name: "num_detections",
                    shape: &[1],
                    data: &self.count,
                },
            ]
        }
    }

    #[test]
    fn decodes_boxes_into_source_pixels() {
        let t = Tensors::new(
            &[
                ([0.1, 0.2, 0.5, 0.6], 17.0, 0.9),
                ([-0.5, 0.5, 2.0, 1.0], 0.0, 0.7),
            ],
            2.0,
        );
        let dets = SsdDecoder::new(300, 300)
            .decode(&t.views(), &transform(), &params(10))
            .expect("valid tensors");
        assert_eq!(dets.len(), 2);
        assert_eq!(dets[0].class_id, 17);
        assert_eq!(dets[0].score, 0.9);
        let want = [120.0, 30.0, 360.0, 150.0];
        for (g, w) in dets[0].bbox.iter().zip(want) {
            assert!((g - w).abs() < 1e-3, "{:?} vs {want:?}", dets[0].bbox);
        }
        // Clamped to 0..1 before mapping: covers x 0.5..1, y 0..1.
        assert_eq!(dets[1].class_id, 0);
        assert_eq!(dets[1].bbox, [300.0, 0.0, 600.0, 300.0]);
    }

    #[test]
    fn skips_past_count_low_scores_degenerate_and_truncates() {
        let t = Tensors::new(
            &[
                ([0.0, 0.0, 0.5, 0.5], 1.0, 0.95),
                ([0.3, 0.3, 0.3, 0.6], 2.0, 0.9), // zero height
                ([0.0, 0.0, 0.5, 0.5], 3.0, 0.8),
                ([0.0, 0.0, 0.5, 0.5], 4.0, 0.4),  // below threshold
                ([0.0, 0.0, 0.5, 0.5], 5.0, 0.99), // past count
            ],
            4.0,
        );
        let d = SsdDecoder::new(300, 300);
        let dets = d
            .decode(&t.views(), &transform(), &params(10))
            .expect("valid");
        assert_eq!(dets.iter().map(|d| d.class_id).collect::<Vec<_>>(), [1, 3]);
        let dets = d
            .decode(&t.views(), &transform(), &params(1))
            .expect("valid");
        assert_eq!(dets.len(), 1);
        assert_eq!(dets[0].class_id, 1);

        // NaN / negative count and NaN scores yield nothing, without panicking.
        let mut t = t;
        t.count = vec![f32::NAN];
        assert!(
            d.decode(&t.views(), &transform(), &params(10))
                .expect("valid")
                .is_empty()
        );
        t.count = vec![99.0];
        t.scores = vec![f32::NAN; 5];
        assert!(
            d.decode(&t.views(), &transform(), &params(10))
                .expect("valid")
                .is_empty()
        );
    }

    #[test]
    fn rejects_wrong_output_count() {
        let t = Tensors::new(&[([0.0, 0.0, 0.5, 0.5], 1.0, 0.95)], 1.0);
        let views = t.views();
        let err = SsdDecoder::new(300, 300)
            .decode(&views[..2], &transform(), &params(10))
            .expect_err("2 outputs");
        assert_eq!(
            err.to_string(),
            "ssd: expected 4 outputs (boxes, classes, scores, count), got 2"
        );
    }

    #[test]
    fn rejects_inconsistent_shapes() {
        let d = SsdDecoder::new(300, 300);
        let mut t = Tensors::new(
            &[
                ([0.0, 0.0, 0.5, 0.5], 1.0, 0.95),
                ([0.0, 0.0, 0.5, 0.5], 1.0, 0.9),
            ],
            2.0,
        );
        t.scores.pop();
        t.classes.pop();
        t.nshape = vec![1, 1];
        let err = d
            .decode(&t.views(), &transform(), &params(10))
            .expect_err("N mismatch");
        assert_eq!(
            err.to_string(),
            "ssd: boxes has 2 rows but classes has 1 and scores has 1"
        );

        let mut t = Tensors::new(&[([0.0, 0.0, 0.5, 0.5], 1.0, 0.95)], 1.0);
        t.bshape = vec![1, 1, 5];
        let err = d
            .decode(&t.views(), &transform(), &params(10))
            .expect_err("bad box shape");
        assert_eq!(
            err.to_string(),
            "ssd: output 0 (`detection_boxes`) has shape [1, 1, 5], expected [1, N, 4]"
        );

        let mut t = Tensors::new(&[([0.0, 0.0, 0.5, 0.5], 1.0, 0.95)], 1.0);
        t.boxes.pop();
        assert!(matches!(
            d.decode(&t.views(), &transform(), &params(10)),
            Err(DecodeError::DataLength {
                expected: 4,
                got: 3,
                ..
            })
        ));

        let t = Tensors::new(&[([0.0, 0.0, 0.5, 0.5], 1.0, 0.95)], 1.0);
        assert!(matches!(
            SsdDecoder::new(0, 300).decode(&t.views(), &transform(), &params(10)),
            Err(DecodeError::Config { .. })
        ));
    }
}
