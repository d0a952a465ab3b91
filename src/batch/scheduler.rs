//! Scheduler: which cameras are due for analysis, in fair (round-robin) order.
//!
//! Each camera is due once per `1 / detect_fps`. Among the due cameras that have a new frame, the
//! scan starts after the camera served last (round robin), so no camera starves another. When
//! analysis is slower than the cameras, due cameras are served in turn and the frames that
//! arrive meanwhile replace each other in their slots (counted as drops there): the analysed
//! frame is always the newest one, and latency does not build up.

use std::time::{Duration, Instant};

/// Per-camera due times, round robin among due cameras.
#[derive(Default)]
pub struct Scheduler {
    /// Camera ids, in the order the caller indexes its cameras.
    ids: Vec<u64>,
    interval: Vec<Duration>,
    next_due: Vec<Instant>,
    cursor: usize,
}

fn interval_of(fps: f32) -> Duration {
    Duration::from_secs_f64(1.0 / f64::from(fps.max(0.001)))
}

impl Scheduler {
    /// One entry per camera, `(id, detect_fps)`, in the order the caller indexes them.
    pub fn new(cameras: &[(u64, f32)], now: Instant) -> Self {
        let mut s = Self::default();
        s.sync(cameras, now);
        s
    }

    /// Follows a changed camera list: cameras still present keep their due time, new ones are
    /// due at once, removed ones are forgotten.
    pub fn sync(&mut self, cameras: &[(u64, f32)], now: Instant) {
        let due = |id: u64| {
            self.ids
                .iter()
                .position(|&old| old == id)
                .map_or(now, |i| self.next_due[i])
        };
        let next_due: Vec<Instant> = cameras.iter().map(|&(id, _)| due(id)).collect();
        self.ids = cameras.iter().map(|&(id, _)| id).collect();
        self.interval = cameras.iter().map(|&(_, fps)| interval_of(fps)).collect();
        self.next_due = next_due;
        if self.cursor >= self.ids.len() {
            self.cursor = 0;
        }
    }

    /// The next camera to analyse at `now`: due, and `has_frame` says a new frame is waiting.
    pub fn pick(&mut self, now: Instant, has_frame: impl Fn(usize) -> bool) -> Option<usize> {
        let picked = self.pick_many(now, 1, has_frame);
        picked.first().copied()
    }

    /// Up to `max` cameras that are due at `now` and have a frame, in round-robin order from
    /// the camera after the last one picked.
    pub fn pick_many(
        &mut self,
        now: Instant,
        max: usize,
        has_frame: impl Fn(usize) -> bool,
    ) -> Vec<usize> {
        let picked = self.ready(now, max, has_frame);
        if let Some(&last) = picked.last() {
            self.cursor = (last + 1) % self.next_due.len();
        }
        picked
    }

    /// Like [`Scheduler::pick_many`], without moving the round-robin cursor.
    pub fn ready(&self, now: Instant, max: usize, has_frame: impl Fn(usize) -> bool) -> Vec<usize> {
        let n = self.next_due.len();
        (0..n)
            .map(|k| (self.cursor + k) % n)
            .filter(|&i| self.next_due[i] <= now && has_frame(i))
            .take(max)
            .collect()
    }

    /// Whether a camera other than those in `except` is due by `by` (due now without a frame
    /// yet, or due later but before `by`): a batch could still grow by waiting.
    pub fn any_due_by(&self, by: Instant, except: &[usize]) -> bool {
        self.next_due
            .iter()
            .enumerate()
            .any(|(i, &t)| t <= by && !except.contains(&i))
    }

    /// How many cameras are scheduled.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Records that camera `i` was served at `now`. The next due time stays on the camera's
    /// grid (`first due + k × interval`), so a frame served a little late does not shift the
    /// cadence, but is at least half an interval away: a camera that was idle does not get a
    /// burst of catch-up analyses.
    pub fn served(&mut self, i: usize, now: Instant) {
        let interval = self.interval[i];
        let earliest = now + interval / 2;
        let mut next = self.next_due[i] + interval;
        if next < earliest {
            let behind = (earliest - next).as_nanos();
            let steps = behind.div_ceil(interval.as_nanos().max(1));
            next += interval.mul_f64(steps as f64);
        }
        self.next_due[i] = next;
    }

    /// The earliest time any camera becomes due, if that is in the future.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        self.next_due.iter().copied().filter(|&t| t > now).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_camera_is_served_in_turn_under_overload() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(&[(1, 100.0), (2, 100.0), (3, 100.0)], t0);
        let mut counts = [0usize; 3];
        // Analysis takes 50 ms per frame: far slower than 3 x 100 fps.
        let mut now = t0;
        for _ in 0..30 {
            let i = s.pick(now, |_| true).expect("some camera is due");
            counts[i] += 1;
            s.served(i, now);
            now += Duration::from_millis(50);
        }
        assert_eq!(counts, [10, 10, 10]);
    }

    #[test]
    fn detect_fps_is_respected() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(&[(1, 5.0)], t0);
        let mut served = 0;
        let mut now = t0;
        // Frames always waiting; poll every 10 ms for 2 s.
        while now < t0 + Duration::from_secs(2) {
            if let Some(i) = s.pick(now, |_| true) {
                s.served(i, now);
                served += 1;
            }
            now += Duration::from_millis(10);
        }
        assert_eq!(served, 10);
        // Served at 0, 200, ..., 1800 ms: the next one is due at 2 s.
        assert_eq!(
            s.next_deadline(t0 + Duration::from_millis(1950)),
            Some(t0 + Duration::from_secs(2))
        );
    }

    #[test]
    fn a_camera_without_frames_does_not_block_others() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(&[(1, 10.0), (2, 10.0)], t0);
        assert_eq!(s.pick(t0, |i| i == 1), Some(1));
        assert_eq!(s.pick(t0, |i| i == 1), Some(1));
        s.served(1, t0);
        assert_eq!(s.pick(t0, |i| i == 1), None);
    }

    #[test]
    fn a_changed_camera_list_keeps_due_times_of_the_cameras_that_stay() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(&[(1, 1.0), (2, 1.0)], t0);
        s.served(0, t0);
        s.served(1, t0);
        // Camera 2 removed, camera 3 added: 1 is still due in a second, 3 at once.
        s.sync(&[(3, 1.0), (1, 1.0)], t0);
        assert_eq!(s.pick(t0, |_| true), Some(0));
        s.served(0, t0);
        assert_eq!(s.pick(t0, |_| true), None);
        assert_eq!(s.next_deadline(t0), Some(t0 + Duration::from_secs(1)));
        s.sync(&[], t0);
        assert_eq!(s.pick(t0, |_| true), None);
    }
}
