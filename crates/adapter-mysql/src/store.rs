//! [`MysqlStore`]: starting it (connect, migrate) and running its operations
//! under a deadline.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use backon::Retryable;
use room_ports::StoreError;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor};

use crate::config::{Backoff, MysqlConfig};
use crate::error::MysqlError;
use crate::schema;

/// The [`MapStore`](room_ports::MapStore) of a cluster: users, libraries and
/// room maps in MySQL 8 or MariaDB 10.11.
///
/// Cheap to clone (the pool is shared). The pool reconnects by itself: while
/// the server is gone every operation fails within about
/// [`MysqlConfig::acquire_timeout`] with [`StoreError::Unavailable`], and
/// works again once the server is back.
#[derive(Debug, Clone)]
pub struct MysqlStore {
    pub(crate) pool: MySqlPool,
    op_timeout: Duration,
    target: Arc<str>,
}

impl MysqlStore {
    /// Connect once, apply the schema migrations, and open the pool.
    /// Fails with a typed error if the server cannot be reached now.
    pub async fn connect(config: MysqlConfig) -> Result<MysqlStore, MysqlError> {
        let options = MySqlConnectOptions::from_str(&config.url).map_err(MysqlError::InvalidUrl)?;
        let target = describe(&options);

        let first = tokio::time::timeout(config.connect_timeout, options.connect()).await;
        let mut conn = match first {
            Err(_) => {
                return Err(MysqlError::ConnectTimeout {
                    target,
                    after: config.connect_timeout,
                });
            }
            Ok(Err(source)) => return Err(MysqlError::Connect { target, source }),
            Ok(Ok(conn)) => conn,
        };
        let migrated = schema::migrate(&mut conn).await;
        // The connection only served the migration; a failed close changes nothing.
        let _ = conn.close().await;
        let schema = match migrated {
            Ok(newest) => newest,
            Err(schema::Failure::Locked) => {
                return Err(MysqlError::MigrationLocked {
                    target,
                    after: schema::LOCK_WAIT,
                });
            }
            Err(schema::Failure::Migrate(source)) => return Err(MysqlError::Migrate { target, source }),
        };

        let lock_wait_secs = config.op_timeout.as_secs().max(1);
        let pool = MySqlPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(config.acquire_timeout)
            .idle_timeout(Duration::from_secs(300))
            .test_before_acquire(true)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    // Row-lock waits end with the operation's deadline, not InnoDB's 50 s.
                    conn.execute(sqlx::AssertSqlSafe(format!(
                        "SET SESSION innodb_lock_wait_timeout = {lock_wait_secs}"
                    )))
                    .await?;
                    Ok(())
                })
            })
            .connect_lazy_with(options);

        tracing::info!(server = %target, schema, "MySQL store ready");
        Ok(MysqlStore {
            pool,
            op_timeout: config.op_timeout,
            target: target.into(),
        })
    }

    /// [`MysqlStore::connect`] until it succeeds, waiting `backoff` between
    /// attempts and logging each failure. Returns an error only for a
    /// configuration that can never work (a bad URL). Drop the future to stop
    /// trying; until it resolves, the process should report itself not ready.
    pub async fn connect_with_retry(config: MysqlConfig, backoff: Backoff) -> Result<MysqlStore, MysqlError> {
        let mut failed: u64 = 0;
        let connected = (|| MysqlStore::connect(config.clone()))
            .retry(backoff.policy())
            .when(MysqlError::is_retryable)
            .notify(|error, delay| {
                failed += 1;
                tracing::warn!(%error, attempt = failed, retry_in = ?delay, "MySQL not available yet; retrying");
            })
            .await;
        match &connected {
            Ok(_) if failed > 0 => tracing::info!(attempt = failed + 1, "MySQL reachable again"),
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "MySQL store cannot start"),
        }
        connected
    }

    /// `host:port/database` of the server (no credentials), for logs.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Close every connection; operations afterwards fail as unavailable.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Run `operation` under the operation deadline: a server that stops
    /// answering becomes [`StoreError::Unavailable`], never a hang.
    pub(crate) async fn bounded<T>(
        &self,
        what: &'static str,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.op_timeout, operation).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(server = %self.target, what, after = ?self.op_timeout, "MySQL did not answer in time");
                Err(StoreError::Unavailable(format!(
                    "MySQL at {} did not answer {what} within {:?}",
                    self.target, self.op_timeout
                )))
            }
        }
    }
}

fn describe(options: &MySqlConnectOptions) -> String {
    let database = options.get_database().unwrap_or("");
    match options.get_socket() {
        Some(socket) => format!("{}/{database}", socket.display()),
        None => format!("{}:{}/{database}", options.get_host(), options.get_port()),
    }
}
