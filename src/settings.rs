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

    /// Users to create at start: {"users":[{"idx":1,"nickname":"alice","games":[12,13]}]}.
    /// Without it, a few demo users are created.
    #[arg(long, env = "MYROOM_FIXTURES")]
    pub fixtures: Option<PathBuf>,

    /// Where the embedded store keeps maps.
    #[arg(long, env = "MYROOM_DATA", default_value = "data")]
    pub data: PathBuf,

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
}

impl ServerArgs {
    /// The settings of a server started with no flags and no environment.
    pub fn defaults() -> ServerArgs {
        ServerArgs::parse_from(["server"])
    }
}
