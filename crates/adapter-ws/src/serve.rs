//! The accept loop with the limits of PROTOCOL.md §7 that `axum::serve` does
//! not have: a deadline for a request's headers (the upgrade included), caps
//! on open connections in total and per client IP (refused at accept), and a
//! shutdown that ends within its drain time whatever the peers do. Behind a
//! trusted proxy the client is the one it names (PROXY header or forwarding
//! header, see `client_addr`), and the per-IP cap counts that client.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::http::{Request, Response, StatusCode, header};
use futures_util::future::{Either, ready};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower_service::Service;

use crate::client_addr::{ClientAddr, ClientSource};
use crate::forwarded::ForwardedHeader;
use crate::metrics_names as m;
use crate::proxy_protocol::{ProxyHeaderError, read_preface};
use crate::slots::{Refusal, SlotGuard, Slots};
use crate::trusted::TrustedProxies;

/// Limits of the accept loop; defaults are PROTOCOL.md's.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// A request's headers (the WebSocket upgrade's too) must be in within
    /// this long of the connection opening, or of the previous response on a
    /// kept-alive connection; else the connection is closed.
    pub header_timeout: Duration,
    /// Open connections (HTTP and WebSocket) at most; more are refused at accept.
    pub max_connections: usize,
    /// Open connections from one client IP at most (0: no cap, the default:
    /// one address may be a gateway, a NAT or a campus). Behind a trusted
    /// proxy it counts the client the proxy names; a trusted proxy's own
    /// address is never capped.
    pub max_connections_per_ip: usize,
    /// After shutdown begins, connections still open this long are dropped.
    pub drain: Duration,
    /// Peers whose PROXY header or forwarding header names the client.
    pub trusted_proxies: TrustedProxies,
    /// The header a trusted HTTP proxy (one that sends no PROXY header) names the client in.
    pub forwarded_header: ForwardedHeader,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            header_timeout: Duration::from_secs(5),
            max_connections: 100_000,
            max_connections_per_ip: 0,
            drain: Duration::from_secs(10),
            trusted_proxies: TrustedProxies::none(),
            forwarded_header: ForwardedHeader::default(),
        }
    }
}

/// Serve `router` on `listener` with `config`'s limits until `shutdown` is
/// cancelled; then stop accepting, let open HTTP connections finish their
/// request, wait for every connection (upgraded WebSockets too) to close,
/// and after `config.drain` drop whatever is still open. Returns when the
/// last connection is gone or the drain time is over, whichever is first.
/// Closing WebSockets (with 1001) is the engine's part of shutdown.
pub async fn serve(listener: TcpListener, router: Router, config: ServeConfig, shutdown: CancellationToken) {
    let slots = Slots::new(config.max_connections.max(1), config.max_connections_per_ip);
    metrics::gauge!(m::CONNECTION_CAP).set(config.max_connections as f64);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout);
    let hard_stop = CancellationToken::new();
    let refusals = Arc::new(Mutex::new(EverySecond::default()));
    let shared = Arc::new(Shared {
        router,
        config: config.clone(),
        slots: slots.clone(),
        refusals: refusals.clone(),
    });
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                metrics::counter!(m::REFUSED, "reason" => "accept_error").increment(1);
                lock(&refusals).warn(|suppressed| tracing::warn!(%error, suppressed, "accept failed"));
                // Out of descriptors: the listener stays readable, so wait
                // for some to be released instead of spinning on it.
                if is_out_of_descriptors(&error) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
        };
        // A trusted proxy's connection counts against its client, known only
        // once its PROXY header or its request is read.
        let from_proxy = config.trusted_proxies.contains(peer.ip());
        let slot = if from_proxy {
            slots.take_uncounted()
        } else {
            slots.take(peer.ip())
        };
        let slot = match slot {
            Ok(slot) => slot,
            Err(refusal) => {
                shared.refuse(stream, peer, refusal);
                continue;
            }
        };
        // Small frames must not wait for the peer's delayed ACK (about 40 ms on Linux).
        let _ = stream.set_nodelay(true);
        let (graceful, hard) = (shutdown.clone(), hard_stop.clone());
        let (shared, http) = (shared.clone(), http.clone());
        tokio::spawn(async move {
            let Some((io, service)) = shared.open(stream, peer, from_proxy, slot).await else {
                return;
            };
            let connection = http.serve_connection(io, service).with_upgrades();
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = graceful.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    tokio::select! {
                        result = connection.as_mut() => result,
                        _ = hard.cancelled() => Ok(()),
                    }
                }
            };
            if let Err(error) = result {
                if error.is_timeout() {
                    metrics::counter!(m::HEADER_TIMEOUTS).increment(1);
                }
                tracing::debug!(%error, %peer, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(config.drain, slots.emptied()).await.is_err() {
        tracing::warn!(
            open = slots.open(),
            "drain time is over: dropping the connections still open"
        );
    }
    hard_stop.cancel();
}

/// What every connection task of one `serve` shares.
struct Shared {
    router: Router,
    config: ServeConfig,
    slots: Slots,
    refusals: Arc<Mutex<EverySecond>>,
}

type Body = axum::body::Body;

impl Shared {
    /// Read a trusted proxy's PROXY header (if it sends one), count the
    /// connection against its client, and build the connection's service,
    /// which names the client in every request. `None`: the connection was
    /// closed (a malformed, cut or late PROXY header).
    async fn open(
        self: Arc<Self>,
        mut stream: TcpStream,
        peer: SocketAddr,
        from_proxy: bool,
        mut slot: SlotGuard,
    ) -> Option<(TokioIo<SlotIo>, ClientService)> {
        let trusted = &self.config.trusted_proxies;
        let (proxy_client, rest) = if from_proxy {
            match read_preface(&mut stream, self.config.header_timeout).await {
                Ok(preface) => (preface.had_header.then_some(preface.client), preface.rest),
                Err(error) => {
                    // A late header is a late request; a bad one a refusal.
                    if matches!(error, ProxyHeaderError::Timeout(_)) {
                        metrics::counter!(m::HEADER_TIMEOUTS).increment(1);
                    } else {
                        metrics::counter!(m::REFUSED, "reason" => "proxy_header").increment(1);
                    }
                    tracing::debug!(%error, %peer, "connection from a trusted proxy closed");
                    return None;
                }
            }
        } else {
            (None, Vec::new())
        };
        let source = ClientSource::of(peer.ip(), trusted, proxy_client, self.config.forwarded_header);
        // Over the cap: its request is answered 503 (through the proxy, which
        // has sent it already) instead of the connection being reset.
        let mut over_cap = false;
        if let ClientSource::Fixed(client) = source
            && from_proxy
            && !trusted.contains(client)
            && let Err(refusal) = slot.count_for(client)
        {
            self.count_refusal(peer, Some(client), refusal);
            over_cap = true;
        }
        let slot = Arc::new(Mutex::new(slot));
        let io = TokioIo::new(SlotIo {
            rest,
            read: 0,
            stream,
            _slot: slot.clone(),
        });
        let service = ClientService {
            shared: self,
            peer,
            source,
            slot,
            over_cap,
        };
        Some((io, service))
    }

    /// Refuse a connection over a cap at accept: a best-effort 503 (written
    /// only if the socket takes it at once: nothing waits on a refused peer), then close.
    fn refuse(&self, stream: TcpStream, peer: SocketAddr, refusal: Refusal) {
        let _ = stream.try_write(
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\nretry-after: 5\r\n\r\n",
        );
        drop(stream);
        self.count_refusal(peer, None, refusal);
    }

    fn count_refusal(&self, peer: SocketAddr, client: Option<IpAddr>, refusal: Refusal) {
        metrics::counter!(m::REFUSED, "reason" => refusal.label()).increment(1);
        let client = client.unwrap_or(peer.ip());
        lock(&self.refusals).warn(|suppressed| {
            tracing::warn!(
                %client,
                %peer,
                reason = refusal.label(),
                open = self.slots.open(),
                max = self.config.max_connections,
                max_per_ip = self.config.max_connections_per_ip,
                suppressed,
                "connection refused: over the connection cap"
            )
        });
    }
}

/// The router, behind the step that names each request's client (and
/// counts a trusted HTTP proxy's connection against it).
struct ClientService {
    shared: Arc<Shared>,
    peer: SocketAddr,
    source: ClientSource,
    slot: Arc<Mutex<SlotGuard>>,
    /// The client a PROXY header named holds its share already.
    over_cap: bool,
}

impl hyper::service::Service<Request<hyper::body::Incoming>> for ClientService {
    type Response = Response<Body>;
    type Error = std::convert::Infallible;
    type Future = Either<
        futures_util::future::Ready<Result<Response<Body>, std::convert::Infallible>>,
        axum::routing::future::RouteFuture<std::convert::Infallible>,
    >;

    fn call(&self, mut request: Request<hyper::body::Incoming>) -> Self::Future {
        if self.over_cap {
            return Either::Left(ready(Ok(over_cap_response())));
        }
        let trusted = &self.shared.config.trusted_proxies;
        let client = self.source.client(request.headers(), trusted);
        // A trusted HTTP proxy may carry another client's request on the
        // same connection: the connection counts against the latest one.
        if matches!(self.source, ClientSource::Forwarded { .. })
            && !trusted.contains(client)
            && let Err(refusal) = lock(&self.slot).count_for(client)
        {
            self.shared.count_refusal(self.peer, Some(client), refusal);
            return Either::Left(ready(Ok(over_cap_response())));
        }
        request.extensions_mut().insert(ClientAddr(client));
        Either::Right(self.shared.router.clone().call(request))
    }
}

fn over_cap_response() -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    headers.insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    response
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn is_out_of_descriptors(error: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
    }
    #[cfg(not(unix))]
    {
        let _ = error;
        false
    }
}

/// At most one log line a second for a repeated event; the line says how many were not logged.
#[derive(Default)]
struct EverySecond {
    last: Option<Instant>,
    suppressed: u64,
}

impl EverySecond {
    fn warn(&mut self, log: impl FnOnce(u64)) {
        let now = Instant::now();
        if self.last.is_some_and(|last| now < last + Duration::from_secs(1)) {
            self.suppressed += 1;
            return;
        }
        log(self.suppressed);
        self.last = Some(now);
        self.suppressed = 0;
    }
}

/// A TCP stream that holds its connection slot: the slot is freed when the
/// stream is dropped, also after hyper hands it to an upgraded WebSocket.
/// Bytes read past a PROXY header (`rest`) are read first.
struct SlotIo {
    rest: Vec<u8>,
    /// How much of `rest` was read.
    read: usize,
    stream: TcpStream,
    _slot: Arc<Mutex<SlotGuard>>,
}

impl AsyncRead for SlotIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.read < self.rest.len() {
            let n = buf.remaining().min(self.rest.len() - self.read);
            let from = self.read;
            buf.put_slice(&self.rest[from..from + n]);
            self.read += n;
            if self.read == self.rest.len() {
                self.rest = Vec::new();
                self.read = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SlotIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
