//! The live progress line, the server's CPU and memory as /proc shows them,
//! and the final JSON summary.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use crate::stats::Stats;

/// Totals at one instant, for rates over a window.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    pub at: Instant,
    pub moves_sent: u64,
    pub updates: u64,
    pub frames_in: u64,
    pub lost: u64,
    pub server_cpu_ticks: Option<(u64, u64)>,
}

impl Snapshot {
    pub fn take(stats: &Stats, server_pid: Option<u32>) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            moves_sent: stats.moves_sent.load(Relaxed),
            updates: stats.updates.load(Relaxed),
            frames_in: stats.frames_in.load(Relaxed),
            lost: stats.lost.load(Relaxed),
            server_cpu_ticks: server_pid.and_then(cpu_ticks),
        }
    }
}

/// One progress line (to stderr).
pub fn progress(stats: &Stats, previous: &Snapshot, now: &Snapshot, phase: &str) {
    let secs = now.at.duration_since(previous.at).as_secs_f64().max(1e-9);
    eprintln!(
        "[{phase}] conns={} entered={} moves/s out={:.0} updates/s in={:.0} p50={:.2}ms p99={:.2}ms \
         errors={} disconnects={}",
        stats.open.load(Relaxed),
        stats.entered.load(Relaxed),
        (now.moves_sent - previous.moves_sent) as f64 / secs,
        (now.updates - previous.updates) as f64 / secs,
        stats.latency.percentile_ms(50.0),
        stats.latency.percentile_ms(99.0),
        stats.error_total(),
        stats.disconnect_total(),
    );
}

/// (utime, stime) of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at ")".
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime, stime))
}

/// A `/proc/<pid>/status` field in kB (VmRSS, VmHWM).
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux if that fails).
pub fn clock_ticks_per_s() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The server's share of one core over the window, and its memory now.
pub fn server_summary(pid: u32, start: &Snapshot, end: &Snapshot) -> serde_json::Value {
    let secs = end.at.duration_since(start.at).as_secs_f64().max(1e-9);
    let pct = |ticks: u64| round2(ticks as f64 / clock_ticks_per_s() / secs * 100.0);
    let (cpu_pct, user_pct, sys_pct) = match (start.server_cpu_ticks, end.server_cpu_ticks) {
        (Some((u0, s0)), Some((u1, s1))) => (
            Some(pct(u1 + s1 - u0 - s0)),
            Some(pct(u1 - u0)),
            Some(pct(s1 - s0)),
        ),
        _ => (None, None, None),
    };
    let mb = |kb: Option<u64>| kb.map(|kb| round2(kb as f64 / 1024.0));
    let seconds = |ticks: u64| round2(ticks as f64 / clock_ticks_per_s());
    let (user_s, sys_s) = match (start.server_cpu_ticks, end.server_cpu_ticks) {
        (Some((u0, s0)), Some((u1, s1))) => (Some(seconds(u1 - u0)), Some(seconds(s1 - s0))),
        _ => (None, None),
    };
    serde_json::json!({
        "pid": pid,
        "window_s": round2(secs),
        "cpu_user_s": user_s,
        "cpu_sys_s": sys_s,
        "cpu_pct_of_one_core": cpu_pct,
        "cpu_user_pct": user_pct,
        "cpu_sys_pct": sys_pct,
        "rss_mb": mb(status_kb(pid, "VmRSS:")),
        "peak_rss_mb": mb(status_kb(pid, "VmHWM:")),
    })
}

pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
