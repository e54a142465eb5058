//! Every task an engine starts, so the engine can wait for them or stop them.
//!
//! Detached `tokio::spawn`s would outlive a halted engine (a node "killed" in
//! a test or a simulator kept renewing its leases) and could not be waited
//! for at shutdown; tokio-util's `TaskTracker` and `CancellationToken` give
//! both without our own bookkeeping.

use std::future::Future;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, Span};

/// Starts the engine's tasks; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Tasks {
    tracker: TaskTracker,
    halt: CancellationToken,
    /// The node's span: every task's log lines say which node they are from.
    span: Span,
}

impl Tasks {
    pub(crate) fn new(span: Span) -> Tasks {
        Tasks {
            tracker: TaskTracker::new(),
            halt: CancellationToken::new(),
            span,
        }
    }

    /// Run `task` until it ends or the engine halts, whichever is first.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let halt = self.halt.clone();
        let task = async move {
            tokio::select! {
                biased;
                () = halt.cancelled() => {}
                () = task => {}
            }
        };
        self.tracker.spawn(task.instrument(self.span.clone()));
    }

    /// The node's span, for spans of what runs under it (a room).
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// Stop every task at its next await, as a crash would: nothing is handed over.
    pub(crate) fn halt(&self) {
        self.halt.cancel();
        self.tracker.close();
    }

    /// Wait until every task has ended (after a halt).
    pub(crate) async fn wait(&self) {
        self.tracker.wait().await;
    }
}
