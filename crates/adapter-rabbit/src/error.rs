//! Errors of setting the adapter up, and the mapping of broker failures to [`BusError`].

use std::time::Duration;

use room_ports::BusError;

/// Why [`RabbitBus::connect`](crate::RabbitBus::connect) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RabbitError {
    /// The broker refused the connection or the topology (exchanges, queue, bindings).
    #[error("cannot set up the bus on RabbitMQ: {0}")]
    Broker(String),
    /// The broker did not answer in time.
    #[error("RabbitMQ did not answer within {0:?}")]
    Timeout(Duration),
}

/// A bus call failed because the broker cannot be used now.
pub(crate) fn unavailable(what: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(what.to_string())
}
