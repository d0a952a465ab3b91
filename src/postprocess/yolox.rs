//! Decoder for YOLOX raw grid output (ONNX export with sigmoid in-graph, no box decoding).
//!
//! Input: exactly 1 output of shape `[1, A, 5 + C]` (C >= 1), where `A` is the number of grid
//! cells over all strides: for each stride `s` in order, `(H / s) * (W / s)` cells, row-major
//! (integer division; 416x416 with strides [8, 16, 32] gives 3549). Each row is
//! `raw_x, raw_y, raw_w, raw_h, objectness, p_0 .. p_{C-1}` with probabilities in 0..1.
//!
//! Decoding per cell `(gx, gy)` at stride `s`, in model-input pixels:
//! `cx = (raw_x + gx) * s`, `cy = (raw_y + gy) * s`, `w = exp(raw_w) * s`, `h = exp(raw_h) * s`;
//! `score = objectness * max_c p_c` (class = argmax, first on ties). Cells with
//! `score >= score_threshold` are mapped with [`Transform::to_source`], degenerate boxes
//! (e.g. entirely in letterbox padding) are dropped, then class-aware NMS
//! ([`nms_class_aware`]) with `nms_iou` and `max_detections` gives the result, sorted by
//! descending score.
//!
//! Failure: [`DecodeError`] for a wrong output count, a wrong shape or data length, an anchor
//! count not matching the grid, or a bad configuration (zero input size, empty or zero
//! strides). Never panics.

use super::nms::nms_class_aware;
use super::{
    DecodeError, DecodeParams, Decoder, Detection, OutputView, check_data_len, is_degenerate,
    output_label,
};
use crate::preprocess::Transform;

const NAME: &str = "yolox";

/// YOLOX decoder for a model with a `input_width x input_height` input and the given strides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YoloxDecoder {
    /// Model input width in pixels (must be > 0).
    pub input_width: u32,
    /// Model input height in pixels (must be > 0).
    pub input_height: u32,
    /// Feature-map strides in output order; default `[8, 16, 32]`. Must be non-empty, all > 0.
    pub strides: Vec<u32>,
}

impl YoloxDecoder {
    /// Decoder for a `input_width x input_height` model with the standard strides `[8, 16, 32]`.
    pub fn new(input_width: u32, input_height: u32) -> Self {
        YoloxDecoder {
            input_width,
            input_height,
            strides: vec![8, 16, 32],
        }
    }

    /// Number of rows (anchors) the output must have: sum over strides of
    /// `(input_height / s) * (input_width / s)`. Errors on a zero input size, no strides, or a
    /// zero stride.
    pub fn expected_anchors(&self) -> Result<usize, DecodeError> {
        if self.input_width == 0 || self.input_height == 0 {
            return Err(DecodeError::Config {
                decoder: NAME,
                message: format!(
                    "model input size must be non-zero, got {}x{}",
                    self.input_width, self.input_height
                ),
            });
        }
        if self.strides.is_empty() || self.strides.contains(&0) {
            return Err(DecodeError::Config {
                decoder: NAME,
                message: format!(
                    "strides must be non-empty and non-zero, got {:?}",
                    self.strides
                ),
            });
        }
        Ok(self
            .strides
            .iter()
            .map(|&s| (self.input_width / s) as usize * (self.input_height / s) as usize)
            .sum())
    }
}

/// Index and value of the largest finite-comparable entry (first on ties); NaNs are ignored.
fn argmax(probs: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, &p) in probs.iter().enumerate() {
        if p > best.1 {
            best = (i, p);
        }
    }
    best
}

impl Decoder for YoloxDecoder {
    /// See the module docs for the expected output and decoding rules.
    fn decode(
        &self,
        outputs: &[OutputView<'_>],
        transform: &Transform,
        params: &DecodeParams,
    ) -> Result<Vec<Detection>, DecodeError> {
        let expected = self.expected_anchors()?;
        let [out] = outputs else {
            return Err(DecodeError::OutputCount {
                decoder: NAME,
                expected: 1,
                what: "[1, anchors, 5 + classes]",
                got: outputs.len(),
            });
        };
        let (anchors, row_len) = match out.shape {
            &[1, a, r] if a >= 0 && r >= 6 => (a as usize, r as usize),
            _ => {
                return Err(DecodeError::Shape {
                    decoder: NAME,
                    output: output_label(0, out),
                    expected: "[1, anchors, 5 + classes] with at least 1 class",
                    got: out.shape.to_vec(),
                });
            }
        };
        check_data_len(NAME, 0, out)?;
        if anchors != expected {
            return Err(DecodeError::AnchorCount {
                expected,
                got: anchors,
                width: self.input_width,
                height: self.input_height,
                strides: self.strides.clone(),
            });
        }

        let (w, h) = (self.input_width, self.input_height);
        let cells = self
            .strides
            .iter()
            .flat_map(|&s| (0..h / s).flat_map(move |gy| (0..w / s).map(move |gx| (gx, gy, s))));
        let thr = params.score_threshold;
        let mut dets = Vec::new();
        for ((gx, gy, s), row) in cells.zip(out.data.chunks_exact(row_len)) {
            let obj = row[4];
            // Class probabilities are <= 1, so the score cannot exceed objectness.
            let obj_ok = obj >= thr; // false for NaN
            if !obj_ok {
                continue;
            }
            let (class, p) = argmax(&row[5..]);
            let score = obj * p;
            let score_ok = score >= thr; // false for NaN
            if !score_ok {
                continue;
            }
            let sf = s as f32;
            let cx = (row[0] + gx as f32) * sf;
            let cy = (row[1] + gy as f32) * sf;
            let half_w = row[2].exp() * sf * 0.5;
            let half_h = row[3].exp() * sf * 0.5;
            let bbox = transform.to_source([cx - half_w, cy - half_h, cx + half_w, cy + half_h]);
            if is_degenerate(&bbox) {
                continue;
            }
            dets.push(Detection {
                class_id: class as u32,
                score,
                bbox,
            });
        }
        Ok(nms_class_aware(dets, params.nms_iou, params.max_detections))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::{
        ChannelOrder, ElementType, InputSpec, Layout, Resize, RgbView, TensorSlot, preprocess_into,
    };

    const CLASSES: usize = 3;
    const ROW: usize = 5 + CLASSES;

    fn params() -> DecodeParams {
        DecodeParams {
            score_threshold: 0.3,
            nms_iou: 0.45,
            max_detections: 100,
        }
    }

    /// Zeroed 416x416 tensor: all objectness 0.
    fn empty_tensor() -> Vec<f32> {
        vec![0.0; 3549 * ROW]
    }

    fn set_cell(t: &mut [f32], index: usize, raw: [f32; 4], obj: f32, probs: [f32; CLASSES]) {
        let row = &mut t[index * ROW..(index + 1) * ROW];
        row[..4].copy_from_slice(&raw);
        row[4] = obj;
        row[5..].copy_from_slice(&probs);
    }

    fn decode(t: &[f32], transform: &Transform, p: &DecodeParams) -> Vec<Detection> {
        let shape = [1, 3549, ROW as i64];
        let view = OutputView {
            name: "output",
            shape: &shape,
            data: t,
        };
        YoloxDecoder::new(416, 416)
            .decode(&[view], transform, p)
            .expect("valid tensor")
    }

    fn assert_box(got: [f32; 4], want: [f32; 4]) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-3, "{got:?} vs {want:?}");
        }
    }

    /// The transform preprocess produces for a 832x416 frame letterboxed into 416x416.
    fn letterbox_transform(center: bool) -> Transform {
        let frame = vec![0u8; 832 * 416 * 3];
        let src = RgbView {
            data: &frame,
            width: 832,
            height: 416,
            stride: 832 * 3,
        };
        let spec = InputSpec {
            width: 416,
            height: 416,
            layout: Layout::Nchw,
            order: ChannelOrder::Bgr,
            dtype: ElementType::F32,
            resize: Resize::Letterbox { pad: 114, center },
            mean: [0.0; 3],
            std: [1.0; 3],
        };
        let mut out = vec![0f32; spec.elements()];
        preprocess_into(src, &spec, TensorSlot::F32(&mut out)).expect("preprocess")
    }

    #[test]
    fn default_grid_size() {
        assert_eq!(YoloxDecoder::new(416, 416).expected_anchors(), Ok(3549));
        assert_eq!(YoloxDecoder::new(640, 640).expected_anchors(), Ok(8400));
        let mut d = YoloxDecoder::new(416, 416);
        d.strides = vec![8, 0];
        assert!(matches!(
            d.expected_anchors(),
            Err(DecodeError::Config { .. })
        ));
    }

    #[test]
    fn confident_cell_decodes_through_letterbox() {
        let top_left = letterbox_transform(false);
        assert_eq!((top_left.scale_x, top_left.offset_y), (0.5, 0.0));
        let mut t = empty_tensor();
        // Stride 8, cell (gx 10, gy 5): index 5 * 52 + 10.
        set_cell(
            &mut t,
            5 * 52 + 10,
            [0.5, 0.5, 4f32.ln(), 2f32.ln()],
            0.9,
            [0.1, 0.8, 0.05],
        );
        // Stride 32, cell (gx 3, gy 5): after 52*52 + 26*26 stride-8/16 cells.
        set_cell(
            &mut t,
            52 * 52 + 26 * 26 + 5 * 13 + 3,
            [0.0, 0.0, 0.0, 0.0],
            0.5,
            [0.0, 0.0, 0.9],
        );
        let dets = decode(&t, &top_left, &params());
        assert_eq!(dets.len(), 2);
        assert_eq!(dets[0].class_id, 1);
        assert!((dets[0].score - 0.72).abs() < 1e-6);
        // Model box: cx 84, cy 44, w 32, h 16 -> [68, 36, 100, 52]; source = model / 0.5.
        assert_box(dets[0].bbox, [136.0, 72.0, 200.0, 104.0]);
        assert_eq!(dets[1].class_id, 2);
        // cx 96, cy 160, w = h = 32 -> [80, 144, 112, 176] -> x2 in source.
        assert_box(dets[1].bbox, [160.0, 288.0, 224.0, 352.0]);

        // Centred letterbox: content starts at y = 104 in the model input.
        let centred = letterbox_transform(true);
        assert_eq!(centred.offset_y, 104.0);
        let dets = decode(&t, &centred, &params());
        // The stride-8 box (y 36..52) lies wholly in the top padding and is dropped.
        assert_eq!(dets.len(), 1);
        assert_eq!(dets[0].class_id, 2);
        // y: (144 - 104) / 0.5 = 80, (176 - 104) / 0.5 = 144.
        assert_box(dets[0].bbox, [160.0, 80.0, 224.0, 144.0]);
    }

    #[test]
    fn overlapping_same_class_cells_collapse() {
        let identity = Transform {
            scale_x: 1.0,
            scale_y: 1.0,
            offset_x: 0.0,
            offset_y: 0.0,
            src_width: 416,
            src_height: 416,
        };
        let mut t = empty_tensor();
        let big = 8f32.ln(); // 64x64 boxes
        set_cell(
            &mut t,
            20 * 52 + 20,
            [0.5, 0.5, big, big],
            0.9,
            [0.0, 0.9, 0.0],
        );
        set_cell(
            &mut t,
            20 * 52 + 21,
            [0.5, 0.5, big, big],
            0.8,
            [0.0, 0.9, 0.0],
        );
        // Same place, different class: kept.
        set_cell(
            &mut t,
            21 * 52 + 20,
            [0.5, 0.5, big, big],
            0.7,
            [0.9, 0.0, 0.0],
        );
        let dets = decode(&t, &identity, &params());
        assert_eq!(dets.len(), 2, "{dets:?}");
        assert_eq!(dets[0].class_id, 1);
        assert!((dets[0].score - 0.81).abs() < 1e-6);
        assert_box(dets[0].bbox, [132.0, 132.0, 196.0, 196.0]);
        assert_eq!(dets[1].class_id, 0);

        let one = decode(
            &t,
            &identity,
            &DecodeParams {
                max_detections: 1,
                ..params()
            },
        );
        assert_eq!(one.len(), 1);
    }

    #[test]
    fn low_scores_dropped() {
        let identity = Transform {
            scale_x: 1.0,
            scale_y: 1.0,
            offset_x: 0.0,
            offset_y: 0.0,
            src_width: 416,
            src_height: 416,
        };
        let mut t = empty_tensor();
        // High objectness but weak class: 0.9 * 0.3 = 0.27 < 0.3.
        set_cell(&mut t, 100, [0.5, 0.5, 1.0, 1.0], 0.9, [0.3, 0.1, 0.2]);
        // Low objectness.
        set_cell(&mut t, 200, [0.5, 0.5, 1.0, 1.0], 0.2, [1.0, 0.0, 0.0]);
        // NaN everywhere in a row must not panic or pass.
        set_cell(&mut t, 300, [f32::NAN; 4], f32::NAN, [f32::NAN; 3]);
        set_cell(&mut t, 400, [0.5, 0.5, 1.0, 1.0], 1.0, [f32::NAN; 3]);
        assert!(decode(&t, &identity, &params()).is_empty());
        // Exactly at threshold is kept.
        set_cell(&mut t, 100, [0.5, 0.5, 1.0, 1.0], 0.5, [0.5, 0.1, 0.2]);
        let p = DecodeParams {
            score_threshold: 0.25,
            ..params()
        };
        assert_eq!(decode(&t, &identity, &p).len(), 1);
    }

    #[test]
    fn rejects_wrong_anchor_count_and_shapes() {
        let t = Tensors::zeros(100);
        let identity = Transform {
            scale_x: 1.0,
            scale_y: 1.0,
            offset_x: 0.0,
            offset_y: 0.0,
            src_width: 416,
            src_height: 416,
        };
        let d = YoloxDecoder::new(416, 416);
        let err = d
            .decode(&[t.view()], &identity, &params())
            .expect_err("100 anchors");
        assert_eq!(
            err.to_string(),
            "yolox: 3549 anchors expected for 416x416 with strides [8,16,32], got 100"
        );
        let err = d
            .decode(&[t.view(), t.view()], &identity, &params())
            .expect_err("2 outputs");
        assert_eq!(
            err.to_string(),
            "yolox: expected 1 output ([1, anchors, 5 + classes]), got 2"
        );
        let data = [0.0f32; 3549 * 5];
        let shape = [1, 3549, 5];
        let no_classes = OutputView {
            name: "output",
            shape: &shape,
            data: &data,
        };
        assert!(matches!(
            d.decode(&[no_classes], &identity, &params()),
            Err(DecodeError::Shape { .. })
        ));
        let short = OutputView {
            name: "output",
            shape: &[1, 3549, 6],
            data: &data,
        };
        assert!(matches!(
            d.decode(&[short], &identity, &params()),
            Err(DecodeError::DataLength { .. })
        ));
    }

    struct Tensors {
        data: Vec<f32>,
        shape: [i64; 3],
    }

    impl Tensors {
        fn zeros(anchors: usize) -> Self {
            Tensors {
                data: vec![0.0; anchors * ROW],
                shape: [1, anchors as i64, ROW as i64],
            }
        }

        fn view(&self) -> OutputView<'_> {
            OutputView {
                name: "output",
                shape: &self.shape,
                data: &self.data,
            }
        }
    }
}
