//! Behind a real gateway (issue 24): HAProxy with the repository's
//! `deploy/haproxy.cfg` in front of three cluster nodes. Clients come from
//! loopback addresses of their own (127.0.0.2, .3, ...), so the gateway's
//! address (127.0.0.1, the one trusted proxy) is never a client's.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::PATIENCE;
use common::cluster::{Cluster, ClusterOptions, free_port};
use common::gateway::{Gateway, connect_from, node_args, ws_from};
use room_core::ServerMsg;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn client(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

async fn start(extra: &[&str]) -> (Cluster, Gateway) {
    let port = free_port();
    let mut options = ClusterOptions::new(3);
    options.extra_args = node_args(port);
    options.extra_args.extend(extra.iter().map(|s| s.to_string()));
    let cluster = Cluster::start_with(options).await;
    let gateway = Gateway::start(&cluster, port).await;
    (cluster, gateway)
}

/// The route the gateway's nodes give for `room`: its URL (on the gateway) and node.
async fn route(gateway: &Gateway, room: u64) -> (String, String) {
    let answer = gateway
        .get(Some(client(9)), &format!("/rooms/{room}/route"))
        .await
        .expect("the route answers through the gateway");
    assert_eq!(answer.status, 200, "{answer:?}");
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    (
        json["url"].as_str().unwrap().to_owned(),
        json["node"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn clients_through_the_gateway_land_on_the_rooms_host_and_see_each_other() {
    let (cluster, gateway) = start(&[]).await;
    // Nobody is in room 1: the route names a live node, through the gateway.
    let (url, node) = route(&gateway, 1).await;
    assert_eq!(
        url,
        format!("{}?node={node}", gateway.ws_url()),
        "the route answers the gateway's URL"
    );
    let (mut owner, landed) = ws_from(client(2), &url, 1, &[]).await.expect("owner upgraded");
    assert_eq!(
        landed.as_deref(),
        Some(node.as_str()),
        "the node parameter picked the node"
    );
    owner.enter(1).await;

    // Now the room is hosted there, and the route says so to everyone.
    let (url, host) = route(&gateway, 1).await;
    assert_eq!(host, node);
    let (mut guest, landed) = ws_from(client(3), &url, 2, &[]).await.expect("guest upgraded");
    assert_eq!(landed.as_deref(), Some(host.as_str()));
    match guest.enter(1).await {
        ServerMsg::Sync { room } => assert!(room.users.iter().any(|u| u.user.0 == 1), "{room:?}"),
        other => panic!("{other:?}"),
    }
    // A client that ignores the route lands round-robin; its node relays to the host.
    let mut landings = std::collections::BTreeSet::new();
    let mut walkers = Vec::new();
    for user in 3..=5 {
        let (mut walker, landed) = ws_from(client(4), &gateway.ws_url(), user, &[])
            .await
            .expect("upgraded");
        landings.insert(landed.expect("a node answered"));
        walker.enter(1).await;
        walkers.push(walker);
    }
    assert_eq!(
        landings.len(),
        3,
        "round-robin spread new users over the three nodes: {landings:?}"
    );
    for user in [2, 3, 4, 5] {
        wait_for_enter(&mut owner, user).await;
    }
    cluster.assert_no_panics();
}

async fn wait_for_enter(watcher: &mut common::Client, user: u64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "no ENTER of user {user}");
        if let ServerMsg::Enter { user: u, .. } = watcher.next_msg().await
            && u.0 == user
        {
            return;
        }
    }
}

#[tokio::test]
async fn the_per_ip_cap_counts_each_real_client_and_a_forged_address_changes_nothing() {
    let (cluster, gateway) = start(&["--max-connections-per-ip", "2"]).await;
    let n1 = format!("{}?node=n1", gateway.ws_url());
    let forged = [
        ("x-forwarded-for", "203.0.113.1"),
        ("forwarded", "for=203.0.113.1"),
    ];
    // Client .2 through the gateway: its share is two sockets on n1.
    let mut held = Vec::new();
    for user in [1, 2] {
        let (socket, landed) = ws_from(client(2), &n1, user, &[]).await.expect("within the cap");
        assert_eq!(landed.as_deref(), Some("n1"));
        held.push(socket);
    }
    assert_eq!(
        ws_from(client(2), &n1, 3, &[]).await.err(),
        Some(503),
        "the third is over the cap"
    );
    // A header naming another address does not buy .2 another share.
    assert_eq!(
        ws_from(client(2), &n1, 3, &forged).await.err(),
        Some(503),
        "a forged address is not the client"
    );
    // Client .3 comes through the same gateway, yet has a share of its own.
    let (mut other, _) = ws_from(client(3), &n1, 4, &[])
        .await
        .expect("another client is not capped");
    other.enter(4).await;

    // Straight to the node, from .5 (not a trusted proxy): a PROXY header is
    // just a bad request, and forwarding headers change nothing.
    let direct = cluster.node(cluster.index_of("n1")).addr;
    let mut stream = connect_from(Some(client(5)), direct).await.unwrap();
    stream
        .write_all(b"PROXY TCP4 203.0.113.9 10.0.0.1 5000 8210\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let direct_url = format!("ws://{direct}/library");
    let mut direct_held = Vec::new();
    for (user, address) in [(5, "203.0.113.5"), (6, "203.0.113.6")] {
        let headers = [("x-forwarded-for", address), ("forwarded", "for=203.0.113.7")];
        let (socket, _) = ws_from(client(5), &direct_url, user, &headers)
            .await
            .expect("within the cap");
        direct_held.push(socket);
    }
    let headers = [("x-forwarded-for", "203.0.113.8")];
    assert_eq!(
        ws_from(client(5), &direct_url, 7, &headers).await.err(),
        Some(503)
    );

    // The refusals name the real client in n1's log, not the gateway.
    let log = std::fs::read_to_string(&cluster.node(cluster.index_of("n1")).log).unwrap();
    assert!(
        log.lines().any(|l| l.contains("connection refused")
            && l.contains("client=127.0.0.2")
            && l.contains("peer=127.0.0.1")),
        "no refusal naming client 127.0.0.2 behind the gateway"
    );
    // Sockets within the cap still work.
    other.expect_alive_in_room().await;
    drop((held, direct_held));
}

#[tokio::test]
async fn a_draining_node_gets_no_new_users_but_keeps_serving_its_own() {
    let (cluster, gateway) = start(&["--drain-delay-ms", "30000"]).await;
    let n3 = cluster.index_of("n3");
    let (mut resident, landed) = ws_from(client(2), &format!("{}?node=n3", gateway.ws_url()), 3, &[])
        .await
        .expect("upgraded");
    assert_eq!(landed.as_deref(), Some("n3"));
    resident.enter(3).await;

    cluster.signal_terminate(n3);
    // The node says it is leaving...
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some((503, body)) = cluster.get(n3, "/readyz").await {
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&body).unwrap()["draining"],
                true
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "n3 never said it was draining"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ...and the gateway's checks see it: two whole rounds answered by others only.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut others_in_a_row = 0;
    while others_in_a_row < 6 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the gateway kept sending requests to the draining node"
        );
        let answer = gateway
            .get(Some(client(4)), "/healthz")
            .await
            .expect("the gateway answers");
        assert_eq!(answer.status, 200);
        if answer.node.as_deref() == Some("n3") {
            others_in_a_row = 0;
            tokio::time::sleep(Duration::from_millis(50)).await;
        } else {
            others_in_a_row += 1;
        }
    }
    // New users go elsewhere, even the one who asks for n3 by name.
    for user in 4..=8 {
        let (mut newcomer, landed) = ws_from(client(3), &gateway.ws_url(), user, &[])
            .await
            .expect("upgraded");
        assert_ne!(
            landed.as_deref(),
            Some("n3"),
            "user {user} landed on the draining node"
        );
        newcomer.enter(user).await;
    }
    let (_, landed) = ws_from(client(3), &format!("{}?node=n3", gateway.ws_url()), 9, &[])
        .await
        .expect("upgraded");
    assert_ne!(landed.as_deref(), Some("n3"));
    // The user already there is still served, and the node still runs.
    resident.expect_alive_in_room().await;
    assert!(cluster.node(n3).is_running());
    cluster.assert_no_panics();
}

/// A WebSocket of `user` on `server` from 127.0.0.1 (the trusted proxy here),
/// after writing `preface` (a PROXY header, or nothing), with `headers`.
async fn via_proxy(
    server: &common::TestServer,
    user: u64,
    preface: &[u8],
    headers: &[(&'static str, &str)],
) -> Result<common::Client, u16> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = server
        .ws_url(&format!("?token={}", common::token(user)))
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    let mut stream = tokio::net::TcpStream::connect(server.server.addr())
        .await
        .unwrap();
    stream.write_all(preface).await.unwrap();
    let handshake =
        tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(stream));
    match tokio::time::timeout(PATIENCE, handshake)
        .await
        .expect("handshake in time")
    {
        Ok((ws, _)) => Ok(common::Client::from_stream(ws)),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("upgrade failed without an HTTP answer: {e}"),
    }
}

#[tokio::test]
async fn behind_an_http_proxy_or_a_proxy_v1_header_the_cap_counts_the_client_named() {
    let server = common::TestServer::start_with(|args| {
        args.trusted_proxies = "127.0.0.1".parse().unwrap();
        args.max_connections_per_ip = 1;
    })
    .await;
    // An HTTP proxy: X-Forwarded-For, right-most untrusted address.
    let xff = |address: &'static str| [("x-forwarded-for", address)];
    let mut first = via_proxy(&server, 1, b"", &xff("6.6.6.6, 203.0.113.1"))
        .await
        .expect("within the cap");
    first.enter(1).await;
    assert_eq!(
        via_proxy(&server, 2, b"", &xff("203.0.113.1")).await.err(),
        Some(503)
    );
    assert_eq!(
        via_proxy(&server, 2, b"", &xff("7.7.7.7, 203.0.113.1"))
            .await
            .err(),
        Some(503)
    );
    let _second = via_proxy(&server, 2, b"", &xff("203.0.113.2"))
        .await
        .expect("another client");
    // A PROXY v1 header names the client the same way.
    let v1 = |source: &str| format!("PROXY TCP4 {source} 127.0.0.1 40000 8210\r\n").into_bytes();
    assert_eq!(
        via_proxy(&server, 3, &v1("203.0.113.1"), &[]).await.err(),
        Some(503)
    );
    let _third = via_proxy(&server, 3, &v1("203.0.113.3"), &[])
        .await
        .expect("another client");
    // The trusted proxy's own address is never capped: no header names anyone.
    let _own = via_proxy(&server, 4, b"", &[]).await.expect("the proxy itself");
    let _own_again = via_proxy(&server, 5, b"", &[])
        .await
        .expect("the proxy itself, again");
    // A malformed PROXY header closes the connection, and is counted.
    let before = server
        .metric("myroom_connections_refused_total", "proxy_header")
        .await;
    let mut bad = tokio::net::TcpStream::connect(server.server.addr())
        .await
        .unwrap();
    bad.write_all(b"PROXY TCP4 203.0.113.9\r\nGET /healthz HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(PATIENCE, bad.read_to_end(&mut rest))
        .await
        .expect("closed");
    assert!(
        read.is_err() || rest.is_empty(),
        "{}",
        String::from_utf8_lossy(&rest)
    );
    assert_eq!(
        server
            .metric("myroom_connections_refused_total", "proxy_header")
            .await,
        before + 1.0
    );
    // Everyone within the cap is still served.
    first.expect_alive_in_room().await;
}
