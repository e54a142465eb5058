//! Helpers shared by the tests against the real RabbitMQ.
#![allow(dead_code)]

pub mod probe;

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use adapter_rabbit::{RabbitBus, RabbitConfig};
use bytes::Bytes;
use lapin::options::ExchangeDeleteOptions;
use lapin::{Connection, ConnectionProperties};
use room_ports::{BusInbound, BusInbox, NodeId};

/// The broker under test (`MYROOM_TEST_AMQP_URL` overrides the local default).
pub fn amqp_url() -> String {
    std::env::var("MYROOM_TEST_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A prefix no other test (or test run) uses.
pub fn unique_prefix(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("myroom-test-{test}-{}-{nanos}", std::process::id())
}

/// Test settings: short timeouts, quick reconnection.
pub fn config(prefix: &str, node: &str) -> RabbitConfig {
    let mut config = RabbitConfig::new(amqp_url(), prefix, NodeId(node.into()));
    config.reconnect_min = Duration::from_millis(100);
    config.reconnect_max = Duration::from_secs(1);
    config.op_timeout = Duration::from_secs(5);
    config
}

/// Connect with `config`; an unreachable broker is a test failure, never a skip.
pub async fn connect(config: RabbitConfig) -> RabbitBus {
    init_logs();
    let url = config.url.clone();
    match RabbitBus::connect(config).await {
        Ok(bus) => bus,
        Err(error) => panic!(
            "RabbitMQ is required for these tests and could not be used at {url} \
             (set MYROOM_TEST_AMQP_URL to point elsewhere): {error}"
        ),
    }
}

/// A test payload: `n` as text (a room's sequence number, say).
pub fn payload(n: u64) -> Bytes {
    Bytes::from(n.to_string())
}

/// `item` as one short string to compare: `room:payload`, `node:payload`
/// (payloads as lossy UTF-8), or `gap[rooms]`.
pub fn show(item: &BusInbound) -> String {
    match item {
        BusInbound::Event { room, payload } => format!("{room}:{}", String::from_utf8_lossy(payload)),
        BusInbound::Node { payload } => format!("node:{}", String::from_utf8_lossy(payload)),
        BusInbound::Gap { rooms } => {
            let rooms: Vec<String> = rooms.iter().map(ToString::to_string).collect();
            format!("gap[{}]", rooms.join(","))
        }
    }
}

/// The next inbound item, or a failure after `within`.
pub async fn next(rx: &mut BusInbox, within: Duration) -> BusInbound {
    match tokio::time::timeout(within, rx.recv()).await {
        Ok(Some(item)) => item,
        Ok(None) => panic!("inbound channel closed"),
        Err(_) => panic!("nothing received within {within:?}"),
    }
}

/// The next `count` inbound items, shown (see [`show`]); a failure if any of
/// them takes longer than `within`.
pub async fn take(rx: &mut BusInbox, count: usize, within: Duration) -> Vec<String> {
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        items.push(show(&next(rx, within).await));
    }
    items
}

/// Everything that arrives until `quiet` passes without anything arriving.
/// Only for checking that nothing (more) arrives: a slow machine can make it
/// end early, never make it see what was not sent.
pub async fn drain(rx: &mut BusInbox, quiet: Duration) -> Vec<BusInbound> {
    let mut items = Vec::new();
    while let Ok(Some(item)) = tokio::time::timeout(quiet, rx.recv()).await {
        items.push(item);
    }
    items
}

/// Delete the test's exchanges (the queues are exclusive and go with their connections).
pub async fn cleanup(prefix: &str) {
    let Ok(connection) = Connection::connect(&amqp_url(), ConnectionProperties::default()).await else {
        return;
    };
    if let Ok(channel) = connection.create_channel().await {
        for name in [format!("{prefix}.rooms"), format!("{prefix}.nodes")] {
            let _ = channel
                .exchange_delete(name.into(), ExchangeDeleteOptions::default())
                .await;
        }
    }
    let _ = connection.close(200, "done".into()).await;
}

/// Run `rabbitmqctl` with `args`, failing the test if it cannot. Where the
/// broker runs in a container, set `MYROOM_TEST_RABBITMQCTL`, e.g.
/// `docker exec rabbitmq rabbitmqctl`.
pub fn rabbitmqctl(args: &[&str]) -> String {
    let command = std::env::var("MYROOM_TEST_RABBITMQCTL").unwrap_or_else(|_| "rabbitmqctl".into());
    let mut words = command.split_whitespace();
    let program = words.next().expect("MYROOM_TEST_RABBITMQCTL names a command");
    let output = Command::new(program)
        .args(words)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("`{command}` is required for this test: {error}"));
    assert!(
        output.status.success(),
        "{command} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The broker's pid of the connection named `name`, once it is listed.
pub fn connection_pid(name: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let listing = rabbitmqctl(&[
            "-q",
            "--no-table-headers",
            "list_connections",
            "pid",
            "client_properties",
        ]);
        let quoted = format!("\"{name}\"");
        let found = listing.lines().find(|line| line.contains(&quoted));
        if let Some(line) = found {
            let pid = line
                .split_whitespace()
                .next()
                .expect("a listed connection starts with its pid");
            return pid.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "connection {name} not listed by rabbitmqctl:\n{listing}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Messages of queue `name` as the broker counts them now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCounts {
    /// Waiting in the queue (what `x-max-length` limits).
    pub ready: u64,
    /// Delivered to the consumer, not yet acknowledged (what the prefetch limits).
    pub unacked: u64,
}

/// The ready and unacknowledged messages of queue `name`.
pub fn queue_counts(name: &str) -> QueueCounts {
    let listing = rabbitmqctl(&[
        "-q",
        "--no-table-headers",
        "list_queues",
        "name",
        "messages_ready",
        "messages_unacknowledged",
    ]);
    listing
        .lines()
        .find_map(|line| {
            let mut fields = line.split_whitespace();
            if fields.next() != Some(name) {
                return None;
            }
            let ready = fields.next()?.parse().ok()?;
            let unacked = fields.next()?.parse().ok()?;
            Some(QueueCounts { ready, unacked })
        })
        .unwrap_or_else(|| panic!("queue {name} not listed by rabbitmqctl:\n{listing}"))
}

/// Show the adapter's logs when `RUST_LOG` asks for them.
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::from_default_env();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
