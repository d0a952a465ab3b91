//! Motion gate (optional, per camera): a cheap look at a small grey thumbnail decides whether a
//! frame needs the detector at all.
//!
//! Input: each due frame's luma, averaged over the cells of a fixed [`GRID_W`]×[`GRID_H`] grid
//! (every second pixel of every second row; the mean evens out sensor and compression noise,
//! and a small object moving a few pixels still shifts its cells' means), its time in ms, and
//! whether the camera has objects being tracked. Output: infer or skip. A frame is analysed
//! when
//! - enough of the grid changed since the previous frame (motion), or
//! - objects are tracked and the last analysis is `refresh_s` old (a standing person or a parked
//!   car keeps its track and its event alive; keep it under the tracker's lost timeout), or
//! - the last analysis is `idle_refresh_s` old (a slow change is not missed for ever).
//!
//! Cost: a quarter of the frame's pixels read once (0.1 Mpixel for 768x576), no allocation
//! after the first frame of a size. The first frame, and a frame of another size, is always
//! analysed.

use serde::{Deserialize, Serialize};

/// Thumbnail grid width (points).
pub const GRID_W: u32 = 80;
/// Thumbnail grid height (points).
pub const GRID_H: u32 = 60;

/// `[cameras.motion]`: present means the gate is on for that camera.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MotionConfig {
    /// A cell changed when its mean grey level moved by more than this (0-255). Default 4.
    pub threshold: u8,
    /// Motion when at least this fraction of the grid changed (0-1). Default 0.001 (5 cells).
    pub min_area: f32,
    /// While objects are tracked, analyse at least this often (seconds). Default 1; keep it
    /// under the tracker's `lost_timeout_ms`.
    pub refresh_s: f32,
    /// With nothing tracked, analyse at least this often anyway (seconds). Default 10.
    pub idle_refresh_s: f32,
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self {
            threshold: 4,
            min_area: 0.001,
            refresh_s: 1.0,
            idle_refresh_s: 10.0,
        }
    }
}

impl MotionConfig {
    /// Checks values; the message is `field: problem; fix`.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.min_area > 0.0 && self.min_area <= 1.0) {
            return Err(format!(
                "min_area: {} is outside (0, 1]; use a small fraction, e.g. 0.002",
                self.min_area
            ));
        }
        for (field, v) in [
            ("refresh_s", self.refresh_s),
            ("idle_refresh_s", self.idle_refresh_s),
        ] {
            if !(v > 0.0 && v <= 3600.0) {
                return Err(format!("{field}: {v} seconds; use 0.1 to 3600"));
            }
        }
        Ok(())
    }
}

/// Why the gate let a frame through, or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Enough of the picture changed.
    Motion,
    /// Tracked objects are due for a refresh.
    Refresh,
    /// Nothing analysed for `idle_refresh_s`, or the first frame (of this size).
    Idle,
    /// No need to analyse this frame.
    Skip,
}

impl Verdict {
    pub fn infer(self) -> bool {
        self != Verdict::Skip
    }
}

/// The gate of one camera.
pub struct MotionGate {
    config: MotionConfig,
    previous: Vec<u8>,
    current: Vec<u8>,
    /// Per cell: sum of samples and their count, for the frame being read.
    sums: Vec<(u32, u32)>,
    /// Cell column of every second pixel column, for frames of `size`.
    columns: Vec<u16>,
    size: (u32, u32),
    last_inference_ms: Option<u64>,
}

impl MotionGate {
    pub fn new(config: MotionConfig) -> Self {
        Self {
            config,
            previous: Vec::new(),
            current: Vec::new(),
            sums: Vec::new(),
            columns: Vec::new(),
            size: (0, 0),
            last_inference_ms: None,
        }
    }

    /// Decides for one frame of `width`×`height` whose luma at (x, y) is `luma(x, y)`.
    pub fn check(
        &mut self,
        width: u32,
        height: u32,
        luma: impl Fn(u32, u32) -> u8,
        t_ms: u64,
        tracking: bool,
    ) -> Verdict {
        if (width, height) != self.size {
            self.columns = (0..width.div_ceil(2))
                .map(|i| (2 * i * GRID_W / width.max(1)) as u16)
                .collect();
        }
        self.sums.clear();
        self.sums.resize((GRID_W * GRID_H) as usize, (0, 0));
        for y in (0..height).step_by(2) {
            let row = (y * GRID_H / height) as usize * GRID_W as usize;
            for (i, &column) in self.columns.iter().enumerate() {
                let cell = &mut self.sums[row + usize::from(column)];
                cell.0 += u32::from(luma(2 * i as u32, y));
                cell.1 += 1;
            }
        }
        self.current.clear();
        self.current
            .extend(self.sums.iter().map(|&(sum, n)| (sum / n.max(1)) as u8));
        let comparable = self.size == (width, height) && self.previous.len() == self.current.len();
        let changed = if comparable {
            let threshold = self.config.threshold;
            self.previous
                .iter()
                .zip(&self.current)
                .filter(|(a, b)| a.abs_diff(**b) > threshold)
                .count()
        } else {
            usize::MAX
        };
        std::mem::swap(&mut self.previous, &mut self.current);
        self.size = (width, height);

        let since = self.last_inference_ms.map(|t| t_ms.saturating_sub(t));
        let older_than = |s: f32| since.is_none_or(|ms| ms as f64 >= f64::from(s) * 1000.0);
        let needed = (self.config.min_area * (GRID_W * GRID_H) as f32)
            .ceil()
            .max(1.0) as usize;
        let verdict = if !comparable {
            Verdict::Idle
        } else if changed >= needed {
            Verdict::Motion
        } else if tracking && older_than(self.config.refresh_s) {
            Verdict::Refresh
        } else if older_than(self.config.idle_refresh_s) {
            Verdict::Idle
        } else {
            Verdict::Skip
        };
        if verdict.infer() {
            self.last_inference_ms = Some(t_ms);
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 640×480 picture: a dark square of side 40 at `x` on a light background, plus noise.
    fn picture(x: u32, seed: u32) -> impl Fn(u32, u32) -> u8 {
        move |px, py| {
            let noise = ((px.wrapping_mul(31) ^ py.wrapping_mul(17) ^ seed) % 7) as u8;
            let inside = px >= x && px < x + 40 && (200..240).contains(&py);
            if inside { 40 + noise } else { 200 + noise }
        }
    }

    #[test]
    fn a_still_scene_is_skipped_and_a_moving_object_is_not() {
        let mut gate = MotionGate::new(MotionConfig::default());
        assert_eq!(
            gate.check(640, 480, picture(10, 0), 0, false),
            Verdict::Idle
        );
        // Same scene, fresh noise: nothing moves.
        for i in 1..10 {
            let v = gate.check(640, 480, picture(10, i), i as u64 * 100, false);
            assert_eq!(v, Verdict::Skip, "frame {i}");
        }
        // The square moves by 8 px, then by 2 px.
        assert_eq!(
            gate.check(640, 480, picture(18, 3), 1000, false),
            Verdict::Motion
        );
        assert_eq!(
            gate.check(640, 480, picture(20, 4), 1100, false),
            Verdict::Motion
        );
    }

    #[test]
    fn tracked_objects_are_refreshed_and_an_idle_camera_is_looked_at_now_and_then() {
        let config = MotionConfig {
            refresh_s: 1.0,
            idle_refresh_s: 5.0,
            ..MotionConfig::default()
        };
        let mut gate = MotionGate::new(config);
        let still = picture(50, 1);
        let mut analysed = Vec::new();
        for i in 0..100u64 {
            // 10 fps for 10 s; objects tracked during the first 5 s.
            if gate.check(640, 480, &still, i * 100, i < 50).infer() {
                analysed.push(i * 100);
            }
        }
        // 0 (first), then every second while tracking, then once after 5 s idle.
        assert_eq!(analysed, vec![0, 1000, 2000, 3000, 4000, 9000]);
    }

    #[test]
    fn a_new_frame_size_is_analysed_and_bad_settings_are_named() {
        let mut gate = MotionGate::new(MotionConfig::default());
        gate.check(640, 480, picture(10, 0), 0, false);
        assert_eq!(
            gate.check(640, 480, picture(10, 1), 100, false),
            Verdict::Skip
        );
        assert_eq!(
            gate.check(320, 240, picture(10, 1), 200, false),
            Verdict::Idle
        );
        let bad = MotionConfig {
            min_area: 0.0,
            ..MotionConfig::default()
        };
        assert!(bad.validate().expect_err("zero").starts_with("min_area:"));
        assert!(MotionConfig::default().validate().is_ok());
    }
}
