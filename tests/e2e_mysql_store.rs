//! The server on MySQL (the real MariaDB), issue 13: an ENTER that arrives
//! while the store is still starting waits for it (up to --store-wait-ms)
//! instead of being refused (item 12); a BUILD that meets a map stored by
//! another writer reloads it for everyone and the room stays buildable (item 8).

mod common;

use std::net::SocketAddr;

use common::TestServer;
use common::cluster::Database;
use room_core::{ErrorCode, ServerMsg};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A loopback proxy to the shared MariaDB that accepts connections at once
/// but forwards nothing until released: a store that is still starting.
async fn held_proxy() -> (SocketAddr, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (release, released) = watch::channel(false);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let mut released = released.clone();
            tokio::spawn(async move {
                let _ = released.wait_for(|r| *r).await;
                if let Ok(mut outbound) = TcpStream::connect("127.0.0.1:3306").await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (addr, release)
}

#[tokio::test]
async fn an_enter_while_the_store_is_still_starting_waits_for_it_instead_of_76503() {
    let db = Database::create().await;
    let (addr, release) = held_proxy().await;
    let url = db.url_via(&addr.to_string());
    let server = TestServer::start_with(|args| {
        args.mysql = Some(url.clone());
        args.store_wait_ms = 20_000;
    })
    .await;
    let mut early = server.connect(1).await;
    early.send(r#"10{"room_id":"1"}"#).await;
    // Today's server answers 76503 here at once.
    early.expect_quiet().await;
    release.send(true).unwrap();
    match early.next_msg().await {
        ServerMsg::Sync { room } => assert_eq!(room.room_id.0, 1),
        other => panic!("expected the SYNC once the store is ready, got {other:?}"),
    }
}

const WALL_AT: &str = r#"40{"map":{"side":SIDE,"gameList":[],"objectList":["w1"],"games":{},"objects":{"w1":{"name":"wall","x":1,"y":1}}}}"#;

fn build_of_side(side: u16) -> String {
    WALL_AT.replace("SIDE", &side.to_string())
}

async fn next_sync_side(client: &mut common::Client) -> u16 {
    loop {
        match client.next_msg().await {
            ServerMsg::Sync { room } => return room.map.side(),
            ServerMsg::Enter { .. } | ServerMsg::Leave { .. } => {}
            other => panic!("expected a SYNC, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_build_over_a_map_stored_by_another_server_reloads_it_for_everyone_and_the_room_stays_buildable() {
    let db = Database::create().await;
    let url = db.url_via("127.0.0.1:3306");
    let here = TestServer::start_with(|args| args.mysql = Some(url.clone())).await;
    let elsewhere = TestServer::start_with(|args| args.mysql = Some(url.clone())).await;
    let (mut owner, mut guest) = here.owner_and_guest().await;

    // The same room loaded on another server (not a cluster): a second writer.
    let mut other_owner = elsewhere.connect(1).await;
    other_owner.enter(1).await;
    other_owner.send(&build_of_side(9)).await;
    assert_eq!(next_sync_side(&mut other_owner).await, 9);

    owner.send(&build_of_side(12)).await;
    let mut refused = false;
    let mut side = None;
    while side.is_none() || !refused {
        match owner.next_msg().await {
            ServerMsg::Sync { room } => side = Some(room.map.side()),
            ServerMsg::Error { code, .. } => {
                assert_eq!(code, ErrorCode::Unavailable);
                refused = true;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(side, Some(9), "the owner now sees the stored map");
    assert_eq!(next_sync_side(&mut guest).await, 9, "and so does everyone");

    // Buildable again: stored over the reloaded version.
    owner.send(&build_of_side(14)).await;
    assert_eq!(next_sync_side(&mut owner).await, 14);
    assert_eq!(next_sync_side(&mut guest).await, 14);
    drop((owner, guest, other_owner));
    let third = TestServer::start_with(|args| args.mysql = Some(url.clone())).await;
    let mut reader = third.connect(3).await;
    match reader.enter(1).await {
        ServerMsg::Sync { room } => assert_eq!(room.map.side(), 14, "what was stored last"),
        other => panic!("{other:?}"),
    }
}
