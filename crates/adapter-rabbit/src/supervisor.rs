//! The task that keeps a connection open: reconnects with backoff, re-binds,
//! and reports the gap a reconnection leaves.

use std::sync::Arc;
use std::time::Duration;

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
    let mut failures: u32 = 0;
    loop {
        let mut session = match next.take() {
            Some(session) => session,
            None => match tokio::time::timeout(shared.config.op_timeout, session::open(&shared)).await {
                Ok(Ok(session)) => session,
                outcome => {
                    let reason = match outcome {
                        Ok(Err(error)) => error.to_string(),
                        _ => "timed out".to_string(),
                    };
                    tracing::warn!(node = %shared.config.node_id, %reason, failures, "bus reconnection failed");
                    if pause(&shared, failures, &mut shutdown).await {
                        return;
                    }
                    failures = failures.saturating_add(1);
                    continue;
                }
            },
        };
        failures = 0;
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
                if pause(&shared, 0, &mut shutdown).await {
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

/// Wait before attempt `failures + 1`. Returns whether the bus shut down meanwhile.
async fn pause(shared: &Shared, failures: u32, shutdown: &mut watch::Receiver<bool>) -> bool {
    let config = &shared.config;
    let delay = backoff::delay(
        config.reconnect_min,
        config.reconnect_max,
        failures,
        backoff::clock_jitter(),
    );
    tokio::select! {
        () = tokio::time::sleep(delay) => false,
        () = stopped(shutdown) => true,
    }
}
