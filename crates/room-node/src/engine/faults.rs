//! The test hooks of room tasks: a room task made to panic, as a bug
//! would, or to stall (it takes no message until let go), as a task stuck
//! on something would. Only in the crate's own tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use room_core::RoomId;
use tokio_util::sync::CancellationToken;

use crate::ordered::IdMap;

#[derive(Default)]
struct Gate {
    stalled: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

#[derive(Clone)]
struct Hooks {
    panic: CancellationToken,
    gate: Arc<Gate>,
}

/// Per engine: the hooks of each room's latest task.
#[derive(Clone, Default)]
pub(crate) struct Faults(Arc<Mutex<IdMap<RoomId, Hooks>>>);

impl Faults {
    /// `task`, with the hooks of `room`.
    pub(crate) fn wrap<F>(&self, room: RoomId, task: F) -> impl Future<Output = ()> + use<F>
    where
        F: Future<Output = ()>,
    {
        let hooks = Hooks {
            panic: CancellationToken::new(),
            gate: Arc::new(Gate::default()),
        };
        self.0.lock().unwrap().insert(room, hooks.clone());
        let gated = Gated {
            task: Box::pin(task),
            gate: hooks.gate,
        };
        async move {
            tokio::select! {
                () = gated => {}
                () = hooks.panic.cancelled() => panic!("room {room}: a test made its task panic"),
            }
        }
    }

    pub(crate) fn panic_room(&self, room: RoomId) {
        if let Some(hooks) = self.0.lock().unwrap().remove(&room) {
            hooks.panic.cancel();
        }
    }

    /// `room`'s task takes nothing more until [`Faults::let_go`].
    pub(crate) fn stall(&self, room: RoomId) {
        if let Some(hooks) = self.0.lock().unwrap().get(&room) {
            hooks.gate.stalled.store(true, Ordering::SeqCst);
        }
    }

    pub(crate) fn let_go(&self, room: RoomId) {
        if let Some(hooks) = self.0.lock().unwrap().get(&room) {
            hooks.gate.stalled.store(false, Ordering::SeqCst);
            if let Some(waker) = hooks.gate.waker.lock().unwrap().take() {
                waker.wake();
            }
        }
    }
}

/// A future that is not polled while its gate is stalled.
struct Gated<F> {
    task: Pin<Box<F>>,
    gate: Arc<Gate>,
}

impl<F: Future<Output = ()>> Future for Gated<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.gate.stalled.load(Ordering::SeqCst) {
            *self.gate.waker.lock().unwrap() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        self.task.as_mut().poll(cx)
    }
}
