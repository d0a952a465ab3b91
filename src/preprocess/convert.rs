//! Any [`FrameView`] → tightly packed RGB8 rows, for what needs whole pictures rather than
//! model tensors: event snapshots and the console's frames (a few per second at most; the
//! analysis path never converts whole frames).
//!
//! YUV frames follow the same contract as the preprocessing (nearest chroma site, the frame's
//! matrix and range, [`YuvCoefficients::pixel`]). A view whose layout does not fit its buffer
//! is a [`PreprocessError`], as for preprocessing.

use super::{FrameView, PixelFormat, PreprocessError, YuvCoefficients};

/// The frame as packed RGB8, `width * 3` bytes a row.
pub fn to_packed_rgb(view: &FrameView<'_>) -> Result<Vec<u8>, PreprocessError> {
    view.validate()?;
    let (w, h) = (view.width as usize, view.height as usize);
    let mut out = vec![0u8; w * h * 3];
    let plane = |p: usize, row: usize| {
        let layout = view.planes[p];
        &view.data[layout.offset + row * layout.stride..]
    };
    match view.format {
        PixelFormat::Rgb | PixelFormat::Bgr | PixelFormat::Rgba | PixelFormat::Bgra => {
            let bpp = view.format.packed_bytes();
            let [r, g, b] = view.format.rgb_offsets();
            for (y, dst) in out.chunks_exact_mut(w * 3).enumerate() {
                let src = plane(0, y);
                for (x, px) in dst.chunks_exact_mut(3).enumerate() {
                    let s = &src[x * bpp..x * bpp + bpp];
                    px.copy_from_slice(&[s[r], s[g], s[b]]);
                }
            }
        }
        PixelFormat::I420 | PixelFormat::Nv12 => {
            let yuv = YuvCoefficients::new(view.colorimetry);
            let nv12 = view.format == PixelFormat::Nv12;
            for (y, dst) in out.chunks_exact_mut(w * 3).enumerate() {
                let luma = plane(0, y);
                let (c1, c2) = if nv12 {
                    (plane(1, y / 2), plane(1, y / 2))
                } else {
                    (plane(1, y / 2), plane(2, y / 2))
                };
                for (x, px) in dst.chunks_exact_mut(3).enumerate() {
                    let (u, v) = if nv12 {
                        (c1[x / 2 * 2], c2[x / 2 * 2 + 1])
                    } else {
                        (c1[x / 2], c2[x / 2])
                    };
                    px.copy_from_slice(&yuv.pixel(luma[x], u, v));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::Colorimetry;

    #[test]
    fn every_format_gives_the_same_rgb() {
        // A 3x2 picture; its I420 and NV12 forms share one chroma sample per 2x2 block.
        let (w, h) = (3u32, 2u32);
        let y = [16u8, 128, 235, 60, 90, 200];
        let (u, v) = ([128u8, 90], [128u8, 200]);
        let mut i420 = y.to_vec();
        i420.extend_from_slice(&u);
        i420.extend_from_slice(&v);
        let mut nv12 = y.to_vec();
        nv12.extend_from_slice(&[u[0], v[0], u[1], v[1]]);
        let a = to_packed_rgb(&FrameView::tight(PixelFormat::I420, &i420, w, h)).expect("i420");
        let b = to_packed_rgb(&FrameView::tight(PixelFormat::Nv12, &nv12, w, h)).expect("nv12");
        assert_eq!(a, b);
        let c = YuvCoefficients::new(Colorimetry::default());
        assert_eq!(&a[0..3], &c.pixel(16, 128, 128));
        assert_eq!(&a[6..9], &c.pixel(235, 90, 200));
        assert_eq!(&a[0..3], &[0, 0, 0], "limited-range black");
        // Packed formats reorder their channels into RGB.
        let bgra: Vec<u8> = a.chunks(3).flat_map(|p| [p[2], p[1], p[0], 255]).collect();
        let d = to_packed_rgb(&FrameView::tight(PixelFormat::Bgra, &bgra, w, h)).expect("bgra");
        assert_eq!(a, d);
        assert!(to_packed_rgb(&FrameView::tight(PixelFormat::I420, &i420[1..], w, h)).is_err());
    }
}
