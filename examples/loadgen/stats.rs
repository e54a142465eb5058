//! Counters and latency histograms shared by every client task (lock-free
//! on the hot path; the rare errors and closes go through a mutex).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A fixed-width histogram: `buckets` buckets of `unit_us` microseconds, the last one open-ended.
pub struct Histogram {
    unit_us: u64,
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl Histogram {
    pub fn new(unit_us: u64, buckets: usize) -> Histogram {
        Histogram {
            unit_us,
            buckets: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }

    pub fn record(&self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let index = usize::try_from(us / self.unit_us)
            .unwrap_or(usize::MAX)
            .min(self.buckets.len() - 1);
        self.buckets[index].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
        self.max_us.fetch_max(us, Relaxed);
    }

    pub fn reset(&self) {
        for bucket in &self.buckets {
            bucket.store(0, Relaxed);
        }
        self.count.store(0, Relaxed);
        self.sum_us.store(0, Relaxed);
        self.max_us.store(0, Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// The upper edge of the bucket holding the `p`-th percentile, in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        let count = self.count();
        if count == 0 {
            return 0.0;
        }
        let rank = ((p / 100.0) * count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            seen += bucket.load(Relaxed);
            if seen >= rank {
                if i == self.buckets.len() - 1 {
                    return self.max_ms();
                }
                return ((i as u64 + 1) * self.unit_us) as f64 / 1000.0;
            }
        }
        self.max_ms()
    }

    pub fn max_ms(&self) -> f64 {
        self.max_us.load(Relaxed) as f64 / 1000.0
    }

    pub fn mean_ms(&self) -> f64 {
        let count = self.count();
        if count == 0 {
            0.0
        } else {
            self.sum_us.load(Relaxed) as f64 / count as f64 / 1000.0
        }
    }

    pub fn summary(&self) -> serde_json::Value {
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        serde_json::json!({
            "count": self.count(),
            "p50": round(self.percentile_ms(50.0)),
            "p90": round(self.percentile_ms(90.0)),
            "p99": round(self.percentile_ms(99.0)),
            "max": round(self.max_ms()),
            "mean": round(self.mean_ms()),
        })
    }
}

/// Everything the clients count.
pub struct Stats {
    /// Sockets open now.
    pub open: AtomicU64,
    /// Sockets that received their SYNC after ENTER.
    pub entered: AtomicU64,
    /// Clients that finished trying to connect (entered or failed).
    pub settled: AtomicU64,
    pub moves_sent: AtomicU64,
    /// MOVE messages received (anyone's).
    pub updates: AtomicU64,
    pub frames_in: AtomicU64,
    /// Own moves never echoed (rejected, dropped or coalesced away).
    pub lost: AtomicU64,
    /// Whether latencies count (after the warm-up).
    pub measuring: AtomicBool,
    /// Send of an own MOVE to receipt of its authoritative echo.
    pub latency: Histogram,
    /// Connect start to SYNC received.
    pub connect: Histogram,
    /// Socket dropped to its resume answered (RESUMED, SYNC, or 76408).
    pub resume: Histogram,
    /// Clients whose resume was answered, or failed.
    pub resumes_settled: AtomicU64,
    resume_outcomes: Mutex<BTreeMap<String, u64>>,
    errors: Mutex<BTreeMap<String, u64>>,
    disconnects: Mutex<BTreeMap<String, u64>>,
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            open: AtomicU64::new(0),
            entered: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            moves_sent: AtomicU64::new(0),
            updates: AtomicU64::new(0),
            frames_in: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            measuring: AtomicBool::new(false),
            // 10 µs resolution up to 2 s.
            latency: Histogram::new(10, 200_000),
            // 1 ms resolution up to 120 s.
            connect: Histogram::new(1000, 120_000),
            // 1 ms resolution up to 60 s.
            resume: Histogram::new(1000, 60_000),
            resumes_settled: AtomicU64::new(0),
            resume_outcomes: Mutex::new(BTreeMap::new()),
            errors: Mutex::new(BTreeMap::new()),
            disconnects: Mutex::new(BTreeMap::new()),
        }
    }

    /// An ERROR from the server (by protocol code) or a client-side failure (by a short name).
    pub fn error(&self, code: impl Into<String>) {
        *lock(&self.errors).entry(code.into()).or_default() += 1;
    }

    /// A socket that ended before the run did (by close code, or "eof"/"io").
    pub fn disconnect(&self, code: impl Into<String>) {
        *lock(&self.disconnects).entry(code.into()).or_default() += 1;
    }

    /// How one client's resume ended: `replayed`, `sync`, `expired` or a failure.
    pub fn resume_outcome(&self, outcome: impl Into<String>) {
        *lock(&self.resume_outcomes).entry(outcome.into()).or_default() += 1;
        self.resumes_settled.fetch_add(1, Relaxed);
    }

    pub fn resume_outcomes(&self) -> BTreeMap<String, u64> {
        lock(&self.resume_outcomes).clone()
    }

    pub fn errors(&self) -> BTreeMap<String, u64> {
        lock(&self.errors).clone()
    }

    pub fn disconnects(&self) -> BTreeMap<String, u64> {
        lock(&self.disconnects).clone()
    }

    pub fn error_total(&self) -> u64 {
        lock(&self.errors).values().sum()
    }

    pub fn disconnect_total(&self) -> u64 {
        lock(&self.disconnects).values().sum()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
