//! Shared test support: a database of its own per test, maps, a TCP proxy.
#![allow(dead_code)] // each test binary uses a different part

pub mod db;
pub mod maps;
pub mod proxy;

use std::future::Future;
use std::time::Duration;

/// Fail instead of hanging: no test asserts a speed, this only catches hangs.
pub async fn guard<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(60), fut).await {
        Ok(value) => value,
        Err(_) => panic!("{what} did not finish within 60 s"),
    }
}
