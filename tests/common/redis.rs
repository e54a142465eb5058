//! A Redis server of the test's own, on a free loopback port, that the test
//! may shut down without saving and start again empty: what a real Redis
//! restart does to the cluster, which a proxy (keeping the data) cannot show.
//! The shared Redis is never touched.
//!
//! `MYROOM_TEST_REDIS_SERVER` and `MYROOM_TEST_REDIS_CLI` name the binaries
//! (default `/usr/bin/redis-server` and `/usr/bin/redis-cli`). Dropping the
//! guard kills the server, even when the test panics, and deletes its directory.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

use super::cluster::free_port;
use super::unique_dir;

/// Guard against hangs only: how long the server may take to start or stop.
const PATIENCE: Duration = Duration::from_secs(20);

fn server_binary() -> String {
    std::env::var("MYROOM_TEST_REDIS_SERVER").unwrap_or_else(|_| "/usr/bin/redis-server".to_owned())
}

fn cli_binary() -> String {
    std::env::var("MYROOM_TEST_REDIS_CLI").unwrap_or_else(|_| "/usr/bin/redis-cli".to_owned())
}

pub struct PrivateRedis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// How many times it was started.
    starts: u32,
}

impl PrivateRedis {
    /// A server on a free port, answering PING.
    pub async fn start() -> PrivateRedis {
        for _attempt in 0..5 {
            let mut redis = PrivateRedis {
                port: free_port(),
                dir: unique_dir("redis"),
                child: None,
                starts: 0,
            };
            if redis.launch().await {
                return redis;
            }
            // It lost the race for its port: another one.
        }
        panic!("no private redis-server could get a port");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `redis-cli -p PORT shutdown nosave`, and wait for the process to end.
    pub async fn shutdown_nosave(&mut self) {
        // Its exit status is not looked at (some versions call the connection
        // the server closed an error): the server ending is what counts.
        Command::new(cli_binary())
            .args(["-p", &self.port.to_string(), "shutdown", "nosave"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", cli_binary()));
        let child = self.child.as_mut().expect("the private redis is running");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if child.try_wait().expect("wait on redis-server").is_some() {
                self.child = None;
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the private redis-server on port {} did not stop within {PATIENCE:?}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Start it again on the same port, with no data.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "the private redis is still running");
        // Empty by construction (`--save ''`, no AOF): not checked here, since
        // the nodes reconnect and write at once.
        assert!(
            self.launch().await,
            "the private redis-server could not listen on port {} again; log: {}",
            self.port,
            self.log_text()
        );
    }

    /// Spawn the server and wait until it answers; false if it exited first
    /// (its port was taken).
    async fn launch(&mut self) -> bool {
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new(server_binary())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", server_binary()));
        self.child = Some(child);
        let deadline = Instant::now() + PATIENCE;
        loop {
            let child = self.child.as_mut().unwrap();
            if child.try_wait().expect("wait on redis-server").is_some() {
                self.child = None;
                return false;
            }
            if self.command(&["PING"]) == "+PONG" {
                return true;
            }
            assert!(
                Instant::now() < deadline,
                "the private redis-server on port {} did not answer within {PATIENCE:?}; log: {}",
                self.port,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// One command over a fresh connection; its first reply line ("" if none).
    pub fn command(&self, parts: &[&str]) -> String {
        let Ok(mut stream) =
            TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_secs(1))
        else {
            return String::new();
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut request = format!("*{}\r\n", parts.len());
        for part in parts {
            request.push_str(&format!("${}\r\n{part}\r\n", part.len()));
        }
        if stream.write_all(request.as_bytes()).is_err() {
            return String::new();
        }
        let mut reply = [0u8; 256];
        let n = stream.read(&mut reply).unwrap_or(0);
        String::from_utf8_lossy(&reply[..n])
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "private redis (port {}, started {} times) files kept in {}",
                self.port,
                self.starts,
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
