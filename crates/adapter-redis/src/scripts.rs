//! The Lua scripts: each operation that reads and then writes runs as one
//! script, so it is atomic on the Redis side.

use fred::types::scripts::Script;

/// The scripts, each with its SHA-1 (sent with `EVALSHA`, loaded again on `NOSCRIPT`).
#[derive(Debug, Clone)]
pub(crate) struct Scripts {
    pub acquire_lease: Script,
    pub renew_lease: Script,
    pub release_lease: Script,
    pub save_snapshot: Script,
    pub heartbeat: Script,
    pub deregister: Script,
    pub live_nodes: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Scripts {
            acquire_lease: Script::from_lua(include_str!("lua/acquire_lease.lua")),
            renew_lease: Script::from_lua(include_str!("lua/renew_lease.lua")),
            release_lease: Script::from_lua(include_str!("lua/release_lease.lua")),
            save_snapshot: Script::from_lua(include_str!("lua/save_snapshot.lua")),
            heartbeat: Script::from_lua(include_str!("lua/heartbeat.lua")),
            deregister: Script::from_lua(include_str!("lua/deregister.lua")),
            live_nodes: Script::from_lua(include_str!("lua/live_nodes.lua")),
        }
    }

    /// Every script, for loading them all at connect.
    pub(crate) fn all(&self) -> [&Script; 7] {
        [
            &self.acquire_lease,
            &self.renew_lease,
            &self.release_lease,
            &self.save_snapshot,
            &self.heartbeat,
            &self.deregister,
            &self.live_nodes,
        ]
    }
}
