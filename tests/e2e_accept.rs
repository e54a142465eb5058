//! PROTOCOL.md §7, the accept side: header deadline, connection caps (per IP,
//! total, and the one derived from the open-file limit), and a shutdown that
//! ends within its drain time whatever the peers do (issues 13.3 and 17).
//!
//! Tests that need a process of their own (SIGTERM, RLIMIT_NOFILE) run the
//! server binary and configure it through MYROOM_ environment variables, so
//! the same test can be pointed at an older build with MYROOM_TEST_SERVER_BIN.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use common::cluster::{server_binary, try_http_get_from};
use common::{Client, PATIENCE, SECRET, TestServer, http_get, metric_value, token, unique_dir};
use room_core::ServerMsg;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// One server process, configured through the environment.
struct Spawned {
    child: Option<Child>,
    addr: SocketAddr,
    log: PathBuf,
}

impl Spawned {
    /// Start the server binary with `env` (on top of a listen address, the
    /// secret, `fixtures` and `data`), under `nofile` = (soft, hard) if given.
    async fn start(
        dir: &Path,
        fixtures: &Path,
        env: &[(&str, String)],
        nofile: Option<(u64, u64)>,
    ) -> Spawned {
        let bin = tokio::task::spawn_blocking(server_binary).await.unwrap();
        let log = dir.join(format!("server-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&log);
        let out = std::fs::File::create(&log).unwrap();
        let mut command = match nofile {
            Some((soft, hard)) => {
                let mut command = Command::new("prlimit");
                command.arg(format!("--nofile={soft}:{hard}")).arg(&bin);
                command
            }
            None => Command::new(&bin),
        };
        command
            .env("MYROOM_LISTEN", "127.0.0.1:0")
            .env("MYROOM_JWT_SECRET", SECRET)
            .env("MYROOM_FIXTURES", fixtures)
            .env("MYROOM_DATA", dir.join("data"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("the server binary runs");
        let mut spawned = Spawned {
            child: Some(child),
            addr: "127.0.0.1:0".parse().unwrap(),
            log,
        };
        spawned.addr = spawned.wait_listening().await;
        spawned
    }

    /// The address from the "listening" line of the log.
    async fn wait_listening(&mut self) -> SocketAddr {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(rest) = text.split("WebSocket at ws://").nth(1) {
                let addr = rest.split('/').next().unwrap();
                return addr.parse().expect("a socket address in the log");
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("server exited with {status} before listening:\n{text}");
            }
            assert!(Instant::now() < deadline, "server not listening:\n{text}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn terminate(&self) {
        let pid = self.child.as_ref().unwrap().id();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Wait for the process to exit, at most `patience`.
    async fn wait_exit(&mut self, patience: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + patience;
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, user: u64) -> String {
        format!("ws://{}/library?token={}", self.addr, token(user))
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("----- server log -----\n{}", self.log_text());
        }
    }
}

/// A fixtures file with users 1..=n.
fn fixtures(dir: &Path, n: u64) -> PathBuf {
    let users: Vec<String> = (1..=n)
        .map(|i| format!(r#"{{"idx":{i},"nickname":"{}"}}"#, common::nickname(i)))
        .collect();
    let path = dir.join("fixtures.json");
    std::fs::write(&path, format!(r#"{{"users":[{}]}}"#, users.join(","))).unwrap();
    path
}

/// A WebSocket from a chosen local address, or the error (refused, reset,
/// or no handshake within `patience`).
async fn connect_from(source: IpAddr, url: &str, patience: Duration) -> Result<Client, String> {
    let request = url.into_client_request().map_err(|e| e.to_string())?;
    let authority = request.uri().authority().unwrap().as_str().to_owned();
    let server: SocketAddr = authority.parse().unwrap();
    let attempt = async {
        let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
        socket
            .bind(SocketAddr::new(source, 0))
            .map_err(|e| e.to_string())?;
        let stream = socket.connect(server).await.map_err(|e| e.to_string())?;
        let (ws, _) =
            tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(stream))
                .await
                .map_err(|e| e.to_string())?;
        Ok::<_, String>(ws)
    };
    match tokio::time::timeout(patience, attempt).await {
        Ok(Ok(ws)) => Ok(Client::from_stream(ws)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("no handshake in time".to_owned()),
    }
}

fn localhost(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// GET from a chosen local address.
async fn get_from(source: IpAddr, addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    try_http_get_from(Some(source), addr, path).await
}

/// A MOVE by `mover` reaches `watcher` (skipping whatever else arrives first).
async fn move_is_seen(mover: &mut Client, watcher: &mut Client, mover_id: u64) {
    mover.send(r#"20{"direction":1}"#).await;
    loop {
        match watcher.next_msg().await {
            ServerMsg::Move { user, .. } if user.0 == mover_id => return,
            _ => continue,
        }
    }
}

#[tokio::test]
async fn a_half_sent_request_and_a_silent_socket_do_not_keep_the_process_from_exiting_on_sigterm() {
    let dir = unique_dir("drain");
    let fixtures = fixtures(&dir, 10);
    let drain = Duration::from_millis(1500);
    let env = [
        ("MYROOM_DRAIN_MS", drain.as_millis().to_string()),
        // Longer than the test: it must be the drain time that ends the wait.
        ("MYROOM_HEADER_TIMEOUT_MS", "600000".to_owned()),
    ];
    let mut server = Spawned::start(&dir, &fixtures, &env, None).await;
    // A client that sends half a request line and then nothing.
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"GET /healthz HTT").await.unwrap();
    // An entered socket that will never read again, nor answer our close.
    let mut entered = Client::connect(&server.url(1)).await.unwrap();
    entered.enter(1).await;
    // The server has the half request (it answers others meanwhile).
    assert_eq!(http_get(server.addr, "/healthz").await.0, 200);

    server.terminate();
    let margin = Duration::from_secs(5);
    let status = server.wait_exit(drain + margin).await;
    let status = status.unwrap_or_else(|| panic!("still running {:?} after SIGTERM", drain + margin));
    assert!(status.success(), "{status}");
    drop((half, entered));
}

#[tokio::test]
async fn a_request_whose_headers_do_not_arrive_in_time_is_closed_and_the_server_keeps_answering() {
    let server = TestServer::start_with(|args| args.header_timeout_ms = 300).await;
    let addr = server.server.addr();
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /healthz HTT").await.unwrap();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    for stream in [&mut half, &mut silent] {
        let mut buf = [0u8; 256];
        // Closed by the server (EOF or reset), not left open: the patience is a hang guard.
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await;
        // A reset is as good as EOF; bytes, if any, are hyper's 408.
        if let Ok(n) = read.expect("the server closed the connection") {
            assert!(
                n == 0 || String::from_utf8_lossy(&buf[..n]).contains("408"),
                "{n} bytes"
            );
        }
    }
    assert_eq!(server.get("/healthz").await.0, 200);
    assert!(server.metric("myroom_header_timeouts_total", "").await >= 2.0);
}

#[tokio::test]
async fn over_the_per_ip_cap_connections_are_refused_and_counted_while_others_are_served() {
    let server = TestServer::start_with(|args| args.max_connections_per_ip = 3).await;
    let url = |user| server.ws_url(&format!("?token={}", token(user)));
    let refused_before = server.metric("myroom_connections_refused_total", "per_ip").await;
    let mut owner = connect_from(localhost(1), &url(1), PATIENCE).await.unwrap();
    owner.enter(1).await;
    let mut guest = connect_from(localhost(1), &url(2), PATIENCE).await.unwrap();
    guest.enter(1).await;
    let third = connect_from(localhost(1), &url(3), PATIENCE).await.unwrap();

    let fourth = connect_from(localhost(1), &url(4), PATIENCE).await;
    assert!(fourth.is_err(), "a fourth socket from one IP was accepted");
    // Another address is served, and the refusal was counted.
    let (status, body) = get_from(localhost(2), server.server.addr(), "/metrics")
        .await
        .expect("served");
    assert_eq!(status, 200);
    assert!(metric_value(&body, "myroom_connections_refused_total", "per_ip") > refused_before);
    let mut other = connect_from(localhost(2), &url(5), PATIENCE).await.unwrap();
    other.enter(1).await;
    // The sockets inside the cap keep working.
    move_is_seen(&mut owner, &mut guest, 1).await;

    // A closed socket frees its slot: a new one from that IP is accepted again.
    drop(third);
    let deadline = Instant::now() + PATIENCE;
    let mut again = loop {
        match connect_from(localhost(1), &url(6), PATIENCE).await {
            Ok(client) => break client,
            Err(e) => assert!(Instant::now() < deadline, "slot never freed: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    again.enter(1).await;
}

/// A map of side 6 with one wall: what the stored rooms hold.
const WALLED: &str = r#"40{"map":{"side":6,"gameList":[],"objectList":["w1"],"games":{},"objects":{"w1":{"name":"wall","x":1,"y":0}}}}"#;

#[tokio::test]
async fn at_the_descriptor_cap_new_sockets_are_refused_while_entered_ones_move_and_stored_maps_load() {
    let dir = unique_dir("fdcap");
    let fixtures = fixtures(&dir, 400);
    let stored_rooms = [2u64, 3, 4, 5];

    // First run: rooms 2..=5 get a stored map, then the server stops.
    let mut first = Spawned::start(&dir, &fixtures, &[], None).await;
    for room in stored_rooms {
        let mut owner = Client::connect(&first.url(room)).await.unwrap();
        owner.enter(room).await;
        owner.send(WALLED).await;
        assert!(matches!(owner.next_msg().await, ServerMsg::Sync { room } if room.map.side() == 6));
    }
    first.terminate();
    assert!(first.wait_exit(PATIENCE).await.is_some_and(|s| s.success()));

    // Second run with a small open-file limit (soft below hard: the server raises it).
    let env = [
        ("MYROOM_FD_RESERVE", "40".to_owned()),
        ("MYROOM_MAX_CONNECTIONS_PER_IP", "0".to_owned()),
    ];
    let server = Spawned::start(&dir, &fixtures, &env, Some((64, 160))).await;
    // Sockets that will enter the stored rooms once the server is full.
    let mut latecomers = Vec::new();
    for user in 100..104 {
        latecomers.push(Client::connect(&server.url(user)).await.unwrap());
    }
    // Fill: every socket enters one of rooms 6..=9 until one is refused.
    let mut entered = Vec::new();
    let mut refused = None;
    for user in 200..400u64 {
        match connect_from(localhost(1), &server.url(user), Duration::from_secs(3)).await {
            Ok(mut client) => {
                client.enter(6 + user % 4).await;
                entered.push((user, client));
            }
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let refused = refused.expect("the server refused a socket before 200");
    assert!(
        entered.len() > 64,
        "only {} sockets before the refusal ({refused}): the soft limit was not raised",
        entered.len()
    );

    // Entered sockets keep moving: user 200 moves, user 204 (same room) sees it.
    let (_, mut mover) = entered.remove(0);
    let (_, mut watcher) = entered.remove(3);
    move_is_seen(&mut mover, &mut watcher, 200).await;
    // Stored maps keep loading: the rooms were not loaded, so ENTER reads the store.
    for (client, room) in latecomers.iter_mut().zip(stored_rooms) {
        client.send(&format!(r#"10{{"room_id":"{room}"}}"#)).await;
        loop {
            match client.next_msg().await {
                ServerMsg::Sync { room: view } => {
                    assert_eq!(view.room_id.0, room);
                    assert_eq!(view.map.side(), 6, "room {room} loaded without its stored map");
                    break;
                }
                ServerMsg::Error { code, message } => panic!("ENTER {room} refused: {code} {message}"),
                _ => continue,
            }
        }
    }
    // Still full: one more is refused, and the refusals were counted and logged.
    assert!(
        connect_from(localhost(1), &server.url(399), Duration::from_secs(3))
            .await
            .is_err()
    );
    drop(entered.pop());
    let deadline = Instant::now() + PATIENCE;
    let body = loop {
        if let Some((200, body)) = get_from(localhost(2), server.addr, "/metrics").await {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "/metrics never answered after a slot was freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        metric_value(&body, "myroom_connections_refused_total", "total") >= 2.0,
        "{body}"
    );
    assert!(server.log_text().contains("connection refused"));
    assert!(server.log_text().contains("soft 64 -> 160, hard 160"));
}
