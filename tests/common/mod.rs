//! End-to-end harness: a real server on a loopback port, real WebSocket clients.
#![allow(dead_code)]

pub mod cluster;
pub mod gateway;
pub mod play;
pub mod proxy;
pub mod redis;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use adapter_ws::sign_token;
use futures_util::{SinkExt, StreamExt};
use myroom::app::{self, RunningServer};
use myroom::settings::ServerArgs;
use room_core::{ErrorCode, RoomId, ServerMsg, UserId, parse_server_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// At least 32 bytes: the server refuses shorter secrets.
pub const SECRET: &str = "myroom-test-secret-0123456789abcdef";
/// Guard against hangs only: nothing here asserts how fast the server is.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// How long "nothing arrives" is watched for.
pub const QUIET: Duration = Duration::from_millis(300);

/// Users 1..=20; user 1 owns games 12 and 13, user 2 owns 14.
pub const FIXTURES: &str = r#"{"users":[
 {"idx":1,"nickname":"alice","games":[{"id":12,"name":"Chess"},13]},
 {"idx":2,"nickname":"bob","games":[14]},
 {"idx":3,"nickname":"carol"},{"idx":4,"nickname":"dave"},{"idx":5,"nickname":"erin"},
 {"idx":6,"nickname":"frank"},{"idx":7,"nickname":"grace"},{"idx":8,"nickname":"heidi"},
 {"idx":9,"nickname":"ivan"},{"idx":10,"nickname":"judy"}]}"#;

pub fn unique_dir(name: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let dir = std::env::temp_dir().join(format!("myroom-e2e-{name}-{}-{n}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub struct TestServer {
    pub server: RunningServer,
    pub dir: PathBuf,
}

pub fn args_for(dir: &std::path::Path) -> ServerArgs {
    let fixtures = dir.join("fixtures.json");
    std::fs::write(&fixtures, FIXTURES).unwrap();
    let mut args = ServerArgs::defaults();
    args.listen = "127.0.0.1:0".parse().unwrap();
    args.jwt_secret = Some(SECRET.into());
    args.fixtures = Some(fixtures);
    args.data = dir.join("data");
    args
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut ServerArgs)) -> TestServer {
        let dir = unique_dir("server");
        let mut args = args_for(&dir);
        tweak(&mut args);
        let server = app::start(args).await.expect("server starts");
        TestServer { server, dir }
    }

    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://{}/library{query}", self.server.addr())
    }

    pub async fn connect(&self, user: u64) -> Client {
        self.connect_query(user, "").await
    }

    pub async fn connect_query(&self, user: u64, extra_query: &str) -> Client {
        let url = self.ws_url(&format!("?token={}{extra_query}", token(user)));
        Client::connect(&url).await.expect("upgrade accepted")
    }

    /// Alice (1) in her room, then Bob (2); Alice has read Bob's ENTER.
    pub async fn owner_and_guest(&self) -> (Client, Client) {
        let mut owner = self.connect(1).await;
        owner.enter(1).await;
        let mut guest = self.connect(2).await;
        guest.enter(1).await;
        assert!(matches!(owner.next_msg().await, ServerMsg::Enter { .. }));
        (owner, guest)
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.server.addr(), path).await
    }

    /// One counter or gauge value from /metrics (sum over label sets matching `labels`).
    pub async fn metric(&self, name: &str, labels: &str) -> f64 {
        let (_, body) = self.get("/metrics").await;
        metric_value(&body, name, labels)
    }
}

/// One counter or gauge value in a /metrics body (sum over label sets matching `labels`).
pub fn metric_value(body: &str, name: &str, labels: &str) -> f64 {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub fn nickname(user: u64) -> String {
    let names = [
        "", "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
    ];
    names
        .get(user as usize)
        .map_or_else(|| format!("user{user}"), |n| (*n).to_owned())
}

pub fn token(user: u64) -> String {
    sign_token(SECRET.as_bytes(), UserId(user), &nickname(user), None).unwrap()
}

pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    http_get_with(addr, path, "").await
}

/// `GET path` with `headers` (each ending in `\r\n`) added to the request.
pub async fn http_get_with(addr: std::net::SocketAddr, path: &str, headers: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// What the server did next on a socket.
#[derive(Debug, PartialEq)]
pub enum Event {
    Msg(ServerMsg),
    Close(Option<u16>),
    /// The connection ended without a close frame.
    Gone,
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Messages of a batched frame not yet handed out.
    pending: std::collections::VecDeque<String>,
    pub frames_received: usize,
}

impl Client {
    pub async fn connect(url: &str) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        Self::connect_request(url.into_client_request()?).await
    }

    pub async fn connect_request(
        request: tokio_tungstenite::tungstenite::handshake::client::Request,
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let (ws, _) = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(request))
            .await
            .expect("handshake finished")?;
        Ok(Client::from_stream(ws))
    }

    /// A client over a socket the test upgraded itself.
    pub fn from_stream(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        Client {
            ws,
            pending: Default::default(),
            frames_received: 0,
        }
    }

    pub async fn connect_with_header(
        url: &str,
        name: &'static str,
        value: &str,
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert(name, HeaderValue::from_str(value).unwrap());
        Self::connect_request(request).await
    }

    pub async fn send(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.expect("send");
    }

    pub async fn send_message(&mut self, message: Message) {
        self.ws.send(message).await.expect("send");
    }

    pub async fn enter(&mut self, room: u64) -> ServerMsg {
        self.send(&format!(r#"10{{"room_id":"{room}"}}"#)).await;
        let sync = self.next_msg().await;
        assert!(
            matches!(&sync, ServerMsg::Sync { room: view } if view.room_id == RoomId(room)),
            "{sync:?}"
        );
        sync
    }

    /// The next message, close, or end of connection.
    pub async fn next_event(&mut self) -> Event {
        self.next_event_within(PATIENCE)
            .await
            .expect("the server answered in time")
    }

    pub async fn next_event_within(&mut self, wait: Duration) -> Option<Event> {
        if let Some(line) = self.pending.pop_front() {
            return Some(Event::Msg(
                parse_server_frame(&line).expect("server frame parses"),
            ));
        }
        // One deadline for the whole wait: pings and pongs must not re-arm it
        // (they did, and a socket the server pinged kept a test waiting forever).
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next()).await.ok()?;
            match next {
                Some(Ok(Message::Text(text))) => {
                    self.frames_received += 1;
                    let mut lines = room_core::split_batch(&text).map(str::to_owned);
                    let first = lines.next().expect("a frame holds a message");
                    self.pending.extend(lines);
                    return Some(Event::Msg(
                        parse_server_frame(&first).expect("server frame parses"),
                    ));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Some(Event::Close(frame.map(|f: CloseFrame| u16::from(f.code))));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Some(Event::Gone),
            }
        }
    }

    /// The next message as the server wrote it (one line of a batched frame).
    pub async fn next_line_within(&mut self, wait: Duration) -> Option<String> {
        if let Some(line) = self.pending.pop_front() {
            return Some(line);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await.ok()? {
                Some(Ok(Message::Text(text))) => {
                    self.frames_received += 1;
                    let mut lines = room_core::split_batch(&text).map(str::to_owned);
                    let first = lines.next().expect("a frame holds a message");
                    self.pending.extend(lines);
                    return Some(first);
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    pub async fn next_line(&mut self) -> String {
        self.next_line_within(PATIENCE)
            .await
            .expect("the server sent a message in time")
    }

    pub async fn next_msg(&mut self) -> ServerMsg {
        match self.next_event().await {
            Event::Msg(msg) => msg,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    pub async fn expect_error(&mut self, code: ErrorCode) {
        match self.next_msg().await {
            ServerMsg::Error { code: got, .. } => assert_eq!(got, code),
            other => panic!("expected ERROR {code}, got {other:?}"),
        }
    }

    pub async fn expect_close(&mut self, code: u16) {
        loop {
            match self.next_event().await {
                Event::Close(got) => {
                    assert_eq!(got, Some(code));
                    return;
                }
                Event::Msg(_) => continue,
                Event::Gone => panic!("connection ended without close {code}"),
            }
        }
    }

    /// Nothing arrives for a short while.
    pub async fn expect_quiet(&mut self) {
        if let Some(event) = self.next_event_within(QUIET).await {
            panic!("expected nothing, got {event:?}");
        }
    }

    /// The socket is still open and answering: SYNC comes back.
    pub async fn expect_alive_in_room(&mut self) {
        self.send("11").await;
        assert!(matches!(self.next_msg().await, ServerMsg::Sync { .. }));
    }
}
