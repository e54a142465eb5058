//! A rolling deploy nobody notices (issue 23, PROTOCOL.md §9): three server
//! processes, three rooms first entered on n1, n2 and n3, one user of every
//! room on every node, all opted into resume and moving at 4 Hz; each node
//! in turn gets SIGTERM, exits 0, starts again and is ready before the next.
//! A client whose socket closes comes back on a live node with its seat and
//! last `seq`. Every resume must be RESUMED; nobody sees a LEAVE; every
//! room's events have one order and numbering without a jump; nobody gets
//! 76503 or close 1012; a BUILD sent during the deploy is applied once.
//!
//! Needs the shared MariaDB, Redis and RabbitMQ (see `tests/common/cluster.rs`).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::cluster::Cluster;
use common::token;
use futures_util::{SinkExt, StreamExt};
use room_core::frame_seq;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Guards against hangs only.
const PATIENCE: Duration = Duration::from_secs(30);
/// How often every user moves.
const MOVE_EVERY: Duration = Duration::from_millis(250);

const M1: &str = r#"{"side":8,"gameList":["12"],"objectList":["w1"],"games":{"12":{"name":"Chess","x":0,"y":0}},"objects":{"w1":{"name":"wall","x":3,"y":3}}}"#;

/// What one user saw over the whole run, on all its sockets.
#[derive(Debug, Default)]
struct Seen {
    /// Every `"seq"` of a room event or SYNC, in order (not RESUMED's own).
    numbers: Vec<u64>,
    /// Room events by number: the frame without its number (for one order).
    events: BTreeMap<u64, String>,
    /// How each resume was first answered (the first line's code).
    resumes: Vec<String>,
    errors: Vec<String>,
    /// Close codes of sockets the server closed (`None`: no close frame).
    closes: Vec<Option<u16>>,
    leaves: Vec<String>,
    /// The longest wait for an echo of its own MOVE.
    longest_echo_wait: Duration,
}

type Live = Arc<Mutex<Vec<Option<String>>>>;

/// Each room's users and what they saw.
type ByRoom = BTreeMap<u64, Vec<(u64, Arc<Mutex<Seen>>)>>;

/// `frame` without its `"seq"` member, to compare what two sockets got.
fn without_seq(frame: &str) -> String {
    match frame.find(",\"seq\":") {
        Some(at) => {
            let end = frame[at + 7..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(frame.len(), |e| at + 7 + e);
            format!("{}{}", &frame[..at], &frame[end..])
        }
        None => frame.to_owned(),
    }
}

struct Socket {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    pending: std::collections::VecDeque<String>,
}

enum Read {
    Line(String),
    Closed(Option<u16>),
    Quiet,
}

impl Socket {
    async fn open(base: &str, user: u64, query: &str) -> Option<Socket> {
        let url = format!("{base}?token={}{query}", token(user));
        let (ws, _) = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(url))
            .await
            .ok()?
            .ok()?;
        Some(Socket {
            ws,
            pending: Default::default(),
        })
    }

    async fn send(&mut self, text: &str) -> bool {
        self.ws.send(Message::text(text)).await.is_ok()
    }

    async fn read(&mut self, until: Instant) -> Read {
        if let Some(line) = self.pending.pop_front() {
            return Read::Line(line);
        }
        loop {
            match tokio::time::timeout_at(until, self.ws.next()).await {
                Err(_) => return Read::Quiet,
                Ok(Some(Ok(Message::Text(text)))) => {
                    self.pending
                        .extend(room_core::split_batch(&text).map(str::to_owned));
                    if let Some(line) = self.pending.pop_front() {
                        return Read::Line(line);
                    }
                }
                Ok(Some(Ok(Message::Close(frame)))) => return Read::Closed(frame.map(|f| u16::from(f.code))),
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_)) | None) => return Read::Closed(None),
            }
        }
    }
}

/// The next live node after `from` (round the ring).
fn live_node(live: &Live, from: usize) -> Option<(usize, String)> {
    let live = live.lock().unwrap();
    (1..=live.len())
        .map(|k| (from + k) % live.len())
        .find_map(|i| live[i].clone().map(|base| (i, base)))
}

/// Back on a live node other than `from` with the seat after `backoff`, as
/// a client library does; records how the resume was answered.
async fn resume(
    user: u64,
    from: usize,
    live: &Live,
    seen: &Mutex<Seen>,
    (token, seq): (&str, u64),
    backoff: Duration,
) -> (Socket, usize) {
    tokio::time::sleep(backoff).await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(Instant::now() < deadline, "user {user} found no live node");
        if let Some((i, base)) = live_node(live, from)
            && let Some(mut socket) = Socket::open(&base, user, &format!("&resume={token}&seq={seq}")).await
            && let Read::Line(first) = socket.read(Instant::now() + PATIENCE).await
        {
            seen.lock().unwrap().resumes.push(first.clone());
            if !first.starts_with("13") {
                // Not resumed: the test fails on it; the line is the client's as any other.
                socket.pending.push_front(first);
            }
            return (socket, i);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One user: enters `room` on node `node`, moves until told to stop, and
/// resumes on another live node whenever its socket closes, or after it
/// drops its socket itself (told so by `drops` naming its node).
#[allow(clippy::too_many_arguments)]
async fn play(
    user: u64,
    room: u64,
    mut node: usize,
    live: Live,
    seen: Arc<Mutex<Seen>>,
    mut stop: watch::Receiver<bool>,
    mut build: Option<watch::Receiver<bool>>,
    mut drops: watch::Receiver<Option<usize>>,
) {
    let base = live.lock().unwrap()[node].clone().expect("starts on a live node");
    let mut socket = Socket::open(&base, user, "&resume=1")
        .await
        .expect("upgrade accepted");
    socket.send(&format!(r#"10{{"room_id":"{room}"}}"#)).await;
    let mut seat: Option<String> = None;
    let mut last = None;
    let mut direction = 2;
    let mut next_move = Instant::now() + MOVE_EVERY;
    let mut waiting_echo: Option<Instant> = None;
    let mut built = false;
    loop {
        if *stop.borrow() {
            return;
        }
        if let Some(go) = &mut build
            && !built
            && *go.borrow_and_update()
        {
            built = true;
            socket.send(&format!(r#"40{{"map":{M1}}}"#)).await;
        }
        if drops.has_changed().unwrap_or(false) && *drops.borrow_and_update() == Some(node) {
            // Its connection drops (no close frame, no LEAVE); it comes back a second later.
            drop(socket);
            let (Some(token), Some(seq)) = (seat.clone(), last) else {
                panic!("user {user} dropped its socket before it had a seat");
            };
            (socket, node) = resume(user, node, &live, &seen, (&token, seq), Duration::from_secs(1)).await;
            continue;
        }
        let until = next_move.min(Instant::now() + Duration::from_millis(50));
        match socket.read(until).await {
            Read::Line(line) => {
                let mut seen = seen.lock().unwrap();
                let code = &line[..2];
                match code {
                    "12" => seat = Some(seat_token(&line)),
                    "13" => {}
                    "19" => seen.leaves.push(line.clone()),
                    "99" => seen.errors.push(line.clone()),
                    _ => {}
                }
                if code != "13"
                    && let Ok(Some(number)) = frame_seq(&line)
                {
                    seen.numbers.push(number);
                    last = Some(number);
                    if code != "11" {
                        seen.events.insert(number, without_seq(&line));
                    }
                }
                if code == "20"
                    && line.contains(&format!("\"user_id\":\"{user}\""))
                    && let Some(sent) = waiting_echo.take()
                {
                    seen.longest_echo_wait = seen.longest_echo_wait.max(sent.elapsed());
                }
            }
            Read::Quiet => {}
            Read::Closed(code) => {
                seen.lock().unwrap().closes.push(code);
                let (Some(token), Some(seq)) = (seat.clone(), last) else {
                    panic!("user {user}'s socket closed before it had a seat");
                };
                let backoff = Duration::from_millis(150 * (user % 4 + 1));
                (socket, node) = resume(user, node, &live, &seen, (&token, seq), backoff).await;
                continue;
            }
        }
        if Instant::now() >= next_move {
            next_move += MOVE_EVERY;
            direction = if direction == 2 { 0 } else { 2 };
            if socket.send(&format!(r#"20{{"direction":{direction}}}"#)).await {
                waiting_echo.get_or_insert(Instant::now());
            }
        }
        if stop.has_changed().unwrap_or(true) && *stop.borrow_and_update() {
            return;
        }
    }
}

fn seat_token(line: &str) -> String {
    match room_core::parse_server_frame(line) {
        Ok(room_core::ServerMsg::Seat { token, .. }) => token,
        other => panic!("not a SEAT: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_deploy_of_three_nodes_is_seen_by_nobody() {
    let mut cluster = Cluster::start(3).await;
    let live: Live = Arc::new(Mutex::new(
        (0..3).map(|i| Some(cluster.node(i).ws_base())).collect(),
    ));
    let (stop_tx, stop) = watch::channel(false);
    let (build_tx, build) = watch::channel(false);
    let (drop_tx, drops) = watch::channel(None);
    // Room r (owned by user r) is first entered on node r - 1; then a user of it joins on each other node.
    let mut users = Vec::new();
    for room in 1..=3u64 {
        let first = (room - 1) as usize;
        for (k, user) in [room, room + 3, room + 6].into_iter().enumerate() {
            let seen = Arc::new(Mutex::new(Seen::default()));
            let task = tokio::spawn(play(
                user,
                room,
                (first + k) % 3,
                live.clone(),
                seen.clone(),
                stop.clone(),
                (user == 1).then(|| build.clone()),
                drops.clone(),
            ));
            users.push((user, room, seen, task));
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in 0..3 {
        // The users on the next node lose their connection while the others
        // go on moving; node i stops before they are back: what they missed
        // spans the hand-over.
        drop_tx.send(Some((i + 1) % 3)).unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        live.lock().unwrap()[i] = None;
        let asked = Instant::now();
        cluster.signal_terminate(i);
        if i == 1 {
            // The owner of room 1 builds while the deploy is under way.
            build_tx.send(true).unwrap();
        }
        let status = cluster.wait_exit(i, PATIENCE).await;
        assert!(
            status.success(),
            "node {} exited with {status}",
            cluster.node(i).id
        );
        eprintln!(
            "node {} exited {:?} after SIGTERM",
            cluster.node(i).id,
            asked.elapsed()
        );
        cluster.restart(i).await;
        live.lock().unwrap()[i] = Some(cluster.node(i).ws_base());
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_tx.send(true).unwrap();
    let mut by_room = ByRoom::new();
    for (user, room, seen, task) in users {
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("the user stops")
            .expect("the user's task did not panic");
        by_room.entry(room).or_default().push((user, seen));
    }
    let mut resumes = 0;
    for (room, seen) in &by_room {
        let mut order: BTreeMap<u64, (u64, String)> = BTreeMap::new();
        for (user, seen) in seen {
            let seen = seen.lock().unwrap();
            eprintln!(
                "user {user} (room {room}): {} resumes, longest wait for its echo {:?}",
                seen.resumes.len(),
                seen.longest_echo_wait
            );
            resumes += seen.resumes.len();
            for first in &seen.resumes {
                assert!(
                    first.starts_with("13"),
                    "user {user}'s resume was answered {first}"
                );
            }
            assert!(seen.leaves.is_empty(), "user {user} saw {:?}", seen.leaves);
            assert!(seen.errors.is_empty(), "user {user} got {:?}", seen.errors);
            assert!(
                seen.closes.iter().all(|c| *c == Some(1001)),
                "user {user}'s sockets were closed with {:?} (only a stopping node's 1001 is expected)",
                seen.closes
            );
            for pair in seen.numbers.windows(2) {
                assert!(
                    pair[1] == pair[0] || pair[1] == pair[0] + 1,
                    "user {user}'s numbering went from {} to {}",
                    pair[0],
                    pair[1]
                );
            }
            for (number, frame) in &seen.events {
                let (first_user, first) = order.entry(*number).or_insert((*user, frame.clone()));
                assert_eq!(
                    first, frame,
                    "room {room}'s event {number}: user {first_user} and user {user} got different events"
                );
            }
        }
    }
    assert!(
        resumes >= 15,
        "each stop closes its node's sockets after a drop on the next one: {resumes} resumes"
    );
    assert_eq!(cluster.map_version(1).await, Some(1), "the BUILD was stored once");
    cluster.assert_no_panics();
}
