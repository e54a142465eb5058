//! Front-door settings: limits of PROTOCOL.md §7 and connection upkeep.

use std::time::Duration;

use crate::rate::RateConfig;

/// Settings of the WebSocket endpoint; defaults are PROTOCOL.md's.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Largest client frame, in bytes.
    pub max_frame_bytes: usize,
    /// Largest client frame before ENTER in legacy mode.
    pub legacy_max_frame_bytes: usize,
    /// Accept upgrades without a token (legacy clients authenticate in ENTER).
    pub legacy_auth: bool,
    /// How long a legacy socket may take to send a valid ENTER.
    pub legacy_enter_deadline: Duration,
    /// Per-socket message rate.
    pub rate: RateConfig,
    /// How often the server pings an idle socket.
    pub ping_interval: Duration,
    /// A socket silent for this long (no frame, no pong) is dropped.
    pub dead_peer_timeout: Duration,
    /// Most frames written per wake-up for one socket.
    pub write_batch: usize,
    /// A socket that does not accept a write for this long is dropped.
    pub write_timeout: Duration,
    /// tungstenite read buffer per socket; small, since client frames are small.
    /// It is allocated and zero-filled on the first read of every socket, so it
    /// is most of an idle connection's memory (BENCHMARKS.md, conn scenario);
    /// a larger frame grows it to the frame's length only while it is read.
    pub read_buffer_bytes: usize,
    /// tungstenite write buffer per socket.
    pub write_buffer_bytes: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_frame_bytes: 64 * 1024,
            legacy_max_frame_bytes: 4 * 1024,
            legacy_auth: false,
            legacy_enter_deadline: Duration::from_secs(5),
            rate: RateConfig::default(),
            ping_interval: Duration::from_secs(15),
            dead_peer_timeout: Duration::from_secs(45),
            write_batch: 256,
            write_timeout: Duration::from_secs(10),
            read_buffer_bytes: 1024,
            write_buffer_bytes: 8 * 1024,
        }
    }
}
