//! A cluster of real server processes (the `server` example) sharing MySQL,
//! Redis and RabbitMQ, for the three-process end-to-end tests.
//!
//! Each [`Cluster`] is isolated: its own MariaDB database, its own key prefix
//! (Redis keys and RabbitMQ exchange names), its own ports and its own temporary
//! directory (fixtures, per-node data directories and logs). Dropping it kills
//! every process still running, drops the database and deletes the prefix's
//! Redis keys; when the test is panicking it prints the node logs and keeps the
//! directory.
//!
//! The shared services are found through `MYROOM_TEST_MYSQL_URL`
//! (default `mysql://root@127.0.0.1:3306`), `MYROOM_TEST_REDIS_URL`
//! (`redis://127.0.0.1:6379`) and `MYROOM_TEST_AMQP_URL`
//! (`amqp://guest:guest@127.0.0.1:5672/%2f`). `MYROOM_TEST_SERVER_BIN` names the
//! server binary to run; without it the `server` example is built (once per test
//! process) next to the test executable. `MYROOM_TEST_KEEP=1` keeps every
//! cluster's directory (node logs) even when the test passes;
//! `MYROOM_TEST_NODE_LOG` sets the nodes' `RUST_LOG` (default `info`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use sqlx::{Connection, Executor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::proxy::Proxy;
use super::{Client, FIXTURES, SECRET, token, unique_dir};

/// Room host lease lifetime the tests run with.
pub const LEASE_MS: u64 = 1500;
/// Node heartbeat lifetime the tests run with.
pub const NODE_TTL_MS: u64 = 2500;
/// Guard against hangs only: how long a node may take to become ready.
pub const READY_PATIENCE: Duration = Duration::from_secs(90);

pub fn mysql_base_url() -> String {
    std::env::var("MYROOM_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

pub fn redis_base_url() -> String {
    std::env::var("MYROOM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

pub fn amqp_base_url() -> String {
    std::env::var("MYROOM_TEST_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// `scheme://userinfo@` , `host:port`, `/rest` of a service URL.
fn split_url(url: &str) -> (String, String, String) {
    let (scheme, after) = url.split_once("://").expect("a service URL has a scheme");
    let (authority, rest) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, ""),
    };
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (&authority[..=i], &authority[i + 1..]),
        None => ("", authority),
    };
    (format!("{scheme}://{userinfo}"), host.to_owned(), rest.to_owned())
}

/// The same URL pointing at `host_port` instead.
fn with_host(url: &str, host_port: &str) -> String {
    let (prefix, _, rest) = split_url(url);
    format!("{prefix}{host_port}{rest}")
}

/// The socket address a service URL names (`default_port` if it names none).
fn service_addr(url: &str, default_port: u16) -> SocketAddr {
    let (_, host, _) = split_url(url);
    let host = if host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host
    } else {
        format!("{host}:{default_port}")
    };
    host.to_socket_addrs()
        .unwrap_or_else(|e| panic!("cannot resolve {host}: {e}"))
        .next()
        .unwrap_or_else(|| panic!("{host} resolves to nothing"))
}

/// A fresh MariaDB database, dropped when the guard goes.
pub struct Database {
    pub name: String,
}

impl Database {
    pub async fn create() -> Database {
        let name = format!(
            "myroom_cl_{}",
            unique_dir("db").file_name().unwrap().to_string_lossy()
        )
        .replace('-', "_");
        let name: String = name.chars().take(60).collect();
        let mut conn = sqlx::MySqlConnection::connect(&format!("{}/test", mysql_base_url()))
            .await
            .expect("MariaDB at MYROOM_TEST_MYSQL_URL (default 127.0.0.1:3306) must be running");
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
            .await
            .unwrap();
        Database { name }
    }

    /// The database's URL through `host_port` (the server itself or a proxy).
    pub fn url_via(&self, host_port: &str) -> String {
        let (prefix, _, _) = split_url(&mysql_base_url());
        format!("{prefix}{host_port}/{}", self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (name, url) = (self.name.clone(), format!("{}/test", mysql_base_url()));
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut conn) = sqlx::MySqlConnection::connect(&url).await {
                    let _ = conn
                        .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
                        .await;
                }
            });
        })
        .join()
        .ok();
    }
}

/// The server binary: `MYROOM_TEST_SERVER_BIN`, or the `server` example built
/// now (once per process, so it is never older than the library under test)
/// into the target directory this test executable lives in.
pub fn server_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("MYROOM_TEST_SERVER_BIN") {
            return PathBuf::from(bin);
        }
        let exe = std::env::current_exe().expect("the test executable's path");
        // target/<profile>/deps/e2e_cluster-<hash>: the profile directory holds `deps`.
        let profile_dir = exe
            .ancestors()
            .find(|dir| dir.join("deps").is_dir() && dir.parent().is_some())
            .expect("the test executable lives under target/<profile>/deps")
            .to_path_buf();
        let target_dir = profile_dir.parent().unwrap().to_path_buf();
        let bin = profile_dir.join("examples").join("server");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut build = Command::new(cargo);
        build
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--example", "server", "--target-dir"])
            .arg(&target_dir);
        match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => {}
            Some("release") => {
                build.arg("--release");
            }
            Some(other) => {
                build.args(["--profile", other]);
            }
            None => {}
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "cargo build --example server failed");
        assert!(bin.exists(), "{} was not built", bin.display());
        bin
    })
    .clone()
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A GET that reports failure instead of panicking.
pub async fn try_http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    try_http_get_from(None, addr, path).await
}

/// [`try_http_get`] from a chosen local address (`None`: the system's choice).
pub async fn try_http_get_from(
    source: Option<std::net::IpAddr>,
    addr: SocketAddr,
    path: &str,
) -> Option<(u16, String)> {
    let exchange = async {
        let mut stream = match source {
            None => tokio::net::TcpStream::connect(addr).await.ok()?,
            Some(ip) => {
                let socket = tokio::net::TcpSocket::new_v4().ok()?;
                socket.bind(SocketAddr::new(ip, 0)).ok()?;
                socket.connect(addr).await.ok()?
            }
        };
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        let response = String::from_utf8_lossy(&response).into_owned();
        let status = response.split(' ').nth(1)?.parse().ok()?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Some((status, body))
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ok()
        .flatten()
}

/// What `GET /rooms/{id}/route` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub url: String,
    pub node: String,
    pub hosted: bool,
}

/// One server process.
pub struct Node {
    /// Its `--node-id`.
    pub id: String,
    /// Where it listens (HTTP and WebSocket).
    pub addr: SocketAddr,
    /// Its stdout and stderr.
    pub log: PathBuf,
    child: Option<Child>,
    /// How it ended, once it has.
    pub exit: Option<ExitStatus>,
    data: PathBuf,
}

impl Node {
    /// The URL it advertises (the default `ws://{listen}{ws_path}`).
    pub fn ws_base(&self) -> String {
        format!("ws://{}/library", self.addr)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// The three services, each behind a proxy the test can stop and start.
pub struct Proxies {
    pub redis: Proxy,
    pub amqp: Proxy,
    pub mysql: Proxy,
}

/// Which backing service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Redis,
    Amqp,
    Mysql,
}

#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub nodes: usize,
    /// Run every node's connections to the services through stoppable proxies.
    pub proxied: bool,
    pub lease_ms: u64,
    pub node_ttl_ms: u64,
    /// More flags for every node.
    pub extra_args: Vec<String>,
    /// A Redis of the test's own (a [`PrivateRedis`](super::redis::PrivateRedis))
    /// instead of the shared one; not with `proxied`.
    pub redis_url: Option<String>,
}

impl ClusterOptions {
    pub fn new(nodes: usize) -> ClusterOptions {
        ClusterOptions {
            nodes,
            proxied: false,
            lease_ms: LEASE_MS,
            node_ttl_ms: NODE_TTL_MS,
            extra_args: Vec::new(),
            redis_url: None,
        }
    }
}

/// N server processes sharing one database, one key prefix and the services.
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub dir: PathBuf,
    pub prefix: String,
    pub proxies: Option<Proxies>,
    pub options: ClusterOptions,
    bin: PathBuf,
    fixtures: PathBuf,
    redis_url: String,
    amqp_url: String,
    mysql_url: String,
    db: Option<Database>,
}

impl Cluster {
    /// `nodes` processes with ids `n1`, `n2`, ..., all ready.
    pub async fn start(nodes: usize) -> Cluster {
        Self::start_with(ClusterOptions::new(nodes)).await
    }

    /// As [`Cluster::start`], with every service behind a proxy.
    pub async fn start_proxied(nodes: usize) -> Cluster {
        Self::start_with(ClusterOptions {
            proxied: true,
            ..ClusterOptions::new(nodes)
        })
        .await
    }

    pub async fn start_with(options: ClusterOptions) -> Cluster {
        let bin = tokio::task::spawn_blocking(server_binary).await.unwrap();
        let dir = unique_dir("cluster");
        let fixtures = dir.join("fixtures.json");
        std::fs::write(&fixtures, FIXTURES).unwrap();
        let db = Database::create().await;
        // Letters, digits and '-' only; the trailing 'x' keeps one prefix from
        // being the start of another (the Redis cleanup deletes `{prefix}*`).
        let prefix = dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace("myroom-e2e-", "e2e")
            .replace('_', "-")
            + "x";

        assert!(
            !(options.proxied && options.redis_url.is_some()),
            "a private Redis is not proxied"
        );
        let redis_base = options.redis_url.clone().unwrap_or_else(redis_base_url);
        let amqp_base = amqp_base_url();
        let mysql_direct = service_addr(&mysql_base_url(), 3306);
        let (redis_url, amqp_url, mysql_url, proxies) = if options.proxied {
            let proxies = Proxies {
                redis: Proxy::new(service_addr(&redis_base, 6379)).await,
                amqp: Proxy::new(service_addr(&amqp_base, 5672)).await,
                mysql: Proxy::new(mysql_direct).await,
            };
            proxies.redis.start().await;
            proxies.amqp.start().await;
            proxies.mysql.start().await;
            (
                with_host(&redis_base, &proxies.redis.addr.to_string()),
                with_host(&amqp_base, &proxies.amqp.addr.to_string()),
                db.url_via(&proxies.mysql.addr.to_string()),
                Some(proxies),
            )
        } else {
            (redis_base, amqp_base, db.url_via(&mysql_direct.to_string()), None)
        };

        let mut cluster = Cluster {
            nodes: Vec::new(),
            dir,
            prefix,
            proxies,
            options,
            bin,
            fixtures,
            redis_url,
            amqp_url,
            mysql_url,
            db: Some(db),
        };
        for i in 0..cluster.options.nodes {
            let node = cluster.spawn_node(&format!("n{}", i + 1));
            cluster.nodes.push(node);
        }
        for i in 0..cluster.nodes.len() {
            cluster.wait_started(i).await;
        }
        cluster
    }

    fn spawn_node(&self, id: &str) -> Node {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        self.spawn_node_at(id, addr)
    }

    fn spawn_node_at(&self, id: &str, addr: SocketAddr) -> Node {
        let log = self.dir.join(format!("{id}.log"));
        let data = self.dir.join(format!("data-{id}"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let err = out.try_clone().unwrap();
        let mut command = Command::new(&self.bin);
        command
            .arg("--listen")
            .arg(addr.to_string())
            .args(["--jwt-secret", SECRET])
            .arg("--fixtures")
            .arg(&self.fixtures)
            .arg("--data")
            .arg(&data)
            .args(["--mysql", self.mysql_url.as_str()])
            .args(["--redis", self.redis_url.as_str()])
            .args(["--amqp", self.amqp_url.as_str()])
            .args(["--node-id", id])
            .args(["--key-prefix", self.prefix.as_str()])
            .arg("--lease-ms")
            .arg(self.options.lease_ms.to_string())
            .arg("--node-ttl-ms")
            .arg(self.options.node_ttl_ms.to_string())
            .args(&self.options.extra_args)
            .env(
                "RUST_LOG",
                std::env::var("MYROOM_TEST_NODE_LOG").unwrap_or_else(|_| "info".to_owned()),
            )
            .env("NO_COLOR", "1")
            .env_remove("MYROOM_ADVERTISE")
            .env_remove("MYROOM_WS_PATH")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        Node {
            id: id.to_owned(),
            addr,
            log,
            child: Some(child),
            exit: None,
            data,
        }
    }

    /// Wait until node `i` answers `/readyz` 200; start it again on another
    /// port if it lost the race for its port.
    async fn wait_started(&mut self, i: usize) {
        self.wait_started_where(i, true).await
    }

    /// [`Cluster::wait_started`]; with `may_move` false, losing the port is a
    /// failure (a gateway in front knows the node by its address).
    async fn wait_started_where(&mut self, i: usize, may_move: bool) {
        for _attempt in 0..5 {
            let deadline = tokio::time::Instant::now() + READY_PATIENCE;
            loop {
                if let Some(status) = self.nodes[i].child.as_mut().unwrap().try_wait().unwrap() {
                    let log = std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default();
                    if log.contains("cannot listen") {
                        assert!(
                            may_move,
                            "node {} could not listen on its port again",
                            self.nodes[i].id
                        );
                        eprintln!("node {} lost its port; starting it again", self.nodes[i].id);
                        let _ = std::fs::remove_dir_all(&self.nodes[i].data);
                        let id = self.nodes[i].id.clone();
                        self.nodes[i] = self.spawn_node(&id);
                        break;
                    }
                    self.nodes[i].child = None;
                    self.nodes[i].exit = Some(status);
                    panic!(
                        "node {} exited with {status} before it was ready",
                        self.nodes[i].id
                    );
                }
                if let Some((200, _)) = try_http_get(self.nodes[i].addr, "/readyz").await {
                    return;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "node {} not ready within {READY_PATIENCE:?}",
                    self.nodes[i].id
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        panic!("node {} could not get a port", self.nodes[i].id);
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// The index of the node with this `--node-id`.
    pub fn index_of(&self, id: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node has id {id:?}"))
    }

    /// Indices of the nodes still running.
    pub fn running(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_running())
            .collect()
    }

    /// A socket of `user` on node `i`, upgraded (not yet in a room).
    pub async fn connect(&self, i: usize, user: u64) -> Client {
        let url = format!("{}?token={}", self.nodes[i].ws_base(), token(user));
        Client::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("upgrade of user {user} on node {} refused: {e}", self.nodes[i].id))
    }

    /// `GET path` on node `i`, or `None` if it does not answer.
    pub async fn get(&self, i: usize, path: &str) -> Option<(u16, String)> {
        try_http_get(self.nodes[i].addr, path).await
    }

    /// `GET /rooms/{room}/route` on node `i` (`None` if it does not answer 200).
    pub async fn route(&self, i: usize, room: u64) -> Option<Route> {
        let (status, body) = self.get(i, &format!("/rooms/{room}/route")).await?;
        if status != 200 {
            return None;
        }
        let json: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("route of room {room} on node {i} is not JSON ({e}): {body}"));
        Some(Route {
            url: json["url"]
                .as_str()
                .unwrap_or_else(|| panic!("route without url: {body}"))
                .to_owned(),
            node: json["node"]
                .as_str()
                .unwrap_or_else(|| panic!("route without node: {body}"))
                .to_owned(),
            hosted: json["hosted"]
                .as_bool()
                .unwrap_or_else(|| panic!("route without hosted: {body}")),
        })
    }

    /// Poll node `asker`'s route of `room` until `accept` holds; the last route seen on failure.
    pub async fn wait_route(
        &self,
        asker: usize,
        room: u64,
        patience: Duration,
        accept: impl Fn(&Route) -> bool,
    ) -> Result<Route, Option<Route>> {
        let deadline = tokio::time::Instant::now() + patience;
        let mut last = None;
        loop {
            if let Some(route) = self.route(asker, room).await {
                if accept(&route) {
                    return Ok(route);
                }
                last = Some(route);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(last);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The index of the node hosting `room`, as node `asker` sees it (waits until it is hosted).
    pub async fn host_of(&self, asker: usize, room: u64) -> usize {
        match self
            .wait_route(asker, room, Duration::from_secs(20), |r| r.hosted)
            .await
        {
            Ok(route) => self.index_of(&route.node),
            Err(last) => panic!("room {room} never hosted according to node {asker}: last route {last:?}"),
        }
    }

    /// Whether node `i` answers `/readyz` with 200.
    pub async fn is_ready(&self, i: usize) -> bool {
        matches!(self.get(i, "/readyz").await, Some((200, _)))
    }

    /// Poll until every running node's readiness is `ready`; false if the patience ran out.
    pub async fn wait_all_ready(&self, ready: bool, patience: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let mut all = true;
            for i in self.running() {
                if self.is_ready(i).await != ready {
                    all = false;
                }
            }
            if all {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL node `i` and reap it.
    pub fn kill(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let mut child = node.child.take().expect("node is running");
        child.kill().expect("SIGKILL delivered");
        node.exit = Some(child.wait().expect("killed node reaped"));
    }

    /// Start node `i` again under its id and data dir (on a new port), and wait until it is ready.
    pub async fn restart(&mut self, i: usize) {
        assert!(
            !self.nodes[i].is_running(),
            "node {} is still running",
            self.nodes[i].id
        );
        let id = self.nodes[i].id.clone();
        self.nodes[i] = self.spawn_node(&id);
        self.wait_started(i).await;
    }

    /// Start node `i` again under its id and data dir on the same address
    /// (where a gateway in front expects it), and wait until it is ready.
    pub async fn restart_in_place(&mut self, i: usize) {
        assert!(
            !self.nodes[i].is_running(),
            "node {} is still running",
            self.nodes[i].id
        );
        let (id, addr) = (self.nodes[i].id.clone(), self.nodes[i].addr);
        self.nodes[i] = self.spawn_node_at(&id, addr);
        self.wait_started_where(i, false).await;
    }

    /// The stored map version of `owner`'s room (`None`: never built).
    pub async fn map_version(&self, owner: u64) -> Option<u64> {
        let db = self.db.as_ref()?;
        let url = format!("{}/{}", mysql_base_url(), db.name);
        let mut conn = sqlx::MySqlConnection::connect(&url)
            .await
            .expect("the cluster's database");
        sqlx::query_scalar::<_, u64>("SELECT version FROM room_maps WHERE owner_id = ?")
            .bind(owner)
            .fetch_optional(&mut conn)
            .await
            .expect("room_maps readable")
    }

    /// Send SIGTERM to node `i` without waiting for it.
    pub fn signal_terminate(&self, i: usize) {
        let pid = self.nodes[i].pid().expect("node is running");
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {pid} failed");
    }

    /// Wait (within `patience`) for node `i` to exit, and reap it.
    pub async fn wait_exit(&mut self, i: usize, patience: Duration) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let node = &mut self.nodes[i];
            let child = node.child.as_mut().expect("node is running");
            if let Some(status) = child.try_wait().unwrap() {
                node.child = None;
                node.exit = Some(status);
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node {} did not exit within {patience:?}",
                node.id
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The proxy in front of `service` (the cluster must be proxied).
    pub fn proxy(&self, service: Service) -> &Proxy {
        let proxies = self.proxies.as_ref().expect("cluster started with proxies");
        match service {
            Service::Redis => &proxies.redis,
            Service::Amqp => &proxies.amqp,
            Service::Mysql => &proxies.mysql,
        }
    }

    /// Every node's log, the last `lines` lines of each.
    pub fn logs(&self, lines: usize) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            let text = std::fs::read_to_string(&node.log).unwrap_or_else(|e| format!("(no log: {e})\n"));
            let all: Vec<&str> = text.lines().collect();
            let from = all.len().saturating_sub(lines);
            out.push_str(&format!(
                "===== node {} ({}, {}) log {}: last {} of {} lines =====\n",
                node.id,
                node.addr,
                match (&node.child, &node.exit) {
                    (Some(child), _) => format!("running, pid {}", child.id()),
                    (None, Some(status)) => format!("ended: {status}"),
                    (None, None) => "not started".to_owned(),
                },
                node.log.display(),
                all.len() - from,
                all.len()
            ));
            for line in &all[from..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// Panics any node logged so far: (node id, the line and the one after it).
    pub fn panics(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for node in &self.nodes {
            let text = std::fs::read_to_string(&node.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                if line.contains("panicked at") {
                    let next = lines.get(i + 1).copied().unwrap_or("");
                    out.push((node.id.clone(), format!("{line} / {next}")));
                }
            }
        }
        out
    }

    /// No node panicked (a panic in a task does not end the process, so look at the logs).
    pub fn assert_no_panics(&self) {
        let panics = self.panics();
        assert!(
            panics.is_empty(),
            "{} panic(s) in node logs, first: {:?}",
            panics.len(),
            panics.first()
        );
    }

    /// Delete this cluster's Redis keys (best effort).
    fn clean_redis(&self) {
        let url = self.options.redis_url.clone().unwrap_or_else(redis_base_url);
        let addr = service_addr(&url, 6379);
        let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
            return;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let script = "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do \
                      redis.call('DEL', k) n = n + 1 end return n";
        let pattern = format!("{}*", self.prefix);
        let mut request = String::from("*4\r\n$4\r\nEVAL\r\n");
        for part in [script, "0", pattern.as_str()] {
            request.push_str(&format!("${}\r\n{part}\r\n", part.len()));
        }
        if stream.write_all(request.as_bytes()).is_ok() {
            let mut reply = [0u8; 64];
            let _ = stream.read(&mut reply);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                node.exit = child.wait().ok();
            }
        }
        if let Some(proxies) = &self.proxies {
            proxies.redis.stop();
            proxies.amqp.stop();
            proxies.mysql.stop();
        }
        self.clean_redis();
        drop(self.db.take());
        if std::thread::panicking() {
            eprintln!(
                "\n----- cluster {} (key prefix {}) failed; files kept in {} -----\n{}",
                self.dir.display(),
                self.prefix,
                self.dir.display(),
                self.logs(400)
            );
        } else if std::env::var_os("MYROOM_TEST_KEEP").is_some() {
            eprintln!("cluster files (logs) kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
