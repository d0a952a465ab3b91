//! Anti-flicker: a value counts only after it was observed on `min_frames` consecutive updates.
//!
//! [`Debounce`] turns a noisy per-frame observation (inside a zone or not, side of a line) into
//! a stable state with transitions. [`LineWatch`] adds the line-crossing rule on top: a change of
//! stable side is a crossing only if the move that last brought the anchor to its new side went
//! through the segment itself.

use super::geometry::{Point, Side, crosses_segment, distance_to_line, side_of};

/// A stable state changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition<T> {
    /// The stable value before; `None` when there was none yet.
    pub from: Option<T>,
    /// The new stable value.
    pub to: T,
    /// Time of the first observation of the run that established `to` (ms).
    pub since_ms: u64,
}

/// A value that changes only after `min_frames` consecutive equal observations.
#[derive(Clone, Debug, PartialEq)]
pub struct Debounce<T> {
    stable: Option<T>,
    /// A differing value being observed: value, run length, time of its first observation.
    candidate: Option<(T, u32, u64)>,
    /// Time the stable value's establishing run began.
    stable_since_ms: u64,
}

impl<T: Copy + PartialEq> Debounce<T> {
    /// Starts with `initial` as the stable value (`None`: no stable value yet).
    pub fn new(initial: Option<T>) -> Self {
        Self {
            stable: initial,
            candidate: None,
            stable_since_ms: 0,
        }
    }

    /// The stable value.
    pub fn stable(&self) -> Option<T> {
        self.stable
    }

    /// When the stable value's establishing run began (ms; 0 for the initial value).
    pub fn stable_since_ms(&self) -> u64 {
        self.stable_since_ms
    }

    /// Records one observation at `t_ms`; returns the transition it completes, if any.
    pub fn observe(&mut self, v: T, t_ms: u64, min_frames: u32) -> Option<Transition<T>> {
        if self.stable == Some(v) {
            self.candidate = None;
            return None;
        }
        let (run, since) = match self.candidate {
            Some((c, run, since)) if c == v => (run + 1, since),
            _ => (1, t_ms),
        };
        if run >= min_frames.max(1) {
            let from = self.stable.replace(v);
            self.candidate = None;
            self.stable_since_ms = since;
            Some(Transition {
                from,
                to: v,
                since_ms: since,
            })
        } else {
            self.candidate = Some((v, run, since));
            None
        }
    }
}

/// A counted crossing: the old and new stable sides and when the far side was first reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crossing {
    /// The side the object came from.
    pub from: Side,
    /// The side it is on now.
    pub to: Side,
    /// First observation of the run on the new side (ms).
    pub at_ms: u64,
}

/// One object's state against one line.
#[derive(Clone, Debug, PartialEq)]
pub struct LineWatch {
    side: Debounce<Side>,
    /// The latest observation off the line: its side and point.
    last: Option<(Side, Point)>,
    /// Whether the latest change of observed side went through the segment.
    last_change_on_segment: bool,
}

impl Default for LineWatch {
    fn default() -> Self {
        Self {
            side: Debounce::new(None),
            last: None,
            last_change_on_segment: false,
        }
    }
}

impl LineWatch {
    /// Records the anchor `p` at `t_ms` against the line `from → to`; returns a crossing when
    /// the anchor was stably on one side, is now stably on the other, and its latest move across
    /// went through the segment. Points closer to the line than `margin` (the dead band: an
    /// object walking along the line wobbles across it) are on neither side and skipped.
    pub fn observe(
        &mut self,
        line: (Point, Point),
        p: Point,
        margin: f32,
        t_ms: u64,
        min_frames: u32,
    ) -> Option<Crossing> {
        let (from, to) = line;
        if distance_to_line(from, to, p) < margin {
            return None;
        }
        let side = side_of(from, to, p)?;
        match self.last {
            Some((prev_side, prev)) if prev_side != side => {
                self.last_change_on_segment = crosses_segment(from, to, prev, p);
            }
            _ => {}
        }
        self.last = Some((side, p));
        let t = self.side.observe(side, t_ms, min_frames)?;
        match t.from {
            Some(old) if self.last_change_on_segment => Some(Crossing {
                from: old,
                to: t.to,
                at_ms: t.since_ms,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_needs_min_frames_in_a_row() {
        let mut d = Debounce::new(Some(false));
        assert_eq!(d.observe(true, 0, 3), None);
        assert_eq!(d.observe(true, 1, 3), None);
        assert_eq!(d.observe(false, 2, 3), None, "the run is broken");
        assert_eq!(d.observe(true, 3, 3), None);
        assert_eq!(d.observe(true, 4, 3), None);
        let t = d.observe(true, 5, 3).expect("third in a row");
        assert_eq!(
            t,
            Transition {
                from: Some(false),
                to: true,
                since_ms: 3
            }
        );
        assert_eq!((d.stable(), d.stable_since_ms()), (Some(true), 3));
        assert_eq!(d.observe(true, 6, 3), None);
        let mut once = Debounce::new(None);
        assert_eq!(
            once.observe(7, 9, 1).map(|t| (t.from, t.to)),
            Some((None, 7))
        );
    }

    #[test]
    fn a_line_counts_only_settled_crossings_through_the_segment() {
        let (a, b) = ([0.2, 0.5], [0.8, 0.5]);
        let mut w = LineWatch::default();
        let up = [0.5, 0.45];
        let down = [0.5, 0.55];
        // Settle above (left side): the first stable side is no crossing.
        for t in 0..3 {
            assert_eq!(w.observe((a, b), up, 0.0, t, 3), None);
        }
        // Jitter: two frames below, back above: nothing.
        assert_eq!(w.observe((a, b), down, 0.0, 3, 3), None);
        assert_eq!(w.observe((a, b), down, 0.0, 4, 3), None);
        assert_eq!(w.observe((a, b), up, 0.0, 5, 3), None);
        // Settle below: one crossing, dated at the first frame of the settled run.
        assert_eq!(w.observe((a, b), down, 0.0, 6, 3), None);
        assert_eq!(
            w.observe((a, b), [0.5, 0.5], 0.0, 7, 3),
            None,
            "on the line: skipped"
        );
        assert_eq!(w.observe((a, b), down, 0.0, 8, 3), None);
        let c = w.observe((a, b), down, 0.0, 9, 3).expect("settled below");
        assert_eq!(
            c,
            Crossing {
                from: Side::Left,
                to: Side::Right,
                at_ms: 6
            }
        );
        // Going back up around the end of the segment: the side changes, no crossing.
        for (t, p) in [(10, [0.9, 0.55]), (11, [0.9, 0.45])] {
            assert_eq!(w.observe((a, b), p, 0.0, t, 3), None);
        }
        for t in 12..14 {
            assert_eq!(w.observe((a, b), up, 0.0, t, 3), None);
        }
        // And down again through the middle: counted.
        for t in 14..16 {
            assert_eq!(w.observe((a, b), down, 0.0, t, 3), None);
        }
        assert!(w.observe((a, b), down, 0.0, 16, 3).is_some());
    }
}
