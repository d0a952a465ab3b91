//! Plane geometry on normalised frame coordinates (`[x, y]`, y pointing down the frame).
//!
//! Inputs and outputs are plain points; no allocation. Policy: a point exactly on a line is on
//! neither side; a point on a polygon's edge may count as inside or outside (the even-odd rule
//! decides; zones are debounced over frames, so the edge case does not matter).

/// A point `[x, y]`.
pub type Point = [f32; 2];

/// Which side of a directed line a point is on, facing from `from` to `to` in the displayed frame
/// (x right, y down).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The left-hand side.
    Left,
    /// The right-hand side.
    Right,
}

/// The z component of `(b − a) × (p − a)`; negative when `p` is on the left of `a → b` in
/// y-down coordinates.
fn cross(a: Point, b: Point, p: Point) -> f32 {
    (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
}

/// The side of the infinite line through `from → to` that `p` is on; `None` exactly on it.
pub fn side_of(from: Point, to: Point, p: Point) -> Option<Side> {
    let c = cross(from, to, p);
    if c < 0.0 {
        Some(Side::Left)
    } else if c > 0.0 {
        Some(Side::Right)
    } else {
        None
    }
}

/// Distance from `p` to the infinite line through `from → to` (0 for a degenerate line).
pub fn distance_to_line(from: Point, to: Point, p: Point) -> f32 {
    let len = ((to[0] - from[0]).powi(2) + (to[1] - from[1]).powi(2)).sqrt();
    if len > 0.0 {
        cross(from, to, p).abs() / len
    } else {
        0.0
    }
}

/// Whether the move from `p` to `q` passes through the segment `from – to` itself (not only
/// the infinite line through it): the point where `p → q` meets the line lies between the ends,
/// ends included. False when `p` and `q` are not on strictly opposite sides.
pub fn crosses_segment(from: Point, to: Point, p: Point, q: Point) -> bool {
    let (cp, cq) = (cross(from, to, p), cross(from, to, q));
    if cp == 0.0 || cq == 0.0 || (cp < 0.0) == (cq < 0.0) {
        return false;
    }
    let s = cp / (cp - cq);
    let x = [p[0] + s * (q[0] - p[0]), p[1] + s * (q[1] - p[1])];
    let d = [to[0] - from[0], to[1] - from[1]];
    let len2 = d[0] * d[0] + d[1] * d[1];
    if len2 <= 0.0 {
        return false;
    }
    let u = ((x[0] - from[0]) * d[0] + (x[1] - from[1]) * d[1]) / len2;
    (0.0..=1.0).contains(&u)
}

/// Whether `p` is inside `polygon` (even-odd rule); false for fewer than 3 corners.
pub fn point_in_polygon(polygon: &[Point], p: Point) -> bool {
    if polygon.len() < 3 {
        return false;
    }
    let mut inside = false;
    let mut j = polygon.len() - 1;
    for (i, &a) in polygon.iter().enumerate() {
        let b = polygon[j];
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x_at = a[0] + (p[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0]);
            if p[0] < x_at {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// The unsigned area of a polygon (shoelace formula).
pub fn polygon_area(polygon: &[Point]) -> f32 {
    let n = polygon.len();
    let twice: f32 = (0..n)
        .map(|i| {
            let (a, b) = (polygon[i], polygon[(i + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum();
    twice.abs() / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_follow_the_documented_convention() {
        // A horizontal line drawn left to right: above it is the left side.
        let (a, b) = ([0.0, 0.5], [1.0, 0.5]);
        assert_eq!(side_of(a, b, [0.5, 0.2]), Some(Side::Left));
        assert_eq!(side_of(a, b, [0.5, 0.8]), Some(Side::Right));
        assert_eq!(side_of(a, b, [0.3, 0.5]), None);
        // A vertical line drawn top to bottom: facing down the frame, the left hand is at the
        // frame's right.
        let (a, b) = ([0.5, 0.0], [0.5, 1.0]);
        assert_eq!(side_of(a, b, [0.8, 0.5]), Some(Side::Left));
        assert_eq!(side_of(a, b, [0.2, 0.5]), Some(Side::Right));
    }

    #[test]
    fn segment_extent_is_checked() {
        let (a, b) = ([0.2, 0.5], [0.8, 0.5]);
        assert!(crosses_segment(a, b, [0.5, 0.4], [0.5, 0.6]));
        assert!(
            crosses_segment(a, b, [0.3, 0.4], [0.7, 0.6]),
            "diagonal through the middle"
        );
        assert!(
            !crosses_segment(a, b, [0.9, 0.4], [0.9, 0.6]),
            "beyond the `to` end"
        );
        assert!(
            !crosses_segment(a, b, [0.1, 0.4], [0.1, 0.6]),
            "beyond the `from` end"
        );
        assert!(!crosses_segment(a, b, [0.5, 0.4], [0.6, 0.45]), "same side");
        assert!(
            !crosses_segment(a, b, [0.5, 0.5], [0.5, 0.6]),
            "starts on the line"
        );
        // Diagonal whose endpoints are outside the extent but which crosses inside it.
        assert!(crosses_segment(a, b, [0.0, 0.0], [1.0, 1.0]));
    }

    #[test]
    fn points_in_polygons() {
        let square = [[0.2, 0.2], [0.6, 0.2], [0.6, 0.6], [0.2, 0.6]];
        assert!(point_in_polygon(&square, [0.4, 0.4]));
        assert!(!point_in_polygon(&square, [0.7, 0.4]));
        assert!(!point_in_polygon(&square, [0.4, 0.1]));
        // Concave "L": the notch is outside.
        let l = [
            [0.0, 0.0],
            [0.5, 0.0],
            [0.5, 0.5],
            [1.0, 0.5],
            [1.0, 1.0],
            [0.0, 1.0],
        ];
        assert!(point_in_polygon(&l, [0.25, 0.25]));
        assert!(point_in_polygon(&l, [0.75, 0.75]));
        assert!(!point_in_polygon(&l, [0.75, 0.25]));
        assert!(!point_in_polygon(&square[..2], [0.4, 0.2]));
        assert!((polygon_area(&square) - 0.16).abs() < 1e-6);
        assert!((polygon_area(&l) - 0.75).abs() < 1e-6);
        assert_eq!(polygon_area(&[[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]), 0.0);
    }
}
