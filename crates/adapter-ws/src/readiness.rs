//! What `/readyz` checks: every backing service the node needs, and
//! whether the node is leaving.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use room_ports::MapStore;

/// One thing that must answer for the node to be ready.
#[async_trait]
pub trait ReadinessCheck: Send + Sync + 'static {
    /// A short name for reports (`store`, `redis`, ...).
    fn name(&self) -> &str;
    /// `Err` with a reason if it does not answer now.
    async fn check(&self) -> Result<(), String>;
}

/// The map store answers.
pub struct StoreReady(pub Arc<dyn MapStore>);

#[async_trait]
impl ReadinessCheck for StoreReady {
    fn name(&self) -> &str {
        "store"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

/// Whether the node is leaving (SIGTERM received): from then on `/readyz`
/// answers 503 `{"draining":true}`, so a load balancer sends new users
/// elsewhere while the sockets already here are still served. Cheap to clone;
/// every clone sees [`begin`](Self::begin).
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    /// Not draining yet.
    pub fn new() -> Draining {
        Draining::default()
    }

    /// From now on, say so on `/readyz`.
    pub fn begin(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether [`begin`](Self::begin) was called.
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}
