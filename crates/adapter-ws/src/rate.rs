//! Per-socket message rate limiting (PROTOCOL.md §7): a token bucket, one
//! ERROR per second at most, and a close for sustained flooding.

use std::time::{Duration, Instant};

/// Rate-limit settings.
#[derive(Debug, Clone, Copy)]
pub struct RateConfig {
    /// Messages per second allowed on average.
    pub per_second: u32,
    /// Messages allowed in one burst.
    pub burst: u32,
    /// A socket sending more than `per_second * flood_factor` in each of
    /// `flood_seconds` consecutive seconds is closed.
    pub flood_factor: u32,
    /// See `flood_factor`.
    pub flood_seconds: u32,
}

impl Default for RateConfig {
    fn default() -> Self {
        RateConfig {
            per_second: 30,
            burst: 60,
            flood_factor: 3,
            flood_seconds: 5,
        }
    }
}

/// What to do with one arriving frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Handle it.
    Allow,
    /// Drop it and tell the client (at most once a second).
    DropAndWarn,
    /// Drop it silently (already warned this second).
    Drop,
    /// Drop it and close the socket with 1008.
    Close,
}

/// The limiter of one socket. Time comes in as an argument.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateConfig,
    tokens: f64,
    last_refill: Instant,
    last_warning: Option<Instant>,
    window_start: Instant,
    window_count: u32,
    flooding_seconds: u32,
}

impl RateLimiter {
    /// A full bucket at `now`.
    pub fn new(config: RateConfig, now: Instant) -> RateLimiter {
        RateLimiter {
            config,
            tokens: f64::from(config.burst),
            last_refill: now,
            last_warning: None,
            window_start: now,
            window_count: 0,
            flooding_seconds: 0,
        }
    }

    /// Count one frame arriving at `now`.
    pub fn check(&mut self, now: Instant) -> Verdict {
        if self.note_flood(now) {
            return Verdict::Close;
        }
        let elapsed = now.saturating_duration_since(self.last_refill).as_secs_f64();
        self.last_refill = now;
        self.tokens =
            (self.tokens + elapsed * f64::from(self.config.per_second)).min(f64::from(self.config.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Allow;
        }
        let warned_recently = self
            .last_warning
            .is_some_and(|at| now.saturating_duration_since(at) < Duration::from_secs(1));
        if warned_recently {
            Verdict::Drop
        } else {
            self.last_warning = Some(now);
            Verdict::DropAndWarn
        }
    }

    /// Whether flooding has lasted long enough to close.
    fn note_flood(&mut self, now: Instant) -> bool {
        let threshold = self.config.per_second.saturating_mul(self.config.flood_factor);
        let since = now.saturating_duration_since(self.window_start);
        if since >= Duration::from_secs(1) {
            let whole_seconds = since.as_secs();
            self.flooding_seconds = if self.window_count > threshold && whole_seconds == 1 {
                self.flooding_seconds + 1
            } else {
                0
            };
            self.window_start += Duration::from_secs(whole_seconds);
            self.window_count = 0;
        }
        self.window_count += 1;
        // The current second counts once it is over the threshold.
        let current = u32::from(self.window_count > threshold);
        self.flooding_seconds + current >= self.config.flood_seconds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, millis: u64) -> Instant {
        start + Duration::from_millis(millis)
    }

    #[test]
    fn a_burst_is_allowed_then_excess_is_dropped_with_one_warning() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(RateConfig::default(), start);
        for _ in 0..60 {
            assert_eq!(limiter.check(start), Verdict::Allow);
        }
        assert_eq!(limiter.check(start), Verdict::DropAndWarn);
        assert_eq!(limiter.check(start), Verdict::Drop);
    }

    #[test]
    fn tokens_refill_at_the_configured_rate() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(
            RateConfig {
                burst: 1,
                ..RateConfig::default()
            },
            start,
        );
        assert_eq!(limiter.check(start), Verdict::Allow);
        assert_ne!(limiter.check(at(start, 10)), Verdict::Allow);
        assert_eq!(limiter.check(at(start, 50)), Verdict::Allow);
    }

    #[test]
    fn sending_over_three_times_the_rate_for_five_seconds_closes() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(RateConfig::default(), start);
        let mut closed_at = None;
        'outer: for second in 0..10u64 {
            for i in 0..100u64 {
                if limiter.check(at(start, second * 1000 + i * 10)) == Verdict::Close {
                    closed_at = Some(second);
                    break 'outer;
                }
            }
        }
        assert_eq!(closed_at, Some(4));
    }

    #[test]
    fn sending_at_twice_the_rate_never_closes() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(RateConfig::default(), start);
        for second in 0..10u64 {
            for i in 0..60u64 {
                assert_ne!(limiter.check(at(start, second * 1000 + i * 16)), Verdict::Close);
            }
        }
    }
}
