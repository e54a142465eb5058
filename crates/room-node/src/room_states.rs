//! Where a standalone node keeps its rooms across a restart (PROTOCOL.md
//! §9): on SIGTERM each room still loaded (its users' seats held, their
//! sockets closed) is written whole, as the snapshot a cluster's hand-over
//! writes; a room started again within the resume grace continues from it,
//! so a resume there is RESUMED. One file per room under the node's data
//! directory, written whole then renamed (a crash mid-write leaves the
//! older file or none), read once and removed.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use room_core::RoomId;
use room_ports::RoomSnapshot;
use serde::{Deserialize, Serialize};

/// A room as it was written on stopping.
#[derive(Serialize, Deserialize)]
struct Saved {
    /// When, in unix milliseconds: a state older than the grace is of no use.
    saved_at_ms: u64,
    snapshot: RoomSnapshot,
}

/// The rooms of a standalone node, kept on its disk across a restart.
#[derive(Debug, Clone)]
pub(crate) struct RoomStates {
    dir: PathBuf,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl RoomStates {
    pub(crate) fn new(dir: PathBuf) -> RoomStates {
        RoomStates { dir }
    }

    fn path(&self, room: RoomId) -> PathBuf {
        self.dir.join(format!("{room}.json"))
    }

    /// Write `snapshot` for the next run of this node.
    pub(crate) async fn save(&self, snapshot: &RoomSnapshot) -> std::io::Result<()> {
        let saved = Saved {
            saved_at_ms: unix_ms(),
            snapshot: snapshot.clone(),
        };
        let bytes = serde_json::to_vec(&saved).map_err(std::io::Error::other)?;
        let (dir, path) = (self.dir.clone(), self.path(snapshot.room));
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            let partial = path.with_extension("json.partial");
            std::fs::write(&partial, bytes)?;
            std::fs::rename(&partial, &path)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// What the last run wrote of `room`, if it is younger than `grace`;
    /// removed either way (it is continued once, or of no use).
    pub(crate) async fn take(&self, room: RoomId, grace: Duration) -> Option<RoomSnapshot> {
        let path = self.path(room);
        let read = tokio::task::spawn_blocking(move || {
            let bytes = std::fs::read(&path).ok()?;
            let _ = std::fs::remove_file(&path);
            Some(bytes)
        })
        .await
        .ok()??;
        let saved: Saved = match serde_json::from_slice(&read) {
            Ok(saved) => saved,
            Err(e) => {
                tracing::warn!(%room, error = %e, "the room's saved state cannot be read; starting it afresh");
                return None;
            }
        };
        let age = Duration::from_millis(unix_ms().saturating_sub(saved.saved_at_ms));
        if age > grace || saved.snapshot.room != room {
            tracing::info!(%room, ?age, "the room's saved state is older than the resume grace; starting it afresh");
            return None;
        }
        Some(saved.snapshot)
    }
}
