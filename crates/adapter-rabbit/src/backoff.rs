//! Delays between reconnection attempts: doubling, capped, with jitter.

use std::time::Duration;

use backon::ExponentialBuilder;

/// The delays between reconnection attempts, for ever: `min * 2^attempt`
/// capped at `max`, each shortened by a random part of up to half, so that
/// nodes that lost the broker together do not return in lockstep.
pub(crate) fn reconnect(min: Duration, max: Duration) -> ExponentialBuilder {
    // backon's jitter lengthens a delay by up to all of it: from half the
    // bounds, each delay lands in [d/2, d).
    ExponentialBuilder::default()
        .with_min_delay(min / 2)
        .with_max_delay(max.max(min) / 2)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
}

#[cfg(test)]
mod tests {
    use backon::BackoffBuilder;

    use super::*;

    const MIN: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(2);
    /// backon computes in f32 seconds.
    const SLACK: Duration = Duration::from_micros(10);

    fn in_half_open(delay: Duration, full: Duration) -> bool {
        delay + SLACK >= full / 2 && delay <= full + SLACK
    }

    #[test]
    fn doubles_from_min_up_to_max_and_goes_on() {
        for _run in 0..50 {
            let delays: Vec<Duration> = reconnect(MIN, MAX).build().take(40).collect();
            assert_eq!(delays.len(), 40, "it never gives up");
            let full = |attempt: u32| MIN.saturating_mul(2u32.saturating_pow(attempt)).min(MAX);
            for (attempt, delay) in (0u32..).zip(&delays) {
                assert!(
                    in_half_open(*delay, full(attempt)),
                    "attempt {attempt}: {delay:?} not within half of {:?}",
                    full(attempt)
                );
            }
        }
    }

    #[test]
    fn jitter_shortens_by_at_most_half_and_never_lengthens() {
        let delays: Vec<Duration> = (0..200)
            .map(|_| reconnect(MIN, MAX).build().next().unwrap())
            .collect();
        assert!(delays.iter().all(|d| in_half_open(*d, MIN)), "{delays:?}");
        assert!(
            delays.iter().any(|d| *d != delays[0]),
            "every node would wait exactly as long"
        );
    }

    #[test]
    fn a_max_below_min_is_min() {
        let delays: Vec<Duration> = reconnect(MIN, MIN / 4).build().take(5).collect();
        assert!(delays.iter().all(|d| in_half_open(*d, MIN)), "{delays:?}");
    }
}
