//! Two engines of one process as a cluster over the in-memory ports: one
//! hosts the room, the other relays it; both see one room in one order.

mod common;

use common::pair::{Shared, enter, next_line, node_builder, shared};
use room_core::{Cell, ClientMsg, Direction, RoomId, ServerMsg, UserId, parse_server_frame, split_batch};
use room_node::{Engine, Session};

fn node(shared: &Shared, id: &str) -> Engine {
    node_builder(shared, id).build()
}

async fn next_msg(session: &Session) -> ServerMsg {
    parse_server_frame(split_batch(&next_line(session).await).next().unwrap()).unwrap()
}

#[tokio::test]
async fn a_relayed_user_and_a_hosted_user_share_one_room() {
    let shared = shared().await;
    let (a, b) = (node(&shared, "a"), node(&shared, "b"));

    let mut alice = a.open_session(UserId(1), "alice".into());
    alice.handle(enter(1)).await;
    assert!(matches!(next_msg(&alice).await, ServerMsg::Sync { .. }));
    assert_eq!(
        a.hosted_rooms(),
        [RoomId(1)],
        "the first node to enter hosts the room"
    );

    let mut bob = b.open_session(UserId(2), "bob".into());
    bob.handle(enter(1)).await;
    match next_msg(&bob).await {
        ServerMsg::Sync { room } => assert_eq!(room.users.len(), 2, "the relay's user sees the host's room"),
        other => panic!("{other:?}"),
    }
    assert!(b.hosted_rooms().is_empty(), "the second node relays");
    assert!(matches!(
        next_msg(&alice).await,
        ServerMsg::Enter { user: UserId(2), .. }
    ));

    bob.handle(ClientMsg::Move {
        direction: Direction::Down,
    })
    .await;
    let step = ServerMsg::Move {
        user: UserId(2),
        direction: Direction::Down,
        cell: Cell::new(0, 1),
    };
    assert_eq!(next_msg(&bob).await, step);
    assert_eq!(next_msg(&alice).await, step);

    drop(bob);
    assert_eq!(next_msg(&alice).await, ServerMsg::Leave { user: UserId(2) });
}

#[tokio::test]
async fn the_same_user_entering_on_the_relay_replaces_the_hosts_socket() {
    let shared = shared().await;
    let (a, b) = (node(&shared, "a"), node(&shared, "b"));
    let mut first = a.open_session(UserId(1), "alice".into());
    first.handle(enter(1)).await;
    next_msg(&first).await;

    let mut second = b.open_session(UserId(1), "alice".into());
    second.handle(enter(1)).await;
    match next_msg(&second).await {
        ServerMsg::Sync { room } => assert_eq!(room.users.len(), 1, "the user is in the room once"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        next_msg(&first).await,
        ServerMsg::ClosePreConnection { .. }
    ));
}
