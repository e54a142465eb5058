//! One simulated user: connect with a self-minted token, ENTER, then move
//! (alternately right and left, so never into a wall) while timing the
//! authoritative echo of each of its own moves.

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
pub struct Target {
    pub url: String,
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

pub async fn run(shared: Arc<Shared>, target: Target, mut stop: watch::Receiver<bool>) {
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
    let (ws, walker) = entered;
    stats.open.fetch_add(1, Relaxed);
    play(&shared, &target, ws, walker, &mut stop).await;
    stats.open.fetch_sub(1, Relaxed);
}

async fn connect_and_enter(target: &Target, stats: &Stats) -> Result<(Ws, Walker), String> {
    let mut ws = connect(target).await?;
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
                    let walker = Walker {
                        side: room.map.side(),
                        base: me.cell.x,
                        predicted: me.cell.x,
                        pending: VecDeque::new(),
                    };
                    return Ok((ws, walker));
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
    mut walker: Walker,
    stop: &mut watch::Receiver<bool>,
) {
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
            _ = ticker.tick(), if moving => {
                expire(&mut walker, stats);
                let direction = walker.next_direction();
                let frame = format!("20{{\"direction\":{}}}", direction.code());
                walker.pending.push_back(Pending { sent: Instant::now(), direction });
                if sink.send(Message::Text(frame.into())).await.is_err() {
                    stats.disconnect("send_failed");
                    return;
                }
                stats.moves_sent.fetch_add(1, Relaxed);
            }
            message = stream.next() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => {
                        stats.disconnect(frame.map_or("no_code".to_owned(), |f| u16::from(f.code).to_string()));
                        return;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) => { stats.disconnect("io"); return; }
                    None => { stats.disconnect("eof"); return; }
                };
                stats.frames_in.fetch_add(1, Relaxed);
                on_frame(&text, &own_prefix, &mut walker, stats);
            }
        }
    }
    let _ = sink.send(Message::Text("19{}".into())).await;
    let _ = tokio::time::timeout(Duration::from_millis(500), sink.close()).await;
}

/// Count every MOVE; parse only our own (and anything that is not a MOVE).
fn on_frame(text: &str, own_prefix: &str, walker: &mut Walker, stats: &Stats) {
    let mut updates = 0;
    for line in split_batch(text) {
        if line.starts_with("20") {
            updates += 1;
            if !line.starts_with(own_prefix) || line.as_bytes().get(own_prefix.len()) != Some(&b',') {
                continue;
            }
        }
        match parse_server_frame(line) {
            Ok(ServerMsg::Move { direction, cell, .. }) => on_own_move(walker, direction, cell.x, stats),
            Ok(ServerMsg::Error { code, .. }) => stats.error(code.to_string()),
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
