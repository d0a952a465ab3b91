//! Drawing on packed RGB8 images: a box outline and a text tag, for the full-frame snapshot.
//!
//! Inputs: a tightly packed RGB8 buffer (`width * 3` bytes per row), a rectangle in its pixels
//! and a short text. Outputs: the same buffer, drawn on. The text uses a built-in 5×7 bitmap
//! font (upper-case letters, digits, `.`, `-`, `_`, space; other characters draw as a filled
//! block), so no font file or drawing crate is needed.
//!
//! Failure: none; everything is clipped to the image.

/// The colour boxes and tags are drawn in: a magenta that stands out on street scenes.
pub const BOX_COLOUR: [u8; 3] = [255, 0, 255];
/// The colour of the text on the tag.
const TEXT_COLOUR: [u8; 3] = [0, 0, 0];

/// A rectangle in image pixels, `x1..x2` × `y1..y2` (ends excluded), non-empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PixelRect {
    pub x1: u32,
    pub y1: u32,
    pub x2: u32,
    pub y2: u32,
}

impl PixelRect {
    pub fn width(&self) -> u32 {
        self.x2 - self.x1
    }

    pub fn height(&self) -> u32 {
        self.y2 - self.y1
    }
}

/// A packed RGB8 image being drawn on.
pub struct Canvas<'a> {
    pub data: &'a mut [u8],
    pub width: u32,
    pub height: u32,
}

impl Canvas<'_> {
    /// Fills the part of `x1..x2` × `y1..y2` that lies inside the image.
    fn fill(&mut self, x1: u32, y1: u32, x2: u32, y2: u32, colour: [u8; 3]) {
        let (x2, y2) = (x2.min(self.width), y2.min(self.height));
        for y in y1..y2 {
            let row = y as usize * self.width as usize * 3;
            for x in x1..x2 {
                let i = row + x as usize * 3;
                self.data[i..i + 3].copy_from_slice(&colour);
            }
        }
    }

    /// Draws the outline of `r`, `thickness` pixels wide, inside `r`.
    pub fn outline(&mut self, r: PixelRect, thickness: u32, colour: [u8; 3]) {
        let t = thickness.max(1);
        let (tx, ty) = (t.min(r.width()), t.min(r.height()));
        self.fill(r.x1, r.y1, r.x2, r.y1 + ty, colour);
        self.fill(r.x1, r.y2 - ty, r.x2, r.y2, colour);
        self.fill(r.x1, r.y1, r.x1 + tx, r.y2, colour);
        self.fill(r.x2 - tx, r.y1, r.x2, r.y2, colour);
    }

    /// Draws `text` on a filled tag in `colour` at the top-left corner of `r`: just above the
    /// box when there is room, else just inside it. Glyphs are scaled by `scale`.
    pub fn tag(&mut self, r: PixelRect, text: &str, scale: u32, colour: [u8; 3]) {
        let s = scale.max(1);
        let pad = s;
        let chars = text.chars().count() as u32;
        if chars == 0 {
            return;
        }
        let w = chars * 6 * s - s + 2 * pad;
        let h = 7 * s + 2 * pad;
        let top = if r.y1 >= h { r.y1 - h } else { r.y1 };
        let left = r.x1.min(self.width.saturating_sub(w));
        self.fill(left, top, left + w, top + h, colour);
        for (i, c) in text.chars().enumerate() {
            let x0 = left + pad + i as u32 * 6 * s;
            let rows = glyph(c);
            for (gy, bits) in rows.iter().enumerate() {
                for gx in 0..5u32 {
                    if bits & (0b10000 >> gx) != 0 {
                        let x = x0 + gx * s;
                        let y = top + pad + gy as u32 * s;
                        self.fill(x, y, x + s, y + s, TEXT_COLOUR);
                    }
                }
            }
        }
    }
}

/// The 5×7 bitmap of `c`: seven rows, bit 4 the leftmost column.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        ' ' => [0x00; 7],
        _ => [0x1F; 7],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canvas_px(data: &[u8], width: u32, x: u32, y: u32) -> [u8; 3] {
        let i = (y * width + x) as usize * 3;
        [data[i], data[i + 1], data[i + 2]]
    }

    #[test]
    fn outline_covers_the_edges_only() {
        let (w, h) = (40u32, 30u32);
        let mut data = vec![10u8; (w * h * 3) as usize];
        let r = PixelRect {
            x1: 5,
            y1: 6,
            x2: 25,
            y2: 20,
        };
        Canvas {
            data: &mut data,
            width: w,
            height: h,
        }
        .outline(r, 2, BOX_COLOUR);
        for (x, y) in [(5, 6), (24, 19), (6, 13), (23, 7), (15, 18)] {
            assert_eq!(canvas_px(&data, w, x, y), BOX_COLOUR, "({x}, {y})");
        }
        for (x, y) in [(7, 8), (22, 17), (4, 6), (25, 19), (15, 5)] {
            assert_eq!(canvas_px(&data, w, x, y), [10; 3], "({x}, {y})");
        }
    }

    #[test]
    fn tag_goes_above_when_there_is_room_and_is_clipped() {
        let (w, h) = (60u32, 40u32);
        let mut data = vec![0u8; (w * h * 3) as usize];
        let mut c = Canvas {
            data: &mut data,
            width: w,
            height: h,
        };
        let r = PixelRect {
            x1: 2,
            y1: 20,
            x2: 30,
            y2: 39,
        };
        c.tag(r, "car", 1, BOX_COLOUR);
        // 9 px tall tag ending just above y1; its top-left pixel is background colour.
        assert_eq!(canvas_px(&data, w, 2, 11), BOX_COLOUR);
        assert_eq!(canvas_px(&data, w, 2, 10), [0; 3]);
        // The first glyph's top row ('C' = .###.) starts one pad in: column 1 is text.
        assert_eq!(canvas_px(&data, w, 2 + 1 + 1, 12), TEXT_COLOUR);
        // A long text at the right edge does not panic and stays inside.
        let mut c = Canvas {
            data: &mut data,
            width: w,
            height: h,
        };
        c.tag(
            PixelRect {
                x1: 55,
                y1: 0,
                x2: 60,
                y2: 5,
            },
            "a very long label that does not fit",
            3,
            BOX_COLOUR,
        );
    }
}
