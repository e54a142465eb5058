//! The task that keeps a connection open: reconnects with backoff, re-binds,
//! and reports the gap a reconnection leaves.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, Retryable};
use room_core::RoomId;
use room_ports::BusInbound;
use tokio::sync::watch;

use crate::backoff;
use crate::session::{self, End, Session};
use crate::shared::{Shared, stopped};

/// How long a graceful close may take.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Run sessions one after the other until the bus shuts down. `first` is an
/// already open session (from `connect`), if any.
pub(crate) async fn supervise(shared: Arc<Shared>, first: Option<Session>) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut next = first;
    loop {
        let mut session = match next.take() {
            Some(session) => session,
            None => match reconnect(&shared, &mut shutdown).await {
                Some(session) => session,
                None => return,
            },
        };
        if !session.rooms.is_empty() && report_gap(&shared, session.rooms.clone(), &mut shutdown).await {
            session.close(&shared, CLOSE_WAIT).await;
            return;
        }
        let end = session.run(&shared, &mut shutdown).await;
        session.close(&shared, CLOSE_WAIT).await;
        match end {
            End::Shutdown => {
                tracing::info!(node = %shared.config.node_id, "bus closed");
                return;
            }
            End::Lost(reason) => {
                tracing::warn!(node = %shared.config.node_id, %reason, "bus connection lost; reconnecting");
                // Not straight back: a broker that drops every new connection
                // would be asked again at once, for ever.
                if pause(&shared, &mut shutdown).await {
                    return;
                }
            }
        }
    }
}

/// Tell the engine that events of `rooms` may have been lost. Returns whether
/// the bus shut down meanwhile.
async fn report_gap(shared: &Shared, rooms: Vec<RoomId>, shutdown: &mut watch::Receiver<bool>) -> bool {
    tracing::info!(rooms = rooms.len(), "reporting a gap after reconnecting");
    tokio::select! {
        _ = shared.inbound.send(BusInbound::Gap { rooms }) => false,
        () = stopped(shutdown) => true,
    }
}

/// Open a session, trying again with backoff for as long as it fails;
/// `None` if the bus shut down meanwhile.
async fn reconnect(shared: &Shared, shutdown: &mut watch::Receiver<bool>) -> Option<Session> {
    let config = &shared.config;
    let attempt = || async move {
        match tokio::time::timeout(config.op_timeout, session::open(shared)).await {
            Ok(Ok(session)) => Ok(session),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("timed out".to_owned()),
        }
    };
    let attempts = attempt
        .retry(backoff::reconnect(config.reconnect_min, config.reconnect_max))
        .notify(|reason: &String, delay: Duration| {
            tracing::warn!(node = %config.node_id, %reason, ?delay, "bus reconnection failed");
        });
    tokio::select! {
        opened = attempts => opened.ok(),
        () = stopped(shutdown) => None,
    }
}

/// Wait the first reconnection delay. Returns whether the bus shut down meanwhile.
async fn pause(shared: &Shared, shutdown: &mut watch::Receiver<bool>) -> bool {
    let config = &shared.config;
    let mut delays = backoff::reconnect(config.reconnect_min, config.reconnect_max).build();
    let delay = delays.next().unwrap_or(config.reconnect_min);
    tokio::select! {
        () = tokio::time::sleep(delay) => false,
        () = stopped(shutdown) => true,
    }
}
