//! A TCP proxy between a store and the server, to take the server "down" and
//! bring it back without touching the real one.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Forwards `127.0.0.1:port` to the server while running.
pub struct Proxy {
    port: u16,
    upstream: SocketAddr,
    accept: Option<JoinHandle<()>>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// A running proxy on a free port.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let mut proxy = Proxy::stopped(port, upstream);
        proxy.run(listener);
        proxy
    }

    /// A proxy for `port` that is not running yet (nothing listens there).
    pub fn stopped(port: u16, upstream: SocketAddr) -> Proxy {
        Proxy {
            port,
            upstream,
            accept: None,
            links: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The port it listens on (or will).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stop listening and cut every forwarded connection; returns once all
    /// sockets are closed.
    pub async fn stop(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
            let _ = accept.await;
        }
        let links: Vec<_> = self.links.lock().expect("links").drain(..).collect();
        for link in links {
            link.abort();
            let _ = link.await;
        }
    }

    /// Listen again on the same port.
    pub async fn restart(&mut self) {
        let address = ("127.0.0.1", self.port);
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(address).await {
                Ok(listener) => break listener,
                Err(error) if tries < 50 => {
                    tries += 1;
                    eprintln!("proxy port {} not free yet: {error}", self.port);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("cannot listen on proxy port {} again: {error}", self.port),
            }
        };
        self.run(listener);
    }

    fn run(&mut self, listener: TcpListener) {
        let upstream = self.upstream;
        let links = Arc::clone(&self.links);
        self.accept = Some(tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let link = tokio::spawn(forward(client, upstream));
                links.lock().expect("links").push(link);
            }
        }));
    }
}

async fn forward(mut client: TcpStream, upstream: SocketAddr) {
    if let Ok(mut server) = TcpStream::connect(upstream).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}

/// The test server's address, resolved from its URL.
pub async fn upstream_of(url: &str) -> SocketAddr {
    use std::str::FromStr;
    let options = sqlx::mysql::MySqlConnectOptions::from_str(url).expect("test URL parses");
    let host = options.get_host().to_owned();
    let port = options.get_port();
    tokio::net::lookup_host((host.as_str(), port))
        .await
        .expect("resolve the test server")
        .next()
        .expect("the test server has an address")
}

/// A port on which nothing listens (bound, then released).
pub async fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("address").port()
}
