//! Command-line flags and the named scenarios.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// A load generator for myroom, written against the wire protocol only.
#[derive(Debug, Clone, Parser)]
#[command(name = "loadgen", about = "myroom load generator (wire protocol only)")]
pub struct Args {
    /// A named scenario; explicit --rooms/--users-per-room/--rate/--connections override it.
    #[arg(long, value_enum)]
    pub scenario: Option<Scenario>,

    /// WebSocket endpoint(s), comma-separated; clients are spread over them round-robin.
    #[arg(
        long = "url",
        value_delimiter = ',',
        default_value = "ws://127.0.0.1:8210/library"
    )]
    pub urls: Vec<String>,

    /// HS256 secret of the server: the load generator mints its own tokens.
    #[arg(
        long,
        env = "MYROOM_JWT_SECRET",
        default_value = "myroom-bench-secret-not-for-production"
    )]
    pub jwt_secret: String,

    /// Rooms.
    #[arg(long)]
    pub rooms: Option<usize>,

    /// Users per room (the first is the room's owner).
    #[arg(long)]
    pub users_per_room: Option<usize>,

    /// Moves per second per user (0: connect, enter, then idle).
    #[arg(long)]
    pub rate: Option<f64>,

    /// Total connections for the `conn` scenario (rooms of 4).
    #[arg(long)]
    pub connections: Option<usize>,

    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,

    /// Seconds of load before measuring starts (counted from when every client has entered).
    #[arg(long, default_value_t = 5.0)]
    pub warmup: f64,

    /// Ask the server for batched frames (`?batch=1`).
    #[arg(long)]
    pub batch: bool,

    /// Opt every client into resume (`?resume=1`, PROTOCOL.md §9): each keeps
    /// its seat token and the last `seq` it saw. On by default in `reconnect`.
    #[arg(long)]
    pub resume: bool,

    /// Spread the clients' source addresses over 127.0.0.1 ..= 127.0.0.N
    /// (round-robin), so one machine can open more connections than one
    /// address's ephemeral ports allow (and per-IP caps see N clients).
    /// 0: let the system choose.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8))]
    pub source_ips: u8,

    /// Connections being opened (connect + ENTER) at the same time.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,

    /// Id of the first user; clients use ids first_user.. consecutively.
    #[arg(long, default_value_t = 1)]
    pub first_user: u64,

    /// Give up on a connect + ENTER after this many seconds.
    #[arg(long, default_value_t = 30.0)]
    pub connect_timeout: f64,

    /// The server's process id: its CPU (utime+stime over the measured window)
    /// and RSS are read from /proc and added to the summary.
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// Also write the summary JSON to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// No progress line.
    #[arg(long)]
    pub quiet: bool,

    /// Write a fixtures file for users first_user..first_user+N-1 and exit
    /// (N is --users, or the scenario's user count).
    #[arg(long)]
    pub write_fixtures: Option<PathBuf>,

    /// With --write-fixtures: how many users.
    #[arg(long)]
    pub users: Option<usize>,
}

/// The named scenarios of issue 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// 1 room x 50 users x 10 moves/s.
    Crowd,
    /// 1 room x 200 users x 5 moves/s.
    Crowd200,
    /// 250 rooms x 4 users x 2 moves/s.
    Many,
    /// N connections in rooms of 4, as fast as possible, then idle.
    Conn,
    /// 1 room x 50 users x 2 moves/s, opted into resume; after the warm-up
    /// every socket drops at once (as when a node or a proxy restarts) and
    /// resumes its seat: how long until all of them are back.
    Reconnect,
}

/// The load to apply, once scenario defaults and flags are combined.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub rooms: usize,
    pub users_per_room: usize,
    pub rate: f64,
    /// Clients opt into resume.
    pub resume: bool,
    /// Every client drops its socket and resumes after the warm-up.
    pub reconnect: bool,
}

impl Plan {
    pub fn from_args(args: &Args) -> Plan {
        let (name, rooms, users, rate) = match args.scenario {
            Some(Scenario::Crowd) => ("crowd", 1, 50, 10.0),
            Some(Scenario::Crowd200) => ("crowd200", 1, 200, 5.0),
            Some(Scenario::Many) => ("many", 250, 4, 2.0),
            Some(Scenario::Reconnect) => ("reconnect", 1, 50, 2.0),
            Some(Scenario::Conn) => {
                let n = args.connections.unwrap_or(10_000);
                ("conn", n.div_ceil(4), 4, 0.0)
            }
            None => ("custom", 1, 10, 1.0),
        };
        Plan {
            name: name.to_owned(),
            rooms: args.rooms.unwrap_or(rooms).max(1),
            users_per_room: args.users_per_room.unwrap_or(users).max(1),
            rate: args.rate.unwrap_or(rate).max(0.0),
            resume: args.resume || args.scenario == Some(Scenario::Reconnect),
            reconnect: args.scenario == Some(Scenario::Reconnect),
        }
    }

    pub fn clients(&self) -> usize {
        self.rooms * self.users_per_room
    }

    /// MOVE messages every client together should receive per second: every
    /// move goes to everyone in its room, the mover included.
    pub fn expected_updates_per_s(&self) -> f64 {
        let u = self.users_per_room as f64;
        self.rooms as f64 * u * u * self.rate
    }
}
