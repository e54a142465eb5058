//! The accept loop with the limits of PROTOCOL.md §7 that `axum::serve` does
//! not have: a deadline for a request's headers (the upgrade included), caps
//! on open connections in total and per client IP (refused at accept), and a
//! shutdown that ends within its drain time whatever the peers do.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::metrics_names as m;
use crate::slots::{Refusal, SlotGuard, Slots};

/// Limits of the accept loop; defaults are PROTOCOL.md's.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// A request's headers (the WebSocket upgrade's too) must be in within
    /// this long of the connection opening, or of the previous response on a
    /// kept-alive connection; else the connection is closed.
    pub header_timeout: Duration,
    /// Open connections (HTTP and WebSocket) at most; more are refused at accept.
    pub max_connections: usize,
    /// Open connections from one client IP at most (0: no cap).
    pub max_connections_per_ip: usize,
    /// After shutdown begins, connections still open this long are dropped.
    pub drain: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            header_timeout: Duration::from_secs(5),
            max_connections: 100_000,
            max_connections_per_ip: 1_000,
            drain: Duration::from_secs(10),
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
    let mut refusals = EverySecond::default();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                metrics::counter!(m::REFUSED, "reason" => "accept_error").increment(1);
                refusals.warn(|suppressed| tracing::warn!(%error, suppressed, "accept failed"));
                // Out of descriptors: the listener stays readable, so wait
                // for some to be released instead of spinning on it.
                if is_out_of_descriptors(&error) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
        };
        let slot = match slots.take(peer.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                refuse(stream, peer, refusal, &slots, &config, &mut refusals);
                continue;
            }
        };
        // Small frames must not wait for the peer's delayed ACK (about 40 ms on Linux).
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(SlotIo { stream, _slot: slot });
        let connection = http
            .serve_connection(io, TowerToHyperService::new(router.clone()))
            .with_upgrades();
        let (graceful, hard) = (shutdown.clone(), hard_stop.clone());
        tokio::spawn(async move {
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

/// Refuse a connection over a cap: a best-effort 503 (written only if the
/// socket takes it at once: nothing waits on a refused peer), then close.
fn refuse(
    stream: TcpStream,
    peer: SocketAddr,
    refusal: Refusal,
    slots: &Slots,
    config: &ServeConfig,
    refusals: &mut EverySecond,
) {
    metrics::counter!(m::REFUSED, "reason" => refusal.label()).increment(1);
    let _ = stream.try_write(
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\nretry-after: 5\r\n\r\n",
    );
    drop(stream);
    refusals.warn(|suppressed| {
        tracing::warn!(
            %peer,
            reason = refusal.label(),
            open = slots.open(),
            max = config.max_connections,
            max_per_ip = config.max_connections_per_ip,
            suppressed,
            "connection refused: over the connection cap"
        )
    });
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
struct SlotIo {
    stream: TcpStream,
    _slot: SlotGuard,
}

impl AsyncRead for SlotIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
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
