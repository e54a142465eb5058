//! Issue 13, item 12: an ENTER that arrives while the MySQL store is still
//! starting waits for it (up to --store-wait-ms) instead of being refused.

mod common;

use std::net::SocketAddr;

use common::TestServer;
use common::cluster::Database;
use room_core::ServerMsg;
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
