//! myroom load generator: `cargo run --release --example loadgen -- --scenario crowd --jwt-secret myroom-bench-secret-not-for-production`.
//!
//! It speaks only the wire protocol (PROTOCOL.md): it mints its own HS256
//! tokens with the server's secret, connects, sends ENTER, then MOVEs at a set
//! rate, alternately right and left so no move hits a wall, and times each
//! client's own moves from send to the receipt of their authoritative MOVE.
//! A progress line goes to stderr once a second; the JSON summary to stdout.
//!
//! Users are `first_user..`, room `r` holds users `first_user + r*U ..` and is
//! owned by (has the id of) its first user. `--write-fixtures FILE` writes a
//! fixtures file with those users for the server's `--fixtures`.

#[path = "loadgen/args.rs"]
mod args;
#[path = "loadgen/client.rs"]
mod client;
#[path = "loadgen/report.rs"]
mod report;
#[path = "loadgen/stats.rs"]
mod stats;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use adapter_ws::sign_token;
use clap::Parser;
use room_core::UserId;
use tokio::sync::{Semaphore, watch};

use crate::args::{Args, Plan};
use crate::client::{Shared, Target};
use crate::report::{Snapshot, progress, round2, server_summary};
use crate::stats::Stats;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let plan = Plan::from_args(&args);
    if let Some(path) = &args.write_fixtures {
        let count = args.users.unwrap_or(plan.clients());
        return match write_fixtures(path, args.first_user, count) {
            Ok(()) => {
                eprintln!("wrote {count} users to {}", path.display());
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cannot write {}: {e}", path.display());
                std::process::ExitCode::FAILURE
            }
        };
    }
    let summary = run(&args, &plan).await;
    let text = serde_json::to_string_pretty(&summary).unwrap_or_default();
    println!("{text}");
    if let Some(out) = &args.out
        && let Err(e) = std::fs::write(out, format!("{text}\n"))
    {
        eprintln!("cannot write {}: {e}", out.display());
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}

fn write_fixtures(path: &std::path::Path, first: u64, count: usize) -> std::io::Result<()> {
    let users: Vec<serde_json::Value> = (first..first + count as u64)
        .map(|idx| serde_json::json!({ "idx": idx, "nickname": format!("u{idx}"), "games": [] }))
        .collect();
    std::fs::write(path, serde_json::json!({ "users": users }).to_string())
}

async fn run(args: &Args, plan: &Plan) -> serde_json::Value {
    let shared = Arc::new(Shared {
        stats: Stats::new(),
        connect_gate: Semaphore::new(args.connect_concurrency.max(1)),
        connect_timeout: Duration::from_secs_f64(args.connect_timeout),
        rate: plan.rate,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (reconnect_tx, reconnect_rx) = watch::channel(false);
    let mut tasks = Vec::with_capacity(plan.clients());
    for target in targets(args, plan) {
        tasks.push(tokio::spawn(client::run(
            shared.clone(),
            target,
            stop_rx.clone(),
            reconnect_rx.clone(),
        )));
    }
    let stats = &shared.stats;
    let pid = args.server_pid;
    let started = Snapshot::take(stats, pid);

    let rss_before_kb = pid.and_then(|pid| report::status_kb(pid, "VmRSS:"));
    // Phase 1: every client connects and enters (or fails); how many entered
    // in each whole second is kept for the throughput's percentiles.
    let mut last = started;
    let mut per_second = Vec::new();
    let mut entered_at_last_second = 0;
    let mut next_second = started.at + Duration::from_secs(1);
    while stats.settled.load(Relaxed) < plan.clients() as u64 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if std::time::Instant::now() >= next_second {
            let entered = stats.entered.load(Relaxed);
            per_second.push((entered - entered_at_last_second) as f64);
            entered_at_last_second = entered;
            next_second += Duration::from_secs(1);
            let now = Snapshot::take(stats, None);
            if !args.quiet {
                progress(stats, &last, &now, "connect");
            }
            last = now;
        }
    }
    let connect_phase_s = started.at.elapsed().as_secs_f64();
    let connect = ConnectPhase {
        seconds: connect_phase_s,
        per_second,
        rss_before_kb,
    };
    // Phase 2: warm-up; phase 3: measured.
    let warm_end = tokio::time::Instant::now() + Duration::from_secs_f64(args.warmup);
    while tokio::time::Instant::now() < warm_end {
        last = tick(args, stats, last, "warm-up").await;
    }
    // The reconnect scenario: every socket drops at once, and resumes.
    let resume = if plan.reconnect {
        let expected = stats.open.load(Relaxed);
        let dropped = std::time::Instant::now();
        let _ = reconnect_tx.send(true);
        let give_up = dropped + Duration::from_secs(30);
        while stats.resumes_settled.load(Relaxed) < expected && std::time::Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let all_ms = round2(dropped.elapsed().as_secs_f64() * 1000.0);
        Some(serde_json::json!({
            "clients": expected,
            "all_answered_ms": all_ms,
            "answer_ms": stats.resume.summary(),
            "outcomes": stats.resume_outcomes(),
        }))
    } else {
        None
    };
    stats.latency.reset();
    stats.measuring.store(true, Relaxed);
    let window_start = Snapshot::take(stats, pid);
    let errors_before = stats.errors();
    let measure_end = tokio::time::Instant::now() + Duration::from_secs_f64(args.duration);
    last = window_start;
    while tokio::time::Instant::now() < measure_end {
        last = tick(args, stats, last, "measure").await;
    }
    let window_end = Snapshot::take(stats, pid);
    stats.measuring.store(false, Relaxed);
    let open_at_end = stats.open.load(Relaxed);
    let server = pid.map(|pid| server_summary(pid, &window_start, &window_end));
    let _ = last;
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    let mut summary = summary(
        args,
        plan,
        stats,
        &window_start,
        &window_end,
        &connect,
        open_at_end,
        errors_before,
        server,
    );
    if let Some(reconnect) = resume {
        summary["reconnect"] = reconnect;
    }
    summary
}

/// What the connect phase measured.
struct ConnectPhase {
    seconds: f64,
    /// Sockets that entered in each whole second of the phase.
    per_second: Vec<f64>,
    rss_before_kb: Option<u64>,
}

impl ConnectPhase {
    /// Percentiles of the per-second connect+ENTER throughput (p10 is a slow second).
    fn throughput_percentiles(&self) -> serde_json::Value {
        let mut sorted = self.per_second.clone();
        sorted.sort_by(f64::total_cmp);
        let at = |p: f64| {
            if sorted.is_empty() {
                return None;
            }
            let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
            Some(sorted[rank])
        };
        serde_json::json!({
            "seconds": sorted.len(),
            "min": at(0.0), "p10": at(10.0), "p50": at(50.0), "p90": at(90.0), "max": at(100.0),
        })
    }

    /// The server's RSS growth since before the first connect, per entered socket.
    fn rss_per_entered_kb(&self, pid: Option<u32>, entered: u64) -> Option<f64> {
        let after = report::status_kb(pid?, "VmRSS:")?;
        let before = self.rss_before_kb?;
        (entered > 0).then(|| round2(after.saturating_sub(before) as f64 / entered as f64))
    }
}

/// Sleep a second, print progress, return the new snapshot.
async fn tick(args: &Args, stats: &Stats, last: Snapshot, phase: &str) -> Snapshot {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let now = Snapshot::take(stats, None);
    if !args.quiet {
        progress(stats, &last, &now, phase);
    }
    Snapshot {
        server_cpu_ticks: last.server_cpu_ticks,
        ..now
    }
}

fn targets(args: &Args, plan: &Plan) -> Vec<Target> {
    let mut targets = Vec::with_capacity(plan.clients());
    let secret = args.jwt_secret.as_bytes();
    for room in 0..plan.rooms {
        let owner = args.first_user + (room * plan.users_per_room) as u64;
        for seat in 0..plan.users_per_room {
            let i = room * plan.users_per_room + seat;
            let user = owner + seat as u64;
            let token = sign_token(secret, UserId(user), &format!("u{user}"), None).expect("HS256 signs");
            let base = &args.urls[i % args.urls.len()];
            let next = &args.urls[(i + 1) % args.urls.len()];
            let sep = |url: &str| if url.contains('?') { '&' } else { '?' };
            let batch = if args.batch { "&batch=1" } else { "" };
            let source = (args.source_ips > 0)
                .then(|| std::net::IpAddr::from([127, 0, 0, 1 + (i % usize::from(args.source_ips)) as u8]));
            targets.push(Target {
                url: format!("{base}{}token={token}{batch}", sep(base)),
                resume: plan.resume,
                resume_url: format!("{next}{}token={token}{batch}", sep(next)),
                source,
                user,
                room: owner,
                // Golden-ratio spacing spreads the clients' send instants over the period.
                phase: (i as f64 * 0.618_033_988_75).fract(),
            });
        }
    }
    targets
}

#[allow(clippy::too_many_arguments)]
fn summary(
    args: &Args,
    plan: &Plan,
    stats: &Stats,
    start: &Snapshot,
    end: &Snapshot,
    connect: &ConnectPhase,
    open_at_end: u64,
    errors_before: std::collections::BTreeMap<String, u64>,
    server: Option<serde_json::Value>,
) -> serde_json::Value {
    let secs = end.at.duration_since(start.at).as_secs_f64().max(1e-9);
    let moves = end.moves_sent - start.moves_sent;
    let updates = end.updates - start.updates;
    let expected = plan.expected_updates_per_s();
    // What the moves actually sent should have produced (the rate may fall short of the plan).
    let expected_from_sent = moves as f64 * plan.users_per_room as f64;
    let errors_in_window: std::collections::BTreeMap<String, u64> = stats
        .errors()
        .into_iter()
        .map(|(k, v)| (k.clone(), v - errors_before.get(&k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect();
    serde_json::json!({
        "scenario": plan.name,
        "urls": args.urls,
        "batch": args.batch,
        "resume": plan.resume,
        "rooms": plan.rooms,
        "users_per_room": plan.users_per_room,
        "clients": plan.clients(),
        "rate_per_user": plan.rate,
        "warmup_s": args.warmup,
        "duration_s": round2(secs),
        "entered": stats.entered.load(Relaxed),
        "open_at_end": open_at_end,
        "connect_phase_s": round2(connect.seconds),
        "connect_enter_ms": stats.connect.summary(),
        "connect_enter_per_s": round2(stats.entered.load(Relaxed) as f64 / connect.seconds.max(1e-9)),
        "connect_enter_per_s_by_second": connect.throughput_percentiles(),
        "server_rss_per_entered_kb": connect.rss_per_entered_kb(args.server_pid, stats.entered.load(Relaxed)),
        "moves_sent": moves,
        "moves_per_s": round2(moves as f64 / secs),
        "moves_per_s_planned": round2(plan.clients() as f64 * plan.rate),
        "updates_received": updates,
        "updates_per_s": round2(updates as f64 / secs),
        "updates_expected_per_s": round2(expected),
        "delivered_vs_sent": if moves == 0 { 1.0 } else { (updates as f64 / expected_from_sent * 1e4).round() / 1e4 },
        "frames_in_per_s": round2((end.frames_in - start.frames_in) as f64 / secs),
        "own_move_latency_ms": stats.latency.summary(),
        "lost_own_moves": end.lost - start.lost,
        "errors_in_window": errors_in_window,
        "errors_total": stats.errors(),
        "disconnects": stats.disconnects(),
        "server": server,
    })
}
