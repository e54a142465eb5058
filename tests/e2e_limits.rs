//! PROTOCOL.md §7: rate limit, flooding, capacity, slow readers, shutdown.

mod common;

use std::time::Duration;

use common::{Event, TestServer};
use futures_util::SinkExt;
use room_core::{ErrorCode, ServerMsg};

#[tokio::test]
async fn excess_messages_are_dropped_with_one_76429_per_second() {
    let server = TestServer::start_with(|args| {
        args.rate = 5;
        args.rate_burst = 5;
    })
    .await;
    let mut client = server.connect(1).await;
    client.enter(1).await; // one token spent
    for _ in 0..10 {
        client.send(r#"20{"direction":0}"#).await; // off-grid: answered with nothing
    }
    client.expect_error(ErrorCode::RateLimited).await;
    client.expect_quiet().await;
}

/// With the default limits (30/s, burst 60), 300 MOVEs sent at once are mostly
/// dropped: the room applies about a burst's worth, not all of them. Moves to
/// the right and back are each applied if handled, so every MOVE the mover
/// hears back is one the limiter let through.
#[tokio::test]
async fn a_burst_over_the_limit_is_dropped_not_applied() {
    let server = TestServer::start().await;
    let started = std::time::Instant::now();
    let mut client = server.connect(1).await;
    client.enter(1).await; // one token spent
    let sent = 300;
    for i in 0..sent {
        let direction = if i % 2 == 0 { 1 } else { 3 };
        client.send(&format!(r#"20{{"direction":{direction}}}"#)).await;
    }
    // The reader handles frames in order and the room applies them in order, so
    // once a SYNC comes back every MOVE that was applied has been heard before it.
    let (mut applied, mut warnings) = (0usize, 0usize);
    let mut last_cell = room_core::Cell::new(0, 0);
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    let last = 'answered: loop {
        client.send("11").await; // dropped too while the bucket is empty: ask again
        while let Some(event) = client.next_event_within(Duration::from_millis(100)).await {
            match event {
                Event::Msg(ServerMsg::Move { cell, .. }) => {
                    applied += 1;
                    last_cell = cell;
                }
                Event::Msg(ServerMsg::Error {
                    code: ErrorCode::RateLimited,
                    ..
                }) => warnings += 1,
                Event::Msg(ServerMsg::Sync { room }) => break 'answered room,
                other => panic!("{other:?}"),
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no SYNC came back");
    };
    // Tokens refill at 30/s over the whole exchange; allow for all of them.
    let refilled = (started.elapsed().as_secs_f64() * 30.0).ceil() as usize;
    assert!(applied >= 59, "the burst is applied: {applied}");
    assert!(
        applied <= 59 + refilled,
        "{applied} of {sent} moves applied in {:?}",
        started.elapsed()
    );
    assert!(warnings >= 1);
    // What the room shows agrees with the moves it reported.
    let cell = last.users.iter().find(|u| u.user.0 == 1).unwrap().cell;
    assert_eq!(cell, last_cell);
}

#[tokio::test]
async fn flooding_for_five_seconds_closes_1008() {
    let server = TestServer::start_with(|args| {
        args.rate = 2;
        args.rate_burst = 2;
    })
    .await;
    let mut client = server.connect(1).await;
    client.enter(1).await;
    // Ten frames a second against a limit of two: over three times the rate.
    for _ in 0..1000 {
        if client.ws.send(r#"20{"direction":0}"#.into()).await.is_err() {
            break;
        }
        match client.next_event_within(Duration::from_millis(10)).await {
            Some(Event::Close(code)) => {
                assert_eq!(code, Some(1008));
                return;
            }
            Some(Event::Gone) => break,
            _ => {}
        }
    }
    client.expect_close(1008).await;
}

#[tokio::test]
async fn a_full_room_is_76409() {
    let server = TestServer::start_with(|args| args.room_capacity = 2).await;
    for user in [1, 2] {
        let mut client = server.connect(user).await;
        client.enter(1).await;
        std::mem::forget(client);
    }
    let mut late = server.connect(3).await;
    late.send(r#"10{"room_id":"1"}"#).await;
    late.expect_error(ErrorCode::RoomFull).await;
}

/// A BUILD of `walls` walls below row 10 of a 64x64 map: a SYNC of it is tens of KiB.
fn big_map(walls: usize) -> String {
    let ids: Vec<String> = (0..walls).map(|i| format!("w{i}")).collect();
    let list = ids
        .iter()
        .map(|id| format!("\"{id}\""))
        .collect::<Vec<_>>()
        .join(",");
    let objects = ids
        .iter()
        .enumerate()
        .map(|(i, id)| format!(r#""{id}":{{"name":"wall","x":{},"y":{}}}"#, i % 64, 10 + i / 64))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        r#"40{{"map":{{"side":64,"gameList":[],"objectList":[{list}],"games":{{}},"objects":{{{objects}}}}}}}"#
    )
}

#[tokio::test]
async fn a_client_that_never_reads_does_not_hold_up_the_others_and_is_closed_1013() {
    let server = TestServer::start_with(|args| {
        args.outbox_capacity = 16;
        args.write_timeout_ms = 500;
        args.rate = 10_000;
        args.rate_burst = 10_000;
    })
    .await;
    let mut owner = server.connect(1).await;
    owner.enter(1).await;
    owner.send(&big_map(900)).await;
    assert!(matches!(owner.next_msg().await, ServerMsg::Sync { room } if room.map.objects().len() == 900));
    let mut watcher = server.connect(2).await;
    watcher.enter(1).await;
    let mut stuck = server.connect(3).await;
    stuck.enter(1).await;
    for client in [&mut owner, &mut watcher] {
        assert!(matches!(client.next_msg().await, ServerMsg::Enter { .. }));
    }
    assert!(matches!(owner.next_msg().await, ServerMsg::Enter { .. }));

    // `stuck` asks for the whole room over and over and never reads the answers;
    // meanwhile the owner walks and the watcher must see every step. Repeated
    // SYNCs coalesce to the latest, so it also sends frames answered with an
    // ERROR, which must all be delivered: its queue stays full and it is closed.
    let requests = async {
        for i in 0..1200 {
            let frame = if i % 2 == 0 { "11" } else { "not a frame" };
            if stuck.ws.send(frame.into()).await.is_err() {
                break;
            }
        }
    };
    let steps = 100;
    let walk = async {
        let mut seen = 0;
        let mut saw_leave = false;
        for i in 0..steps {
            let direction = if i % 2 == 0 { 1 } else { 3 };
            owner.send(&format!(r#"20{{"direction":{direction}}}"#)).await;
            loop {
                match watcher.next_msg().await {
                    ServerMsg::Move { user, .. } if user.0 == 1 => {
                        seen += 1;
                        break;
                    }
                    ServerMsg::Leave { user } if user.0 == 3 => saw_leave = true,
                    other => panic!("{other:?}"),
                }
            }
        }
        (seen, saw_leave)
    };
    let ((), (seen, mut saw_leave)) = tokio::join!(requests, walk);
    assert_eq!(seen, steps, "the watcher saw every move");
    while !saw_leave {
        match watcher.next_msg().await {
            ServerMsg::Leave { user } if user.0 == 3 => saw_leave = true,
            ServerMsg::Move { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(server.metric("myroom_closes_total", "code=\"1013\"").await >= 1.0);
    drop(stuck);
}

#[tokio::test]
async fn shutdown_closes_sockets_with_1001() {
    let server = TestServer::start().await;
    let mut client = server.connect(1).await;
    client.enter(1).await;
    let shutdown = tokio::spawn(server.server.shutdown());
    client.expect_close(1001).await;
    drop(client);
    shutdown.await.unwrap();
}
