//! What a graceful shutdown waits for: the sessions still open and the room
//! tasks still running. Each is counted by a tokio-util `TaskTracker` (a
//! session by a token it holds until it is dropped, a room task by its
//! future), so shutdown wakes when the last one ends instead of polling the
//! registries' sizes.

use std::future::Future;

use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::{TaskTrackerToken, TrackedFuture};

#[derive(Clone, Default)]
pub(crate) struct Open {
    sessions: TaskTracker,
    rooms: TaskTracker,
}

impl Open {
    /// Held by a session for as long as it is open.
    pub(crate) fn session(&self) -> TaskTrackerToken {
        self.sessions.token()
    }

    /// `task`, counted as a running room until it ends or is dropped (a halt).
    pub(crate) fn room<F: Future>(&self, task: F) -> TrackedFuture<F> {
        self.rooms.track_future(task)
    }

    /// Until no session is open. Sessions opened meanwhile are waited for too.
    pub(crate) async fn no_sessions(&self) {
        // A tracker's wait ends only once it is closed; closing does not stop
        // it counting what is opened after.
        self.sessions.close();
        self.sessions.wait().await;
    }

    /// Until no session is open and every room task has ended.
    pub(crate) async fn nothing_running(&self) {
        self.no_sessions().await;
        self.rooms.close();
        self.rooms.wait().await;
    }
}
