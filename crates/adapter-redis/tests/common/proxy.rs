//! A TCP proxy in front of the test Redis that a test can take down and bring
//! back on the same port: "Redis goes away" without touching the shared Redis.

use std::net::SocketAddr;

use fred::prelude::{Config, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running (or stopped) proxy.
pub struct Proxy {
    addr: SocketAddr,
    upstream: String,
    running: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

impl Proxy {
    /// Listen on a free local port and forward to the test Redis.
    pub async fn start() -> Proxy {
        let config = Config::from_url(&super::redis_url()).expect("the test Redis URL parses");
        let ServerConfig::Centralized { server } = config.server else {
            panic!("the proxy test needs a centralized Redis URL");
        };
        let upstream = format!("{}:{}", server.host, server.port);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a local port");
        let addr = listener.local_addr().expect("local address");
        let mut proxy = Proxy {
            addr,
            upstream,
            running: None,
        };
        proxy.serve(listener);
        proxy
    }

    /// The test Redis URL, pointed at the proxy instead.
    pub fn url(&self) -> String {
        let url = super::redis_url();
        let swapped = url.replacen(&self.upstream, &self.addr.to_string(), 1);
        assert_ne!(
            swapped, url,
            "the test Redis URL must spell out host:port ({})",
            self.upstream
        );
        swapped
    }

    /// Close the listener and every forwarded connection.
    pub async fn stop(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(true);
            let _ = task.await;
        }
    }

    /// Listen again on the same port.
    pub async fn restart(&mut self) {
        let listener = TcpListener::bind(self.addr).await.expect("rebind the proxy port");
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        let (stop, stopped) = watch::channel(false);
        let upstream = self.upstream.clone();
        let task = tokio::spawn(async move {
            let mut connections = Vec::new();
            let mut accept_stopped = stopped.clone();
            loop {
                tokio::select! {
                    _ = accept_stopped.changed() => break,
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else { continue };
                        connections.push(tokio::spawn(forward(client, upstream.clone(), stopped.clone())));
                    }
                }
            }
            for connection in connections {
                let _ = connection.await;
            }
        });
        self.running = Some((stop, task));
    }
}

async fn forward(mut client: TcpStream, upstream: String, mut stopped: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(&upstream).await else {
        return;
    };
    tokio::select! {
        _ = stopped.changed() => {}
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
    }
}
