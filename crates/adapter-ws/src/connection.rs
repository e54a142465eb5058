//! One upgraded socket: a reader loop (limits, parsing, handing messages to
//! the engine) and a writer task (draining the session's outbox).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use room_core::{ClientMsg, ErrorCode, ServerMsg, parse_client_frame};
use room_node::{CloseReason, Engine, Frame, Next, Outbox, Session, queue_message};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite;
use tracing::Instrument;

use crate::auth::{Authenticate, Identity, strip_bearer};
use crate::config::WsConfig;
use crate::metrics_names as m;
use crate::rate::{RateLimiter, Verdict};
use crate::resume_query::{Handshake, ResumeAsk};
use crate::upkeep::{self, Due};

/// Everything a connection needs from the server.
#[derive(Clone)]
pub(crate) struct ConnectionContext {
    pub engine: Engine,
    pub auth: Arc<dyn Authenticate>,
    pub config: Arc<WsConfig>,
}

/// Whether the socket has proved who it is yet (legacy mode only starts without).
enum Auth {
    Pending { deadline: Instant },
    Ready(Session),
}

/// Why the reader stopped.
enum Stop {
    /// The peer went away (error, EOF, or silence).
    PeerGone,
    /// The peer sent a close frame; ours answers it (RFC 6455 §5.5.1).
    PeerClosed,
    /// The server queued a close; let the writer send it.
    Closing,
}

/// What the rate limiter lets the reader do with the frame that just arrived.
enum Admit {
    Handle,
    /// Over the limit: the frame is not handled at all.
    Drop,
    Stop(Stop),
}

/// Serve one upgraded socket until it closes, in a `conn` span that names
/// its client's address (the one a trusted proxy named, if any) and its user
/// and session once they are known (a legacy socket's at ENTER).
pub(crate) async fn serve(
    socket: WebSocket,
    ctx: ConnectionContext,
    identity: Option<Identity>,
    handshake: Handshake,
    client: Option<std::net::IpAddr>,
) {
    let span = tracing::info_span!(
        "conn",
        client = tracing::field::Empty,
        user = tracing::field::Empty,
        session = tracing::field::Empty
    );
    if let Some(client) = client {
        span.record("client", tracing::field::display(client));
    }
    serve_in_span(socket, ctx, identity, handshake)
        .instrument(span)
        .await;
}

/// Name the connection's user and session in its span.
fn record_session(session: &Session) {
    let span = tracing::Span::current();
    span.record("user", tracing::field::display(session.user()));
    span.record("session", tracing::field::display(session.id()));
}

async fn serve_in_span(
    socket: WebSocket,
    ctx: ConnectionContext,
    identity: Option<Identity>,
    handshake: Handshake,
) {
    metrics::gauge!(m::CONNECTIONS).increment(1.0);
    let (sink, stream) = socket.split();
    let Handshake { batch, resume } = handshake;
    // A batch=1 socket's room joins each tick's messages into one frame for
    // it; an opted-in one's rooms number their events for it.
    let outbox = ctx
        .engine
        .new_socket_outbox(batch, identity.is_some() && resume.opted_in());
    let tick = batch.then_some(ctx.engine.config().tick);
    let (writer_done, writer_finished) = tokio::sync::oneshot::channel::<()>();
    let writer_config = ctx.config.clone();
    let writer_outbox = outbox.clone();
    let mut writer = tokio::spawn(
        async move {
            write_loop(sink, writer_outbox, tick, writer_config).await;
            let _ = writer_done.send(());
        }
        .in_current_span(),
    );

    let auth = match identity {
        Some(identity) => {
            let mut session =
                ctx.engine
                    .open_session_with_outbox(identity.user, identity.nickname, outbox.clone());
            record_session(&session);
            match resume {
                ResumeAsk::Seat { claim, seq } => session.resume(claim.room, claim.seat, seq).await,
                ResumeAsk::Refused { code, message } => {
                    queue_message(&outbox, &ServerMsg::error(code, message));
                }
                ResumeAsk::No | ResumeAsk::OptIn => {}
            }
            Auth::Ready(session)
        }
        None => Auth::Pending {
            deadline: Instant::now() + ctx.config.legacy_enter_deadline,
        },
    };
    let mut reader = Reader {
        ctx: &ctx,
        outbox: &outbox,
        auth,
        stream,
        writer_finished,
    };
    // The reader notices the writer's end between frames, so a command it is
    // handling (a BUILD waiting on the store) is finished, not dropped.
    let stop = reader.run().await;
    // Dropping the session is LEAVE: the room hears of it before the socket
    // is gone. A seat, though, outlives a socket that went without LEAVE.
    let Reader { stream, auth, .. } = reader;
    if let Auth::Ready(session) = auth
        && keeps_seat(&stop, outbox.close_reason())
    {
        session.hold_seat();
    }
    match stop {
        Stop::PeerGone => writer.abort(),
        Stop::PeerClosed => {
            writer.abort();
            // tungstenite queued the echo of the peer's close when it read it, and
            // sends it on the next read: read once more (it then ends the stream).
            let mut stream = stream;
            let _ = tokio::time::timeout(Duration::from_secs(1), stream.next()).await;
        }
        Stop::Closing => {
            // Give the writer time to send the close frame, and the peer time to answer it.
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut writer).await;
            let _ = tokio::time::timeout(Duration::from_secs(1), drain(stream)).await;
            writer.abort();
        }
    }
    tracing::debug!("connection ended");
    metrics::gauge!(m::CONNECTIONS).decrement(1.0);
}

/// Whether a socket that ended so keeps its seat (PROTOCOL.md §9): it went
/// without LEAVE, stopped answering, or the server closed it as too slow or
/// for its shutdown; not for a policy, a bad frame, or a newer socket.
fn keeps_seat(stop: &Stop, closing: Option<CloseReason>) -> bool {
    match closing {
        Some(reason) => matches!(
            reason,
            CloseReason::TooSlow | CloseReason::GoingAway | CloseReason::DeadPeer
        ),
        None => matches!(stop, Stop::PeerGone | Stop::PeerClosed),
    }
}

/// Wait for the peer's answer to our close frame. If the stream already
/// failed (an oversized frame is left unread), keep the socket open anyway
/// until the timeout: closing a socket with unread input sends a TCP reset,
/// and a reset can destroy the ERROR and close frame before the peer reads them.
async fn drain(mut stream: SplitStream<WebSocket>) {
    while let Some(Ok(message)) = stream.next().await {
        if matches!(message, Message::Close(_)) {
            return;
        }
    }
    std::future::pending::<()>().await;
}

/// How long frames already sent by the peer are still read after our close frame.
const CLOSING_GRACE: Duration = Duration::from_secs(1);

struct Reader<'a> {
    ctx: &'a ConnectionContext,
    outbox: &'a Arc<Outbox>,
    auth: Auth,
    stream: SplitStream<WebSocket>,
    /// Fires when the writer has stopped (it sent a close frame, or the peer is gone).
    writer_finished: tokio::sync::oneshot::Receiver<()>,
}

impl Reader<'_> {
    async fn run(&mut self) -> Stop {
        let config = self.ctx.config.clone();
        let mut limiter = RateLimiter::new(config.rate, std::time::Instant::now());
        let mut last_heard = Instant::now();
        let mut closing_since: Option<Instant> = None;
        // One timer, re-armed only when it fires (see upkeep.rs).
        let first = match self.due(last_heard, &config) {
            Due::Nothing(next) => next,
            Due::DeadPeer | Due::EnterDeadline => last_heard,
        };
        let upkeep = tokio::time::sleep_until(first);
        tokio::pin!(upkeep);
        loop {
            let message = tokio::select! {
                // Frames the peer sent before our close are still handled (a BUILD
                // sent just before a newer socket replaced this one is not lost).
                biased;
                message = self.stream.next() => message,
                _ = &mut self.writer_finished, if closing_since.is_none() => {
                    closing_since = Some(Instant::now());
                    continue;
                }
                _ = tokio::time::sleep_until(closing_since.unwrap_or_else(Instant::now) + CLOSING_GRACE),
                    if closing_since.is_some() => return Stop::Closing,
                _ = &mut upkeep => match self.due(last_heard, &config) {
                    Due::Nothing(next) => {
                        upkeep.as_mut().reset(next);
                        continue;
                    }
                    Due::DeadPeer => {
                        tracing::debug!("peer silent past the dead-peer timeout");
                        self.outbox.close(CloseReason::DeadPeer);
                        return Stop::PeerGone;
                    }
                    Due::EnterDeadline => {
                        self.outbox.close(CloseReason::Policy);
                        return Stop::Closing;
                    }
                },
            };
            last_heard = Instant::now();
            let message = match message {
                None => return Stop::PeerGone,
                Some(Ok(message)) => message,
                Some(Err(error)) => return self.on_read_error(error),
            };
            let text = match message {
                Message::Text(text) => text,
                Message::Binary(_) => {
                    match self.rate_check(&mut limiter) {
                        Admit::Handle => {}
                        Admit::Drop => continue,
                        Admit::Stop(stop) => return stop,
                    }
                    self.error(ErrorCode::Parse, "binary frames are not accepted: send text");
                    continue;
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                Message::Close(_) => return Stop::PeerClosed,
            };
            match self.rate_check(&mut limiter) {
                Admit::Handle => {}
                Admit::Drop => continue,
                Admit::Stop(stop) => return stop,
            }
            if let Some(stop) = self.on_text(&text).await {
                return stop;
            }
        }
    }

    fn due(&self, last_heard: Instant, config: &WsConfig) -> Due {
        let enter_deadline = match self.auth {
            Auth::Pending { deadline } => Some(deadline),
            Auth::Ready(_) => None,
        };
        upkeep::due(
            Instant::now(),
            last_heard,
            enter_deadline,
            config.dead_peer_timeout,
        )
    }

    fn rate_check(&self, limiter: &mut RateLimiter) -> Admit {
        match limiter.check(std::time::Instant::now()) {
            Verdict::Allow => Admit::Handle,
            Verdict::Drop => Admit::Drop,
            Verdict::DropAndWarn => {
                self.error(ErrorCode::RateLimited, "too many messages; slow down");
                Admit::Drop
            }
            Verdict::Close => {
                self.outbox.close(CloseReason::Policy);
                Admit::Stop(Stop::Closing)
            }
        }
    }

    async fn on_text(&mut self, text: &str) -> Option<Stop> {
        let limit = match self.auth {
            Auth::Pending { .. } => self.ctx.config.legacy_max_frame_bytes,
            Auth::Ready(_) => self.ctx.config.max_frame_bytes,
        };
        if text.len() > limit {
            return Some(self.too_large());
        }
        let msg = match parse_client_frame(text) {
            Ok(msg) => msg,
            Err(e) => {
                self.error(e.code(), e.to_string());
                return None;
            }
        };
        match &mut self.auth {
            Auth::Pending { .. } => self.on_unauthenticated(msg).await,
            Auth::Ready(session) => {
                if let ClientMsg::Enter {
                    authorization: Some(token),
                    ..
                } = &msg
                {
                    let same_user = self
                        .ctx
                        .auth
                        .authenticate(strip_bearer(token))
                        .is_ok_and(|id| id.user == session.user());
                    if !same_user {
                        self.error(
                            ErrorCode::Unauthorized,
                            "authorization does not name the connected user",
                        );
                        return None;
                    }
                }
                session.handle(msg).await;
            }
        }
        None
    }

    async fn on_unauthenticated(&mut self, msg: ClientMsg) {
        let ClientMsg::Enter { authorization, .. } = &msg else {
            self.error(
                ErrorCode::NotInRoom,
                "not in a room yet: send ENTER with authorization first",
            );
            return;
        };
        let Some(token) = authorization else {
            self.error(ErrorCode::Unauthorized, "ENTER must carry authorization");
            return;
        };
        match self.ctx.auth.authenticate(strip_bearer(token)) {
            Ok(identity) => {
                let mut session = self.ctx.engine.open_session_with_outbox(
                    identity.user,
                    identity.nickname,
                    self.outbox.clone(),
                );
                record_session(&session);
                session.handle(msg).await;
                self.auth = Auth::Ready(session);
            }
            Err(e) => self.error(ErrorCode::Unauthorized, e.to_string()),
        }
    }

    fn on_read_error(&self, error: axum::Error) -> Stop {
        match error.into_inner().downcast::<tungstenite::Error>().map(|e| *e) {
            Ok(tungstenite::Error::Capacity(_)) => self.too_large(),
            Ok(tungstenite::Error::Utf8(_)) => {
                self.outbox.close(CloseReason::InvalidUtf8);
                Stop::Closing
            }
            Ok(other) => {
                tracing::debug!(error = %other, "socket read failed");
                Stop::PeerGone
            }
            Err(other) => {
                tracing::debug!(error = %other, "socket read failed");
                Stop::PeerGone
            }
        }
    }

    fn too_large(&self) -> Stop {
        self.error(ErrorCode::FrameTooLarge, "frame too large");
        self.outbox.close(CloseReason::TooLarge);
        Stop::Closing
    }

    fn error(&self, code: ErrorCode, message: impl Into<String>) {
        queue_message(self.outbox, &ServerMsg::error(code, message));
    }
}

type Sink = SplitSink<WebSocket, Message>;

/// Drain `outbox` into the socket: one frame per message, or one frame per
/// tick when batching (usually joined by the room already; the writer joins
/// whatever else came one message at a time); pings on an interval; the
/// close frame last.
///
/// What the writer took counts against the outbox's byte budget until it
/// asks the outbox for more (`next`), so a peer that stops reading cannot
/// make this task hold more than the budget.
async fn write_loop(mut sink: Sink, outbox: Arc<Outbox>, tick: Option<Duration>, config: Arc<WsConfig>) {
    let mut ping = tokio::time::interval_at(Instant::now() + config.ping_interval, config.ping_interval);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_flush = Instant::now();
    loop {
        let next = tokio::select! {
            next = outbox.next(config.write_batch) => next,
            _ = ping.tick() => {
                if send_timed(&mut sink, Message::Ping(bytes::Bytes::new()), &config).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let result = match next {
            Next::Frames(mut frames) => match tick {
                None => send_each(&mut sink, frames, &config).await,
                // Already joined per tick by a room hosted here: send as is.
                Some(_) if frames.iter().all(|f| f.joined) => send_each(&mut sink, frames, &config).await,
                // Frames one by one (a room relayed from another node, an ERROR
                // from the reader): joined here, at most once per tick.
                Some(tick) => {
                    tokio::time::sleep_until(last_flush + tick).await;
                    // Still held until written: counted against the socket's byte budget.
                    frames.extend(outbox.take_more(usize::MAX));
                    last_flush = Instant::now();
                    send_joined(&mut sink, &frames, &config).await
                }
            },
            Next::Close(reason) => {
                if reason != CloseReason::TooSlow {
                    metrics::counter!(m::CLOSES, "code" => reason.code().to_string()).increment(1);
                }
                let frame = CloseFrame {
                    code: reason.code(),
                    reason: Utf8Bytes::from_static(reason.text()),
                };
                let _ = send_timed(&mut sink, Message::Close(Some(frame)), &config).await;
                return;
            }
        };
        if result.is_err() {
            return;
        }
    }
}

async fn send_each(sink: &mut Sink, frames: Vec<Frame>, config: &WsConfig) -> Result<(), ()> {
    for frame in frames {
        let text = Utf8Bytes::try_from(frame.bytes).map_err(|_| ())?;
        timed(sink.feed(Message::Text(text)), config).await?;
    }
    timed(sink.flush(), config).await
}

async fn send_joined(sink: &mut Sink, frames: &[Frame], config: &WsConfig) -> Result<(), ()> {
    let mut joined = String::with_capacity(frames.iter().map(|f| f.bytes.len() + 1).sum());
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            joined.push('\n');
        }
        joined.push_str(frame.as_str());
    }
    send_timed(sink, Message::Text(joined.into()), config).await
}

async fn send_timed(sink: &mut Sink, message: Message, config: &WsConfig) -> Result<(), ()> {
    timed(sink.send(message), config).await
}

/// A peer that does not take our bytes for this long is dropped: nobody waits on it.
async fn timed<F: std::future::Future<Output = Result<(), axum::Error>>>(
    future: F,
    config: &WsConfig,
) -> Result<(), ()> {
    let mut future = std::pin::pin!(future);
    // Most writes complete at once (the kernel takes the bytes): those never
    // arm a timer; only a write that has to wait for the peer gets its deadline.
    let outcome = match future.as_mut().now_or_never() {
        Some(done) => Ok(done),
        None => tokio::time::timeout(config.write_timeout, future).await,
    };
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "socket write failed");
            Err(())
        }
        Err(_) => {
            tracing::debug!("socket write timed out");
            Err(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seat_outlives_a_drop_a_silence_a_slow_reader_and_a_shutdown_but_not_a_policy_close() {
        assert!(keeps_seat(&Stop::PeerGone, None), "the connection dropped");
        assert!(keeps_seat(&Stop::PeerClosed, None), "closed without LEAVE");
        for kept in [
            CloseReason::TooSlow,
            CloseReason::GoingAway,
            CloseReason::DeadPeer,
        ] {
            assert!(keeps_seat(&Stop::Closing, Some(kept)), "{kept:?}");
            assert!(keeps_seat(&Stop::PeerGone, Some(kept)), "{kept:?}");
        }
        for ended in [
            CloseReason::Normal,
            CloseReason::Policy,
            CloseReason::Replaced,
            CloseReason::TooLarge,
            CloseReason::InvalidUtf8,
            CloseReason::TryAgainLater,
        ] {
            assert!(!keeps_seat(&Stop::Closing, Some(ended)), "{ended:?}");
            assert!(!keeps_seat(&Stop::PeerGone, Some(ended)), "{ended:?}");
        }
    }
}
