use std::collections::HashSet;

use proptest::prelude::*;

use super::*;

/// Simulates the analysis loop on a virtual clock: every camera always has a frame (overload)
/// unless `frames` says otherwise; a batch of n frames takes `cost(n)`.
struct Sim {
    batcher: Batcher,
    now: Instant,
    t0: Instant,
    served: Vec<Vec<Instant>>,
    batches: Vec<Vec<usize>>,
    waits: Vec<Duration>,
    /// Age of each analysed frame when its batch started.
    ages: Vec<Duration>,
}

impl Sim {
    fn new(fps: &[f32], max_batch: usize, max_wait_ms: u64) -> Self {
        let t0 = Instant::now();
        let mut batcher = Batcher::new(max_batch, Duration::from_millis(max_wait_ms));
        let cameras: Vec<(u64, f32)> = fps
            .iter()
            .enumerate()
            .map(|(i, &f)| (i as u64, f))
            .collect();
        batcher.sync(&cameras, t0);
        Self {
            batcher,
            now: t0,
            t0,
            served: vec![Vec::new(); fps.len()],
            batches: Vec::new(),
            waits: Vec::new(),
            ages: Vec::new(),
        }
    }

    /// Runs for `seconds` of virtual time; `arrives(i, t)` says if camera i delivers a frame at
    /// t. A delivered frame waits in its slot until it is taken, as in the appliance.
    /// `waits` records, per batch, how long a due camera had had a frame before it ran.
    fn run(
        &mut self,
        seconds: f64,
        cost: impl Fn(usize) -> Duration,
        arrives: impl Fn(usize, Duration) -> bool,
    ) {
        self.run_with(seconds, cost, |i, t| arrives(i, t).then_some(t));
    }

    /// Like [`Sim::run`], with `newest(i, t)` the arrival time of the newest frame camera i
    /// produced up to t (frames arriving while a batch runs are seen when it ends).
    fn run_with(
        &mut self,
        seconds: f64,
        cost: impl Fn(usize) -> Duration,
        newest: impl Fn(usize, Duration) -> Option<Duration>,
    ) {
        let end = self.t0 + Duration::from_secs_f64(seconds);
        let mut waiting_since: Option<Instant> = None;
        let mut pending: Vec<Option<Instant>> = vec![None; self.served.len()];
        let mut taken: Vec<Option<Instant>> = vec![None; self.served.len()];
        while self.now < end {
            let elapsed = self.now - self.t0;
            for (i, p) in pending.iter_mut().enumerate() {
                // A new frame replaces the waiting one (newest wins).
                if let Some(at) = newest(i, elapsed).map(|d| self.t0 + d)
                    && taken[i].is_none_or(|t| at > t)
                {
                    *p = Some(at);
                }
            }
            let has_frame = |i: usize| pending[i];
            let due_with_frame = !self
                .batcher
                .scheduler
                .ready(self.now, 1, has_frame)
                .is_empty();
            if due_with_frame {
                waiting_since.get_or_insert(self.now);
            }
            match self.batcher.next(self.now, has_frame) {
                Next::Run(batch) => {
                    if let Some(since) = waiting_since.take() {
                        self.waits.push(self.now - since);
                    }
                    for &i in &batch {
                        self.served[i].push(self.now);
                        self.ages
                            .push(self.now - pending[i].expect("a batch has frames"));
                        taken[i] = pending[i].take();
                    }
                    self.now += cost(batch.len());
                    self.batches.push(batch);
                }
                Next::Wait(until) => {
                    assert!(until > self.now, "a wait must move time forward");
                    // Frames may arrive at any time: look again after at most 1 ms.
                    self.now = until.min(self.now + Duration::from_millis(1));
                }
            }
        }
    }
}

#[test]
fn a_fixed_batch_model_is_served_one_frame_at_a_time_in_turn() {
    let mut sim = Sim::new(&[100.0, 100.0, 100.0], 1, 20);
    sim.run(1.5, |_| Duration::from_millis(50), |_, _| true);
    assert!(sim.batches.iter().all(|b| b.len() == 1));
    let counts: Vec<usize> = sim.served.iter().map(Vec::len).collect();
    assert_eq!(counts, [10, 10, 10]);
}

#[test]
fn batches_fill_up_to_max_batch_under_overload() {
    let mut sim = Sim::new(&[30.0; 10], 4, 20);
    sim.run(
        2.0,
        |n| Duration::from_millis(10 + 5 * n as u64),
        |_, _| true,
    );
    assert!(sim.batches.iter().all(|b| b.len() <= 4));
    assert!(sim.batches.iter().filter(|b| b.len() == 4).count() > sim.batches.len() / 2);
}

#[test]
fn a_lone_ready_camera_waits_at_most_max_wait_for_company() {
    // Camera 1 never has a frame: camera 0 must not wait more than 15 ms for it.
    let mut sim = Sim::new(&[10.0, 10.0], 4, 15);
    sim.run(2.0, |_| Duration::from_millis(5), |i, _| i == 0);
    assert_eq!(sim.served[1].len(), 0);
    assert!(sim.served[0].len() >= 18, "{}", sim.served[0].len());
    assert!(
        sim.waits.iter().all(|w| *w <= Duration::from_millis(16)),
        "{:?}",
        sim.waits
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Bounds and fairness for any mix of camera rates, batch sizes, costs and frame gaps.
    #[test]
    fn batches_are_bounded_fair_and_respect_each_cameras_rate(
        fps in prop::collection::vec(1.0f32..30.0, 1..12),
        max_batch in 1usize..9,
        max_wait_ms in 0u64..50,
        cost_ms in 1u64..40,
        gap_every in 2u64..10,
    ) {
        let mut sim = Sim::new(&fps, max_batch, max_wait_ms);
        // Camera i misses frames for 100 ms every `gap_every` hundred ms (odd cameras only).
        sim.run(
            3.0,
            |n| Duration::from_millis(cost_ms * (1 + n as u64) / 2),
            |i, t| i % 2 == 0 || !(t.as_millis() as u64 / 100).is_multiple_of(gap_every),
        );
        for batch in &sim.batches {
            prop_assert!(!batch.is_empty() && batch.len() <= max_batch);
            let distinct: HashSet<_> = batch.iter().collect();
            prop_assert_eq!(distinct.len(), batch.len(), "a camera twice in one batch");
        }
        // No camera is analysed faster than its detect fps: it spends a credit per analysis
        // and earns them at its rate, saving at most two, so never three analyses within one
        // interval, and at most the rate over the run plus the two saved.
        for (i, times) in sim.served.iter().enumerate() {
            let interval = Duration::from_secs_f64(1.0 / f64::from(fps[i]));
            for w in times.windows(3) {
                prop_assert!(w[2] - w[0] + Duration::from_micros(1) >= interval);
            }
            prop_assert!(times.len() as f64 <= 3.0 * f64::from(fps[i]) + 2.0);
        }
        // Waiting for company never exceeds max_wait (plus the 1 ms polling step).
        for w in &sim.waits {
            prop_assert!(*w <= Duration::from_millis(max_wait_ms + 1), "waited {:?}", w);
        }
        // Nobody starves: every camera that always has frames is served.
        for (i, times) in sim.served.iter().enumerate() {
            if i % 2 == 0 {
                prop_assert!(!times.is_empty(), "camera {} starved", i);
            }
        }
    }

    /// Under overload, cameras of equal rate are served equally often (within one round).
    #[test]
    fn equal_cameras_share_equally_under_overload(
        cameras in 2usize..16,
        max_batch in 1usize..6,
        cost_ms in 20u64..60,
    ) {
        let mut sim = Sim::new(&vec![30.0; cameras], max_batch, 10);
        sim.run(3.0, |_| Duration::from_millis(cost_ms), |_, _| true);
        let counts: Vec<usize> = sim.served.iter().map(Vec::len).collect();
        let (min, max) = (counts.iter().min().copied().unwrap_or(0), counts.iter().max().copied().unwrap_or(0));
        prop_assert!(max - min <= 1, "unequal shares: {:?}", counts);
    }
}

/// Twelve cameras delivering 10 fps with spread phases, analysis slower than their sum: frames
/// are analysed young (the freshest first), and every camera still gets its share.
#[test]
fn under_overload_fresh_frames_go_first_and_shares_stay_even() {
    let cameras = 12;
    let period = 100u128;
    let phase = |i: usize| (i as u128 * 37) % period;
    let newest = |i: usize, t: Duration| {
        let ms = t.as_millis();
        (ms >= phase(i))
            .then(|| Duration::from_millis((ms - (ms + period - phase(i)) % period) as u64))
    };
    let mut sim = Sim::new(&vec![10.0; cameras], 1, 10);
    sim.run_with(10.0, |_| Duration::from_micros(13_700), newest);
    let mean_age =
        sim.ages.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / sim.ages.len() as f64;
    let counts: Vec<usize> = sim.served.iter().map(Vec::len).collect();
    let mean = counts.iter().sum::<usize>() as f64 / cameras as f64;
    let mut ages: Vec<f64> = sim.ages.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ages.sort_by(f64::total_cmp);
    println!(
        "served {counts:?}, mean frame age {mean_age:.1} ms, p99 {:.1}",
        ages[(ages.len() - 1) * 99 / 100]
    );
    // Serving in turn regardless of freshness takes frames at a random point of their period:
    // 50 ms old on average, up to 100. Fresh frames first, within fair shares, must do clearly
    // better on both.
    assert!(mean_age < 15.0, "frames waited {mean_age:.1} ms on average");
    let p99 = ages[(ages.len() - 1) * 99 / 100];
    assert!(p99 < 40.0, "the slowest 1% waited {p99:.1} ms");
    for c in &counts {
        assert!(
            (*c as f64 - mean).abs() <= 0.15 * mean,
            "uneven shares: {counts:?}"
        );
    }
}
