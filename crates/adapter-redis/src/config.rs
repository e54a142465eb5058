//! How to reach Redis, and the time limits of everything stored there.

use std::time::Duration;

use crate::error::RedisError;

/// Settings of a [`RedisBackend`](crate::RedisBackend).
///
/// Every duration must be at least one millisecond: Redis expiries are set in
/// milliseconds, and a zero command timeout would mean "wait for ever".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// Prepended to every key, so that deployments (and tests) can share one
    /// Redis. Include a hash tag (`{myroom}:`) to keep every key in one slot.
    pub prefix: String,
    /// How long a room host lease lives without a renew.
    pub lease_ttl: Duration,
    /// How long a node (and every session on it) lives without a heartbeat.
    pub node_ttl: Duration,
    /// How long a room snapshot is kept after its last write.
    pub snapshot_ttl: Duration,
    /// The longest any one operation waits for Redis before failing with
    /// `Unavailable`; also bounds connecting.
    pub command_timeout: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: "redis://127.0.0.1:6379".to_owned(),
            prefix: "myroom:".to_owned(),
            lease_ttl: Duration::from_secs(5),
            node_ttl: Duration::from_secs(10),
            snapshot_ttl: Duration::from_secs(24 * 60 * 60),
            command_timeout: Duration::from_secs(1),
        }
    }
}

impl RedisConfig {
    /// The defaults, with `url` and `prefix`.
    pub fn new(url: impl Into<String>, prefix: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            prefix: prefix.into(),
            ..RedisConfig::default()
        }
    }

    /// Reject durations Redis or fred cannot honour.
    pub(crate) fn validate(&self) -> Result<(), RedisError> {
        let durations = [
            ("lease_ttl", self.lease_ttl),
            ("node_ttl", self.node_ttl),
            ("snapshot_ttl", self.snapshot_ttl),
            ("command_timeout", self.command_timeout),
        ];
        for (name, value) in durations {
            if value < Duration::from_millis(1) {
                return Err(RedisError::Config(format!("{name} must be at least 1 ms")));
            }
        }
        Ok(())
    }
}

/// A duration as whole milliseconds, for `PX` and `PEXPIRE`.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
