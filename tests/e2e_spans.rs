//! Log lines say where they happened: a connection's lines carry its user
//! and session, a room's its room (the spans of the engine and the front door).

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::TestServer;
use tracing_subscriber::fmt::MakeWriter;

/// Every log line of this test process, as text.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Lines;

    fn make_writer(&'a self) -> Lines {
        self.clone()
    }
}

impl Lines {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Wait (with a deadline) for a line that has every one of `parts`.
    async fn line_with(&self, parts: &[&str]) -> String {
        let wait = async {
            loop {
                if let Some(line) = self.text().lines().find(|l| parts.iter().all(|p| l.contains(p))) {
                    return line.to_owned();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        match tokio::time::timeout(Duration::from_secs(10), wait).await {
            Ok(line) => line,
            Err(_) => panic!("no log line with {parts:?}; the log was:\n{}", self.text()),
        }
    }
}

#[tokio::test]
async fn a_connections_log_lines_name_its_user_and_session() {
    let lines = Lines::default();
    tracing_subscriber::fmt()
        .with_env_filter("adapter_ws=debug,room_node=debug")
        .with_ansi(false)
        .with_writer(lines.clone())
        .init();
    let server = TestServer::start().await;
    let mut owner = server.connect(1).await;
    owner.enter(1).await;
    drop(owner);
    let line = lines.line_with(&["connection ended", "conn{"]).await;
    assert!(line.contains("user=1"), "{line}");
    assert!(line.contains("session="), "{line}");
}
