//! What happens when a room task panics (a bug: room tasks never panic on
//! input). Without this the task just ended: its sockets stayed open in a
//! room that no longer existed, and every command they sent got 76102.
//! Now its sockets are closed with 1011 (PROTOCOL.md §7), so their clients
//! reconnect and ENTER again, which loads the room afresh from the store;
//! the panic is logged and counted (`myroom_room_tasks_failed_total`).
//!
//! Restarting the room in place was the other choice; it would hand the
//! same state (or the same input) to a fresh task, and what made the task
//! panic is unknown, so a clean start from the store behind a reconnect is
//! the safer one.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use room_core::RoomId;

use crate::metrics_names as m;
use crate::outbox::CloseReason;
use crate::room_task::{RoomSender, Shared, lock};

/// Run `task`, room `room`'s task (its mailbox `sender`), and clean up after it if it panics.
pub(super) async fn supervised<F>(room: RoomId, shared: Arc<Shared>, sender: RoomSender, task: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    if CatchUnwind(Box::pin(task)).await.is_ok() {
        return;
    }
    metrics::counter!(m::ROOM_TASKS_FAILED).increment(1);
    tracing::error!(%room, "the room's task failed; closing its sockets (1011)");
    // No new session may find the dead mailbox; the next ENTER starts a new task.
    shared.forget_room(room, &sender);
    shared.set_hosted(room, false);
    let sockets: Vec<_> = lock(&shared.sessions)
        .values()
        .filter(|outbox| outbox.room() == Some(room))
        .cloned()
        .collect();
    for outbox in sockets {
        outbox.close(CloseReason::RoomFailed);
    }
}

/// A future that turns a panic of its inner future into `Err` (what
/// `futures::FutureExt::catch_unwind` does; this crate has no `futures`).
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Unwind safety: after a panic the inner future is never polled
        // again, only dropped, and the registries it shares are each changed
        // by one insert or remove (see `lock`).
        match catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use room_core::{ClientMsg, RoomId, ServerMsg, UserId, parse_server_frame};
    use room_ports::{MapStore, UserSeed};

    use crate::memory::MemoryMapStore;
    use crate::outbox::{CloseReason, Next, Outbox};
    use crate::{Engine, Session};

    async fn engine() -> Engine {
        let store = MemoryMapStore::new();
        let users: Vec<UserSeed> = (1..=3)
            .map(|id| UserSeed {
                user: UserId(id),
                nickname: format!("user{id}"),
                games: Vec::new(),
            })
            .collect();
        store.seed_users(&users).await.unwrap();
        Engine::builder(Arc::new(store)).build()
    }

    async fn enter(engine: &Engine, user: u64, room: u64) -> Session {
        let mut session = engine.open_session(UserId(user), format!("user{user}"));
        session
            .handle(ClientMsg::Enter {
                room_id: RoomId(room),
                authorization: None,
            })
            .await;
        session
    }

    /// What the socket's writer gets next, within a deadline.
    async fn next(outbox: &Outbox) -> Next {
        tokio::time::timeout(Duration::from_secs(5), outbox.next(usize::MAX))
            .await
            .expect("the socket's queue answered in time")
    }

    async fn next_messages(outbox: &Outbox) -> Vec<ServerMsg> {
        match next(outbox).await {
            Next::Frames(frames) => frames
                .iter()
                .map(|f| parse_server_frame(f.as_str()).unwrap())
                .collect(),
            Next::Close(reason) => panic!("closed with {reason:?}"),
        }
    }

    /// Records what supervision changes: the gauges `myroom_rooms` and
    /// `myroom_seats_held`, and the counter `myroom_room_tasks_failed_total`,
    /// for the tasks of this thread (a current-thread runtime).
    #[derive(Default)]
    struct Recorded {
        rooms: Arc<std::sync::atomic::AtomicU64>,
        seats: Arc<std::sync::atomic::AtomicU64>,
        failed: Arc<std::sync::atomic::AtomicU64>,
    }

    impl Recorded {
        fn now(&self) -> (f64, f64) {
            let read = |g: &std::sync::atomic::AtomicU64| {
                f64::from_bits(g.load(std::sync::atomic::Ordering::SeqCst))
            };
            (read(&self.rooms), read(&self.seats))
        }

        /// Wait, with a deadline, until the gauges read `(rooms, seats)`.
        async fn reach(&self, rooms: f64, seats: f64) {
            let waited = tokio::time::timeout(Duration::from_secs(5), async {
                while self.now() != (rooms, seats) {
                    tokio::task::yield_now().await;
                }
            })
            .await;
            assert!(
                waited.is_ok(),
                "gauges (rooms, seats) are {:?}, expected {:?}",
                self.now(),
                (rooms, seats)
            );
        }
    }

    impl metrics::Recorder for Recorded {
        fn describe_counter(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
        fn describe_gauge(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
            if key.name() == crate::metrics_names::ROOM_TASKS_FAILED {
                metrics::Counter::from_arc(self.failed.clone())
            } else {
                metrics::Counter::noop()
            }
        }
        fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            match key.name() {
                crate::metrics_names::ROOMS => metrics::Gauge::from_arc(self.rooms.clone()),
                crate::metrics_names::SEATS_HELD => metrics::Gauge::from_arc(self.seats.clone()),
                _ => metrics::Gauge::noop(),
            }
        }
        fn register_histogram(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Histogram {
            metrics::Histogram::noop()
        }
    }

    /// Issue 23 (loose end): the gauges were given back only at the end of
    /// the host's code, so a room whose task panicked stayed counted, and
    /// its seats held, until the process restarted.
    #[tokio::test]
    async fn a_room_task_that_panics_gives_back_its_room_and_its_seats_in_the_gauges() {
        let gauges = Recorded::default();
        let _recording = metrics::set_default_local_recorder(&gauges);
        let store = MemoryMapStore::new();
        let users: Vec<UserSeed> = (1..=3)
            .map(|id| UserSeed {
                user: UserId(id),
                nickname: format!("user{id}"),
                games: Vec::new(),
            })
            .collect();
        store.seed_users(&users).await.unwrap();
        let engine = Engine::builder(Arc::new(store))
            .seat_key(crate::SeatKey::derive(
                b"the supervisor tests' secret, long enough",
            ))
            .build();
        let opted_in = |user: u64| {
            engine.open_session_with_outbox(
                UserId(user),
                format!("user{user}"),
                engine.new_socket_outbox(false, true),
            )
        };
        let (mut first, mut second, mut elsewhere) = (opted_in(1), opted_in(2), opted_in(3));
        for (session, room) in [(&mut first, 1), (&mut second, 1), (&mut elsewhere, 3)] {
            session
                .handle(ClientMsg::Enter {
                    room_id: RoomId(room),
                    authorization: None,
                })
                .await;
        }
        gauges.reach(2.0, 3.0).await;

        engine.faults.panic_room(RoomId(1));
        for session in [&first, &second] {
            while let Next::Frames(_) = next(session.outbox()).await {}
        }
        gauges.reach(1.0, 1.0).await;
        assert_eq!(first.outbox().close_reason(), Some(CloseReason::RoomFailed));
        // The other room is still counted, and still counts right: its
        // user's LEAVE ends its seat, and the room, now empty, ends too.
        elsewhere.handle(ClientMsg::Leave).await;
        gauges.reach(0.0, 0.0).await;
    }

    #[tokio::test]
    async fn a_room_task_that_panics_closes_its_sockets_with_1011_and_the_room_loads_again() {
        let recorded = Recorded::default();
        let _counting = metrics::set_default_local_recorder(&recorded);
        let engine = engine().await;
        let (mut first, second) = (enter(&engine, 1, 1).await, enter(&engine, 2, 1).await);
        let elsewhere = enter(&engine, 3, 3).await;
        for session in [&first, &second, &elsewhere] {
            while matches!(session.outbox().try_next(usize::MAX), Some(Next::Frames(_))) {}
        }

        engine.faults.panic_room(RoomId(1));
        for session in [&first, &second] {
            assert!(
                matches!(next(session.outbox()).await, Next::Close(CloseReason::RoomFailed)),
                "a socket of the failed room is closed with 1011"
            );
        }
        assert_eq!(CloseReason::RoomFailed.code(), 1011);
        assert_eq!(
            recorded.failed.load(std::sync::atomic::Ordering::Relaxed),
            1,
            "counted"
        );
        // The other room is untouched.
        assert!(!elsewhere.outbox().is_closing());
        let mut elsewhere = elsewhere;
        elsewhere.handle(ClientMsg::Sync).await;
        assert!(matches!(
            next_messages(elsewhere.outbox()).await[..],
            [ServerMsg::Sync { .. }]
        ));
        // The room starts again from the store at the next ENTER.
        drop(first);
        first = enter(&engine, 1, 1).await;
        match &next_messages(first.outbox()).await[..] {
            [ServerMsg::Sync { room }, ..] => assert_eq!(room.room_id, RoomId(1)),
            other => panic!("expected room 1's SYNC, got {other:?}"),
        }
    }
}
