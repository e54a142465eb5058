//! A socket that asks for SYNC over and over and never reads holds at most
//! its byte budget, and still finally sees the latest room (issue 13, item 4).
//! Time is paused: ticks pass only when every task is idle.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{enter_room_1 as open, server_messages as messages, take, users};
use room_core::{ClientMsg, ServerMsg, parse_client_frame};
use room_node::memory::MemoryMapStore;
use room_node::{Engine, EngineConfig};
use room_ports::MapStore;

/// The default per-socket budget of PROTOCOL.md §7.
const BUDGET: usize = 1024 * 1024;

async fn engine() -> Engine {
    let store = Arc::new(MemoryMapStore::new());
    store.seed_users(&users(2)).await.unwrap();
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

async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
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
