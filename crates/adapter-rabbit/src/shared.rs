//! State shared by the bus handle and its supervisor task.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use lapin::Channel;
use room_ports::BusInbound;
use tokio::sync::{Notify, mpsc, watch};

use crate::config::{Names, RabbitConfig};
use crate::interest::Interest;

/// A channel of the current connection, and the way to say it failed.
#[derive(Clone)]
pub(crate) struct Link {
    /// The AMQP channel.
    pub(crate) channel: Channel,
    /// Woken when a call on `channel` failed: the supervisor then replaces the
    /// whole connection. One per connection, so a failure of an old
    /// connection never tears down its successor.
    pub(crate) broken: Arc<Notify>,
}

impl Link {
    /// Tell the supervisor this connection is no longer usable.
    pub(crate) fn report_broken(&self) {
        self.broken.notify_one();
    }
}

/// Everything the handle and the supervisor both touch.
pub(crate) struct Shared {
    pub(crate) config: RabbitConfig,
    pub(crate) names: Names,
    /// The publishing channel; `None` while disconnected, so that a publish
    /// fails at once instead of waiting for a reconnection.
    publisher: RwLock<Option<Link>>,
    /// The consuming channel, also used for binds. Held across a bind so binds
    /// and the re-binding after a reconnection never interleave.
    pub(crate) topology: tokio::sync::Mutex<Option<Link>>,
    interest: Mutex<Interest>,
    pub(crate) inbound: mpsc::Sender<BusInbound>,
    pub(crate) connected: watch::Sender<bool>,
    pub(crate) shutdown: watch::Sender<bool>,
}

impl Shared {
    /// Fresh state for `config`, with the receiving end of the inbound channel.
    pub(crate) fn new(config: RabbitConfig) -> (Shared, mpsc::Receiver<BusInbound>) {
        let (inbound, receiver) = mpsc::channel(config.inbound_capacity.max(1));
        let shared = Shared {
            names: config.names(),
            config,
            publisher: RwLock::new(None),
            topology: tokio::sync::Mutex::new(None),
            interest: Mutex::new(Interest::default()),
            inbound,
            connected: watch::Sender::new(false),
            shutdown: watch::Sender::new(false),
        };
        (shared, receiver)
    }

    /// The interest set (a poisoned lock only means a panic elsewhere; the data stays consistent).
    pub(crate) fn interest(&self) -> MutexGuard<'_, Interest> {
        self.interest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The publishing channel, if connected.
    pub(crate) fn publisher(&self) -> Option<Link> {
        self.publisher
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Install (or with `None`, remove) the publishing channel.
    pub(crate) fn set_publisher(&self, link: Option<Link>) {
        *self.publisher.write().unwrap_or_else(PoisonError::into_inner) = link;
    }

    /// Remove the publishing channel, returning it.
    pub(crate) fn take_publisher(&self) -> Option<Link> {
        self.publisher
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// Resolves once `shutdown` says stop (or its sender is gone).
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The guard returned by `wait_for` is dropped here, before any await of the caller.
    let _ = shutdown.wait_for(|stop| *stop).await.map(|_| ());
}
