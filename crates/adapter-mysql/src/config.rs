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

/// Exponential backoff between connection attempts at start (no limit on
/// the number of attempts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failed attempt.
    pub initial: Duration,
    /// The longest wait between two attempts.
    pub max: Duration,
}

/// The shortest wait between two attempts, whatever [`Backoff`] says: a zero
/// wait would retry in a busy loop.
const LEAST: Duration = Duration::from_millis(1);

impl Backoff {
    /// The waits, as backon's builder: doubling from [`Backoff::initial`] up
    /// to [`Backoff::max`], without end.
    pub(crate) fn policy(&self) -> backon::ExponentialBuilder {
        let max = self.max.max(LEAST);
        backon::ExponentialBuilder::new()
            .with_factor(2.0)
            .with_min_delay(self.initial.clamp(LEAST, max))
            .with_max_delay(max)
            .without_max_times()
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
    use backon::BackoffBuilder;

    use super::*;

    fn first_waits(backoff: Backoff, n: usize) -> Vec<u128> {
        backoff.policy().build().take(n).map(|d| d.as_millis()).collect()
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_never_ends() {
        assert_eq!(
            first_waits(Backoff::default(), 7),
            [250, 500, 1000, 2000, 4000, 5000, 5000]
        );
        assert_eq!(
            Backoff::default().policy().build().nth(10_000),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn backoff_never_waits_zero_nor_past_its_cap() {
        let zero = Backoff {
            initial: Duration::ZERO,
            max: Duration::from_millis(4),
        };
        assert_eq!(first_waits(zero, 4), [1, 2, 4, 4]);
        let inverted = Backoff {
            initial: Duration::from_secs(9),
            max: Duration::from_millis(40),
        };
        assert_eq!(first_waits(inverted, 2), [40, 40]);
    }
}
