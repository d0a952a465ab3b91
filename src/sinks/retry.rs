//! When a failed message is tried again: exponential backoff with equal jitter, per message,
//! computed from its number of failed attempts (stored in its outbox row, so a restart keeps
//! the schedule).
//!
//! The wait after `n` failures is drawn from `[d/2, d]` with `d = min(1 s · 2^(n-1), max)`:
//! 0.5–1 s, 1–2 s, 2–4 s, … up to `max/2`–`max`. The jitter spreads the retries of many
//! messages (and many appliances) apart when a receiver comes back.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// The wait of the first retry (before jitter).
pub const FIRST_RETRY: Duration = Duration::from_secs(1);

/// The wait after `failures` failed attempts (at least 1), capped at `max`; `unit` in `[0, 1]`
/// picks the point in the jitter range.
pub fn retry_delay(failures: u32, max: Duration, unit: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(30);
    let full = FIRST_RETRY.saturating_mul(1 << doublings).min(max);
    full.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
}

/// A random number in `[0, 1)`; jitter only needs retries spread apart, not unpredictable.
pub fn unit_random() -> f64 {
    let bits = RandomState::new().hash_one(std::time::Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_one_second_within_the_jitter_range_up_to_the_cap() {
        let max = Duration::from_secs(60);
        let fulls = [1, 2, 4, 8, 16, 32, 60, 60];
        for (i, full) in fulls.iter().enumerate() {
            let failures = i as u32 + 1;
            let full = Duration::from_secs(*full);
            assert_eq!(retry_delay(failures, max, 1.0), full, "after {failures}");
            assert_eq!(
                retry_delay(failures, max, 0.0),
                full / 2,
                "after {failures}"
            );
            let mid = retry_delay(failures, max, 0.5);
            assert!(mid > full / 2 && mid < full, "{mid:?} after {failures}");
        }
    }

    #[test]
    fn extreme_inputs_stay_in_bounds() {
        let max = Duration::from_secs(600);
        assert_eq!(retry_delay(u32::MAX, max, 1.0), max);
        assert_eq!(retry_delay(0, max, 1.0), FIRST_RETRY);
        assert_eq!(retry_delay(3, max, 7.0), Duration::from_secs(4));
        assert_eq!(retry_delay(3, max, -1.0), Duration::from_secs(2));
        let tiny = Duration::from_millis(100);
        assert_eq!(retry_delay(5, tiny, 1.0), tiny);
    }

    #[test]
    fn random_units_are_in_range_and_vary() {
        let draws: Vec<f64> = (0..64).map(|_| unit_random()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(draws.windows(2).any(|w| w[0] != w[1]));
    }
}
