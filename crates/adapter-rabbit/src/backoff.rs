//! Delays between reconnection attempts: doubling, capped, with jitter.

use std::time::Duration;

/// The delay before reconnection attempt `attempt` (0 = the first one).
///
/// `min * 2^attempt`, capped at `max`, then scaled by `jitter` in `[0.5, 1.0]`
/// so that nodes that lost the broker together do not return in lockstep.
/// `jitter` comes in as an argument to keep this function deterministic.
pub(crate) fn delay(min: Duration, max: Duration, attempt: u32, jitter: f64) -> Duration {
    let factor = 2u32.saturating_pow(attempt.min(16));
    let raw = min.saturating_mul(factor).min(max.max(min));
    raw.mul_f64(jitter.clamp(0.5, 1.0))
}

/// A jitter factor in `[0.5, 1.0]` drawn from the clock's sub-second nanoseconds.
pub(crate) fn clock_jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    0.5 + f64::from(nanos % 1_000) / 2_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(2);

    #[test]
    fn doubles_from_min_up_to_max() {
        assert_eq!(delay(MIN, MAX, 0, 1.0), MIN);
        assert_eq!(delay(MIN, MAX, 1, 1.0), Duration::from_millis(200));
        assert_eq!(delay(MIN, MAX, 4, 1.0), Duration::from_millis(1_600));
        assert_eq!(delay(MIN, MAX, 5, 1.0), MAX);
        assert_eq!(delay(MIN, MAX, u32::MAX, 1.0), MAX);
    }

    #[test]
    fn jitter_shortens_by_at_most_half() {
        assert_eq!(delay(MIN, MAX, 0, 0.5), Duration::from_millis(50));
        assert_eq!(delay(MIN, MAX, 0, 0.0), Duration::from_millis(50));
        let j = clock_jitter();
        assert!((0.5..=1.0).contains(&j));
    }
}
