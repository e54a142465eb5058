//! Faults: Redis unreachable (typed errors, no hang) and a connection killed
//! under the client (it reconnects on its own).

mod common;

use std::future::Future;
use std::time::Duration;

use adapter_redis::{RedisBackend, RedisConfig, RedisError};
use common::proxy::Proxy;
use common::{cleanup, config, connect, eventually, node, node_info, raw_client, unique_prefix};
use fred::prelude::ClientLike;
use fred::types::{ClusterHash, CustomCommand};
use room_core::RoomId;
use room_ports::{Acquired, HostingError, Lease, NodeRegistry, RegistryError, RoomHosting};

/// Nothing listens here.
const CLOSED: &str = "redis://127.0.0.1:1";

/// A guard against hanging, not a speed assertion.
async fn within_guard<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .unwrap_or_else(|_| panic!("{what} hung instead of failing"))
}

fn unreachable_config() -> RedisConfig {
    RedisConfig {
        command_timeout: Duration::from_millis(200),
        ..RedisConfig::new(CLOSED, unique_prefix("closed"))
    }
}

#[tokio::test]
async fn connecting_to_a_closed_port_fails_with_unavailable() {
    let result = within_guard("connect", RedisBackend::connect(unreachable_config())).await;
    assert!(matches!(result, Err(RedisError::Unavailable(_))), "{result:?}");
}

#[tokio::test]
async fn bad_settings_fail_with_config() {
    let bad_url = RedisBackend::connect(RedisConfig::new("not a url", "p:")).await;
    assert!(matches!(bad_url, Err(RedisError::Config(_))), "{bad_url:?}");
    let zero = RedisConfig {
        lease_ttl: Duration::ZERO,
        ..RedisConfig::new(common::redis_url(), "p:")
    };
    assert!(matches!(
        RedisBackend::connect(zero).await,
        Err(RedisError::Config(_))
    ));
}

#[tokio::test]
async fn every_operation_fails_with_unavailable_while_redis_is_unreachable() {
    let backend = RedisBackend::connect_lazy(unreachable_config()).expect("settings are valid");
    let room = RoomId(1);
    let lease = Lease {
        room,
        node: node("n"),
        epoch: 1,
    };
    let acquire = within_guard("acquire", backend.acquire(room, &node("n"))).await;
    assert!(
        matches!(acquire, Err(HostingError::Unavailable(_))),
        "{acquire:?}"
    );
    let renew = within_guard("renew", backend.renew(&lease)).await;
    assert!(matches!(renew, Err(HostingError::Unavailable(_))), "{renew:?}");
    let load = within_guard("load", backend.load_snapshot(room)).await;
    assert!(matches!(load, Err(HostingError::Unavailable(_))), "{load:?}");
    let beat = within_guard("heartbeat", backend.heartbeat(&node_info("n", 0))).await;
    assert!(matches!(beat, Err(RegistryError::Unavailable(_))), "{beat:?}");
    let live = within_guard("live nodes", backend.live_nodes()).await;
    assert!(matches!(live, Err(RegistryError::Unavailable(_))), "{live:?}");
    assert!(!backend.is_connected());
    let ping = within_guard("ping", backend.ping()).await;
    assert!(matches!(ping, Err(RedisError::Unavailable(_))), "{ping:?}");
}

/// The server-side id of the connection named `name`, from `CLIENT LIST`.
async fn connection_id(raw: &fred::clients::Client, name: &str) -> Option<String> {
    let list: String = raw
        .custom(
            CustomCommand::new_static("CLIENT", ClusterHash::Random, false),
            vec!["LIST"],
        )
        .await
        .expect("CLIENT LIST");
    list.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        fields.contains(&format!("name={name}").as_str()).then(|| {
            fields
                .iter()
                .find_map(|field| field.strip_prefix("id="))
                .expect("CLIENT LIST lines carry an id")
                .to_owned()
        })
    })
}

#[tokio::test]
async fn the_client_survives_redis_closing_its_connection() {
    let prefix = unique_prefix("reconnect");
    let backend = connect(config(&prefix)).await;
    backend
        .heartbeat(&node_info("n", 0))
        .await
        .expect("heartbeat before the kill");
    let raw = raw_client().await;
    let before = connection_id(&raw, backend.client_name())
        .await
        .expect("the backend's connection is listed by name");
    let killed: u64 = raw
        .custom(
            CustomCommand::new_static("CLIENT", ClusterHash::Random, false),
            vec!["KILL", "ID", before.as_str()],
        )
        .await
        .expect("CLIENT KILL");
    assert_eq!(killed, 1, "exactly our connection was killed");

    let mut attempts = 0;
    loop {
        attempts += 1;
        match backend.heartbeat(&node_info("n", 1)).await {
            Ok(()) => break,
            Err(error) if attempts < 50 => {
                eprintln!("attempt {attempts} after the kill failed: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("still failing after {attempts} attempts: {error}"),
        }
    }
    assert_eq!(
        backend.live_nodes().await.expect("live nodes"),
        vec![node_info("n", 1)]
    );
    let after = connection_id(&raw, backend.client_name())
        .await
        .expect("the backend reconnected under the same name");
    assert_ne!(before, after, "a new connection replaced the killed one");
    let _ = raw.quit().await;
    cleanup(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_fail_while_redis_is_away_and_recover_when_it_returns() {
    let prefix = unique_prefix("outage");
    let mut proxy = Proxy::start().await;
    let settings = RedisConfig {
        command_timeout: Duration::from_millis(300),
        // Far longer than the outage: the lease must survive it.
        lease_ttl: Duration::from_secs(60),
        ..RedisConfig::new(proxy.url(), prefix.clone())
    };
    let backend = connect(settings).await;
    let room = RoomId(3);
    let lease = match backend.acquire(room, &node("host")).await.expect("acquire") {
        Acquired::Granted(lease) => lease,
        other => panic!("expected the lease, got {other:?}"),
    };

    proxy.stop().await;
    eventually("operations to fail while Redis is away", || async {
        match within_guard("renew while away", backend.renew(&lease)).await {
            Err(HostingError::Unavailable(_)) => true,
            Ok(()) => false,
            Err(other) => panic!("expected Unavailable, got {other:?}"),
        }
    })
    .await;
    let nodes = within_guard("live nodes while away", backend.live_nodes()).await;
    assert!(matches!(nodes, Err(RegistryError::Unavailable(_))), "{nodes:?}");

    proxy.restart().await;
    eventually("the client to reconnect", || async {
        within_guard("renew after return", backend.renew(&lease))
            .await
            .is_ok()
    })
    .await;
    assert_eq!(
        backend.holder(room).await.expect("holder"),
        Some((node("host"), lease.epoch))
    );
    backend.close().await;
    proxy.stop().await;
    cleanup(&prefix).await;
}
