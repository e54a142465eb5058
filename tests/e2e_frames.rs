//! PROTOCOL.md §2: frames, bad input, size limit, batching.

mod common;

use common::{Event, TestServer};
use room_core::{ErrorCode, ServerMsg};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

async fn entered() -> (TestServer, common::Client) {
    let server = TestServer::start().await;
    let mut client = server.connect(1).await;
    client.enter(1).await;
    (server, client)
}

#[tokio::test]
async fn codes_that_are_not_client_codes_are_76900_and_the_socket_stays_open() {
    let (_server, mut client) = entered().await;
    for frame in ["12{}", "55{}", "98{}", "99{}", "00"] {
        client.send(frame).await;
        client.expect_error(ErrorCode::CodeNotAllowed).await;
    }
    client.expect_alive_in_room().await;
}

#[tokio::test]
async fn malformed_frames_are_76100_and_change_nothing() {
    let (_server, mut client) = entered().await;
    let bad = [
        "",
        "1",
        "ab{}",
        "20{",
        "20[1]",
        "20\"x\"",
        "20{}",
        r#"20{"direction":"1"}"#,
        r#"20{"direction":7}"#,
        r#"20{"direction":-1}"#,
        r#"10{}"#,
        r#"10{"room_id":"seven"}"#,
        r#"40{"map":{"side":5}}"#,
    ];
    for frame in bad {
        client.send(frame).await;
        client.expect_error(ErrorCode::Parse).await;
    }
    client.send("11").await;
    match client.next_msg().await {
        ServerMsg::Sync { room } => assert_eq!(room.users[0].cell, room_core::Cell::new(0, 0)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn sync_with_and_without_empty_json_is_the_same() {
    let (_server, mut client) = entered().await;
    client.send("11").await;
    let bare = client.next_msg().await;
    client.send("11{}").await;
    assert_eq!(client.next_msg().await, bare);
}

#[tokio::test]
async fn binary_frame_is_76100() {
    let (_server, mut client) = entered().await;
    client.send_message(Message::Binary(vec![1, 2, 3].into())).await;
    client.expect_error(ErrorCode::Parse).await;
    client.expect_alive_in_room().await;
}

#[tokio::test]
async fn frame_over_the_size_limit_is_76413_then_close_1009() {
    let server = TestServer::start_with(|args| args.max_frame_bytes = 1024).await;
    let mut client = server.connect(1).await;
    client.enter(1).await;
    client
        .send(&format!(r#"11{{"pad":"{}"}}"#, "x".repeat(2000)))
        .await;
    client.expect_error(ErrorCode::FrameTooLarge).await;
    client.expect_close(1009).await;
}

#[tokio::test]
async fn text_frame_that_is_not_utf8_is_closed_1007() {
    let (_server, mut client) = entered().await;
    let frame = Frame::message(vec![b'1', b'1', 0xff, 0xfe], OpCode::Data(Data::Text), true);
    client.send_message(Message::Frame(frame)).await;
    client.expect_close(1007).await;
}

#[tokio::test]
async fn batch_1_puts_several_messages_in_one_frame() {
    let server = TestServer::start_with(|args| args.tick_ms = 200).await;
    let mut watcher = server.connect_query(2, "&batch=1").await;
    watcher.enter(1).await;
    let mut mover = server.connect(1).await;
    mover.enter(1).await;
    for _ in 0..5 {
        mover.send(r#"20{"direction":1}"#).await;
    }
    let before = watcher.frames_received;
    let mut moves = 0;
    while moves < 5 {
        if let ServerMsg::Move { .. } = watcher.next_msg().await {
            moves += 1;
        }
    }
    // ENTER and five MOVEs arrived in fewer frames than messages.
    assert!(
        watcher.frames_received - before < 6,
        "{} frames",
        watcher.frames_received - before
    );
}

#[tokio::test]
async fn without_batch_each_message_is_its_own_frame() {
    let (server, mut mover) = entered().await;
    let mut watcher = server.connect(2).await;
    watcher.enter(1).await;
    for _ in 0..3 {
        mover.send(r#"20{"direction":1}"#).await;
    }
    let before = watcher.frames_received;
    for _ in 0..3 {
        assert!(matches!(
            watcher.next_event().await,
            Event::Msg(ServerMsg::Move { .. })
        ));
    }
    assert_eq!(watcher.frames_received - before, 3);
}

/// RFC 6455 §5.5.1: a Close from the client is answered with a Close (echoing
/// its code) before the connection ends, and the room hears the user leave.
#[tokio::test]
async fn a_close_from_the_client_is_echoed_and_the_user_leaves() {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    let server = TestServer::start().await;
    let (mut owner, mut guest) = server.owner_and_guest().await;
    guest
        .send_message(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        })))
        .await;
    assert_eq!(guest.next_event().await, Event::Close(Some(1000)));
    match owner.next_msg().await {
        ServerMsg::Leave { user } => assert_eq!(user.0, 2),
        other => panic!("{other:?}"),
    }
}
