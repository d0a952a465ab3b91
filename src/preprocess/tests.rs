//! Tests of the CPU preprocessing against a scalar reference.

use super::*;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Random image with `extra` padding bytes per row (filled with junk).
fn random_image(w: u32, h: u32, extra: usize, seed: u64) -> (Vec<u8>, usize) {
    let stride = w as usize * 3 + extra;
    let mut rng = XorShift(seed);
    let data = (0..stride * h as usize)
        .map(|_| (rng.next() >> 24) as u8)
        .collect();
    (data, stride)
}

fn spec(w: u32, h: u32, layout: Layout, order: ChannelOrder, dtype: ElementType) -> InputSpec {
    InputSpec {
        width: w,
        height: h,
        layout,
        order,
        dtype,
        resize: Resize::Stretch,
        mean: [0.0; 3],
        std: [1.0; 3],
    }
}

fn run_u8(src: RgbView<'_>, spec: &InputSpec) -> (Vec<u8>, Transform) {
    let mut out = vec![0u8; spec.elements()];
    let t = preprocess_into(src, spec, TensorSlot::U8(&mut out)).expect("preprocess u8");
    (out, t)
}

fn run_f32(src: RgbView<'_>, spec: &InputSpec) -> (Vec<f32>, Transform) {
    let mut out = vec![0f32; spec.elements()];
    let t = preprocess_into(src, spec, TensorSlot::F32(&mut out)).expect("preprocess f32");
    (out, t)
}

/// Straightforward per-pixel f64 reference. Returns values in the spec's layout and order,
/// un-normalised (0..255, not rounded) and the pad mask.
fn reference(src: &RgbView<'_>, spec: &InputSpec) -> (Vec<f64>, Vec<bool>) {
    let (sw, sh) = (src.width as f64, src.height as f64);
    let (dw, dh) = (spec.width as usize, spec.height as usize);
    let (nw, nh, ox, oy, pad) = match spec.resize {
        Resize::Stretch => (dw, dh, 0, 0, 0.0),
        Resize::Letterbox { pad, center } => {
            let s = (dw as f64 / sw).min(dh as f64 / sh);
            let nw = ((sw * s).round() as usize).clamp(1, dw);
            let nh = ((sh * s).round() as usize).clamp(1, dh);
            let (ox, oy) = if center {
                ((dw - nw) / 2, (dh - nh) / 2)
            } else {
                (0, 0)
            };
            (nw, nh, ox, oy, f64::from(pad))
        }
    };
    let px = |x: usize, y: usize, c: usize| f64::from(src.data[y * src.stride + x * 3 + c]);
    let mut vals = vec![0.0; dw * dh * 3];
    let mut is_pad = vec![false; dw * dh * 3];
    for y in 0..dh {
        for x in 0..dw {
            for oc in 0..3 {
                let c = match spec.order {
                    ChannelOrder::Rgb => oc,
                    ChannelOrder::Bgr => 2 - oc,
                };
                let idx = match spec.layout {
                    Layout::Nhwc => (y * dw + x) * 3 + oc,
                    Layout::Nchw => oc * dw * dh + y * dw + x,
                };
                let inside = x >= ox && x < ox + nw && y >= oy && y < oy + nh;
                if !inside {
                    vals[idx] = pad;
                    is_pad[idx] = true;
                    continue;
                }
                let fx = (((x - ox) as f64 + 0.5) * sw / nw as f64 - 0.5).clamp(0.0, sw - 1.0);
                let fy = (((y - oy) as f64 + 0.5) * sh / nh as f64 - 0.5).clamp(0.0, sh - 1.0);
                let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
                let x1 = (x0 + 1).min(src.width as usize - 1);
                let y1 = (y0 + 1).min(src.height as usize - 1);
                let (ax, ay) = (fx - x0 as f64, fy - y0 as f64);
                let top = px(x0, y0, c) * (1.0 - ax) + px(x1, y0, c) * ax;
                let bot = px(x0, y1, c) * (1.0 - ax) + px(x1, y1, c) * ax;
                vals[idx] = top * (1.0 - ay) + bot * ay;
            }
        }
    }
    (vals, is_pad)
}

fn assert_close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs().max(1.0),
            "{got:?} vs {want:?}"
        );
    }
}

fn channel_of(spec: &InputSpec, idx: usize) -> usize {
    match spec.layout {
        Layout::Nhwc => idx % 3,
        Layout::Nchw => idx / (spec.width as usize * spec.height as usize),
    }
}

#[test]
fn identity_size_reproduces_pixels() {
    let (data, stride) = random_image(13, 7, 5, 1);
    let src = RgbView {
        data: &data,
        width: 13,
        height: 7,
        stride,
    };
    let s = spec(13, 7, Layout::Nhwc, ChannelOrder::Rgb, ElementType::U8);
    let (out, t) = run_u8(src, &s);
    for y in 0..7 {
        assert_eq!(
            &out[y * 39..(y + 1) * 39],
            &data[y * stride..y * stride + 39],
            "row {y}"
        );
    }
    assert_eq!(
        (t.scale_x, t.scale_y, t.offset_x, t.offset_y),
        (1.0, 1.0, 0.0, 0.0)
    );
}

#[test]
fn bgr_swaps_channels() {
    let (data, stride) = random_image(9, 5, 0, 2);
    let src = RgbView {
        data: &data,
        width: 9,
        height: 5,
        stride,
    };
    let (rgb, _) = run_u8(
        src,
        &spec(9, 5, Layout::Nhwc, ChannelOrder::Rgb, ElementType::U8),
    );
    let (bgr, _) = run_u8(
        src,
        &spec(9, 5, Layout::Nhwc, ChannelOrder::Bgr, ElementType::U8),
    );
    for (p, q) in rgb.chunks_exact(3).zip(bgr.chunks_exact(3)) {
        assert_eq!([p[2], p[1], p[0]], [q[0], q[1], q[2]]);
    }
    assert_ne!(rgb, bgr);
}

#[test]
fn nchw_is_permuted_nhwc() {
    let (data, stride) = random_image(31, 19, 2, 3);
    let src = RgbView {
        data: &data,
        width: 31,
        height: 19,
        stride,
    };
    for order in [ChannelOrder::Rgb, ChannelOrder::Bgr] {
        let mut a = spec(16, 11, Layout::Nhwc, order, ElementType::F32);
        a.resize = Resize::Letterbox {
            pad: 7,
            center: true,
        };
        a.mean = [1.0, 2.0, 3.0];
        a.std = [2.0, 3.0, 4.0];
        let b = InputSpec {
            layout: Layout::Nchw,
            ..a.clone()
        };
        let (nhwc, t1) = run_f32(src, &a);
        let (nchw, t2) = run_f32(src, &b);
        assert_eq!(t1, t2);
        let plane = 16 * 11;
        for i in 0..plane {
            for c in 0..3 {
                assert_eq!(
                    nhwc[i * 3 + c],
                    nchw[c * plane + i],
                    "pixel {i} channel {c}"
                );
            }
        }
    }
}

#[test]
fn letterbox_top_left_and_centred() {
    let data = vec![200u8; 200 * 100 * 3];
    let src = RgbView {
        data: &data,
        width: 200,
        height: 100,
        stride: 600,
    };
    let mut s = spec(100, 100, Layout::Nhwc, ChannelOrder::Rgb, ElementType::U8);
    s.resize = Resize::Letterbox {
        pad: 114,
        center: false,
    };
    let (out, t) = run_u8(src, &s);
    for (y, row) in out.chunks_exact(300).enumerate() {
        let want = if y < 50 { 200 } else { 114 };
        assert!(row.iter().all(|&v| v == want), "row {y}");
    }
    assert_eq!(
        t.to_source([0.0, 0.0, 100.0, 50.0]),
        [0.0, 0.0, 200.0, 100.0]
    );
    // Pad region clamps to the frame.
    assert_eq!(t.to_source([10.0, 60.0, 20.0, 90.0])[1], 100.0);

    s.resize = Resize::Letterbox {
        pad: 114,
        center: true,
    };
    let (out, t) = run_u8(src, &s);
    assert_eq!((t.offset_x, t.offset_y), (0.0, 25.0));
    for (y, row) in out.chunks_exact(300).enumerate() {
        let want = if (25..75).contains(&y) { 200 } else { 114 };
        assert!(row.iter().all(|&v| v == want), "row {y}");
    }
    assert_eq!(
        t.to_source([0.0, 25.0, 100.0, 75.0]),
        [0.0, 0.0, 200.0, 100.0]
    );

    // Tall image: horizontal padding, F32 pad normalised, NCHW.
    let mut s = spec(100, 100, Layout::Nchw, ChannelOrder::Rgb, ElementType::F32);
    s.resize = Resize::Letterbox {
        pad: 114,
        center: true,
    };
    s.mean = [14.0, 14.0, 14.0];
    s.std = [100.0, 50.0, 25.0];
    let tall = RgbView {
        data: &data,
        width: 100,
        height: 200,
        stride: 300,
    };
    let (out, t) = run_f32(tall, &s);
    assert_eq!((t.offset_x, t.offset_y, t.scale_x), (25.0, 0.0, 0.5));
    for c in 0..3 {
        let plane = &out[c * 10000..(c + 1) * 10000];
        let want_pad = 100.0 / s.std[c];
        let want_img = 186.0 / s.std[c];
        for (i, &v) in plane.iter().enumerate() {
            let want = if (25..75).contains(&(i % 100)) {
                want_img
            } else {
                want_pad
            };
            assert!((v - want).abs() < 1e-5, "c {c} i {i}: {v} vs {want}");
        }
    }
}

#[test]
fn f32_mean_std_applied_in_order() {
    let data: Vec<u8> = [10u8, 20, 30].repeat(4 * 3);
    let src = RgbView {
        data: &data,
        width: 4,
        height: 3,
        stride: 12,
    };
    let mut s = spec(4, 3, Layout::Nhwc, ChannelOrder::Rgb, ElementType::F32);
    s.mean = [1.0, 2.0, 3.0];
    s.std = [2.0, 4.0, 5.0];
    let (out, _) = run_f32(src, &s);
    for p in out.chunks_exact(3) {
        assert_close(p, &[4.5, 4.5, 5.4]);
    }
    s.order = ChannelOrder::Bgr;
    let (out, _) = run_f32(src, &s);
    for p in out.chunks_exact(3) {
        // B=30, G=20, R=10 normalised with mean/std indexed in BGR order.
        assert_close(p, &[14.5, 4.5, 1.4]);
    }
    // mean 0 / std 1 give raw values.
    let raw = spec(4, 3, Layout::Nchw, ChannelOrder::Rgb, ElementType::F32);
    let (out, _) = run_f32(src, &raw);
    assert_eq!(&out[..4], &[10.0; 4]);
    assert_eq!(&out[24..], &[30.0; 12][..]);
}

#[test]
fn matches_scalar_reference() {
    let cases = [
        (37, 23, 17, 29, Resize::Stretch, 1usize),
        (641, 479, 300, 300, Resize::Stretch, 3),
        (
            641,
            479,
            300,
            300,
            Resize::Letterbox {
                pad: 114,
                center: true,
            },
            0,
        ),
        (
            37,
            23,
            64,
            64,
            Resize::Letterbox {
                pad: 3,
                center: false,
            },
            4,
        ),
        (5, 3, 416, 231, Resize::Stretch, 0),
        (768, 576, 416, 416, Resize::Stretch, 0),
    ];
    for (seed, &(sw, sh, dw, dh, resize, extra)) in cases.iter().enumerate() {
        let (data, stride) = random_image(sw, sh, extra, 0x9e37_79b9 + seed as u64);
        let src = RgbView {
            data: &data,
            width: sw,
            height: sh,
            stride,
        };
        for layout in [Layout::Nhwc, Layout::Nchw] {
            for order in [ChannelOrder::Rgb, ChannelOrder::Bgr] {
                let mut s = spec(dw, dh, layout, order, ElementType::U8);
                s.resize = resize;
                let (want, _) = reference(&src, &s);
                let (got, _) = run_u8(src, &s);
                for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                    let diff = (f64::from(g) - w.round()).abs();
                    assert!(diff <= 1.0, "u8 case {seed} idx {i}: {g} vs {w}");
                }

                s.dtype = ElementType::F32;
                s.mean = [123.675, 116.28, 103.53];
                s.std = [58.395, 57.12, 57.375];
                let (got, _) = run_f32(src, &s);
                for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                    let c = channel_of(&s, i);
                    let w = (w - f64::from(s.mean[c])) / f64::from(s.std[c]);
                    let tol = 1e-3 * w.abs().max(1.0);
                    assert!(
                        (f64::from(g) - w).abs() <= tol,
                        "f32 case {seed} idx {i}: {g} vs {w}"
                    );
                }
            }
        }
    }
}

#[test]
fn errors_name_numbers_and_leave_slot_untouched() {
    let data = vec![0u8; 10 * 4 * 3];
    let src = RgbView {
        data: &data,
        width: 10,
        height: 4,
        stride: 30,
    };
    let s = spec(8, 8, Layout::Nhwc, ChannelOrder::Rgb, ElementType::U8);

    let mut short = vec![9u8; 100];
    let err = preprocess_into(src, &s, TensorSlot::U8(&mut short)).expect_err("short slot");
    assert_eq!(
        err,
        PreprocessError::WrongSlotLength {
            expected: 192,
            got: 100,
            width: 8,
            height: 8
        }
    );
    assert_eq!(
        err.to_string(),
        "tensor slot holds 100 elements but a 8x8x3 input needs 192"
    );
    assert!(short.iter().all(|&v| v == 9));

    let mut f = vec![0f32; 192];
    let err = preprocess_into(src, &s, TensorSlot::F32(&mut f)).expect_err("dtype");
    assert_eq!(
        err,
        PreprocessError::WrongDtype {
            expected: ElementType::U8,
            got: ElementType::F32
        }
    );

    let mut ok = vec![0u8; 192];
    let bad_stride = RgbView { stride: 29, ..src };
    assert!(matches!(
        preprocess_into(bad_stride, &s, TensorSlot::U8(&mut ok)),
        Err(PreprocessError::StrideTooSmall {
            stride: 29,
            min_stride: 30,
            ..
        })
    ));
    let too_short = RgbView {
        data: &data[..119],
        ..src
    };
    let err = preprocess_into(too_short, &s, TensorSlot::U8(&mut ok)).expect_err("data");
    assert_eq!(
        err.to_string(),
        "image data holds 119 bytes but 10x4 with stride 30 needs 120"
    );
    let empty = RgbView { width: 0, ..src };
    assert!(matches!(
        preprocess_into(empty, &s, TensorSlot::U8(&mut ok)),
        Err(PreprocessError::EmptyImage {
            width: 0,
            height: 4
        })
    ));
    let zero_spec = spec(0, 8, Layout::Nhwc, ChannelOrder::Rgb, ElementType::U8);
    assert!(matches!(
        preprocess_into(src, &zero_spec, TensorSlot::U8(&mut ok)),
        Err(PreprocessError::EmptyTarget { .. })
    ));
    let mut fs = spec(8, 8, Layout::Nhwc, ChannelOrder::Rgb, ElementType::F32);
    fs.std[1] = 0.0;
    assert!(matches!(
        preprocess_into(src, &fs, TensorSlot::F32(&mut f)),
        Err(PreprocessError::InvalidStd { channel: 1, .. })
    ));
    assert!(ok.iter().all(|&v| v == 0));
    assert!(f.iter().all(|&v| v == 0.0));
}

#[test]
fn to_source_inverts_and_clamps() {
    let t = Transform {
        scale_x: 0.5,
        scale_y: 0.25,
        offset_x: 10.0,
        offset_y: 4.0,
        src_width: 100,
        src_height: 80,
    };
    assert_eq!(
        t.to_source([20.0, 8.0, 30.0, 12.0]),
        [20.0, 16.0, 40.0, 32.0]
    );
    assert_eq!(
        t.to_source([0.0, 0.0, 500.0, 500.0]),
        [0.0, 0.0, 100.0, 80.0]
    );
}
