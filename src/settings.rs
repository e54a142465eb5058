//! The server's flags, each with a `MYROOM_...` environment fallback.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// Settings of the example server.
#[derive(Debug, Clone, Parser)]
#[command(name = "server", about = "myroom: real-time rooms over WebSocket", version)]
pub struct ServerArgs {
    /// Address to listen on (HTTP and WebSocket share it).
    #[arg(long, env = "MYROOM_LISTEN", default_value = "127.0.0.1:8210")]
    pub listen: SocketAddr,

    /// Path of the WebSocket endpoint.
    #[arg(long, env = "MYROOM_WS_PATH", default_value = "/library")]
    pub ws_path: String,

    /// HS256 secret that access tokens are signed with. Without it a fixed
    /// development secret is used, and the server says so.
    #[arg(long, env = "MYROOM_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Users to create at start: `{"users":[{"idx":1,"nickname":"alice","games":[12,13]}]}`.
    /// Without it, a few demo users are created.
    #[arg(long, env = "MYROOM_FIXTURES")]
    pub fixtures: Option<PathBuf>,

    /// Where the embedded store keeps maps.
    #[arg(long, env = "MYROOM_DATA", default_value = "data")]
    pub data: PathBuf,

    /// Keep users, games and maps in MySQL/MariaDB at this URL
    /// (mysql://user:password@host:3306/database) instead of the embedded store.
    #[arg(long, env = "MYROOM_MYSQL_URL", hide_env_values = true)]
    pub mysql: Option<String>,

    /// Run as a cluster node: Redis for room leases, snapshots and the node
    /// registry (needs --amqp and --mysql too).
    #[arg(long, env = "MYROOM_REDIS_URL", hide_env_values = true)]
    pub redis: Option<String>,

    /// Run as a cluster node: RabbitMQ for events and commands between nodes
    /// (needs --redis and --mysql too).
    #[arg(long, env = "MYROOM_AMQP_URL", hide_env_values = true)]
    pub amqp: Option<String>,

    /// This node's id in the cluster (default: random).
    #[arg(long, env = "MYROOM_NODE_ID")]
    pub node_id: Option<String>,

    /// The WebSocket URL clients use to reach this node (default: ws://LISTEN/WS_PATH).
    #[arg(long, env = "MYROOM_ADVERTISE")]
    pub advertise: Option<String>,

    /// Namespace of this deployment's Redis keys and RabbitMQ exchanges, so
    /// two deployments can share the services.
    #[arg(long, env = "MYROOM_KEY_PREFIX", default_value = "myroom")]
    pub key_prefix: String,

    /// Milliseconds a room host's lease lives without renewal: how soon a
    /// surviving node takes over the rooms of a node that died.
    #[arg(long, env = "MYROOM_LEASE_MS", default_value_t = 5000)]
    pub lease_ms: u64,

    /// Milliseconds a node stays listed without a heartbeat: how soon the
    /// users of a dead node are removed from rooms hosted elsewhere.
    #[arg(long, env = "MYROOM_NODE_TTL_MS", default_value_t = 10_000)]
    pub node_ttl_ms: u64,

    /// Development login: the page lists the users and `POST /dev/token` signs a
    /// token for any of them. On by default on the embedded default, off when a
    /// backend is configured; `--dev-login` (or `--dev-login=true`) forces it on,
    /// `--dev-login=false` off. Never on a server others can reach.
    #[arg(long, env = "MYROOM_DEV_LOGIN", num_args = 0..=1, default_missing_value = "true")]
    pub dev_login: Option<bool>,

    /// Accept sockets without a token; they authenticate in ENTER (PROTOCOL.md §1, legacy mode).
    #[arg(long, env = "MYROOM_LEGACY_AUTH")]
    pub legacy_auth: bool,

    /// Largest client frame, in bytes.
    #[arg(long, env = "MYROOM_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub max_frame_bytes: usize,

    /// Largest client frame before ENTER in legacy mode, in bytes.
    #[arg(long, env = "MYROOM_LEGACY_MAX_FRAME_BYTES", default_value_t = 4 * 1024)]
    pub legacy_max_frame_bytes: usize,

    /// Seconds a legacy socket has to send a valid ENTER.
    #[arg(long, env = "MYROOM_LEGACY_ENTER_DEADLINE_MS", default_value_t = 5000)]
    pub legacy_enter_deadline_ms: u64,

    /// Messages per second per socket.
    #[arg(long, env = "MYROOM_RATE", default_value_t = 30)]
    pub rate: u32,

    /// Messages a socket may send in one burst.
    #[arg(long, env = "MYROOM_RATE_BURST", default_value_t = 60)]
    pub rate_burst: u32,

    /// Users per room.
    #[arg(long, env = "MYROOM_ROOM_CAPACITY", default_value_t = 50)]
    pub room_capacity: usize,

    /// Largest map side a BUILD may ask for (at most 64).
    #[arg(long, env = "MYROOM_MAX_SIDE", default_value_t = 64, value_parser = clap::value_parser!(u16).range(2..=64))]
    pub max_side: u16,

    /// Frames a socket's outgoing queue holds before moves are coalesced.
    #[arg(long, env = "MYROOM_OUTBOX_CAPACITY", default_value_t = 512)]
    pub outbox_capacity: usize,

    /// Milliseconds between flushes for sockets that asked for batch=1.
    #[arg(long, env = "MYROOM_TICK_MS", default_value_t = 25)]
    pub tick_ms: u64,

    /// Milliseconds between pings to a socket.
    #[arg(long, env = "MYROOM_PING_INTERVAL_MS", default_value_t = 15_000)]
    pub ping_interval_ms: u64,

    /// Milliseconds of silence after which a socket is dropped as dead.
    #[arg(long, env = "MYROOM_DEAD_PEER_MS", default_value_t = 45_000)]
    pub dead_peer_ms: u64,

    /// Milliseconds a socket may refuse our writes before it is dropped.
    #[arg(long, env = "MYROOM_WRITE_TIMEOUT_MS", default_value_t = 10_000)]
    pub write_timeout_ms: u64,

    /// Milliseconds a client has to send a request's headers (the WebSocket
    /// upgrade's too) after connecting or after the previous response.
    #[arg(long, env = "MYROOM_HEADER_TIMEOUT_MS", default_value_t = 5000)]
    pub header_timeout_ms: u64,

    /// Open connections (HTTP and WebSocket) at most; more are refused at
    /// accept. The cap in force is the smaller of this and what the
    /// file-descriptor limit leaves after --fd-reserve.
    #[arg(long, env = "MYROOM_MAX_CONNECTIONS", default_value_t = 100_000)]
    pub max_connections: usize,

    /// Open connections from one client IP at most (0: no per-IP cap).
    #[arg(long, env = "MYROOM_MAX_CONNECTIONS_PER_IP", default_value_t = 1000)]
    pub max_connections_per_ip: usize,

    /// File descriptors kept for the server's own files and backing-service
    /// connections: never handed to client connections.
    #[arg(long, env = "MYROOM_FD_RESERVE", default_value_t = 128)]
    pub fd_reserve: u64,

    /// Milliseconds shutdown may take (closing sockets, storing rooms,
    /// draining connections); whatever is still open then is dropped.
    #[arg(long, env = "MYROOM_DRAIN_MS", default_value_t = 10_000)]
    pub drain_ms: u64,
}

impl ServerArgs {
    /// The settings of a server started with no flags and no environment.
    pub fn defaults() -> ServerArgs {
        ServerArgs::parse_from(["server"])
    }
}

/// Whether the development login (`/dev/users`, `/dev/token`) is served: as
/// `--dev-login` says if given, else on exactly when no backend is configured.
pub fn dev_login_enabled(args: &ServerArgs) -> bool {
    args.dev_login.unwrap_or(!uses_backend(args))
}

/// Whether a backing service (MySQL, Redis or RabbitMQ) is configured.
fn uses_backend(args: &ServerArgs) -> bool {
    args.mysql.is_some() || args.redis.is_some() || args.amqp.is_some()
}

#[cfg(test)]
mod dev_login_tests {
    use super::*;

    #[test]
    fn dev_login_is_on_by_default_on_the_embedded_default_and_can_be_forced() {
        assert!(dev_login_enabled(&ServerArgs::parse_from(["server"])));
        assert!(dev_login_enabled(&ServerArgs::parse_from([
            "server",
            "--dev-login"
        ])));
        assert!(!dev_login_enabled(&ServerArgs::parse_from([
            "server",
            "--dev-login=false"
        ])));
    }
}
