//! Shared by the integration tests: the real Redis, a unique prefix per test,
//! cleanup, and polling with a generous deadline.
#![allow(dead_code)]

pub mod proxy;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adapter_redis::{RedisBackend, RedisConfig};
use fred::prelude::{Builder, ClientLike, Config, LuaInterface};
use room_core::SessionId;
use room_ports::{NodeId, NodeInfo, NodeRegistry, SessionAt};

/// How long any wait for an expiry may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A short TTL for tests that wait for something to expire.
pub const SHORT_TTL: Duration = Duration::from_millis(300);

pub fn redis_url() -> String {
    std::env::var("MYROOM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A prefix no other test (in this or another process) uses.
pub fn unique_prefix(test: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("myroom-test:{test}:{}-{nanos}-{n}:", std::process::id())
}

/// Test settings under `prefix`: a lease of 5 s and nodes of 10 s unless changed.
pub fn config(prefix: &str) -> RedisConfig {
    RedisConfig {
        command_timeout: Duration::from_secs(2),
        ..RedisConfig::new(redis_url(), prefix)
    }
}

/// Connect, or fail the test saying that the real Redis is required.
pub async fn connect(config: RedisConfig) -> RedisBackend {
    let url = config.url.clone();
    match RedisBackend::connect(config).await {
        Ok(backend) => backend,
        Err(error) => panic!(
            "these tests need a real Redis at {url} (set MYROOM_TEST_REDIS_URL); connecting failed: {error}"
        ),
    }
}

/// A plain fred client on the test Redis, for inspecting and killing connections.
pub async fn raw_client() -> fred::clients::Client {
    let url = redis_url();
    let config = Config::from_url(&url).expect("the test Redis URL parses");
    let client = Builder::from_config(config)
        .build()
        .expect("a fred client builds");
    if let Err(error) = client.init().await {
        panic!("these tests need a real Redis at {url} (set MYROOM_TEST_REDIS_URL): {error}");
    }
    client
}

/// Delete every key under `prefix`.
pub async fn cleanup(prefix: &str) {
    let client = raw_client().await;
    let script = "local keys = redis.call('KEYS', ARGV[1]) \
                  for _, key in ipairs(keys) do redis.call('DEL', key) end \
                  return #keys";
    let pattern = format!("{prefix}*");
    let _: u64 = client
        .eval(script, Vec::<String>::new(), vec![pattern])
        .await
        .expect("cleanup script runs");
    let _ = client.quit().await;
}

/// Poll `check` every 20 ms until it holds; fail after [`DEADLINE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    while !check().await {
        assert!(start.elapsed() < DEADLINE, "gave up waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn node(name: &str) -> NodeId {
    NodeId(name.to_owned())
}

pub fn session(node_name: &str, session: u64) -> SessionAt {
    SessionAt {
        node: node(node_name),
        session: SessionId(session),
    }
}

pub fn node_info(name: &str, connections: u64) -> NodeInfo {
    NodeInfo {
        instance: 0,
        id: node(name),
        url: format!("ws://{name}.test/ws"),
        connections,
        rooms: Vec::new(),
    }
}

/// Register `name` as a live node.
pub async fn heartbeat(backend: &RedisBackend, name: &str) {
    backend.heartbeat(&node_info(name, 0)).await.expect("heartbeat");
}
