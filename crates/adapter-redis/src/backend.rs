//! The connection to Redis shared by every port this crate implements.

use std::sync::Arc;

use fred::prelude::{Builder, ClientLike, Config, EventInterface, FromValue, ReconnectPolicy};
use fred::types::config::UnresponsiveConfig;
use fred::types::scripts::Script;
use tokio::task::JoinHandle;

use crate::config::{RedisConfig, millis};
use crate::error::RedisError;
use crate::keys::Keys;
use crate::scripts::Scripts;

/// Reconnect for ever, backing off from 50 ms to 2 s between attempts.
const RECONNECT_MIN_DELAY_MS: u32 = 50;
const RECONNECT_MAX_DELAY_MS: u32 = 2_000;

/// Room hosting and the node registry on one Redis client.
///
/// Cheap to clone: clones share the client. It implements
/// [`RoomHosting`](room_ports::RoomHosting) and
/// [`NodeRegistry`](room_ports::NodeRegistry). Every operation is bounded by
/// [`RedisConfig::command_timeout`]; while Redis is away operations fail with
/// their port's `Unavailable` error and the client reconnects in the background.
#[derive(Clone)]
pub struct RedisBackend {
    inner: Arc<Inner>,
}

struct Inner {
    client: fred::clients::Client,
    keys: Keys,
    scripts: Scripts,
    lease_ttl_ms: u64,
    node_ttl_ms: u64,
    snapshot_ttl_ms: u64,
    tasks: Vec<JoinHandle<Result<(), fred::error::Error>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("prefix", &self.inner.keys.prefix())
            .field("client", &self.inner.client.id())
            .finish()
    }
}

impl RedisBackend {
    /// Connect, load the scripts, and return; fails with
    /// [`RedisError::Unavailable`] within about twice the command timeout if
    /// Redis cannot be reached now. Later disconnections are repaired on their own.
    pub async fn connect(config: RedisConfig) -> Result<Self, RedisError> {
        let client = build_client(&config, true)?;
        let connection = client
            .init()
            .await
            .map_err(|error| RedisError::Unavailable(error.to_string()))?;
        let backend = Self::assemble(config, client, connection);
        for script in backend.inner.scripts.all() {
            script
                .load(&backend.inner.client)
                .await
                .map_err(|error| RedisError::Unavailable(error.to_string()))?;
        }
        tracing::info!(url = %redacted(&backend), "connected to redis");
        Ok(backend)
    }

    /// Return at once and connect in the background, retrying until Redis
    /// answers; until then every operation fails with `Unavailable`. For a node
    /// that must start while Redis is down. Call it inside a tokio runtime.
    pub fn connect_lazy(config: RedisConfig) -> Result<Self, RedisError> {
        let client = build_client(&config, false)?;
        let connection = client.connect();
        Ok(Self::assemble(config, client, connection))
    }

    fn assemble(
        config: RedisConfig,
        client: fred::clients::Client,
        connection: JoinHandle<Result<(), fred::error::Error>>,
    ) -> Self {
        let name = client.id().to_owned();
        let on_reconnect = client.on_reconnect(move |server| {
            tracing::info!(%server, "redis connection (re)established");
            async { Ok(()) }
        });
        let on_error = client.on_error(move |(error, server)| {
            tracing::warn!(%error, ?server, "redis connection error");
            async { Ok(()) }
        });
        tracing::debug!(client = %name, prefix = %config.prefix, "redis client created");
        RedisBackend {
            inner: Arc::new(Inner {
                client,
                keys: Keys::new(config.prefix),
                scripts: Scripts::new(),
                lease_ttl_ms: millis(config.lease_ttl),
                node_ttl_ms: millis(config.node_ttl),
                snapshot_ttl_ms: millis(config.snapshot_ttl),
                tasks: vec![connection, on_reconnect, on_error],
            }),
        }
    }

    /// The key names under this backend's prefix.
    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// The name this client gives its connection (`CLIENT SETNAME`), as seen in `CLIENT LIST`.
    pub fn client_name(&self) -> &str {
        self.inner.client.id()
    }

    /// Whether the connection is up right now (for a readiness endpoint).
    pub fn is_connected(&self) -> bool {
        self.inner.client.is_connected()
    }

    /// Round trip to Redis, bounded by the command timeout.
    pub async fn ping(&self) -> Result<(), RedisError> {
        self.inner
            .client
            .ping::<()>(None)
            .await
            .map_err(|error| RedisError::Unavailable(error.to_string()))
    }

    /// Close the connection after pending commands; clones stop working too.
    pub async fn close(&self) {
        if let Err(error) = self.inner.client.quit().await {
            tracing::debug!(%error, "redis quit failed");
        }
    }

    pub(crate) fn client(&self) -> &fred::clients::Client {
        &self.inner.client
    }

    pub(crate) fn scripts(&self) -> &Scripts {
        &self.inner.scripts
    }

    pub(crate) fn lease_ttl_ms(&self) -> u64 {
        self.inner.lease_ttl_ms
    }

    pub(crate) fn node_ttl_ms(&self) -> u64 {
        self.inner.node_ttl_ms
    }

    pub(crate) fn snapshot_ttl_ms(&self) -> u64 {
        self.inner.snapshot_ttl_ms
    }

    /// Run `script` (by SHA, loading it again if Redis lost it).
    pub(crate) async fn eval<R: FromValue>(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<R, fred::error::Error> {
        script.evalsha_with_reload(&self.inner.client, keys, args).await
    }
}

/// The server address, without credentials, for logs.
fn redacted(backend: &RedisBackend) -> String {
    let config = backend.inner.client.client_config();
    format!("{:?}", config.server)
}

fn build_client(config: &RedisConfig, fail_fast: bool) -> Result<fred::clients::Client, RedisError> {
    config.validate()?;
    let mut fred_config =
        Config::from_url(&config.url).map_err(|error| RedisError::Config(error.to_string()))?;
    fred_config.fail_fast = fail_fast;
    let timeout = config.command_timeout;
    let mut builder = Builder::from_config(fred_config);
    builder
        .with_performance_config(|performance| performance.default_command_timeout = timeout)
        .with_connection_config(|connection| {
            connection.connection_timeout = timeout;
            connection.internal_command_timeout = timeout;
            connection.auto_client_setname = true;
            connection.unresponsive = UnresponsiveConfig {
                max_timeout: Some(timeout * 3),
                interval: timeout,
            };
        })
        .set_policy(ReconnectPolicy::new_exponential(
            0,
            RECONNECT_MIN_DELAY_MS,
            RECONNECT_MAX_DELAY_MS,
            2,
        ));
    builder
        .build()
        .map_err(|error| RedisError::Config(error.to_string()))
}
