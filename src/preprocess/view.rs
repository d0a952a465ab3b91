//! Borrowed source frames: pixel formats, plane layout and colorimetry, and their validation.
//!
//! A [`FrameView`] is what a decoder or GStreamer hands over: one byte buffer, a format, a size,
//! and per plane an offset into the buffer and a row stride (GStreamer's `GstVideoInfo` model).
//! Packed formats use plane 0 only; NV12 uses planes 0 (Y) and 1 (interleaved UV); I420 uses
//! planes 0 (Y), 1 (U) and 2 (V). Chroma planes of 4:2:0 formats are `ceil(w/2) x ceil(h/2)`.
//!
//! [`FrameView::validate`] checks every plane against the buffer and reports the first problem
//! as a [`PreprocessError`] naming the plane and the numbers; nothing here panics on bad input.

use super::PreprocessError;

/// Pixel format of a source frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// 4:2:0, a Y plane then one plane of interleaved U,V pairs.
    Nv12,
    /// 4:2:0, three planes: Y, U, V.
    I420,
    /// Packed R,G,B, 3 bytes per pixel.
    Rgb,
    /// Packed B,G,R, 3 bytes per pixel.
    Bgr,
    /// Packed R,G,B,A, 4 bytes per pixel (alpha ignored).
    Rgba,
    /// Packed B,G,R,A, 4 bytes per pixel (alpha ignored).
    Bgra,
}

impl PixelFormat {
    /// Every format, for tests and tables.
    pub const ALL: [PixelFormat; 6] = [
        PixelFormat::Nv12,
        PixelFormat::I420,
        PixelFormat::Rgb,
        PixelFormat::Bgr,
        PixelFormat::Rgba,
        PixelFormat::Bgra,
    ];

    /// Short upper-case name, as GStreamer spells it.
    pub fn name(self) -> &'static str {
        match self {
            PixelFormat::Nv12 => "NV12",
            PixelFormat::I420 => "I420",
            PixelFormat::Rgb => "RGB",
            PixelFormat::Bgr => "BGR",
            PixelFormat::Rgba => "RGBA",
            PixelFormat::Bgra => "BGRA",
        }
    }

    /// Number of planes the format uses.
    pub fn planes(self) -> usize {
        match self {
            PixelFormat::Nv12 => 2,
            PixelFormat::I420 => 3,
            _ => 1,
        }
    }

    /// Whether the format is YUV 4:2:0 (converted to RGB before resampling).
    pub fn is_yuv(self) -> bool {
        matches!(self, PixelFormat::Nv12 | PixelFormat::I420)
    }

    /// Bytes per pixel of a packed format (0 for the YUV formats).
    pub fn packed_bytes(self) -> usize {
        match self {
            PixelFormat::Rgb | PixelFormat::Bgr => 3,
            PixelFormat::Rgba | PixelFormat::Bgra => 4,
            PixelFormat::Nv12 | PixelFormat::I420 => 0,
        }
    }

    /// Byte position of R, G and B within a packed pixel (`[0, 1, 2]` for the YUV formats, whose
    /// rows are converted to packed RGB first).
    pub fn rgb_offsets(self) -> [usize; 3] {
        match self {
            PixelFormat::Bgr | PixelFormat::Bgra => [2, 1, 0],
            _ => [0, 1, 2],
        }
    }

    /// `(row bytes, rows)` of plane `plane` for a `width x height` frame.
    pub fn plane_size(self, plane: usize, width: u32, height: u32) -> (usize, usize) {
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        match (self, plane) {
            (PixelFormat::Nv12 | PixelFormat::I420, 0) => (w, h),
            (PixelFormat::Nv12, _) => (cw.saturating_mul(2), ch),
            (PixelFormat::I420, _) => (cw, ch),
            (packed, _) => (w.saturating_mul(packed.packed_bytes()), h),
        }
    }

    fn plane_name(self, plane: usize) -> &'static str {
        match (self, plane) {
            (PixelFormat::Nv12 | PixelFormat::I420, 0) => "Y",
            (PixelFormat::Nv12, _) => "UV",
            (PixelFormat::I420, 1) => "U",
            (PixelFormat::I420, _) => "V",
            _ => "pixels",
        }
    }
}

/// YUV → RGB matrix of a YUV frame (ignored for RGB formats).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum YuvMatrix {
    /// ITU-R BT.601 (SD video; also what OpenCV's `cvtColor` uses for NV12/I420).
    Bt601,
    /// ITU-R BT.709 (HD video).
    Bt709,
}

/// Value range of a YUV frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum YuvRange {
    /// Y in 16..=235, U/V in 16..=240 (broadcast/"TV" range; what decoders usually output).
    Limited,
    /// Y, U and V in 0..=255 (JPEG/"PC" range).
    Full,
}

/// Colorimetry of a YUV frame: which matrix and range turn its samples into RGB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Colorimetry {
    pub matrix: YuvMatrix,
    pub range: YuvRange,
}

impl Default for Colorimetry {
    /// BT.601 limited range.
    fn default() -> Self {
        Colorimetry {
            matrix: YuvMatrix::Bt601,
            range: YuvRange::Limited,
        }
    }
}

/// Where one plane lies in a frame's buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlaneLayout {
    /// Byte offset of the plane's first row in [`FrameView::data`].
    pub offset: usize,
    /// Bytes from the start of one row to the next (at least the plane's row bytes).
    pub stride: usize,
}

/// A borrowed frame in any [`PixelFormat`].
#[derive(Clone, Copy, Debug)]
pub struct FrameView<'a> {
    /// All planes' bytes.
    pub data: &'a [u8],
    pub format: PixelFormat,
    /// Width in pixels (must be > 0).
    pub width: u32,
    /// Height in pixels (must be > 0).
    pub height: u32,
    /// Plane layout; entries past `format.planes()` are ignored.
    pub planes: [PlaneLayout; 3],
    /// YUV matrix and range (ignored for RGB formats).
    pub colorimetry: Colorimetry,
}

impl<'a> FrameView<'a> {
    /// A packed frame (RGB, BGR, RGBA, BGRA) with rows `stride` bytes apart from offset 0.
    pub fn packed(
        format: PixelFormat,
        data: &'a [u8],
        width: u32,
        height: u32,
        stride: usize,
    ) -> Self {
        let mut planes = [PlaneLayout::default(); 3];
        planes[0] = PlaneLayout { offset: 0, stride };
        FrameView {
            data,
            format,
            width,
            height,
            planes,
            colorimetry: Colorimetry::default(),
        }
    }

    /// A frame with explicit plane layouts (the GStreamer case: offsets and strides from the
    /// buffer's video meta or `VideoInfo`).
    pub fn with_planes(
        format: PixelFormat,
        data: &'a [u8],
        width: u32,
        height: u32,
        planes: &[PlaneLayout],
    ) -> Self {
        let mut all = [PlaneLayout::default(); 3];
        for (dst, src) in all.iter_mut().zip(planes) {
            *dst = *src;
        }
        FrameView {
            data,
            format,
            width,
            height,
            planes: all,
            colorimetry: Colorimetry::default(),
        }
    }

    /// A tightly packed frame: planes one after another, each row exactly its row bytes.
    pub fn tight(format: PixelFormat, data: &'a [u8], width: u32, height: u32) -> Self {
        let mut planes = [PlaneLayout::default(); 3];
        let mut offset = 0usize;
        for (p, layout) in planes.iter_mut().enumerate().take(format.planes()) {
            let (row, rows) = format.plane_size(p, width, height);
            *layout = PlaneLayout {
                offset,
                stride: row,
            };
            offset = offset.saturating_add(row.saturating_mul(rows));
        }
        FrameView {
            data,
            format,
            width,
            height,
            planes,
            colorimetry: Colorimetry::default(),
        }
    }

    /// Bytes a tightly packed `width x height` frame of `format` needs.
    pub fn tight_len(format: PixelFormat, width: u32, height: u32) -> usize {
        (0..format.planes())
            .map(|p| {
                let (row, rows) = format.plane_size(p, width, height);
                row.saturating_mul(rows)
            })
            .fold(0usize, usize::saturating_add)
    }

    /// The same frame with another colorimetry.
    pub fn with_colorimetry(self, colorimetry: Colorimetry) -> Self {
        FrameView {
            colorimetry,
            ..self
        }
    }

    /// Checks size, strides and that every plane lies inside `data`.
    pub fn validate(&self) -> Result<(), PreprocessError> {
        validate_layout(
            self.format,
            self.width,
            self.height,
            &self.planes,
            self.data.len(),
        )
    }

    /// Row `y` of plane `plane` (its row bytes only). The frame must be valid.
    pub(crate) fn row(&self, plane: usize, y: usize) -> &'a [u8] {
        let (row_bytes, _) = self.format.plane_size(plane, self.width, self.height);
        let PlaneLayout { offset, stride } = self.planes[plane];
        &self.data[offset + y * stride..][..row_bytes]
    }
}

/// Checks a frame's size, strides and that every plane lies inside a buffer of `len` bytes
/// (the frame may live in device memory; only its length matters here).
pub fn validate_layout(
    format: PixelFormat,
    width: u32,
    height: u32,
    planes: &[PlaneLayout; 3],
    len: usize,
) -> Result<(), PreprocessError> {
    if width == 0 || height == 0 {
        return Err(PreprocessError::EmptyImage { width, height });
    }
    for (plane, layout) in planes.iter().enumerate().take(format.planes()) {
        let (row_bytes, rows) = format.plane_size(plane, width, height);
        let PlaneLayout { offset, stride } = *layout;
        if stride < row_bytes {
            return Err(PreprocessError::StrideTooSmall {
                format,
                plane,
                plane_name: format.plane_name(plane),
                stride,
                width,
                min_stride: row_bytes,
            });
        }
        let needed = offset
            .saturating_add((rows - 1).saturating_mul(stride))
            .saturating_add(row_bytes);
        if len < needed {
            return Err(PreprocessError::DataTooShort {
                format,
                plane,
                plane_name: format.plane_name(plane),
                len,
                needed,
                width,
                height,
                offset,
                stride,
            });
        }
    }
    Ok(())
}

/// A borrowed packed RGB8 image (3 bytes per pixel, rows `stride` bytes apart, stride >= width*3).
///
/// `data` must hold at least `(height - 1) * stride + width * 3` bytes; the bytes past
/// `width * 3` in each row are ignored. Converts into a [`FrameView`] of [`PixelFormat::Rgb`].
#[derive(Clone, Copy, Debug)]
pub struct RgbView<'a> {
    /// Pixel bytes, R, G, B per pixel, row after row.
    pub data: &'a [u8],
    /// Width in pixels (must be > 0).
    pub width: u32,
    /// Height in pixels (must be > 0).
    pub height: u32,
    /// Distance in bytes between the starts of consecutive rows (>= `width * 3`).
    pub stride: usize,
}

impl<'a> From<RgbView<'a>> for FrameView<'a> {
    fn from(v: RgbView<'a>) -> Self {
        FrameView::packed(PixelFormat::Rgb, v.data, v.width, v.height, v.stride)
    }
}
