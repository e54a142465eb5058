//! How to reach MySQL and how long to wait for it.

use std::time::Duration;

/// Connection settings of a [`MysqlStore`](crate::MysqlStore).
///
/// The timeouts are what turn a dead server into a quick
/// [`StoreError::Unavailable`](room_ports::StoreError::Unavailable) (ERROR 76503)
/// instead of a BUILD that hangs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MysqlConfig {
    /// `mysql://user:password@host:port/database` (query options as sqlx
    /// accepts them, e.g. `?ssl-mode=required`). The database must exist.
    pub url: String,
    /// Most connections the pool keeps open.
    pub max_connections: u32,
    /// Longest wait for a pooled connection, including opening a new one.
    pub acquire_timeout: Duration,
    /// Longest wait for the first connection of [`MysqlStore::connect`](crate::MysqlStore::connect).
    pub connect_timeout: Duration,
    /// Longest time one store operation (a load, a whole save transaction) may
    /// take before it is reported as unavailable. Also bounds row-lock waits.
    pub op_timeout: Duration,
}

impl MysqlConfig {
    /// Settings for `url` with the defaults: 10 connections, 2 s to acquire a
    /// connection, 5 s for the first connection and for each operation.
    pub fn new(url: impl Into<String>) -> Self {
        MysqlConfig {
            url: url.into(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(5),
            op_timeout: Duration::from_secs(5),
        }
    }
}

/// Exponential backoff between connection attempts at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failed attempt.
    pub initial: Duration,
    /// The longest wait between two attempts.
    pub max: Duration,
}

impl Backoff {
    /// The wait after `delay`: doubled, capped at [`Backoff::max`].
    pub fn next(&self, delay: Duration) -> Duration {
        delay
            .saturating_mul(2)
            .min(self.max)
            .max(self.initial.min(self.max))
    }
}

impl Default for Backoff {
    /// 250 ms, doubling up to 5 s.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let backoff = Backoff::default();
        let mut delay = backoff.initial;
        let mut seen = vec![delay];
        for _ in 0..6 {
            delay = backoff.next(delay);
            seen.push(delay);
        }
        let ms: Vec<u128> = seen.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [250, 500, 1000, 2000, 4000, 5000, 5000]);
    }

    #[test]
    fn backoff_never_stalls_at_zero() {
        let backoff = Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(40),
        };
        assert_eq!(backoff.next(Duration::ZERO), Duration::from_millis(10));
    }
}
