//! Issue 13, item 4, over a real socket: a client that asks for SYNC over and
//! over and reads nothing is held to its byte budget (repeated SYNCs coalesce
//! to the latest) and, when it finally reads, sees the latest room.

mod common;

use common::{PATIENCE, QUIET, TestServer, token};
use futures_util::{SinkExt, StreamExt};
use room_core::{ServerMsg, parse_server_frame, split_batch};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;

/// A BUILD of `walls` walls from row `row` of a 64x64 map: its SYNC is tens of KiB.
fn big_map(walls: usize, row: usize) -> String {
    let list: Vec<String> = (0..walls).map(|i| format!("\"w{i}\"")).collect();
    let objects: Vec<String> = (0..walls)
        .map(|i| format!(r#""w{i}":{{"name":"wall","x":{},"y":{}}}"#, i % 64, row + i / 64))
        .collect();
    format!(
        r#"40{{"map":{{"side":64,"gameList":[],"objectList":[{}],"games":{{}},"objects":{{{}}}}}}}"#,
        list.join(","),
        objects.join(",")
    )
}

#[tokio::test]
async fn a_client_asking_for_sync_over_and_over_without_reading_gets_the_latest_room_not_every_answer() {
    let server = TestServer::start_with(|args| {
        args.rate = 10_000;
        args.rate_burst = 10_000;
        // Long enough that the writer never gives up on the stuck socket during the test.
        args.write_timeout_ms = 120_000;
    })
    .await;
    let mut owner = server.connect(1).await;
    owner.enter(1).await;
    owner.send(&big_map(900, 10)).await;
    assert!(matches!(owner.next_msg().await, ServerMsg::Sync { room } if room.map.objects().len() == 900));

    // A small, fixed receive buffer (no autotuning): what the kernel holds for
    // this client is a few MiB at most, so what it finally reads is what the
    // server kept for it.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let tcp = socket.connect(server.server.addr()).await.unwrap();
    let url = server.ws_url(&format!("?token={}", token(2)));
    let (mut stuck, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    stuck
        .send(Message::Text(r#"10{"room_id":"1"}"#.into()))
        .await
        .unwrap();
    let requests = 600;
    for _ in 0..requests {
        stuck.send(Message::Text("11".into())).await.unwrap();
    }
    // The room changes meanwhile: the stuck client must finally show this map.
    owner.send(&big_map(800, 20)).await;
    loop {
        match owner.next_msg().await {
            ServerMsg::Sync { room } if room.map.objects().len() == 800 => break,
            ServerMsg::Sync { .. } | ServerMsg::Enter { .. } => {}
            other => panic!("{other:?}"),
        }
    }

    let mut syncs = 0;
    let mut last = None;
    loop {
        let wait = if last.is_some() { QUIET * 3 } else { PATIENCE };
        let Ok(next) = tokio::time::timeout(wait, stuck.next()).await else {
            break;
        };
        match next {
            Some(Ok(Message::Text(text))) => {
                for line in split_batch(&text) {
                    let msg = parse_server_frame(line).unwrap();
                    if let ServerMsg::Sync { room } = &msg {
                        syncs += 1;
                        last = Some(room.map.objects().len());
                    }
                }
            }
            Some(Ok(Message::Close(frame))) => panic!("closed: {frame:?}"),
            Some(Ok(_)) => {}
            other => panic!("connection ended: {other:?}"),
        }
    }
    assert_eq!(
        last,
        Some(800),
        "the last thing the client sees is the latest room"
    );
    assert!(
        syncs < requests / 2,
        "{syncs} SYNCs delivered for {requests} requests: nothing was coalesced"
    );
    assert!(server.metric("myroom_coalesced_total", "").await >= 1.0);
}
