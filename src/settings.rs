//! The server's flags, each with a `MYROOM_...` environment fallback.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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

    /// HS256 secret that access tokens are signed with, at least 32 bytes
    /// (`openssl rand -hex 32`). Without it a fixed, public development secret
    /// is used, and only on a loopback listen address or with --dev-login;
    /// a cluster node refuses to start without it.
    #[arg(long, env = "MYROOM_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// The audience this server is: tokens must then carry an `aud` claim
    /// naming it. Without it, tokens that carry any `aud` are refused (RFC 7519
    /// §4.1.3: a token meant for named audiences is not for a server that is none).
    #[arg(long, env = "MYROOM_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// A token that also lets `GET /rooms/{id}` through (as `Authorization:
    /// Bearer` or `?token=`), for operators' tools; at least 32 bytes. Without
    /// it the route needs a valid access token.
    #[arg(long, env = "MYROOM_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

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

    /// The WebSocket URL clients use to reach this node (default:
    /// ws://LISTEN/WS_PATH); `{node}` in it is replaced by --node-id. Behind a
    /// gateway, its URL with a parameter it routes on:
    /// `wss://rooms.example/library?node={node}` (README, "Behind a load balancer").
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
    /// token for any of them. On by default only with the embedded store on a
    /// loopback listen address; `--dev-login` (or `--dev-login=true`) forces it
    /// on (and allows the development secret off loopback), `--dev-login=false`
    /// off. Refused on a cluster node.
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

    /// Frames a socket's outgoing queue holds before moves are coalesced. A
    /// socket that opted into resume holds at least --resume-log + 1 (a
    /// whole replay and its RESUMED).
    #[arg(long, env = "MYROOM_OUTBOX_CAPACITY", default_value_t = 512)]
    pub outbox_capacity: usize,

    /// Bytes one socket may hold (its queue plus what its writer took) before
    /// its queue is coalesced (latest position per user, latest SYNC), then
    /// closed with 1013. At least 4x --max-frame-bytes.
    #[arg(long, env = "MYROOM_OUTBOX_BYTES", default_value_t = 1024 * 1024)]
    pub outbox_bytes: usize,

    /// BUILDs of one room being checked or stored at once; more are refused with 76429.
    #[arg(long, env = "MYROOM_BUILDS_IN_FLIGHT", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub builds_in_flight: u16,

    /// With --mysql: milliseconds an ENTER waits for a store that is still
    /// starting (connecting, migrating, seeding) before it is refused with 76503.
    #[arg(long, env = "MYROOM_STORE_WAIT_MS", default_value_t = 5000)]
    pub store_wait_ms: u64,

    /// Milliseconds between flushes for sockets that asked for batch=1.
    #[arg(long, env = "MYROOM_TICK_MS", default_value_t = 25)]
    pub tick_ms: u64,

    /// In a cluster, how long an ENTER forwarded to the room's host may wait
    /// for its answer before it is refused with 76503.
    #[arg(long, env = "MYROOM_FORWARD_TIMEOUT_MS", default_value_t = 5000)]
    pub forward_timeout_ms: u64,

    /// Milliseconds a dropped socket that opted into resume (PROTOCOL.md §9)
    /// keeps its user's seat: nobody is told it went unless no socket resumes
    /// the seat in time. 0 turns resume off (no SEAT, no `seq`).
    #[arg(long, env = "MYROOM_RESUME_GRACE_MS", default_value_t = 20_000)]
    pub resume_grace_ms: u64,

    /// Events each room keeps to replay to a resuming socket; one that
    /// missed more gets a fresh SYNC. 0 keeps none (every resume gets a SYNC).
    #[arg(long, env = "MYROOM_RESUME_LOG", default_value_t = 512)]
    pub resume_log: usize,

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

    /// Open connections from one client IP at most (0, the default: no
    /// per-IP cap, since one address may be a gateway, a NAT or a campus).
    /// Behind --trusted-proxies it counts the client a proxy names, and a
    /// trusted proxy's own address is never capped.
    #[arg(long, env = "MYROOM_MAX_CONNECTIONS_PER_IP", default_value_t = 0)]
    pub max_connections_per_ip: usize,

    /// Peers (comma-separated addresses or CIDR ranges, like
    /// `10.0.0.0/8,192.0.2.7`) whose word on the client's address is taken: a
    /// PROXY protocol header (v1 or v2) before the request, else the
    /// --forwarded-header. From any other peer those headers change nothing.
    /// Default: nobody.
    #[arg(long, env = "MYROOM_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: adapter_ws::TrustedProxies,

    /// The header a trusted HTTP proxy that sends no PROXY header names the
    /// client in (the right-most address not itself a trusted proxy counts):
    /// `x-forwarded-for` or `forwarded` (RFC 7239). Only this one is read.
    #[arg(long, env = "MYROOM_FORWARDED_HEADER", default_value = "x-forwarded-for", value_parser = parse_forwarded_header)]
    pub forwarded_header: adapter_ws::ForwardedHeader,

    /// File descriptors kept for the server's own files and backing-service
    /// connections: never handed to client connections.
    #[arg(long, env = "MYROOM_FD_RESERVE", default_value_t = 128)]
    pub fd_reserve: u64,

    /// Milliseconds shutdown may take (closing sockets, storing rooms,
    /// draining connections); whatever is still open then is dropped.
    #[arg(long, env = "MYROOM_DRAIN_MS", default_value_t = 10_000)]
    pub drain_ms: u64,

    /// How log lines are written to stdout: `text` (colours only on a
    /// terminal) or `json` (one JSON object per line, for a log collector).
    #[arg(long, env = "MYROOM_LOG_FORMAT", value_enum, default_value_t = crate::logging::LogFormat::Text)]
    pub log_format: crate::logging::LogFormat,

    /// Milliseconds between SIGTERM and closing sockets, during which
    /// `/readyz` answers 503 `{"draining":true}` and the node still serves:
    /// time for a load balancer's health check to send new users elsewhere.
    /// Set it to the balancer's check interval times its fall count.
    /// Default: 1000 for a cluster node or with --trusted-proxies (a
    /// balancer is in front), else 0 (nobody checks a lone node's /readyz,
    /// so its Ctrl-C stays immediate).
    #[arg(long, env = "MYROOM_DRAIN_DELAY_MS")]
    pub drain_delay_ms: Option<u64>,
}

fn parse_forwarded_header(value: &str) -> Result<adapter_ws::ForwardedHeader, String> {
    match value.to_ascii_lowercase().as_str() {
        "x-forwarded-for" => Ok(adapter_ws::ForwardedHeader::XForwardedFor),
        "forwarded" => Ok(adapter_ws::ForwardedHeader::Forwarded),
        _ => Err(format!("{value:?}: expected x-forwarded-for or forwarded")),
    }
}

impl ServerArgs {
    /// The settings of a server started with no flags and no environment.
    pub fn defaults() -> ServerArgs {
        ServerArgs::parse_from(["server"])
    }

    /// How long `/readyz` says "draining" before sockets close (`--drain-delay-ms`).
    pub fn drain_delay(&self) -> Duration {
        let behind_balancer = is_cluster(self) || !self.trusted_proxies.is_empty();
        let default = if behind_balancer { 1000 } else { 0 };
        Duration::from_millis(self.drain_delay_ms.unwrap_or(default))
    }
}

/// Shortest `--jwt-secret`, in bytes: RFC 7518 §3.2 wants an HS256 key of
/// at least the hash's size (256 bits).
pub const MIN_SECRET_BYTES: usize = 32;

/// How to make a good secret, for the messages below.
const MAKE_ONE: &str = "make one with `openssl rand -hex 32`";

/// Settings that would let strangers sign in as anyone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// `--jwt-secret` is too short to resist guessing.
    #[error("--jwt-secret is {len} bytes; it must be at least {MIN_SECRET_BYTES} ({MAKE_ONE})")]
    ShortSecret {
        /// Its length in bytes.
        len: usize,
    },
    /// `--admin-token` is too short to resist guessing.
    #[error("--admin-token is {len} bytes; it must be at least {MIN_SECRET_BYTES} ({MAKE_ONE})")]
    ShortAdminToken {
        /// Its length in bytes.
        len: usize,
    },
    /// No secret, on an address others can reach, and development mode not forced.
    #[error(
        "no --jwt-secret given while listening on {listen}, which others can reach, and the development \
         secret is public: give --jwt-secret ({MAKE_ONE}), listen on a loopback address, or force \
         development mode with --dev-login"
    )]
    DevSecretExposed {
        /// The listen address.
        listen: SocketAddr,
    },
    /// A cluster node without its own secret.
    #[error("a cluster node needs --jwt-secret, the same on every node ({MAKE_ONE})")]
    ClusterWithoutSecret,
    /// The development login asked for on a cluster node.
    #[error("--dev-login is refused on a cluster node: anyone could sign in as any user")]
    ClusterDevLogin,
}

/// Who may mint tokens, as the flags decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// The configured secret; `None`: the development secret.
    pub secret: Option<String>,
    /// Whether `/dev/users` and `/dev/token` are served.
    pub dev_login: bool,
}

/// Check the flags that decide who can sign in. The development login and the
/// development secret are for a server only its own machine can reach: on by
/// default only on a loopback listen address with no backend, off elsewhere
/// unless `--dev-login` forces them, and refused outright on a cluster node.
pub fn security(args: &ServerArgs) -> Result<Security, SettingsError> {
    if let Some(secret) = &args.jwt_secret
        && secret.len() < MIN_SECRET_BYTES
    {
        return Err(SettingsError::ShortSecret { len: secret.len() });
    }
    if let Some(token) = &args.admin_token
        && token.len() < MIN_SECRET_BYTES
    {
        return Err(SettingsError::ShortAdminToken { len: token.len() });
    }
    let forced = args.dev_login == Some(true);
    if is_cluster(args) {
        if forced {
            return Err(SettingsError::ClusterDevLogin);
        }
        if args.jwt_secret.is_none() {
            return Err(SettingsError::ClusterWithoutSecret);
        }
    }
    let local = args.listen.ip().is_loopback();
    if args.jwt_secret.is_none() && !local && !forced {
        return Err(SettingsError::DevSecretExposed { listen: args.listen });
    }
    Ok(Security {
        secret: args.jwt_secret.clone(),
        dev_login: dev_login_enabled(args),
    })
}

/// Whether the development login (`/dev/users`, `/dev/token`) is served: as
/// `--dev-login` says if given (never on a cluster node), else on exactly when
/// no backend is configured and the server listens on a loopback address.
pub fn dev_login_enabled(args: &ServerArgs) -> bool {
    if is_cluster(args) {
        return false;
    }
    args.dev_login
        .unwrap_or(!uses_backend(args) && args.listen.ip().is_loopback())
}

/// Whether a backing service (MySQL, Redis or RabbitMQ) is configured.
fn uses_backend(args: &ServerArgs) -> bool {
    args.mysql.is_some() || is_cluster(args)
}

/// Whether this is (meant to be) a cluster node.
fn is_cluster(args: &ServerArgs) -> bool {
    args.redis.is_some() || args.amqp.is_some()
}

#[cfg(test)]
mod dev_login_tests {
    use super::*;

    fn parse(flags: &[&str]) -> ServerArgs {
        ServerArgs::parse_from(std::iter::once("server").chain(flags.iter().copied()))
    }

    #[test]
    fn dev_login_is_on_by_default_on_the_embedded_default_and_can_be_forced() {
        assert!(dev_login_enabled(&parse(&[])));
        assert!(dev_login_enabled(&parse(&["--dev-login"])));
        assert!(!dev_login_enabled(&parse(&["--dev-login=false"])));
    }

    #[test]
    fn dev_login_is_off_by_default_on_an_address_others_can_reach() {
        assert!(!dev_login_enabled(&parse(&["--listen", "0.0.0.0:8210"])));
        assert!(!dev_login_enabled(&parse(&["--listen", "192.168.1.5:8210"])));
        assert!(dev_login_enabled(&parse(&["--listen", "[::1]:8210"])));
        assert!(dev_login_enabled(&parse(&[
            "--listen",
            "0.0.0.0:8210",
            "--dev-login"
        ])));
    }

    #[test]
    fn secrets_shorter_than_32_bytes_are_refused() {
        let short = parse(&["--jwt-secret", "0123456789abcdef0123456789abcde"]);
        assert_eq!(security(&short), Err(SettingsError::ShortSecret { len: 31 }));
        let long = parse(&["--jwt-secret", "0123456789abcdef0123456789abcdef"]);
        assert!(security(&long).is_ok());
    }

    #[test]
    fn the_development_secret_needs_loopback_or_dev_login_and_never_a_cluster() {
        assert_eq!(security(&parse(&[])).unwrap().secret, None);
        assert!(matches!(
            security(&parse(&["--listen", "0.0.0.0:8210"])),
            Err(SettingsError::DevSecretExposed { .. })
        ));
        assert!(security(&parse(&["--listen", "0.0.0.0:8210", "--dev-login"])).is_ok());
        let cluster = [
            "--redis",
            "redis://r",
            "--amqp",
            "amqp://a",
            "--mysql",
            "mysql://m/db",
        ];
        assert_eq!(
            security(&parse(&cluster)),
            Err(SettingsError::ClusterWithoutSecret)
        );
        let mut forced = cluster.to_vec();
        forced.extend(["--jwt-secret", "0123456789abcdef0123456789abcdef", "--dev-login"]);
        assert_eq!(security(&parse(&forced)), Err(SettingsError::ClusterDevLogin));
    }

    #[test]
    fn behind_a_gateway_the_flags_parse_and_a_bad_range_is_refused() {
        let defaults = parse(&[]);
        assert!(defaults.trusted_proxies.is_empty());
        assert_eq!(defaults.max_connections_per_ip, 0);
        let args = parse(&[
            "--trusted-proxies",
            "10.0.0.0/8,192.0.2.7",
            "--forwarded-header",
            "forwarded",
        ]);
        assert!(args.trusted_proxies.contains("10.9.8.7".parse().unwrap()));
        assert!(!args.trusted_proxies.contains("192.0.2.8".parse().unwrap()));
        assert_eq!(args.forwarded_header, adapter_ws::ForwardedHeader::Forwarded);
        let bad = ServerArgs::try_parse_from(["server", "--trusted-proxies", "10.0.0.0/8,gateway"]);
        assert!(bad.unwrap_err().to_string().contains("gateway"));
        assert!(ServerArgs::try_parse_from(["server", "--forwarded-header", "via"]).is_err());
    }

    #[test]
    fn a_lone_node_stops_at_once_and_a_node_behind_a_balancer_says_draining_first() {
        assert_eq!(parse(&[]).drain_delay(), Duration::ZERO);
        assert_eq!(
            parse(&["--trusted-proxies", "10.0.0.0/8"]).drain_delay(),
            Duration::from_secs(1)
        );
        assert_eq!(
            parse(&["--redis", "redis://127.0.0.1:6379"]).drain_delay(),
            Duration::from_secs(1)
        );
        assert_eq!(
            parse(&["--drain-delay-ms", "250"]).drain_delay(),
            Duration::from_millis(250)
        );
    }
}
