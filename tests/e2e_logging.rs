//! The server's log never takes a room or the process down (issue 25.7): a
//! log collector that died (the one pipe of stdout and stderr has no reader
//! any more) costs log lines, counted, and nothing else. Log lines carry
//! terminal colours only on a terminal, and `--log-format json` writes one
//! JSON object per line.
//!
//! These run the server binary (see tests/e2e_accept.rs), so its stdout and
//! stderr are real file descriptors the test controls.

mod common;

use std::io::{BufRead, BufReader, PipeReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use common::cluster::{server_binary, try_http_get_from};
use common::{Client, FIXTURES, PATIENCE, SECRET, metric_value, token, unique_dir};
use room_core::{ErrorCode, ServerMsg};
use tokio::time::Instant;

const CHESS: &str = r#"40{"map":{"side":6,"gameList":["12"],"objectList":[],"games":{"12":{"name":"Chess","x":0,"y":0}},"objects":{}}}"#;

/// The map file another writer stores under the running room: version 5, so
/// the room's BUILD over version 0 takes the conflict path (PROTOCOL.md §5).
const OTHER_WRITERS_MAP: &str = r#"{"version":5,"epoch":0,"map":{"side":8,"gameList":["13"],"objectList":[],"games":{"13":{"name":"Go","x":1,"y":1}},"objects":{}}}"#;

/// The server binary with stdout and stderr into one pipe; `read` is its reader.
struct Piped {
    child: Child,
    addr: SocketAddr,
    reader: Option<BufReader<PipeReader>>,
}

fn command(dir: &Path, extra: &[(&str, &str)]) -> Command {
    let fixtures = dir.join("fixtures.json");
    std::fs::write(&fixtures, FIXTURES).unwrap();
    let mut command = Command::new(server_binary());
    command
        .env("MYROOM_LISTEN", "127.0.0.1:0")
        .env("MYROOM_JWT_SECRET", SECRET)
        .env("MYROOM_FIXTURES", &fixtures)
        .env("MYROOM_DATA", dir.join("data"))
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .env_remove("MYROOM_LOG_FORMAT")
        .stdin(Stdio::null());
    for (name, value) in extra {
        command.env(name, value);
    }
    command
}

impl Piped {
    async fn start(dir: &Path, extra: &[(&str, &str)]) -> Piped {
        let (reader, writer) = std::io::pipe().unwrap();
        let mut command = command(dir, extra);
        command.stdout(writer.try_clone().unwrap()).stderr(writer);
        let child = tokio::task::spawn_blocking(move || command.spawn().expect("the server binary runs"))
            .await
            .unwrap();
        let mut reader = BufReader::new(reader);
        let (reader, addr) = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            loop {
                line.clear();
                let n = reader.read_line(&mut line).unwrap();
                assert!(n > 0, "the server's output ended before it listened");
                if let Some(rest) = line.split("WebSocket at ws://").nth(1) {
                    let addr: SocketAddr = rest.split('/').next().unwrap().parse().unwrap();
                    return (reader, addr);
                }
            }
        })
        .await
        .unwrap();
        Piped {
            child,
            addr,
            reader: Some(reader),
        }
    }

    fn url(&self) -> String {
        format!("ws://{}/library", self.addr)
    }

    async fn metric(&self, name: &str) -> f64 {
        let (status, body) = try_http_get_from(None, self.addr, "/metrics")
            .await
            .expect("/metrics answers");
        assert_eq!(status, 200);
        metric_value(&body, name, "")
    }

    async fn terminate_and_wait(&mut self) -> Option<ExitStatus> {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn enter(url: &str, user: u64, room: u64) -> Client {
    let mut client = Client::connect(&format!("{url}?token={}", token(user)))
        .await
        .expect("connects");
    client.enter(room).await;
    client
}

#[tokio::test]
async fn a_log_collector_that_died_costs_log_lines_not_rooms_or_the_process() {
    let dir = unique_dir("dead-log-pipe");
    let mut server = Piped::start(&dir, &[]).await;
    let url = server.url();
    let mut owner = enter(&url, 1, 1).await;
    let mut other_room = enter(&url, 3, 3).await;

    // The log collector dies.
    drop(server.reader.take());
    // Another writer stores a map under the running room: the BUILD takes
    // the conflict path, which logs a warning.
    std::fs::write(dir.join("data/maps/1.json"), OTHER_WRITERS_MAP).unwrap();
    owner.send(CHESS).await;
    match owner.next_msg().await {
        ServerMsg::Sync { room } => assert_eq!(room.map.side(), 8, "the stored map is shown"),
        other => panic!("expected the stored map's SYNC, got {other:?}"),
    }
    owner.expect_error(ErrorCode::Unavailable).await;
    // The room is still there: a MOVE is answered with a MOVE, not 76102.
    owner.send(r#"20{"direction":2}"#).await;
    assert!(
        matches!(owner.next_msg().await, ServerMsg::Move { .. }),
        "the room still answers"
    );
    other_room.expect_alive_in_room().await;
    assert!(
        server.metric("myroom_log_lines_dropped_total").await >= 1.0,
        "the lost lines are counted"
    );

    let status = server.terminate_and_wait().await.expect("exits after SIGTERM");
    assert!(status.success(), "SIGTERM ends with exit 0, got {status}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Run the server with its output into a file (not a terminal) until it
/// listens, stop it, and return what it wrote.
async fn output_to_file(extra: &[(&str, &str)]) -> String {
    let dir = unique_dir("log-to-file");
    let log = dir.join("server.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut command = command(&dir, extra);
    command.stdout(out.try_clone().unwrap()).stderr(out);
    let mut child = command.spawn().expect("the server binary runs");
    let deadline = Instant::now() + PATIENCE;
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("WebSocket at ws://") {
            break text;
        }
        assert!(child.try_wait().unwrap().is_none(), "server exited:\n{text}");
        assert!(Instant::now() < deadline, "server not listening:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
    text
}

#[tokio::test]
async fn log_lines_to_a_file_carry_no_terminal_colours() {
    let text = output_to_file(&[]).await;
    assert!(!text.contains('\u{1b}'), "escape codes in a file:\n{text}");
}

#[tokio::test]
async fn log_format_json_writes_one_json_object_per_line() {
    let text = output_to_file(&[("MYROOM_LOG_FORMAT", "json")]).await;
    let mut listening = false;
    for line in text.lines() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            value["level"].is_string() && value["fields"].is_object(),
            "{line}"
        );
        listening |= line.contains("WebSocket at ws://");
    }
    assert!(listening, "{text}");
}
