//! Names of the metrics this adapter records.

/// Gauge: open WebSocket connections.
pub const CONNECTIONS: &str = "myroom_connections";
/// Counter: server-initiated closes, label `code` (WebSocket close code).
pub use room_node::metrics_names::CLOSES;
/// Counter: upgrades refused with 401.
pub const UNAUTHORIZED: &str = "myroom_unauthorized_total";
