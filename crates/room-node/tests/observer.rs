//! An embedder's observer sees what happened in a room, in the room's order.

mod common;

use std::sync::Arc;
use std::time::Duration;

use room_core::{Cell, ClientMsg, Direction, MapDoc, RoomId, UserId};
use room_node::{ChannelObserver, Engine, RoomEvent};
use tokio::sync::mpsc;

/// Guards against hangs only.
const PATIENCE: Duration = Duration::from_secs(10);

async fn engine_with_observer() -> (Engine, mpsc::Receiver<RoomEvent>) {
    let store = common::alice_and_bob().await;
    let (observer, events) = ChannelObserver::new(64);
    let engine = Engine::builder(store).observer(Arc::new(observer)).build();
    (engine, events)
}

async fn next(events: &mut mpsc::Receiver<RoomEvent>) -> RoomEvent {
    tokio::time::timeout(PATIENCE, events.recv())
        .await
        .expect("an event in time")
        .expect("observer still registered")
}

fn enter(room: u64) -> ClientMsg {
    ClientMsg::Enter {
        room_id: RoomId(room),
        authorization: None,
    }
}

#[tokio::test]
async fn the_observer_sees_enter_move_build_and_leave() {
    let (engine, mut events) = engine_with_observer().await;
    let room = RoomId(1);
    let mut owner = engine.open_session(UserId(1), "alice".into());
    owner.handle(enter(1)).await;
    assert_eq!(
        next(&mut events).await,
        RoomEvent::Entered {
            room,
            user: UserId(1),
            nickname: "alice".into()
        }
    );

    owner
        .handle(ClientMsg::Move {
            direction: Direction::Right,
        })
        .await;
    assert_eq!(
        next(&mut events).await,
        RoomEvent::Moved {
            room,
            user: UserId(1),
            cell: Cell { x: 1, y: 0 }
        }
    );

    let map = MapDoc {
        side: 5,
        ..MapDoc::default()
    };
    owner.handle(ClientMsg::Build { map, reference: None }).await;
    assert_eq!(next(&mut events).await, RoomEvent::Built { room, version: 1 });

    drop(owner);
    assert_eq!(
        next(&mut events).await,
        RoomEvent::Left {
            room,
            user: UserId(1)
        }
    );
}

#[tokio::test]
async fn the_observer_sees_a_replaced_connection() {
    let (engine, mut events) = engine_with_observer().await;
    let room = RoomId(1);
    let mut first = engine.open_session(UserId(2), "bob".into());
    first.handle(enter(1)).await;
    assert!(matches!(
        next(&mut events).await,
        RoomEvent::Entered { user: UserId(2), .. }
    ));

    let mut second = engine.open_session(UserId(2), "bob".into());
    second.handle(enter(1)).await;
    assert_eq!(
        next(&mut events).await,
        RoomEvent::Replaced {
            room,
            user: UserId(2)
        }
    );

    // The replaced session's LEAVE is no event: bob is still there, on his new connection.
    drop(first);
    drop(second);
    assert_eq!(
        next(&mut events).await,
        RoomEvent::Left {
            room,
            user: UserId(2)
        }
    );
}

#[tokio::test]
async fn a_refused_move_is_no_event() {
    let (engine, mut events) = engine_with_observer().await;
    let mut owner = engine.open_session(UserId(1), "alice".into());
    owner.handle(enter(1)).await;
    assert!(matches!(next(&mut events).await, RoomEvent::Entered { .. }));
    // Off the grid: no step, no event. The SYNC after it proves the room handled it.
    owner
        .handle(ClientMsg::Move {
            direction: Direction::Up,
        })
        .await;
    owner.handle(ClientMsg::Sync).await;
    drop(owner);
    assert!(matches!(next(&mut events).await, RoomEvent::Left { .. }));
}
