//! Constant-velocity Kalman filter over a box, as in SORT/ByteTrack, with time in seconds.
//!
//! State: centre x, centre y, width, height and their rates of change (pixels and pixels per
//! second) — eight values. Measurement: the detected box (centre, width, height). Time steps are
//! real elapsed time, not frames, because each camera is analysed at its own rate.
//!
//! The transition, measurement and noise matrices of this filter are block-diagonal per
//! coordinate (each of cx, cy, w, h moves with its own rate; noises are independent), and the
//! initial covariance is too, so the covariance stays block-diagonal and the 8-state filter is
//! exactly four independent 2-state filters `[position, rate]`. That is what is implemented:
//! small closed-form 2×2 updates instead of 8×8 matrices.
//!
//! Noise is proportional to the box size (width for x and w, height for y and h), with the
//! per-frame weights of ByteTrack rescaled from 30 frames per second to time:
//! measurement std 5 % of the size; process noise variance per second 0.075·size² (position)
//! and 1.0·size² (rate).
//!
//! Failure: none. Sizes are kept at 1 px or more; a zero time step predicts nothing.

use crate::postprocess::BoundingBox;

/// Measurement standard deviation, as a fraction of the box size.
const MEASUREMENT_STD: f64 = 0.05;
/// Initial position standard deviation, as a fraction of the box size.
const INIT_POSITION_STD: f64 = 2.0 * MEASUREMENT_STD;
/// Initial rate standard deviation, as a fraction of the box size per second.
const INIT_RATE_STD: f64 = 2.0;
/// Process noise variance added per second to a position, as a fraction of size².
const POSITION_NOISE: f64 = 0.075;
/// Process noise variance added per second to a rate, as a fraction of size².
const RATE_NOISE: f64 = 1.0;
/// Smallest width or height a filtered box is given (pixels).
const MIN_SIZE: f64 = 1.0;

/// One coordinate with its rate: mean `[p, v]` and symmetric covariance `[[pp, pv], [pv, vv]]`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Axis {
    p: f64,
    v: f64,
    pp: f64,
    pv: f64,
    vv: f64,
}

impl Axis {
    fn new(p: f64, scale: f64) -> Self {
        Self {
            p,
            v: 0.0,
            pp: (INIT_POSITION_STD * scale).powi(2),
            pv: 0.0,
            vv: (INIT_RATE_STD * scale).powi(2),
        }
    }

    /// `x ← F x`, `P ← F P Fᵀ + Q` with `F = [[1, dt], [0, 1]]`, `Q = diag(qp, qv)·dt`.
    fn predict(&mut self, dt: f64, scale: f64) {
        self.p += self.v * dt;
        let s2 = scale * scale;
        self.pp += dt * (2.0 * self.pv + dt * self.vv) + POSITION_NOISE * s2 * dt;
        self.pv += dt * self.vv;
        self.vv += RATE_NOISE * s2 * dt;
    }

    /// Standard update with `H = [1, 0]` and measurement variance `(MEASUREMENT_STD·scale)²`.
    fn update(&mut self, z: f64, scale: f64) {
        let r = (MEASUREMENT_STD * scale).powi(2);
        let s = self.pp + r;
        let (kp, kv) = (self.pp / s, self.pv / s);
        let innovation = z - self.p;
        self.p += kp * innovation;
        self.v += kv * innovation;
        // P ← (I − K H) P, written out for the symmetric 2×2 case.
        let (pp, pv, vv) = (self.pp, self.pv, self.vv);
        self.pp = pp - kp * pp;
        self.pv = pv - kp * pv;
        self.vv = vv - kv * pv;
    }
}

/// The filter for one tracked box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoxFilter {
    /// cx, cy, w, h.
    axes: [Axis; 4],
}

impl BoxFilter {
    /// Starts a filter at a detected box, at rest, with wide uncertainty on the rates.
    pub fn new(b: &BoundingBox) -> Self {
        let [cx, cy, w, h] = measure(b);
        Self {
            axes: [
                Axis::new(cx, w),
                Axis::new(cy, h),
                Axis::new(w, w),
                Axis::new(h, h),
            ],
        }
    }

    fn scales(&self) -> [f64; 4] {
        let w = self.axes[2].p.max(MIN_SIZE);
        let h = self.axes[3].p.max(MIN_SIZE);
        [w, h, w, h]
    }

    /// Moves the state `dt_s` seconds ahead at constant velocity; uncertainty grows.
    pub fn predict(&mut self, dt_s: f64) {
        if !dt_s.is_finite() || dt_s <= 0.0 {
            return;
        }
        let scales = self.scales();
        for (axis, scale) in self.axes.iter_mut().zip(scales) {
            axis.predict(dt_s, scale);
        }
        self.clamp_size();
    }

    /// Corrects the state with a detected box.
    pub fn update(&mut self, b: &BoundingBox) {
        let scales = self.scales();
        for ((axis, z), scale) in self.axes.iter_mut().zip(measure(b)).zip(scales) {
            axis.update(z, scale);
        }
        self.clamp_size();
    }

    /// Stops the size from changing while no detection confirms it (used while a track is lost,
    /// so a long prediction cannot shrink or blow up the box).
    pub fn freeze_size(&mut self) {
        self.axes[2].v = 0.0;
        self.axes[3].v = 0.0;
    }

    /// The filtered box, in the measurement's pixels.
    pub fn bbox(&self) -> BoundingBox {
        let [cx, cy, w, h] = self.axes.map(|a| a.p);
        BoundingBox {
            x1: (cx - w / 2.0) as f32,
            y1: (cy - h / 2.0) as f32,
            x2: (cx + w / 2.0) as f32,
            y2: (cy + h / 2.0) as f32,
        }
    }

    /// The estimated velocity of the centre, pixels per second `[vx, vy]`.
    pub fn velocity(&self) -> [f64; 2] {
        [self.axes[0].v, self.axes[1].v]
    }

    fn clamp_size(&mut self) {
        for axis in &mut self.axes[2..] {
            if axis.p < MIN_SIZE {
                axis.p = MIN_SIZE;
                axis.v = axis.v.max(0.0);
            }
        }
    }
}

/// `[cx, cy, w, h]` of a box.
fn measure(b: &BoundingBox) -> [f64; 4] {
    let (x1, y1, x2, y2) = (b.x1 as f64, b.y1 as f64, b.x2 as f64, b.y2 as f64);
    [
        (x1 + x2) / 2.0,
        (y1 + y2) / 2.0,
        (x2 - x1).max(MIN_SIZE),
        (y2 - y1).max(MIN_SIZE),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(cx: f32, cy: f32, w: f32, h: f32) -> BoundingBox {
        BoundingBox {
            x1: cx - w / 2.0,
            y1: cy - h / 2.0,
            x2: cx + w / 2.0,
            y2: cy + h / 2.0,
        }
    }

    #[test]
    fn prediction_follows_constant_velocity() {
        // 10 updates per second of a box moving at (120, -40) px/s, with ±1 px alternating noise.
        let (vx, vy) = (120.0_f32, -40.0_f32);
        let mut f = BoxFilter::new(&bx(100.0, 400.0, 50.0, 100.0));
        for i in 1..=30 {
            let t = i as f32 * 0.1;
            let noise = if i % 2 == 0 { 1.0 } else { -1.0 };
            f.predict(0.1);
            f.update(&bx(
                100.0 + vx * t + noise,
                400.0 + vy * t - noise,
                50.0,
                100.0,
            ));
        }
        let [evx, evy] = f.velocity();
        assert!((evx - 120.0).abs() < 6.0, "vx {evx}");
        assert!((evy + 40.0).abs() < 6.0, "vy {evy}");
        // One second ahead without measurements: the centre is where constant velocity puts it.
        f.predict(1.0);
        let b = f.bbox();
        let (cx, cy) = ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
        assert!((cx - (100.0 + vx * 4.0)).abs() < 8.0, "cx {cx}");
        assert!((cy - (400.0 + vy * 4.0)).abs() < 8.0, "cy {cy}");
        assert!(((b.x2 - b.x1) - 50.0).abs() < 2.0 && ((b.y2 - b.y1) - 100.0).abs() < 2.0);
    }

    #[test]
    fn a_still_box_stays_put_and_noise_is_smoothed() {
        let mut f = BoxFilter::new(&bx(300.0, 200.0, 40.0, 80.0));
        let mut worst = 0.0_f32;
        for i in 1..=50 {
            let noise = [3.0, -2.0, 1.0, -3.0, 2.0][i % 5];
            f.predict(1.0 / 15.0);
            f.update(&bx(300.0 + noise, 200.0 - noise, 40.0, 80.0));
            if i > 10 {
                let b = f.bbox();
                worst = worst.max(((b.x1 + b.x2) / 2.0 - 300.0).abs());
            }
        }
        assert!(
            worst < 3.0,
            "filtered centre strays {worst} px (raw noise up to 3)"
        );
    }

    #[test]
    fn zero_or_bad_time_steps_change_nothing() {
        let mut f = BoxFilter::new(&bx(10.0, 10.0, 4.0, 4.0));
        let before = f;
        f.predict(0.0);
        f.predict(f64::NAN);
        f.predict(-1.0);
        assert_eq!(f, before);
    }

    #[test]
    fn sizes_never_collapse() {
        let mut f = BoxFilter::new(&bx(10.0, 10.0, 40.0, 40.0));
        f.predict(0.1);
        f.update(&bx(10.0, 10.0, 4.0, 4.0));
        f.predict(100.0);
        let b = f.bbox();
        assert!(b.x2 - b.x1 >= 1.0 - 1e-4 && b.y2 - b.y1 >= 1.0 - 1e-4);
    }
}
