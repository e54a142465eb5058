//! Names of the metrics this adapter records.

/// Gauge: open WebSocket connections.
pub const CONNECTIONS: &str = "myroom_connections";
/// Counter: server-initiated closes, label `code` (WebSocket close code).
pub use room_node::metrics_names::CLOSES;
/// Counter: upgrades refused with 401.
pub const UNAUTHORIZED: &str = "myroom_unauthorized_total";
/// Gauge: open TCP connections (HTTP and WebSocket), as counted against the caps.
pub const TCP_CONNECTIONS: &str = "myroom_tcp_connections";
/// Gauge: the total connection cap in force (explicit, or derived from the descriptor budget).
pub const CONNECTION_CAP: &str = "myroom_connection_cap";
/// Counter: connections refused at accept, label `reason` (`total`, `per_ip`, `accept_error`).
pub const REFUSED: &str = "myroom_connections_refused_total";
/// Counter: connections closed because a request's headers did not arrive in time.
pub const HEADER_TIMEOUTS: &str = "myroom_header_timeouts_total";
