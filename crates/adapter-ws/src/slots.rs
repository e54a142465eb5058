//! Connection slots: how many TCP connections are open, in total and per
//! client IP, so the accept loop can refuse one over a cap and shutdown can
//! wait for the last one.
//!
//! Our own rather than a `TaskTracker`: a slot must live as long as the
//! socket, and an upgraded WebSocket outlives the HTTP connection task that
//! accepted it (axum spawns it). The slot's guard travels inside the socket's
//! IO object, so it is released exactly when the socket is dropped, whoever
//! holds it then.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::metrics_names as m;

/// Why an accepted connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The total cap (explicit, or derived from the file-descriptor budget) is reached.
    Total,
    /// This client IP holds its share already.
    PerIp,
}

impl Refusal {
    /// The `reason` label of the refusal counter.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Refusal::Total => "total",
            Refusal::PerIp => "per_ip",
        }
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// The open connections; cheap to clone.
#[derive(Clone)]
pub(crate) struct Slots {
    inner: Arc<Inner>,
}

struct Inner {
    max_total: usize,
    /// 0: no per-IP cap.
    max_per_ip: usize,
    counts: Mutex<Counts>,
    emptied: Notify,
}

impl Slots {
    pub(crate) fn new(max_total: usize, max_per_ip: usize) -> Slots {
        Slots {
            inner: Arc::new(Inner {
                max_total,
                max_per_ip,
                counts: Mutex::new(Counts::default()),
                emptied: Notify::new(),
            }),
        }
    }

    /// A slot for a connection from `ip`, counted against `ip`'s share, or why not.
    pub(crate) fn take(&self, ip: IpAddr) -> Result<SlotGuard, Refusal> {
        let mut slot = self.take_uncounted()?;
        slot.count_for(ip)?;
        Ok(slot)
    }

    /// A slot counted in the total only: a connection from a trusted proxy,
    /// whose client is not known yet ([`SlotGuard::count_for`] once it is).
    pub(crate) fn take_uncounted(&self) -> Result<SlotGuard, Refusal> {
        let mut counts = lock(&self.inner.counts);
        if counts.total >= self.inner.max_total {
            return Err(Refusal::Total);
        }
        counts.total += 1;
        metrics::gauge!(m::TCP_CONNECTIONS).increment(1.0);
        Ok(SlotGuard {
            slots: self.clone(),
            ip: None,
        })
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        lock(&self.inner.counts).total
    }

    /// Wait until no connection is open.
    pub(crate) async fn emptied(&self) {
        loop {
            let notified = self.inner.emptied.notified();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Count one connection against `ip`'s share, or refuse it.
    fn count(&self, ip: IpAddr) -> Result<(), Refusal> {
        let mut counts = lock(&self.inner.counts);
        let mine = counts.per_ip.entry(ip).or_default();
        if self.inner.max_per_ip > 0 && *mine >= self.inner.max_per_ip {
            if *mine == 0 {
                counts.per_ip.remove(&ip);
            }
            return Err(Refusal::PerIp);
        }
        *mine += 1;
        Ok(())
    }

    fn uncount(&self, ip: IpAddr) {
        let mut counts = lock(&self.inner.counts);
        if let Some(mine) = counts.per_ip.get_mut(&ip) {
            *mine -= 1;
            if *mine == 0 {
                counts.per_ip.remove(&ip);
            }
        }
    }

    fn release(&self) {
        let mut counts = lock(&self.inner.counts);
        counts.total -= 1;
        metrics::gauge!(m::TCP_CONNECTIONS).decrement(1.0);
        if counts.total == 0 {
            self.inner.emptied.notify_waiters();
        }
    }
}

/// One open connection's slot; dropping it frees the slot.
pub(crate) struct SlotGuard {
    slots: Slots,
    /// The client address it counts against, if known.
    ip: Option<IpAddr>,
}

impl SlotGuard {
    /// Count this connection against `ip` (instead of the address it counted
    /// against so far, if any), or refuse it: then it counts against none.
    pub(crate) fn count_for(&mut self, ip: IpAddr) -> Result<(), Refusal> {
        if self.ip == Some(ip) {
            return Ok(());
        }
        if let Some(old) = self.ip.take() {
            self.slots.uncount(old);
        }
        self.slots.count(ip)?;
        self.ip = Some(ip);
        Ok(())
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Some(ip) = self.ip {
            self.slots.uncount(ip);
        }
        self.slots.release();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn per_ip_cap_refuses_only_that_ip_and_frees_on_drop() {
        let slots = Slots::new(10, 2);
        let a = slots.take(ip(1)).unwrap();
        let _b = slots.take(ip(1)).unwrap();
        assert_eq!(slots.take(ip(1)).err(), Some(Refusal::PerIp));
        let _other = slots.take(ip(2)).unwrap();
        drop(a);
        assert!(slots.take(ip(1)).is_ok());
    }

    #[test]
    fn total_cap_refuses_everyone_and_counts_back_to_zero() {
        let slots = Slots::new(2, 0);
        let a = slots.take(ip(1)).unwrap();
        let b = slots.take(ip(2)).unwrap();
        assert_eq!(slots.take(ip(3)).err(), Some(Refusal::Total));
        drop((a, b));
        assert_eq!(slots.open(), 0);
        assert!(lock(&slots.inner.counts).per_ip.is_empty());
    }

    #[test]
    fn an_uncounted_slot_counts_against_the_client_it_is_given_and_moves_with_it() {
        let slots = Slots::new(10, 1);
        let mut via_proxy = slots.take_uncounted().unwrap();
        let _second_via_proxy = slots.take_uncounted().unwrap();
        via_proxy.count_for(ip(5)).unwrap();
        assert_eq!(slots.take(ip(5)).err(), Some(Refusal::PerIp));
        via_proxy.count_for(ip(6)).unwrap();
        let _five = slots.take(ip(5)).unwrap();
        assert_eq!(via_proxy.count_for(ip(5)), Err(Refusal::PerIp));
        drop(via_proxy);
        let _six = slots.take(ip(6)).unwrap();
        assert_eq!(slots.open(), 3);
    }
}
