//! One simulated user: connect with a self-minted token, ENTER, then move
//! (alternately right and left, so never into a wall) while timing the
//! authoritative echo of each of its own moves. Opted into resume, it keeps
//! its seat and the last `seq`, and when told to, drops its socket and
//! resumes on a new one (PROTOCOL.md §9).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use room_core::{Direction, ServerMsg, UserId, parse_server_frame, split_batch};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::stats::Stats;

/// What every client shares.
pub struct Shared {
    pub stats: Stats,
    pub connect_gate: Semaphore,
    pub connect_timeout: Duration,
    pub rate: f64,
}

/// One client's identity and target.
#[derive(Clone)]
pub struct Target {
    /// The endpoint with the token (and `batch=1`), without `resume`.
    pub url: String,
    /// Opt into resume.
    pub resume: bool,
    /// Where a resume goes: the next `--url` (the same one if there is one),
    /// as a client that lost its node reconnects to another.
    pub resume_url: String,
    /// The local address to connect from (`None`: the system's choice).
    pub source: Option<std::net::IpAddr>,
    pub user: u64,
    pub room: u64,
    /// 0..1: where in the move period this client sends, so clients do not move in lockstep.
    pub phase: f64,
}

/// A sent MOVE whose echo has not arrived yet.
struct Pending {
    sent: Instant,
    direction: Direction,
}

/// Own position as far as this client knows, to pick a direction that never hits a wall.
struct Walker {
    side: u16,
    base: u16,
    predicted: u16,
    pending: VecDeque<Pending>,
    /// The seat token of the last SEAT, when opted into resume.
    seat: Option<String>,
    /// The `seq` of the last room event seen.
    seq: Option<u64>,
}

impl Walker {
    fn next_direction(&mut self) -> Direction {
        let right = if self.predicted == 0 {
            true
        } else if self.predicted + 1 >= self.side {
            false
        } else {
            self.predicted <= self.base
        };
        if right {
            self.predicted += 1;
            Direction::Right
        } else {
            self.predicted -= 1;
            Direction::Left
        }
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn run(
    shared: Arc<Shared>,
    target: Target,
    mut stop: watch::Receiver<bool>,
    mut reconnect: watch::Receiver<bool>,
) {
    let stats = &shared.stats;
    let entered = {
        let _permit = shared.connect_gate.acquire().await;
        let started = Instant::now();
        let attempt = tokio::time::timeout(shared.connect_timeout, connect_and_enter(&target, stats)).await;
        stats.settled.fetch_add(1, Relaxed);
        match attempt {
            Ok(Ok(entered)) => {
                stats.connect.record(started.elapsed());
                stats.entered.fetch_add(1, Relaxed);
                entered
            }
            Ok(Err(kind)) => {
                stats.error(kind);
                return;
            }
            Err(_) => {
                stats.error("connect_timeout");
                return;
            }
        }
    };
    let (mut ws, mut walker) = entered;
    stats.open.fetch_add(1, Relaxed);
    loop {
        match play(&shared, &target, ws, &mut walker, &mut stop, &mut reconnect).await {
            Played::Ended => break,
            Played::Dropped(at) => match resume(&target, &mut walker, stats, at).await {
                Some(again) => ws = again,
                None => break,
            },
        }
    }
    stats.open.fetch_sub(1, Relaxed);
}

/// How a socket's play ended.
enum Played {
    /// The run is over, or the socket failed.
    Ended,
    /// The socket was dropped (no close frame, no LEAVE) at this instant, to resume.
    Dropped(Instant),
}

/// A new socket for `walker`'s seat, answered: RESUMED, or a fresh SYNC (and
/// SEAT), or 76408 (then ENTER as usual). The answer's wait is recorded.
async fn resume(target: &Target, walker: &mut Walker, stats: &Stats, dropped: Instant) -> Option<Ws> {
    let (Some(seat), Some(seq)) = (walker.seat.clone(), walker.seq) else {
        stats.resume_outcome("no_seat");
        return None;
    };
    let url = format!("{}&resume={seat}&seq={seq}", target.resume_url);
    let Ok(mut ws) = connect(&Target {
        url,
        ..target.clone()
    })
    .await
    else {
        stats.resume_outcome("connect_failed");
        return None;
    };
    loop {
        let Some(Ok(Message::Text(text))) = ws.next().await else {
            stats.resume_outcome("closed");
            return None;
        };
        for line in split_batch(&text) {
            let outcome = if line.starts_with("13") {
                "replayed"
            } else if line.starts_with("11") {
                "sync"
            } else if line.starts_with("99") && line.contains("76408") {
                "expired"
            } else {
                continue;
            };
            stats.resume.record(dropped.elapsed());
            stats.resume_outcome(outcome);
            note_seq(line, walker);
            // Moves in flight on the old socket were applied (their echo is
            // in the replay) or lost: none is timed against a later echo.
            walker.pending.clear();
            // What the replay or the SYNC brings next is read by play().
            if outcome == "expired" {
                let enter = format!("10{{\"room_id\":\"{}\"}}", target.room);
                ws.send(Message::Text(enter.into())).await.ok()?;
            }
            return Some(ws);
        }
    }
}

/// Keep the `seq` a line ends with (room events, SYNC and RESUMED carry one).
fn note_seq(line: &str, walker: &mut Walker) {
    let Some(at) = line.rfind("\"seq\":") else { return };
    let digits = line[at + 6..].trim_end_matches('}');
    if let Ok(seq) = digits.parse() {
        walker.seq = Some(seq);
    }
}

async fn connect_and_enter(target: &Target, stats: &Stats) -> Result<(Ws, Walker), String> {
    let mut ws = if target.resume {
        let url = format!("{}&resume=1", target.url);
        connect(&Target {
            url,
            ..target.clone()
        })
        .await?
    } else {
        connect(target).await?
    };
    let mut entered: Option<Walker> = None;
    let enter = format!("10{{\"room_id\":\"{}\"}}", target.room);
    ws.send(Message::Text(enter.into()))
        .await
        .map_err(|_| "send_enter".to_owned())?;
    loop {
        let text = match ws.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                return Err(format!(
                    "closed_before_sync:{}",
                    frame.map_or(0, |f| u16::from(f.code))
                ));
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err("eof_before_sync".to_owned()),
        };
        for line in split_batch(&text) {
            match parse_server_frame(line) {
                Ok(ServerMsg::Sync { room }) => {
                    let me = room.users.iter().find(|u| u.user == UserId(target.user));
                    let Some(me) = me else { continue };
                    let mut walker = Walker {
                        side: room.map.side(),
                        base: me.cell.x,
                        predicted: me.cell.x,
                        pending: VecDeque::new(),
                        seat: None,
                        seq: None,
                    };
                    if !target.resume {
                        return Ok((ws, walker));
                    }
                    note_seq(line, &mut walker);
                    entered = Some(walker);
                }
                // Opted in: the SEAT follows the SYNC.
                Ok(ServerMsg::Seat { token, .. }) => {
                    if let Some(mut walker) = entered.take() {
                        walker.seat = Some(token);
                        return Ok((ws, walker));
                    }
                }
                Ok(ServerMsg::Error { code, .. }) => stats.error(code.to_string()),
                _ => {}
            }
        }
    }
}

/// The upgraded socket, from `target.source` if set.
async fn connect(target: &Target) -> Result<Ws, String> {
    let failed = |e: &dyn std::fmt::Display| format!("connect: {}", short(&e.to_string()));
    let Some(source) = target.source else {
        let (ws, _) = tokio_tungstenite::connect_async_with_config(target.url.as_str(), None, true)
            .await
            .map_err(|e| failed(&e))?;
        return Ok(ws);
    };
    let request = target
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| failed(&e))?;
    let authority = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_default();
    let server = tokio::net::lookup_host(authority.as_str())
        .await
        .map_err(|e| failed(&e))?
        .find(std::net::SocketAddr::is_ipv4)
        .ok_or_else(|| failed(&"no IPv4 address for the server"))?;
    let socket = tokio::net::TcpSocket::new_v4().map_err(|e| failed(&e))?;
    socket
        .bind(std::net::SocketAddr::new(source, 0))
        .map_err(|e| failed(&e))?;
    let stream = socket.connect(server).await.map_err(|e| failed(&e))?;
    stream.set_nodelay(true).map_err(|e| failed(&e))?;
    let (ws, _) = tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(stream))
        .await
        .map_err(|e| failed(&e))?;
    Ok(ws)
}

async fn play(
    shared: &Shared,
    target: &Target,
    ws: Ws,
    walker: &mut Walker,
    stop: &mut watch::Receiver<bool>,
    reconnect: &mut watch::Receiver<bool>,
) -> Played {
    let stats = &shared.stats;
    let (mut sink, mut stream) = ws.split();
    let moving = shared.rate > 0.0;
    let period = Duration::from_secs_f64(if moving { 1.0 / shared.rate } else { 3600.0 });
    let mut ticker = tokio::time::interval_at(Instant::now() + period.mul_f64(target.phase), period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let own_prefix = format!("20{{\"user_id\":\"{}\"", target.user);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            // Drop the socket as a network would: no close frame, no LEAVE.
            Ok(()) = reconnect.changed(), if *reconnect.borrow() && walker.seat.is_some() => {
                return Played::Dropped(Instant::now());
            }
            _ = ticker.tick(), if moving => {
                expire(walker, stats);
                let direction = walker.next_direction();
                let frame = format!("20{{\"direction\":{}}}", direction.code());
                walker.pending.push_back(Pending { sent: Instant::now(), direction });
                if sink.send(Message::Text(frame.into())).await.is_err() {
                    stats.disconnect("send_failed");
                    return Played::Ended;
                }
                stats.moves_sent.fetch_add(1, Relaxed);
            }
            message = stream.next() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => {
                        stats.disconnect(frame.map_or("no_code".to_owned(), |f| u16::from(f.code).to_string()));
                        return Played::Ended;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) => { stats.disconnect("io"); return Played::Ended; }
                    None => { stats.disconnect("eof"); return Played::Ended; }
                };
                stats.frames_in.fetch_add(1, Relaxed);
                on_frame(&text, &own_prefix, walker, stats);
            }
        }
    }
    let _ = sink.send(Message::Text("19{}".into())).await;
    let _ = tokio::time::timeout(Duration::from_millis(500), sink.close()).await;
    Played::Ended
}

/// Count every MOVE; parse only our own (and anything that is not a MOVE).
fn on_frame(text: &str, own_prefix: &str, walker: &mut Walker, stats: &Stats) {
    let mut updates = 0;
    for line in split_batch(text) {
        if walker.seat.is_some() {
            note_seq(line, walker);
        }
        if line.starts_with("20") {
            updates += 1;
            if !line.starts_with(own_prefix) || line.as_bytes().get(own_prefix.len()) != Some(&b',') {
                continue;
            }
        }
        match parse_server_frame(line) {
            Ok(ServerMsg::Move { direction, cell, .. }) => on_own_move(walker, direction, cell.x, stats),
            Ok(ServerMsg::Error { code, .. }) => stats.error(code.to_string()),
            // A new seat (after a resume answered by SYNC, or an ENTER again).
            Ok(ServerMsg::Seat { token, .. }) => walker.seat = Some(token),
            Ok(_) => {}
            Err(_) => stats.error("unparsable_frame"),
        }
    }
    if updates > 0 {
        stats.updates.fetch_add(updates, Relaxed);
    }
}

fn on_own_move(walker: &mut Walker, direction: Direction, x: u16, stats: &Stats) {
    while let Some(pending) = walker.pending.pop_front() {
        if pending.direction == direction {
            if stats.measuring.load(Relaxed) {
                stats.latency.record(pending.sent.elapsed());
            }
            break;
        }
        stats.lost.fetch_add(1, Relaxed);
    }
    if walker.pending.is_empty() {
        // Nothing in flight: the echo is the truth.
        walker.predicted = x;
    }
}

/// Moves without an echo for 5 s are lost (dropped by the rate limit, or refused).
fn expire(walker: &mut Walker, stats: &Stats) {
    while walker
        .pending
        .front()
        .is_some_and(|p| p.sent.elapsed() > Duration::from_secs(5))
    {
        walker.pending.pop_front();
        stats.lost.fetch_add(1, Relaxed);
    }
}

fn short(text: &str) -> String {
    text.chars().take(60).collect()
}
