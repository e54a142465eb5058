//! PROTOCOL.md §3-4 and §8: entering, moving, leaving, duplicates, order.

mod common;

use common::{Event, TestServer};
use room_core::{Cell, Direction, ErrorCode, ServerMsg, UserId};

#[tokio::test]
async fn enter_sends_sync_to_the_entrant_and_enter_to_the_others() {
    let server = TestServer::start().await;
    let mut owner = server.connect(1).await;
    owner.enter(1).await;
    let mut guest = server.connect(2).await;
    match guest.enter(1).await {
        ServerMsg::Sync { room } => assert_eq!(room.users.len(), 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        owner.next_msg().await,
        ServerMsg::Enter {
            user: UserId(2),
            nickname: "bob".into(),
            cell: Cell::new(0, 0)
        }
    );
    guest.expect_quiet().await;
}

#[tokio::test]
async fn room_id_may_be_a_string_or_a_number() {
    let server = TestServer::start().await;
    let mut client = server.connect(1).await;
    client.send(r#"10{"room_id":1}"#).await;
    assert!(matches!(client.next_msg().await, ServerMsg::Sync { .. }));
}

#[tokio::test]
async fn commands_before_enter_are_76102_and_the_socket_stays_open() {
    let server = TestServer::start().await;
    let mut client = server.connect(1).await;
    for frame in [
        "11",
        r#"20{"direction":0}"#,
        "19",
        r#"40{"map":{"side":5,"gameList":[],"objectList":[],"games":{},"objects":{}}}"#,
    ] {
        client.send(frame).await;
        client.expect_error(ErrorCode::NotInRoom).await;
    }
    client.enter(1).await;
}

#[tokio::test]
async fn entering_the_room_of_a_user_that_does_not_exist_is_76404() {
    let server = TestServer::start().await;
    let mut client = server.connect(1).await;
    client.send(r#"10{"room_id":"999"}"#).await;
    client.expect_error(ErrorCode::RoomNotFound).await;
}

#[tokio::test]
async fn move_goes_to_everyone_with_the_authoritative_position() {
    let server = TestServer::start().await;
    let (mut owner, mut guest) = server.owner_and_guest().await;
    guest.send(r#"20{"direction":1}"#).await;
    let expected = ServerMsg::Move {
        user: UserId(2),
        direction: Direction::Right,
        cell: Cell::new(1, 0),
    };
    assert_eq!(guest.next_msg().await, expected);
    assert_eq!(owner.next_msg().await, expected);
}

#[tokio::test]
async fn move_off_the_grid_does_nothing_and_sends_nothing() {
    let server = TestServer::start().await;
    let mut owner = server.connect(1).await;
    owner.enter(1).await;
    owner.send(r#"20{"direction":0}"#).await;
    owner.send(r#"20{"direction":3}"#).await;
    owner.expect_quiet().await;
}

#[tokio::test]
async fn users_do_not_block_each_other() {
    let server = TestServer::start().await;
    let mut owner = server.connect(1).await;
    owner.enter(1).await;
    owner.send(r#"20{"direction":1}"#).await;
    owner.next_msg().await;
    let mut guest = server.connect(2).await;
    guest.enter(1).await;
    guest.send(r#"20{"direction":1}"#).await;
    assert!(matches!(guest.next_msg().await, ServerMsg::Move { cell, .. } if cell == Cell::new(1, 0)));
}

#[tokio::test]
async fn leave_tells_the_others_and_closes_the_socket_normally() {
    let server = TestServer::start().await;
    let (mut owner, mut guest) = server.owner_and_guest().await;
    guest.send("19").await;
    guest.expect_close(1000).await;
    assert_eq!(owner.next_msg().await, ServerMsg::Leave { user: UserId(2) });
}

#[tokio::test]
async fn a_second_enter_for_another_room_moves_the_user() {
    let server = TestServer::start().await;
    let mut alice = server.connect(1).await;
    alice.enter(1).await;
    let mut bob = server.connect(2).await;
    bob.enter(2).await;
    let mut carol = server.connect(3).await;
    carol.enter(1).await;
    alice.next_msg().await; // carol's ENTER
    carol.send(r#"10{"room_id":"2"}"#).await;
    assert!(matches!(carol.next_msg().await, ServerMsg::Sync { room } if room.room_id.0 == 2));
    assert_eq!(alice.next_msg().await, ServerMsg::Leave { user: UserId(3) });
    assert!(matches!(
        bob.next_msg().await,
        ServerMsg::Enter { user: UserId(3), .. }
    ));
}

#[tokio::test]
async fn enter_into_the_room_the_socket_is_in_just_answers_sync() {
    let server = TestServer::start().await;
    let (mut owner, mut guest) = server.owner_and_guest().await;
    guest.enter(1).await;
    owner.expect_quiet().await;
}

#[tokio::test]
async fn a_user_may_be_in_different_rooms_through_different_sockets() {
    let server = TestServer::start().await;
    let mut in_one = server.connect(3).await;
    in_one.enter(1).await;
    let mut in_two = server.connect(3).await;
    in_two.enter(2).await;
    in_one.expect_alive_in_room().await;
    in_two.expect_alive_in_room().await;
}

#[tokio::test]
async fn duplicate_enter_replaces_the_old_socket_with_98_and_4000_and_others_see_nothing() {
    let server = TestServer::start().await;
    let mut owner = server.connect(1).await;
    owner.enter(1).await;
    let mut first = server.connect(2).await;
    first.enter(1).await;
    owner.next_msg().await;
    first.send(r#"20{"direction":2}"#).await;
    first.next_msg().await;
    owner.next_msg().await;

    let mut second = server.connect(2).await;
    match second.enter(1).await {
        ServerMsg::Sync { room } => {
            assert_eq!(room.users.len(), 2);
            let bob = room.users.iter().find(|u| u.user == UserId(2)).unwrap();
            assert_eq!(bob.cell, Cell::new(0, 1), "the user keeps their position");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        first.next_msg().await,
        ServerMsg::ClosePreConnection { .. }
    ));
    first.expect_close(4000).await;
    owner.expect_quiet().await;
}

#[tokio::test]
async fn duplicate_enter_works_when_the_room_is_full() {
    let server = TestServer::start_with(|args| args.room_capacity = 2).await;
    let mut owner = server.connect(1).await;
    owner.enter(1).await;
    let mut guest = server.connect(2).await;
    guest.enter(1).await;
    let mut third = server.connect(3).await;
    third.send(r#"10{"room_id":"1"}"#).await;
    third.expect_error(ErrorCode::RoomFull).await;
    let mut again = server.connect(2).await;
    again.enter(1).await;
    guest.expect_close(4000).await;
}

#[tokio::test]
async fn an_abrupt_disconnect_is_a_leave() {
    let server = TestServer::start().await;
    let (mut owner, guest) = server.owner_and_guest().await;
    // Drop the TCP connection without a close frame.
    drop(guest);
    assert_eq!(owner.next_msg().await, ServerMsg::Leave { user: UserId(2) });
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_removed() {
    let server = TestServer::start_with(|args| {
        args.ping_interval_ms = 100;
        args.dead_peer_ms = 600;
    })
    .await;
    let mut owner = server.connect(1).await;
    owner.enter(1).await;
    let mut silent = server.connect(2).await;
    silent.enter(1).await;
    // From now on `silent` is never polled, so it never answers a ping; the owner keeps answering.
    let leave = loop {
        match owner.next_event().await {
            Event::Msg(ServerMsg::Leave { user }) => break user,
            Event::Msg(_) => continue,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(leave, UserId(2));
    drop(silent);
}

#[tokio::test]
async fn five_users_moving_at_once_all_see_the_same_order() {
    let server = TestServer::start().await;
    let mut clients = Vec::new();
    for user in 1..=5 {
        let mut client = server.connect(user).await;
        client.enter(1).await;
        clients.push(client);
    }
    // Drain the ENTERs of later arrivals.
    for (i, client) in clients.iter_mut().enumerate() {
        for _ in i + 1..5 {
            assert!(matches!(client.next_msg().await, ServerMsg::Enter { .. }));
        }
    }
    let moves_each = 10;
    let senders = clients.iter_mut().map(|client| async move {
        for i in 0..moves_each {
            let direction = if i % 2 == 0 { 1 } else { 3 };
            client.send(&format!(r#"20{{"direction":{direction}}}"#)).await;
        }
    });
    futures_util::future::join_all(senders).await;
    let mut orders = Vec::new();
    for client in &mut clients {
        let mut order = Vec::new();
        while order.len() < 5 * moves_each {
            match client.next_msg().await {
                ServerMsg::Move { user, cell, .. } => order.push((user, cell)),
                other => panic!("{other:?}"),
            }
        }
        orders.push(order);
    }
    assert!(orders.windows(2).all(|pair| pair[0] == pair[1]));
}
