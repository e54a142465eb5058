//! HAProxy in front of a [`Cluster`](super::cluster::Cluster), configured by
//! the repository's own `deploy/haproxy.cfg`: only what a test must change is
//! changed (the listen port, the nodes' addresses, logging to stdout, a
//! `maxconn` this machine's open-file limit allows). Its own process on its
//! own port, killed when dropped; `haproxy` comes from Debian
//! (`scripts/services.sh` installs it).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::cluster::Cluster;
use super::{Client, PATIENCE, token};

/// The header `deploy/haproxy.cfg` names the answering node in.
pub const NODE_HEADER: &str = "x-myroom-node";

/// The flags every node behind the gateway on `port` runs with.
pub fn node_args(port: u16) -> Vec<String> {
    vec![
        "--trusted-proxies".into(),
        "127.0.0.1".into(),
        "--advertise".into(),
        format!("ws://127.0.0.1:{port}/library?node={{node}}"),
    ]
}

pub struct Gateway {
    pub addr: SocketAddr,
    pub log: PathBuf,
    child: Child,
}

/// What a request through the gateway got.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The node that answered (`X-Myroom-Node`), if any did.
    pub node: Option<String>,
    pub body: String,
}

impl Gateway {
    /// HAProxy on `port` (the one [`node_args`] was given) in front of `cluster`'s nodes `n1`..`n3`.
    pub async fn start(cluster: &Cluster, port: u16) -> Gateway {
        let recipe = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/haproxy.cfg"))
            .expect("deploy/haproxy.cfg");
        let mut config = String::new();
        for line in recipe.lines() {
            let trimmed = line.trim_start();
            let line = if trimmed.starts_with("log /dev/log") {
                "    log stdout format raw local0".to_owned()
            } else if trimmed.starts_with("bind :80") {
                format!("    bind 127.0.0.1:{port}")
            } else if trimmed.starts_with("maxconn ") {
                // Two sockets a client, under the 20,000 files a process may open here.
                "    maxconn 9000".to_owned()
            } else if let Some(rest) = trimmed.strip_prefix("server ") {
                let name = rest.split_whitespace().next().unwrap();
                let node = &cluster.nodes[cluster.index_of(name)];
                format!("    server {name} {}", node.addr)
            } else {
                line.to_owned()
            };
            config.push_str(&line);
            config.push('\n');
        }
        let path = cluster.dir.join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let log = cluster.dir.join("haproxy.log");
        let out = std::fs::File::create(&log).unwrap();
        let binary = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("haproxy");
        let child = Command::new(binary)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run haproxy ({e}): install it with scripts/services.sh"));
        let gateway = Gateway {
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            log,
            child,
        };
        gateway.wait_all_nodes(cluster.nodes.len()).await;
        gateway
    }

    /// Until every node has answered through the gateway (its checks passed).
    async fn wait_all_nodes(&self, nodes: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut seen = std::collections::BTreeSet::new();
        while seen.len() < nodes {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {seen:?} answered through HAProxy; its log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            if let Some(Answer { node: Some(node), .. }) = self.get(None, "/healthz").await {
                seen.insert(node);
            } else {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// Until node `id` answers through the gateway again: after a restart,
    /// HAProxy's checks must see it ready `rise` times in a row.
    pub async fn wait_node(&self, id: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "node {id} never answered through HAProxy again; its log:\n{}",
                self.log_text()
            );
            match self.get(None, "/healthz").await {
                Some(Answer { node: Some(node), .. }) if node == id => return,
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// `GET path` through the gateway from `source` (a loopback address; `None`: 127.0.0.1).
    pub async fn get(&self, source: Option<IpAddr>, path: &str) -> Option<Answer> {
        let exchange = async {
            let mut stream = connect_from(source, self.addr).await.ok()?;
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.addr
            );
            stream.write_all(request.as_bytes()).await.ok()?;
            let mut response = Vec::new();
            stream.read_to_end(&mut response).await.ok()?;
            let response = String::from_utf8_lossy(&response).into_owned();
            let (head, body) = response.split_once("\r\n\r\n")?;
            let status = head.split(' ').nth(1)?.parse().ok()?;
            let node = head.lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case(NODE_HEADER)
                    .then(|| value.trim().to_owned())
            });
            Some(Answer {
                status,
                node,
                body: body.to_owned(),
            })
        };
        tokio::time::timeout(PATIENCE, exchange).await.ok().flatten()
    }

    /// The URL of the WebSocket endpoint through the gateway.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/library", self.addr)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("----- haproxy log -----\n{}", self.log_text());
        }
    }
}

/// A TCP connection to `to` from `source` (`None`: the system's choice).
pub async fn connect_from(source: Option<IpAddr>, to: SocketAddr) -> std::io::Result<TcpStream> {
    match source {
        None => TcpStream::connect(to).await,
        Some(ip) => {
            let socket = TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(ip, 0))?;
            socket.connect(to).await
        }
    }
}

/// A WebSocket of `user` at `url` (which may carry `?node=`) from `source`,
/// with `headers` added to the upgrade; the node that answered, or the status
/// of the refusal.
pub async fn ws_from(
    source: IpAddr,
    url: &str,
    user: u64,
    headers: &[(&'static str, &str)],
) -> Result<(Client, Option<String>), u16> {
    let separator = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{separator}token={}", token(user));
    let mut request = url.as_str().into_client_request().unwrap();
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_str(value).unwrap());
    }
    let addr: SocketAddr = {
        let uri = request.uri();
        format!("{}:{}", uri.host().unwrap(), uri.port_u16().unwrap())
            .parse()
            .unwrap()
    };
    let stream = connect_from(Some(source), addr).await.expect("TCP connect");
    let handshake = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream));
    match tokio::time::timeout(PATIENCE, handshake)
        .await
        .expect("the handshake finished in time")
    {
        Ok((ws, response)) => {
            let node = response
                .headers()
                .get(NODE_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok((Client::from_stream(ws), node))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("upgrade of user {user} at {url} failed without an HTTP answer: {e}"),
    }
}
