//! Scheduler: which cameras are due for analysis — fair shares, freshest frame first.
//!
//! Each camera is due once per `1 / detect_fps`. Fairness: every camera has a virtual time, the
//! analysis it received in units of its own interval (each analysis adds `1 / detect_fps`; a
//! camera that joins starts at the least virtual time of the others). Among the due cameras
//! with a new frame, only those less than one interval ahead of the least-served one are
//! eligible (so shares never drift apart by more than one analysis), and among those the one
//! whose frame arrived last goes first: latency is the frame's age plus inference, and with
//! many cameras some frame has nearly always just arrived. Ties go round robin from the camera
//! after the last one served. When analysis is slower than the cameras, the frames that
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
    /// Analysis received, in seconds of each camera's own interval (see the module docs).
    vtime: Vec<f64>,
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
        let old = |id: u64| self.ids.iter().position(|&o| o == id);
        let floor = self.vtime.iter().copied().fold(f64::INFINITY, f64::min);
        let floor = if floor.is_finite() { floor } else { 0.0 };
        let next_due: Vec<Instant> = cameras
            .iter()
            .map(|&(id, _)| old(id).map_or(now, |i| self.next_due[i]))
            .collect();
        let vtime: Vec<f64> = cameras
            .iter()
            .map(|&(id, _)| old(id).map_or(floor, |i| self.vtime[i]))
            .collect();
        self.ids = cameras.iter().map(|&(id, _)| id).collect();
        self.interval = cameras.iter().map(|&(_, fps)| interval_of(fps)).collect();
        self.next_due = next_due;
        self.vtime = vtime;
        if self.cursor >= self.ids.len() {
            self.cursor = 0;
        }
    }

    /// The next camera to analyse at `now`: due, with a frame waiting (`frame_at(i)` is when
    /// camera `i`'s waiting frame arrived, `None` without one).
    pub fn pick(
        &mut self,
        now: Instant,
        frame_at: impl Fn(usize) -> Option<Instant>,
    ) -> Option<usize> {
        let picked = self.pick_many(now, 1, frame_at);
        picked.first().copied()
    }

    /// Up to `max` cameras that are due at `now` and have a frame, best first (see the module
    /// docs); moves the round-robin tie-break past the last one picked.
    pub fn pick_many(
        &mut self,
        now: Instant,
        max: usize,
        frame_at: impl Fn(usize) -> Option<Instant>,
    ) -> Vec<usize> {
        let picked = self.ready(now, max, frame_at);
        if let Some(&last) = picked.last() {
            self.cursor = (last + 1) % self.next_due.len();
        }
        picked
    }

    /// Like [`Scheduler::pick_many`], without moving the round-robin tie-break.
    pub fn ready(
        &self,
        now: Instant,
        max: usize,
        frame_at: impl Fn(usize) -> Option<Instant>,
    ) -> Vec<usize> {
        let n = self.next_due.len();
        let candidates: Vec<(usize, Instant)> = (0..n)
            .map(|k| (self.cursor + k) % n)
            .filter(|&i| self.next_due[i] <= now)
            .filter_map(|i| Some((i, frame_at(i)?)))
            .collect();
        let least = candidates
            .iter()
            .map(|&(i, _)| self.vtime[i])
            .fold(f64::INFINITY, f64::min);
        // Eligible first (less than one interval ahead), freshest first; then the others by
        // virtual time. The sort is stable, so ties keep round-robin order.
        let mut ranked: Vec<(bool, i128, usize)> = candidates
            .into_iter()
            .map(|(i, arrival)| {
                let eligible = self.vtime[i] < least + self.interval[i].as_secs_f64();
                let key = if eligible {
                    -(arrival
                        .saturating_duration_since(now - Duration::from_secs(3600))
                        .as_nanos() as i128)
                } else {
                    (self.vtime[i] * 1e9) as i128
                };
                (!eligible, key, i)
            })
            .collect();
        ranked.sort_by_key(|&(ineligible, key, _)| (ineligible, key));
        ranked.into_iter().take(max).map(|(_, _, i)| i).collect()
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
        self.vtime[i] += interval.as_secs_f64();
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
            let i = s.pick(now, |_| Some(now)).expect("some camera is due");
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
            if let Some(i) = s.pick(now, |_| Some(now)) {
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
        assert_eq!(s.pick(t0, |i| (i == 1).then_some(t0)), Some(1));
        assert_eq!(s.pick(t0, |i| (i == 1).then_some(t0)), Some(1));
        s.served(1, t0);
        assert_eq!(s.pick(t0, |i| (i == 1).then_some(t0)), None);
    }

    #[test]
    fn a_changed_camera_list_keeps_due_times_of_the_cameras_that_stay() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(&[(1, 1.0), (2, 1.0)], t0);
        s.served(0, t0);
        s.served(1, t0);
        // Camera 2 removed, camera 3 added: 1 is still due in a second, 3 at once.
        s.sync(&[(3, 1.0), (1, 1.0)], t0);
        assert_eq!(s.pick(t0, |_| Some(t0)), Some(0));
        s.served(0, t0);
        assert_eq!(s.pick(t0, |_| Some(t0)), None);
        assert_eq!(s.next_deadline(t0), Some(t0 + Duration::from_secs(1)));
        s.sync(&[], t0);
        assert_eq!(s.pick(t0, |_| Some(t0)), None);
    }
}
