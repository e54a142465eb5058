//! Errors of starting the store, and how database errors become [`StoreError`]s.

use std::time::Duration;

use room_ports::StoreError;

/// Why [`MysqlStore::connect`](crate::MysqlStore::connect) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MysqlError {
    /// The URL cannot be parsed; retrying will not help.
    #[error("invalid MySQL URL: {0}")]
    InvalidUrl(#[source] sqlx::Error),
    /// The server refused or dropped the first connection.
    #[error("cannot connect to MySQL at {target}: {source}")]
    Connect {
        /// `host:port/database` (never the password).
        target: String,
        /// What the driver reported.
        #[source]
        source: sqlx::Error,
    },
    /// The server did not complete the first connection in time.
    #[error("MySQL at {target} did not answer within {after:?}")]
    ConnectTimeout {
        /// `host:port/database`.
        target: String,
        /// The configured connect timeout.
        after: Duration,
    },
    /// The schema could not be brought up to date.
    #[error("schema migration failed on {target}: {source}")]
    Migrate {
        /// `host:port/database`.
        target: String,
        /// What sqlx's migrator reported (with the migration's version when
        /// one failed).
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    /// Another node's migration held the migration lock too long.
    #[error("another node held the schema migration lock on {target} for {after:?}")]
    MigrationLocked {
        /// `host:port/database`.
        target: String,
        /// How long this node waited.
        after: Duration,
    },
}

impl MysqlError {
    /// Whether trying again later may succeed: everything except a bad URL
    /// and an applied migration that differs from this build's (a server that
    /// is starting, a user or database being created, a network that comes
    /// back, another node's migration that held the lock).
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            MysqlError::InvalidUrl(_)
                | MysqlError::Migrate {
                    source: sqlx::migrate::MigrateError::VersionMismatch(_),
                    ..
                }
        )
    }
}

/// MySQL/MariaDB error numbers this crate reacts to.
pub(crate) mod codes {
    /// A foreign key names a parent row that does not exist.
    pub const NO_REFERENCED_ROW: u16 = 1452;
    /// The transaction was chosen as a deadlock victim and rolled back.
    pub const DEADLOCK: u16 = 1213;
}

/// The server's error number, if `error` came from the server.
pub(crate) fn server_code(error: &sqlx::Error) -> Option<u16> {
    match error {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .map(|e| e.number()),
        _ => None,
    }
}

/// A database error as the port reports it: data that cannot be read back is
/// [`StoreError::Corrupt`]; anything else (server gone, pool timed out, a
/// statement the server refused) is [`StoreError::Unavailable`], so the client
/// hears "try again" and nothing was changed.
pub(crate) fn to_store_error(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => {
            tracing::error!(%error, "MySQL returned data this store cannot read");
            StoreError::Corrupt(error.to_string())
        }
        other => {
            tracing::warn!(error = %other, "MySQL operation failed");
            StoreError::Unavailable(other.to_string())
        }
    }
}
