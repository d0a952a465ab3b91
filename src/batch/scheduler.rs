//! Scheduler: which cameras are due for analysis — fair shares, freshest frame first.
//!
//! Rate: each camera earns credit at its `detect_fps` (one credit per interval, at most
//! [`CREDIT_CAP`] saved); analysing a frame spends one. A frame is wanted when its camera had a
//! credit at the moment the frame arrived, so a frame is analysed the moment it arrives if its
//! camera's rate allows, never held back to a schedule of its own. A frame that arrived before
//! its camera's credit was complete is passed over: a newer frame takes its place in the slot
//! and is judged at its own arrival, and the slot counts the replaced one as rate-limited
//! ([`Scheduler::wanted_from`] tells it from when the camera is due). Held until the credit
//! completed, it would be up to one frame interval old before analysis even began (a camera
//! sending exactly `detect_fps` keeps a spare credit, which absorbs arrival jitter). A camera
//! sending faster is analysed at `detect_fps` on average, each analysed frame taken on arrival.
//!
//! Fairness and freshness: every camera has a virtual time, the analysis it received in units of
//! its own interval (each analysis adds `1 / detect_fps`; a camera that joins starts at the
//! least virtual time of the others). Among the due cameras with a new frame, the fresh ones
//! (younger than [`STALE_AFTER`] of their interval) go before the stale; among those, only the
//! cameras less than one interval ahead of the least-served one are eligible, and among those
//! the one whose frame arrived last goes first. Latency is the frame's age plus inference: with
//! many cameras some frame has nearly always just arrived, and a stale frame waits until no
//! fresh one does (its camera's next frame will be fresh, so shares stay even). Ties go round
//! robin from the camera after the last one served. When analysis is slower than the cameras,
//! the wanted frames that arrive meanwhile replace each other in their slots (counted as drops
//! there): the analysed frame is always the newest one, and latency does not build up.

use std::time::{Duration, Instant};

/// Most credits a camera saves: enough to absorb jitter, too few for a burst of catch-up
/// analyses after a pause.
pub const CREDIT_CAP: f64 = 2.0;

/// A waiting frame is stale once older than this share of its camera's interval.
pub const STALE_AFTER: f64 = 0.3;

/// Per-camera credits and virtual times.
#[derive(Default)]
pub struct Scheduler {
    /// Camera ids, in the order the caller indexes its cameras.
    ids: Vec<u64>,
    /// Analyses per second, per camera.
    rate: Vec<f64>,
    /// Credits at `credit_at`.
    credit: Vec<f64>,
    credit_at: Vec<Instant>,
    /// Analysis received, in seconds of each camera's own interval (see the module docs).
    vtime: Vec<f64>,
    cursor: usize,
}

impl Scheduler {
    /// One entry per camera, `(id, detect_fps)`, in the order the caller indexes them.
    pub fn new(cameras: &[(u64, f32)], now: Instant) -> Self {
        let mut s = Self::default();
        s.sync(cameras, now);
        s
    }

    /// Follows a changed camera list: cameras still present keep their credit and virtual
    /// time, new ones start with one credit (due at once), removed ones are forgotten.
    pub fn sync(&mut self, cameras: &[(u64, f32)], now: Instant) {
        let old = |id: u64| self.ids.iter().position(|&o| o == id);
        let floor = self.vtime.iter().copied().fold(f64::INFINITY, f64::min);
        let floor = if floor.is_finite() { floor } else { 0.0 };
        let credit: Vec<f64> = cameras
            .iter()
            .map(|&(id, _)| old(id).map_or(1.0, |i| self.credit_now(i, now)))
            .collect();
        let vtime: Vec<f64> = cameras
            .iter()
            .map(|&(id, _)| old(id).map_or(floor, |i| self.vtime[i]))
            .collect();
        self.ids = cameras.iter().map(|&(id, _)| id).collect();
        self.rate = cameras
            .iter()
            .map(|&(_, fps)| f64::from(fps.max(0.001)))
            .collect();
        self.credit = credit;
        self.credit_at = vec![now; cameras.len()];
        self.vtime = vtime;
        if self.cursor >= self.ids.len() {
            self.cursor = 0;
        }
    }

    /// Camera `i`'s credit at `t` (not before its last update).
    fn credit_now(&self, i: usize, t: Instant) -> f64 {
        let earned = t.saturating_duration_since(self.credit_at[i]).as_secs_f64() * self.rate[i];
        (self.credit[i] + earned).min(CREDIT_CAP)
    }

    fn due(&self, i: usize, t: Instant) -> bool {
        self.credit_now(i, t) >= 1.0 - 1e-9
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
            self.cursor = (last + 1) % self.ids.len();
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
        let n = self.ids.len();
        let candidates: Vec<(usize, Instant)> = (0..n)
            .map(|k| (self.cursor + k) % n)
            .filter_map(|i| Some((i, frame_at(i)?)))
            .filter(|&(i, arrival)| self.due(i, arrival.min(now)))
            .collect();
        let fresh = |i: usize, arrival: Instant| {
            now.saturating_duration_since(arrival).as_secs_f64() < STALE_AFTER / self.rate[i]
        };
        let any_fresh = candidates.iter().any(|&(i, a)| fresh(i, a));
        let least = candidates
            .iter()
            .filter(|&&(i, a)| !any_fresh || fresh(i, a))
            .map(|&(i, _)| self.vtime[i])
            .fold(f64::INFINITY, f64::min);
        // Fresh before stale; among each, eligible (less than one interval ahead) freshest
        // first, then the others by virtual time. The sort is stable, so ties keep round-robin
        // order.
        let mut ranked: Vec<((bool, bool), i128, usize)> = candidates
            .into_iter()
            .map(|(i, arrival)| {
                let eligible = self.vtime[i] < least + 1.0 / self.rate[i];
                let key = if eligible {
                    -(arrival
                        .saturating_duration_since(now - Duration::from_secs(3600))
                        .as_nanos() as i128)
                } else {
                    (self.vtime[i] * 1e9) as i128
                };
                ((!fresh(i, arrival), !eligible), key, i)
            })
            .collect();
        ranked.sort_by_key(|&(ineligible, key, _)| (ineligible, key));
        ranked.into_iter().take(max).map(|(_, _, i)| i).collect()
    }

    /// Whether a camera other than those in `except` is due by `by`: a batch could still grow
    /// by waiting for its frame.
    pub fn any_due_by(&self, by: Instant, except: &[usize]) -> bool {
        (0..self.ids.len()).any(|i| !except.contains(&i) && self.due(i, by))
    }

    /// How many cameras are scheduled.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Records that camera `i` was served at `now`: one credit spent.
    pub fn served(&mut self, i: usize, now: Instant) {
        self.credit[i] = self.credit_now(i, now) - 1.0;
        self.credit_at[i] = now;
        self.vtime[i] += 1.0 / self.rate[i];
    }

    /// From when a frame of camera `i` is wanted: the instant its credit completes (`None`: it
    /// already has, every frame that arrives is wanted). Changes only when the camera is served
    /// or the camera list is synced.
    pub fn wanted_from(&self, i: usize) -> Option<Instant> {
        let missing = 1.0 - self.credit[i];
        (missing > 1e-9)
            .then(|| self.credit_at[i] + Duration::from_secs_f64(missing / self.rate[i]))
    }

    /// The earliest time a camera that is not due now becomes due, if any.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        (0..self.ids.len())
            .filter(|&i| !self.due(i, now))
            .filter_map(|i| self.wanted_from(i))
            .map(|t| t.max(now + Duration::from_micros(1)))
            .min()
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
    fn a_frame_is_wanted_from_the_instant_its_camera_is_due() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(&[(1, 5.0)], t0);
        assert_eq!(s.wanted_from(0), None, "a new camera is due at once");
        s.served(0, t0);
        let from = s.wanted_from(0).expect("one credit spent");
        assert_eq!(from, t0 + Duration::from_millis(200));
        let just_before = from - Duration::from_micros(10);
        assert!(!s.due(0, just_before) && s.due(0, from));
        assert_eq!(s.pick(from, |_| Some(just_before)), None);
        assert_eq!(s.pick(from, |_| Some(from)), Some(0));
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
    fn a_slower_rate_takes_frames_on_arrival_never_holds_them() {
        // A 10 fps camera analysed at 5 fps, its frames arriving 30 ms out of phase with the
        // scheduler's own clock: every analysed frame is taken the moment it arrives, one in
        // two, never a frame held until its camera's credit completes.
        let t0 = Instant::now();
        let mut s = Scheduler::new(&[(1, 5.0)], t0);
        let mut waiting: Option<Instant> = None;
        let mut waits = Vec::new();
        for ms in 0..2000u64 {
            let now = t0 + Duration::from_millis(ms);
            if ms % 100 == 30 {
                waiting = Some(now);
            }
            if let Some(i) = s.pick(now, |_| waiting) {
                waits.push(now - waiting.take().expect("a frame"));
                s.served(i, now);
            }
        }
        assert_eq!(waits.len(), 10, "5 fps of a 10 fps camera over 2 s");
        assert!(
            waits.iter().all(|w| w.is_zero()),
            "frames were held before analysis: {waits:?}"
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
