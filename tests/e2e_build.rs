//! PROTOCOL.md §5: BUILD rules, storage before telling, survival across restarts.

mod common;

use common::{TestServer, args_for};
use room_core::{Cell, ErrorCode, ServerMsg};

const CHESS_AND_WALL: &str = r#"40{"map":{"side":6,"gameList":["12"],"objectList":["w1"],
  "games":{"12":{"name":"Chess","x":0,"y":0}},"objects":{"w1":{"name":"wall","x":1,"y":0}}}}"#;

#[tokio::test]
async fn owner_build_is_synced_to_everyone_at_spawn() {
    let server = TestServer::start().await;
    let (mut owner, mut guest) = server.owner_and_guest().await;
    guest.send(r#"20{"direction":2}"#).await;
    guest.next_msg().await;
    owner.next_msg().await;

    owner.send(&CHESS_AND_WALL.replace('\n', "")).await;
    for client in [&mut owner, &mut guest] {
        match client.next_msg().await {
            ServerMsg::Sync { room } => {
                assert_eq!(room.map.side(), 6);
                assert!(
                    room.users.iter().all(|u| u.cell == Cell::new(2, 0)),
                    "{:?}",
                    room.users
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn build_from_a_guest_is_76403() {
    let server = TestServer::start().await;
    let mut guest = server.connect(2).await;
    guest.enter(1).await;
    guest.send(&CHESS_AND_WALL.replace('\n', "")).await;
    guest.expect_error(ErrorCode::Forbidden).await;
}

#[tokio::test]
async fn build_with_an_unowned_game_is_76403() {
    let server = TestServer::start().await;
    let mut owner = server.connect(1).await;
    owner.enter(1).await;
    owner
        .send(&CHESS_AND_WALL.replace('\n', "").replace("12", "14"))
        .await;
    owner.expect_error(ErrorCode::Forbidden).await;
}

#[tokio::test]
async fn build_with_a_broken_structure_is_76410_and_changes_nothing() {
    let server = TestServer::start().await;
    let mut owner = server.connect(1).await;
    owner.enter(1).await;
    let overlapping = CHESS_AND_WALL
        .replace('\n', "")
        .replace(r#""x":1,"y":0"#, r#""x":0,"y":0"#);
    let too_big = CHESS_AND_WALL
        .replace('\n', "")
        .replace(r#""side":6"#, r#""side":65"#);
    let off_grid = CHESS_AND_WALL
        .replace('\n', "")
        .replace(r#""x":1,"y":0"#, r#""x":6,"y":0"#);
    for frame in [overlapping, too_big, off_grid] {
        owner.send(&frame).await;
        owner.expect_error(ErrorCode::InvalidMap).await;
    }
    owner.send("11").await;
    assert!(matches!(owner.next_msg().await, ServerMsg::Sync { room } if room.map.side() == 20));
}

#[tokio::test]
async fn a_guest_with_a_broken_map_hears_76403_first() {
    let server = TestServer::start().await;
    let mut guest = server.connect(2).await;
    guest.enter(1).await;
    guest
        .send(
            &CHESS_AND_WALL
                .replace('\n', "")
                .replace(r#""side":6"#, r#""side":1"#),
        )
        .await;
    guest.expect_error(ErrorCode::Forbidden).await;
}

#[tokio::test]
async fn an_accepted_build_survives_a_server_restart() {
    let server = TestServer::start().await;
    let dir = server.dir.clone();
    let mut owner = server.connect(1).await;
    owner.enter(1).await;
    owner.send(&CHESS_AND_WALL.replace('\n', "")).await;
    assert!(matches!(owner.next_msg().await, ServerMsg::Sync { .. }));
    drop(owner);
    server.server.shutdown().await;

    let restarted = myroom::app::start(args_for(&dir)).await.unwrap();
    let mut again = common::Client::connect(&format!(
        "ws://{}/library?token={}",
        restarted.addr(),
        common::token(2)
    ))
    .await
    .unwrap();
    match again.enter(1).await {
        ServerMsg::Sync { room } => {
            assert_eq!(room.map.side(), 6);
            assert_eq!(room.map.games().len(), 1);
            assert_eq!(room.users[0].cell, Cell::new(2, 0));
        }
        other => panic!("{other:?}"),
    }
}

/// Issue 13, item 7: a map file the store cannot read no longer locks its room.
#[tokio::test]
async fn a_map_file_that_cannot_be_read_is_kept_aside_and_the_owner_can_build_again() {
    const BAD: &str = r#"{"version":3,"map":{"side":"#;
    let server = TestServer::start_with(|args| {
        std::fs::create_dir_all(args.data.join("maps")).unwrap();
        std::fs::write(args.data.join("maps").join("1.json"), BAD).unwrap();
    })
    .await;
    let maps = server.dir.join("data").join("maps");
    let mut owner = server.connect(1).await;
    match owner.enter(1).await {
        ServerMsg::Sync { room } => assert_eq!(room.map.side(), 20, "the empty map"),
        other => panic!("{other:?}"),
    }
    owner.expect_error(ErrorCode::InvalidMap).await; // the owner is told why
    let aside: Vec<_> = std::fs::read_dir(&maps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("1.json.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "kept aside: {aside:?}");
    assert_eq!(std::fs::read_to_string(&aside[0]).unwrap(), BAD);
    assert!(server.metric("myroom_store_corrupt_total", "").await >= 1.0);

    owner.send(&CHESS_AND_WALL.replace('\n', "")).await;
    assert!(matches!(owner.next_msg().await, ServerMsg::Sync { room } if room.map.side() == 6));
    assert_eq!(
        std::fs::read_to_string(&aside[0]).unwrap(),
        BAD,
        "never overwritten"
    );
}

/// CHESS_AND_WALL with `"ref":"<reference>"` added (`reference` as JSON writes it inside quotes).
fn with_ref(reference: &str) -> String {
    let build = CHESS_AND_WALL.replace('\n', "");
    format!("{},\"ref\":\"{reference}\"}}", &build[..build.len() - 1])
}

#[tokio::test]
async fn a_builds_ref_comes_back_in_the_builders_sync_alone_and_in_its_error() {
    let server = TestServer::start().await;
    let (mut owner, mut guest) = server.owner_and_guest().await;

    owner.send(&with_ref("b1")).await;
    let mine = owner.next_line().await;
    let theirs = guest.next_line().await;
    assert!(mine.starts_with("11{"), "{mine}");
    assert_eq!(room_core::frame_ref(&mine).unwrap().as_deref(), Some("b1"));
    assert_eq!(room_core::frame_ref(&theirs).unwrap(), None, "{theirs}");
    // The same SYNC otherwise: the guest's frame plus the ref.
    assert_eq!(room_core::with_ref(&theirs, "b1"), mine);

    guest.send(&with_ref(r#"g\"7"#)).await;
    let refused = guest.next_line().await;
    assert!(refused.starts_with("99{\"code\":76403,"), "{refused}");
    assert_eq!(room_core::frame_ref(&refused).unwrap().as_deref(), Some("g\"7"));
    owner.expect_quiet().await;
}

#[tokio::test]
async fn a_build_without_ref_is_answered_as_before_and_a_bad_ref_is_76100() {
    let server = TestServer::start().await;
    let (mut owner, mut guest) = server.owner_and_guest().await;
    owner.send(&CHESS_AND_WALL.replace('\n', "")).await;
    let mine = owner.next_line().await;
    assert_eq!(mine, guest.next_line().await, "one SYNC for everyone");
    assert!(!mine.contains("\"ref\""), "{mine}");

    let too_long = "r".repeat(65);
    owner.send(&with_ref(&too_long)).await;
    owner.expect_error(ErrorCode::Parse).await;
    guest.expect_quiet().await;
}

#[tokio::test]
async fn the_sync_answering_enter_or_11_names_the_user_and_a_builds_sync_does_not() {
    let server = TestServer::start().await;
    let mut guest = server.connect(2).await;
    guest.send(r#"10{"room_id":"1"}"#).await;
    let entered: serde_json::Value = serde_json::from_str(&guest.next_line().await[2..]).unwrap();
    assert_eq!(entered["you"], "2");
    guest.send("11").await;
    let asked: serde_json::Value = serde_json::from_str(&guest.next_line().await[2..]).unwrap();
    assert_eq!(asked["you"], "2");
}
