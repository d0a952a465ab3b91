//! Every source format × layout × element type × resize mode against a scalar reference written
//! here from the documented contract (exact real arithmetic, per pixel), on random frames of odd
//! sizes with padded strides and planes at odd offsets. Tolerance (see `tolerance`): within one
//! level in 0..255 pixel units (1/255 of full scale) after undoing the normalisation, f16
//! rounding on top for F16.

use super::*;

/// Deterministic xorshift64 random numbers.
pub(crate) struct Rng(pub u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(crate) fn byte(&mut self) -> u8 {
        (self.next() >> 24) as u8
    }
}

/// A random frame buffer of `format` with junk padding after each row, a junk gap before each
/// plane, and the plane layout describing it.
pub(crate) fn random_frame(
    format: PixelFormat,
    w: u32,
    h: u32,
    rng: &mut Rng,
) -> (Vec<u8>, Vec<PlaneLayout>) {
    let mut data = Vec::new();
    let mut planes = Vec::new();
    for p in 0..format.planes() {
        let (row, rows) = format.plane_size(p, w, h);
        let gap = rng.below(7) as usize;
        data.extend((0..gap).map(|_| rng.byte()));
        let stride = row + rng.below(9) as usize;
        planes.push(PlaneLayout {
            offset: data.len(),
            stride,
        });
        data.extend((0..stride * rows).map(|_| rng.byte()));
    }
    (data, planes)
}

/// The source pixel `(x, y)` as exact real R, G, B (0..255), straight from the contract.
fn source_rgb(f: &FrameView<'_>, x: usize, y: usize) -> [f64; 3] {
    let byte = |plane: usize, offset: usize| {
        let l = f.planes[plane];
        f64::from(f.data[l.offset + (y >> usize::from(plane > 0)) * l.stride + offset])
    };
    let yuv = |yv: f64, u: f64, v: f64| {
        let (kr, kb) = match f.colorimetry.matrix {
            YuvMatrix::Bt601 => (0.299, 0.114),
            YuvMatrix::Bt709 => (0.2126, 0.0722),
        };
        let (yl, cs) = match f.colorimetry.range {
            YuvRange::Limited => ((yv - 16.0) * 255.0 / 219.0, 255.0 / 224.0),
            YuvRange::Full => (yv, 1.0),
        };
        let (u, v) = ((u - 128.0) * cs, (v - 128.0) * cs);
        let r = yl + 2.0 * (1.0 - kr) * v;
        let b = yl + 2.0 * (1.0 - kb) * u;
        let g = (yl - kr * r - kb * b) / (1.0 - kr - kb);
        // Exact: the implementation's rounding to RGB8 is part of the tolerance.
        [r, g, b].map(|c| c.clamp(0.0, 255.0))
    };
    let l0 = f.planes[0];
    match f.format {
        PixelFormat::Nv12 => {
            let yv = f64::from(f.data[l0.offset + y * l0.stride + x]);
            yuv(yv, byte(1, (x / 2) * 2), byte(1, (x / 2) * 2 + 1))
        }
        PixelFormat::I420 => {
            let yv = f64::from(f.data[l0.offset + y * l0.stride + x]);
            yuv(yv, byte(1, x / 2), byte(2, x / 2))
        }
        packed => {
            let bpp = packed.packed_bytes();
            let px = |c: usize| f64::from(f.data[l0.offset + y * l0.stride + x * bpp + c]);
            match packed {
                PixelFormat::Bgr | PixelFormat::Bgra => [px(2), px(1), px(0)],
                _ => [px(0), px(1), px(2)],
            }
        }
    }
}

/// Reference output in 0..255 pixel units (not normalised, not rounded), in the spec's layout
/// and order.
fn reference(f: &FrameView<'_>, spec: &InputSpec) -> Vec<f64> {
    let (sw, sh) = (f64::from(f.width), f64::from(f.height));
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
    let mut out = vec![0.0; dw * dh * 3];
    for y in 0..dh {
        for x in 0..dw {
            let inside = x >= ox && x < ox + nw && y >= oy && y < oy + nh;
            let rgb = if inside {
                let fx = (((x - ox) as f64 + 0.5) * sw / nw as f64 - 0.5).clamp(0.0, sw - 1.0);
                let fy = (((y - oy) as f64 + 0.5) * sh / nh as f64 - 0.5).clamp(0.0, sh - 1.0);
                let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
                let x1 = (x0 + 1).min(f.width as usize - 1);
                let y1 = (y0 + 1).min(f.height as usize - 1);
                let (ax, ay) = (fx - x0 as f64, fy - y0 as f64);
                let (p00, p10) = (source_rgb(f, x0, y0), source_rgb(f, x1, y0));
                let (p01, p11) = (source_rgb(f, x0, y1), source_rgb(f, x1, y1));
                [0, 1, 2].map(|c| {
                    let top = p00[c] * (1.0 - ax) + p10[c] * ax;
                    let bot = p01[c] * (1.0 - ax) + p11[c] * ax;
                    top * (1.0 - ay) + bot * ay
                })
            } else {
                [pad; 3]
            };
            for oc in 0..3 {
                let c = match spec.order {
                    ChannelOrder::Rgb => oc,
                    ChannelOrder::Bgr => 2 - oc,
                };
                let idx = match spec.layout {
                    Layout::Nhwc => (y * dw + x) * 3 + oc,
                    Layout::Nchw => oc * dw * dh + y * dw + x,
                };
                out[idx] = rgb[c];
            }
        }
    }
    out
}

fn channel_of(spec: &InputSpec, idx: usize) -> usize {
    match spec.layout {
        Layout::Nhwc => idx % 3,
        Layout::Nchw => idx / (spec.width as usize * spec.height as usize),
    }
}

/// Output of `preprocess_batch` for one frame, in pixel units (normalisation undone).
fn run_pixels(frame: FrameView<'_>, spec: &InputSpec, threads: usize) -> Vec<f64> {
    let n = spec.elements();
    let undo = |i: usize, v: f64| {
        let c = channel_of(spec, i);
        v * f64::from(spec.std[c]) + f64::from(spec.mean[c])
    };
    match spec.dtype {
        ElementType::U8 => {
            let mut out = vec![0u8; n];
            preprocess_batch(&[frame], spec, TensorSlot::U8(&mut out), threads).expect("u8");
            out.iter().map(|&v| f64::from(v)).collect()
        }
        ElementType::F16 => {
            let mut out = vec![f16::ZERO; n];
            preprocess_batch(&[frame], spec, TensorSlot::F16(&mut out), threads).expect("f16");
            out.iter()
                .enumerate()
                .map(|(i, v)| undo(i, f64::from(v.to_f32())))
                .collect()
        }
        ElementType::F32 => {
            let mut out = vec![0f32; n];
            preprocess_batch(&[frame], spec, TensorSlot::F32(&mut out), threads).expect("f32");
            out.iter()
                .enumerate()
                .map(|(i, &v)| undo(i, f64::from(v)))
                .collect()
        }
    }
}

/// Allowed difference in 0..255 levels between the output (normalisation undone) and the
/// reference value `want` of channel `c`: the rounding of YUV input to RGB8 (0.5 level), f16's
/// rounding (half a step: |v| * 2^-11 of the normalised value v, times std), 0.01 for f32
/// arithmetic; U8 output is compared with the rounded reference, within one level.
fn tolerance(spec: &InputSpec, yuv: bool, c: usize, want: f64) -> f64 {
    let conversion = if yuv { 0.5 } else { 0.0 };
    let std = f64::from(spec.std[c]);
    let v = (want - f64::from(spec.mean[c])) / std;
    match spec.dtype {
        ElementType::U8 => 1.0,
        ElementType::F16 => conversion + v.abs() * std / 2048.0 + 0.01,
        ElementType::F32 => conversion + 0.01,
    }
}

const RESIZES: [Resize; 3] = [
    Resize::Stretch,
    Resize::Letterbox {
        pad: 114,
        center: false,
    },
    Resize::Letterbox {
        pad: 7,
        center: true,
    },
];

#[test]
fn every_format_layout_dtype_and_resize_matches_the_scalar_reference() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let colorimetries = [
        Colorimetry::default(),
        Colorimetry {
            matrix: YuvMatrix::Bt709,
            range: YuvRange::Limited,
        },
        Colorimetry {
            matrix: YuvMatrix::Bt601,
            range: YuvRange::Full,
        },
        Colorimetry {
            matrix: YuvMatrix::Bt709,
            range: YuvRange::Full,
        },
    ];
    let mut checked = 0usize;
    for (case, format) in PixelFormat::ALL.into_iter().enumerate() {
        for (r, resize) in RESIZES.into_iter().enumerate() {
            // Odd sizes; downscale and upscale; a different size per combination.
            let sw = 1 + 2 * rng.below(40) as u32 + 2;
            let sh = 1 + 2 * rng.below(30) as u32 + 2;
            let dw = 5 + 2 * rng.below(30) as u32;
            let dh = 3 + 2 * rng.below(30) as u32;
            let (data, planes) = random_frame(format, sw, sh, &mut rng);
            let colorimetry = colorimetries[(case + r) % colorimetries.len()];
            let frame = FrameView::with_planes(format, &data, sw, sh, &planes)
                .with_colorimetry(colorimetry);
            for layout in [Layout::Nchw, Layout::Nhwc] {
                for order in [ChannelOrder::Rgb, ChannelOrder::Bgr] {
                    for dtype in [ElementType::U8, ElementType::F16, ElementType::F32] {
                        let spec = InputSpec {
                            width: dw,
                            height: dh,
                            layout,
                            order,
                            dtype,
                            resize,
                            mean: [123.675, 116.28, 103.53],
                            std: [58.395, 57.12, 57.375],
                        };
                        let want = reference(&frame, &spec);
                        let threads = 1 + (checked % 3);
                        let got = run_pixels(frame, &spec, threads);
                        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                            let tol = tolerance(&spec, format.is_yuv(), channel_of(&spec, i), w);
                            let w = if dtype == ElementType::U8 {
                                w.round()
                            } else {
                                w
                            };
                            assert!(
                                (g - w).abs() <= tol,
                                "{} {sw}x{sh} → {dw}x{dh} {resize:?} {layout:?} {order:?} {dtype:?} \
                                 {colorimetry:?} element {i}: got {g}, want {w}",
                                format.name()
                            );
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 6 * 3 * 2 * 2 * 3);
}

/// Exact ratios exercise the zero-weight shortcuts (3x and 1x: every second tap has weight 0)
/// and sparse YUV conversion (3x: one column in three); 2x has weights of one half.
#[test]
fn exact_ratios_and_sparse_conversion_match_the_scalar_reference() {
    let mut rng = Rng(99);
    let sizes = [
        (63, 33, 21, 11),
        (40, 20, 20, 10),
        (17, 9, 17, 9),
        (1, 1, 5, 3),
        (90, 9, 10, 3),
    ];
    for format in PixelFormat::ALL {
        for &(sw, sh, dw, dh) in &sizes {
            let (data, planes) = random_frame(format, sw, sh, &mut rng);
            let frame = FrameView::with_planes(format, &data, sw, sh, &planes);
            for resize in [Resize::Stretch, RESIZES[2]] {
                for layout in [Layout::Nchw, Layout::Nhwc] {
                    for dtype in [ElementType::U8, ElementType::F16, ElementType::F32] {
                        let spec = InputSpec {
                            width: dw,
                            height: dh,
                            layout,
                            order: ChannelOrder::Bgr,
                            dtype,
                            resize,
                            mean: [10.0, 20.0, 30.0],
                            std: [40.0, 50.0, 60.0],
                        };
                        let want = reference(&frame, &spec);
                        let got = run_pixels(frame, &spec, 2);
                        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                            let tol = tolerance(&spec, format.is_yuv(), channel_of(&spec, i), w);
                            let w = if dtype == ElementType::U8 {
                                w.round()
                            } else {
                                w
                            };
                            assert!(
                                (g - w).abs() <= tol,
                                "{} {sw}x{sh} → {dw}x{dh} {resize:?} {layout:?} {dtype:?} \
                                 element {i}: got {g}, want {w}",
                                format.name()
                            );
                        }
                    }
                }
            }
        }
    }
}

/// The shortcuts (zero-weight taps, sparse YUV conversion) are bit-identical to the general
/// path, which is what the CUDA kernel computes.
#[test]
fn shortcuts_are_bit_identical_to_the_general_path() {
    let mut rng = Rng(3);
    for format in PixelFormat::ALL {
        for &(sw, sh, dw, dh) in &[(63, 33, 21, 11), (17, 9, 17, 9), (1920, 12, 640, 4)] {
            let (data, planes) = random_frame(format, sw, sh, &mut rng);
            let frame = FrameView::with_planes(format, &data, sw, sh, &planes);
            for dtype in [ElementType::U8, ElementType::F16, ElementType::F32] {
                let spec = InputSpec {
                    width: dw,
                    height: dh,
                    layout: Layout::Nchw,
                    order: ChannelOrder::Rgb,
                    dtype,
                    resize: Resize::Stretch,
                    mean: [1.5, 2.5, 3.5],
                    std: [33.0, 44.0, 55.0],
                };
                let fast = run_pixels(frame, &spec, 1);
                super::kernel::SHORTCUTS.with(|s| s.set(false));
                let general = run_pixels(frame, &spec, 1);
                super::kernel::SHORTCUTS.with(|s| s.set(true));
                assert!(
                    fast.iter()
                        .zip(&general)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{} {sw}x{sh} → {dw}x{dh} {dtype:?}",
                    format.name()
                );
            }
        }
    }
}
