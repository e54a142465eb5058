//! Names of the metrics the engine records (rendered by the HTTP adapter).

/// Counter: client messages handled, label `code` (behaviour code).
pub const MESSAGES_IN: &str = "myroom_messages_in_total";
/// Counter: server messages queued to sockets, label `code`.
pub const MESSAGES_OUT: &str = "myroom_messages_out_total";
/// Counter: ERROR messages sent, label `code` (protocol error code).
pub const ERRORS: &str = "myroom_errors_total";
/// Counter: messages dropped from a slow socket's queue because a later one supersedes them.
pub const COALESCED: &str = "myroom_coalesced_total";
/// Counter: messages dropped because a socket's queue was closed or overflowed, or the socket left the room.
pub const DROPPED: &str = "myroom_dropped_total";
/// Counter: messages a full queue refused, label `queue` (`room` mailbox,
/// `publish` to the bus); each such drop is repaired by its receiver.
pub const QUEUE_FULL: &str = "myroom_queue_full_total";
/// Gauge: rooms loaded on this node.
pub const ROOMS: &str = "myroom_rooms";
/// Gauge: open sessions (sockets) on this node.
pub const SESSIONS: &str = "myroom_sessions";
/// Histogram: seconds from a command's arrival at its room to its events being queued.
pub const COMMAND_SECONDS: &str = "myroom_command_seconds";
/// Counter: calls to a backing service made while handling a MOVE (should stay 0).
pub const MOVE_BACKEND_CALLS: &str = "myroom_move_backend_calls_total";
/// Counter: stored maps that could not be read and were kept aside (the room loaded empty).
pub const STORE_CORRUPT: &str = "myroom_store_corrupt_total";
/// Counter: server-initiated socket closes, label `code` (WebSocket close code).
pub const CLOSES: &str = "myroom_closes_total";
/// Gauge: seats held in the rooms this node hosts (PROTOCOL.md §9), their sockets here or away.
pub const SEATS_HELD: &str = "myroom_seats_held";
/// Counter: resumes answered by the rooms this node hosts, label `outcome`
/// (`replayed`, `sync`, `expired`).
pub const RESUMES: &str = "myroom_resumes_total";
/// Counter: room events replayed to resuming sockets.
pub const EVENTS_REPLAYED: &str = "myroom_events_replayed_total";
/// Counter: room tasks that ended by a panic (a bug); their sockets were closed with 1011.
pub const ROOM_TASKS_FAILED: &str = "myroom_room_tasks_failed_total";
