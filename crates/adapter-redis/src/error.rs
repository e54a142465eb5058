//! Errors of this crate, and how fred's errors become the ports' errors.

use room_ports::{HostingError, RegistryError};

/// Why the backend could not be set up or reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedisError {
    /// The settings cannot work (a malformed URL, a zero duration).
    #[error("invalid redis configuration: {0}")]
    Config(String),
    /// Redis did not answer within the configured time.
    #[error("redis unavailable: {0}")]
    Unavailable(String),
}

/// Describe a fred error for a port's `Unavailable` variant.
///
/// Every fred error lands there: a connection that is down, a timeout, and
/// also a script error (a bug here), which is logged loudly to tell them apart.
pub(crate) fn describe(error: &fred::error::Error) -> String {
    use fred::error::ErrorKind;
    match error.kind() {
        ErrorKind::IO | ErrorKind::Timeout | ErrorKind::Canceled | ErrorKind::Backpressure => {}
        kind => tracing::warn!(?kind, %error, "unexpected redis error"),
    }
    error.to_string()
}

pub(crate) fn hosting(error: fred::error::Error) -> HostingError {
    HostingError::Unavailable(describe(&error))
}

pub(crate) fn registry(error: fred::error::Error) -> RegistryError {
    RegistryError::Unavailable(describe(&error))
}
