//! What `/readyz` checks: every backing service the node needs.

use std::sync::Arc;

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
