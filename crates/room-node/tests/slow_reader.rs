//! A socket that asks for SYNC over and over and never reads holds at most
//! its byte budget, and still finally sees the latest room (issue 13, item 4).
//! Time is paused: ticks pass only when every task is idle.

use std::sync::Arc;
use std::time::Duration;

use room_core::{ClientMsg, RoomId, ServerMsg, UserId, parse_client_frame, parse_server_frame};
use room_node::memory::MemoryMapStore;
use room_node::{Engine, EngineConfig, Frame, Next, Outbox, Session};
use room_ports::{MapStore, UserSeed};

/// The default per-socket budget of PROTOCOL.md §7.
const BUDGET: usize = 1024 * 1024;

async fn engine() -> Engine {
    let store = Arc::new(MemoryMapStore::new());
    let users: Vec<UserSeed> = (1..=2)
        .map(|id| UserSeed {
            user: UserId(id),
            nickname: format!("user{id}"),
            games: Vec::new(),
        })
        .collect();
    store.seed_users(&users).await.unwrap();
    Engine::builder(store).config(EngineConfig::default()).build()
}

/// A BUILD of `walls` walls from row `row` of a 64x64 map: its SYNC is tens of KiB.
fn big_map(walls: usize, row: usize) -> ClientMsg {
    let ids: Vec<String> = (0..walls).map(|i| format!("\"w{i}\"")).collect();
    let objects: Vec<String> = (0..walls)
        .map(|i| format!(r#""w{i}":{{"name":"wall","x":{},"y":{}}}"#, i % 64, row + i / 64))
        .collect();
    let text = format!(
        r#"40{{"map":{{"side":64,"gameList":[],"objectList":[{}],"games":{{}},"objects":{{{}}}}}}}"#,
        ids.join(","),
        objects.join(",")
    );
    parse_client_frame(&text).unwrap()
}

async fn open(engine: &Engine, user: u64, batched: bool) -> Session {
    let outbox = if batched {
        engine.new_batch_outbox()
    } else {
        engine.new_outbox()
    };
    let mut session = engine.open_session_with_outbox(UserId(user), format!("user{user}"), outbox);
    session
        .handle(ClientMsg::Enter {
            room_id: RoomId(1),
            authorization: None,
        })
        .await;
    session
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

fn take(outbox: &Outbox) -> Vec<Frame> {
    match outbox.try_next(usize::MAX) {
        Some(Next::Frames(frames)) => frames,
        None => Vec::new(),
        Some(Next::Close(reason)) => panic!("closed with {reason:?}"),
    }
}

fn messages(frames: &[Frame]) -> Vec<ServerMsg> {
    frames
        .iter()
        .flat_map(|f| {
            f.as_str()
                .split('\n')
                .map(|m| parse_server_frame(m).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn repeated_syncs_stay_within_the_budget(batched: bool) {
    let engine = engine().await;
    let mut owner = open(&engine, 1, false).await;
    owner.handle(big_map(900, 10)).await;
    settle().await;
    let mut stuck = open(&engine, 2, batched).await;
    settle().await;
    take(owner.outbox());

    for _ in 0..160 {
        stuck.handle(ClientMsg::Sync).await;
    }
    settle().await;
    // The room changes while the socket is behind: it must finally show this map.
    owner.handle(big_map(800, 20)).await;
    settle().await;

    let frames = take(stuck.outbox());
    let held: usize = frames.iter().map(|f| f.bytes.len()).sum();
    assert!(
        held <= BUDGET,
        "the socket held {held} bytes, over its budget of {BUDGET}"
    );
    let messages = messages(&frames);
    let syncs = messages
        .iter()
        .filter(|m| matches!(m, ServerMsg::Sync { .. }))
        .count();
    assert!(syncs < 160, "{syncs} SYNCs queued: nothing was coalesced");
    match messages.last() {
        Some(ServerMsg::Sync { room }) => assert_eq!(room.map.objects().len(), 800, "the latest map"),
        other => panic!("the last message is not the latest SYNC: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn repeated_syncs_to_a_socket_that_never_reads_coalesce_within_its_byte_budget() {
    repeated_syncs_stay_within_the_budget(false).await;
}

#[tokio::test(start_paused = true)]
async fn repeated_syncs_to_a_batching_socket_that_never_reads_coalesce_within_its_byte_budget() {
    repeated_syncs_stay_within_the_budget(true).await;
}
