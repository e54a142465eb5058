//! A rolling deploy nobody notices (issue 23, PROTOCOL.md §9): three server
//! processes, three rooms first entered on n1, n2 and n3, one user of every
//! room on every node, all opted into resume and moving at 4 Hz; each node
//! in turn gets SIGTERM, exits 0, starts again and is ready before the next.
//! A client whose socket closes comes back on a live node with its seat and
//! last `seq`. Every resume must be RESUMED; nobody sees a LEAVE; every
//! room's events have one order and numbering without a jump; nobody gets
//! 76503 or close 1012; a BUILD sent during the deploy is applied once.
//!
//! Twice: with clients picking a live node themselves, and through HAProxy
//! with the repository's `deploy/haproxy.cfg` (issue 24), as deployed: every
//! socket goes through the gateway, some users asking for the room's route
//! first (as the JS client and page do) and the others round-robin; a
//! stopping node says "draining" on `/readyz` (`--drain-delay-ms`) until
//! HAProxy's checks send nobody new there, and comes back on its own port.
//! Through the gateway no upgrade is refused, HAProxy's check sees each
//! stopping node's "draining" 503 (not a node gone), and no reconnect lands
//! on a node between its SIGTERM and its exit. (A socket opened within the
//! 750 ms the check takes to notice could still land there and be closed
//! with 1001 at the end of the delay; the deploy's own reconnects come later.)
//!
//! Needs the shared MariaDB, Redis and RabbitMQ (see `tests/common/cluster.rs`)
//! and, through the gateway, Debian's `haproxy` (`scripts/services.sh`).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::cluster::{Cluster, ClusterOptions, free_port, try_http_get};
use common::gateway::{Gateway, NODE_HEADER, node_args};
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
    /// The longest wait for an echo of its own MOVE (a deliberate drop's
    /// wait counted from when it comes back).
    longest_echo_wait: Duration,
    /// The longest time between two echoes of its own MOVEs (it moves every
    /// 250 ms, also while it reconnects: a real client queues them); a
    /// deliberate drop's counted from when it comes back.
    longest_echo_gap: Duration,
    /// Where each socket landed (node id) and when.
    landings: Vec<(Instant, String)>,
    /// Upgrades refused (the HTTP status; 0: no answer at all).
    refused: Vec<u16>,
    /// Route-following reconnects: when, the node the route named, the one it landed on.
    routed: Vec<(Instant, String, String)>,
}

type Live = Arc<Mutex<Vec<Option<String>>>>;

/// Where users connect.
#[derive(Clone)]
enum Door {
    /// Straight to a live node other than the one they were on.
    Direct(Live),
    /// Only through the gateway at `http` (its WebSocket endpoint `ws`).
    Gateway { http: SocketAddr, ws: String },
}

impl Door {
    /// The URL to (re)connect `user` of `room` to after leaving node `from`,
    /// and the node it should land on if one was named. Through the gateway
    /// a route-following user asks `GET /rooms/{id}/route` there first (the
    /// fallback, as in the JS client: the plain gateway URL).
    async fn url(&self, room: u64, from: usize, follows_route: bool) -> Option<(String, Option<String>)> {
        match self {
            Door::Direct(live) => live_node(live, from).map(|(i, base)| (base, Some(node_id(i)))),
            Door::Gateway { http, ws } => {
                if follows_route
                    && let Some((200, body)) = try_http_get(*http, &format!("/rooms/{room}/route")).await
                    && let Ok(json) = serde_json::from_str::<serde_json::Value>(&body)
                    && let (Some(url), Some(node)) = (json["url"].as_str(), json["node"].as_str())
                {
                    return Some((url.to_owned(), Some(node.to_owned())));
                }
                Some((ws.clone(), None))
            }
        }
    }
}

/// The `--node-id` of node index `i`.
fn node_id(i: usize) -> String {
    format!("n{}", i + 1)
}

fn node_index(id: &str) -> usize {
    id.strip_prefix('n')
        .and_then(|k| k.parse::<usize>().ok())
        .and_then(|k| k.checked_sub(1))
        .unwrap_or_else(|| panic!("not a node id: {id:?}"))
}

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
    /// A socket of `user` at `url` (which may carry a query already), and the
    /// node that answered if the gateway named it; else the refusal's status
    /// (0: no HTTP answer).
    async fn open(url: &str, user: u64, query: &str) -> Result<(Socket, Option<String>), u16> {
        let separator = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{separator}token={}{query}", token(user));
        match tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(url)).await {
            Ok(Ok((ws, response))) => {
                let node = response
                    .headers()
                    .get(NODE_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let socket = Socket {
                    ws,
                    pending: Default::default(),
                };
                Ok((socket, node))
            }
            Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => Err(response.status().as_u16()),
            _ => Err(0),
        }
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

/// Back through `door` with the seat after `backoff`, as a client library
/// does; records where it landed and how the resume was answered.
#[allow(clippy::too_many_arguments)]
async fn resume(
    user: u64,
    room: u64,
    from: usize,
    door: &Door,
    follows_route: bool,
    seen: &Mutex<Seen>,
    (token, seq): (&str, u64),
    backoff: Duration,
) -> (Socket, usize) {
    tokio::time::sleep(backoff).await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(Instant::now() < deadline, "user {user} found no live node");
        if let Some((url, named)) = door.url(room, from, follows_route).await {
            match Socket::open(&url, user, &format!("&resume={token}&seq={seq}")).await {
                Ok((mut socket, landed)) => {
                    let landed = landed.or(named.clone()).expect("the node that answered is known");
                    {
                        let mut seen = seen.lock().unwrap();
                        seen.landings.push((Instant::now(), landed.clone()));
                        if follows_route
                            && matches!(door, Door::Gateway { .. })
                            && let Some(named) = &named
                        {
                            seen.routed.push((Instant::now(), named.clone(), landed.clone()));
                        }
                    }
                    if let Read::Line(first) = socket.read(Instant::now() + PATIENCE).await {
                        seen.lock().unwrap().resumes.push(first.clone());
                        if !first.starts_with("13") {
                            // Not resumed: the test fails on it; the line is the client's as any other.
                            socket.pending.push_front(first);
                        }
                        return (socket, node_index(&landed));
                    }
                }
                Err(status) => seen.lock().unwrap().refused.push(status),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How one user behaves.
struct User {
    id: u64,
    room: u64,
    /// The node it enters on first.
    node: usize,
    /// Through the gateway, it asks for the room's route on every reconnect.
    follows_route: bool,
    /// How long after dropping its own socket it comes back.
    drop_backoff: Duration,
}

/// One user: enters its room on its node, moves until told to stop, and
/// resumes through `door` whenever its socket closes, or after it drops its
/// socket itself (told so by `drops` naming its node).
async fn play(
    me: User,
    door: Door,
    seen: Arc<Mutex<Seen>>,
    mut stop: watch::Receiver<bool>,
    mut build: Option<watch::Receiver<bool>>,
    mut drops: watch::Receiver<Option<usize>>,
) {
    let User {
        id: user,
        room,
        mut node,
        follows_route,
        drop_backoff,
    } = me;
    // The first socket lands where the deploy's layout puts it: through the
    // gateway by naming the node, as a route does.
    let first = match &door {
        Door::Direct(live) => live.lock().unwrap()[node].clone().expect("starts on a live node"),
        Door::Gateway { ws, .. } => format!("{ws}?node={}", node_id(node)),
    };
    let (mut socket, landed) = Socket::open(&first, user, "&resume=1")
        .await
        .expect("upgrade accepted");
    if let Some(landed) = &landed {
        assert_eq!(*landed, node_id(node), "user {user} landed elsewhere");
    }
    seen.lock()
        .unwrap()
        .landings
        .push((Instant::now(), node_id(node)));
    socket.send(&format!(r#"10{{"room_id":"{room}"}}"#)).await;
    let mut seat: Option<String> = None;
    let mut last = None;
    let mut direction = 2;
    let mut next_move = Instant::now() + MOVE_EVERY;
    let mut waiting_echo: Option<Instant> = None;
    let mut last_echo: Option<Instant> = None;
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
            // Its connection drops (no close frame, no LEAVE); it comes back after `drop_backoff`.
            drop(socket);
            let (Some(token), Some(seq)) = (seat.clone(), last) else {
                panic!("user {user} dropped its socket before it had a seat");
            };
            let back_at = Instant::now() + drop_backoff;
            (socket, node) = resume(
                user,
                room,
                node,
                &door,
                follows_route,
                &seen,
                (&token, seq),
                drop_backoff,
            )
            .await;
            // Not waiting for an echo while it chose to be away.
            if let Some(sent) = &mut waiting_echo {
                *sent = (*sent).max(back_at);
            }
            if let Some(echo) = &mut last_echo {
                *echo = (*echo).max(back_at);
            }
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
                if code == "20" && line.contains(&format!("\"user_id\":\"{user}\"")) {
                    if let Some(sent) = waiting_echo.take() {
                        seen.longest_echo_wait = seen.longest_echo_wait.max(sent.elapsed());
                    }
                    if let Some(echo) = last_echo.replace(Instant::now()) {
                        seen.longest_echo_gap = seen.longest_echo_gap.max(echo.elapsed());
                    }
                }
            }
            Read::Quiet => {}
            Read::Closed(code) => {
                seen.lock().unwrap().closes.push(code);
                let (Some(token), Some(seq)) = (seat.clone(), last) else {
                    panic!("user {user}'s socket closed before it had a seat");
                };
                let backoff = Duration::from_millis(150 * (user % 4 + 1));
                (socket, node) = resume(
                    user,
                    room,
                    node,
                    &door,
                    follows_route,
                    &seen,
                    (&token, seq),
                    backoff,
                )
                .await;
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
    rolling_deploy(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_deploy_through_the_gateway_is_seen_by_nobody() {
    rolling_deploy(true).await;
}

async fn rolling_deploy(through_gateway: bool) {
    let port = free_port();
    let mut options = ClusterOptions::new(3);
    if through_gateway {
        // The nodes' own --drain-delay-ms default (1 s behind a balancer) is the one under test.
        options.extra_args = node_args(port);
    }
    let mut cluster = Cluster::start_with(options).await;
    let gateway = match through_gateway {
        true => Some(Gateway::start(&cluster, port).await),
        false => None,
    };
    let live: Live = Arc::new(Mutex::new(
        (0..3).map(|i| Some(cluster.node(i).ws_base())).collect(),
    ));
    let door = match &gateway {
        Some(gateway) => Door::Gateway {
            http: gateway.addr,
            ws: gateway.ws_url(),
        },
        None => Door::Direct(live.clone()),
    };
    // Through the gateway a dropped user comes back (1.2 s after the SIGTERM)
    // once HAProxy's checks have marked the stopping node down (within 750 ms:
    // inter 500 ms, fastinter 250 ms, fall 2), while that node's rooms move:
    // what it missed still spans the hand-over.
    let drop_backoff = Duration::from_millis(if through_gateway { 1700 } else { 1000 });
    let (stop_tx, stop) = watch::channel(false);
    let (build_tx, build) = watch::channel(false);
    let (drop_tx, drops) = watch::channel(None);
    // Room r (owned by user r) is first entered on node r - 1; then a user of it joins on each other node.
    let mut users = Vec::new();
    for room in 1..=3u64 {
        let first = (room - 1) as usize;
        for (k, user) in [room, room + 3, room + 6].into_iter().enumerate() {
            let seen = Arc::new(Mutex::new(Seen::default()));
            let me = User {
                id: user,
                room,
                node: (first + k) % 3,
                // Through the gateway two of each room's users follow the route, one goes round-robin.
                follows_route: k < 2,
                drop_backoff,
            };
            let task = tokio::spawn(play(
                me,
                door.clone(),
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
    // Each node's stop: its SIGTERM, its exit, and when it answered again (through the gateway if there is one).
    let mut drains = Vec::new();
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
        let exited = Instant::now();
        eprintln!(
            "node {} exited {:?} after SIGTERM",
            cluster.node(i).id,
            asked.elapsed()
        );
        match &gateway {
            Some(gateway) => {
                // Where HAProxy expects it; back in its round-robin once its checks pass `rise` times.
                cluster.restart_in_place(i).await;
                gateway.wait_node(&cluster.node(i).id).await;
            }
            None => {
                cluster.restart(i).await;
                live.lock().unwrap()[i] = Some(cluster.node(i).ws_base());
            }
        }
        drains.push((cluster.node(i).id.clone(), asked, exited, Instant::now()));
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
    let (mut resumes, mut resumed, mut longest, mut routed, mut on_named) = (0, 0, Duration::ZERO, 0, 0);
    for (room, seen) in &by_room {
        for (user, seen) in seen {
            let seen = seen.lock().unwrap();
            eprintln!(
                "user {user} (room {room}): {} resumes, landed on {:?}, routes (named, landed) {:?}, \
                 longest wait for its echo {:?}, longest gap between its echoes {:?}",
                seen.resumes.len(),
                seen.landings.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>(),
                seen.routed.iter().map(|(_, n, l)| (n, l)).collect::<Vec<_>>(),
                seen.longest_echo_wait,
                seen.longest_echo_gap
            );
            resumes += seen.resumes.len();
            resumed += seen.resumes.iter().filter(|f| f.starts_with("13")).count();
            longest = longest.max(seen.longest_echo_gap);
            routed += seen.routed.len();
            on_named += seen
                .routed
                .iter()
                .filter(|(_, named, landed)| named == landed)
                .count();
        }
    }
    eprintln!(
        "{}: {resumed} of {resumes} resumes RESUMED; longest gap between a user's echoes {longest:?} \
         (deliberate drops aside); {on_named} of {routed} route-following reconnects landed on the node \
         the route named",
        if through_gateway {
            "through the gateway"
        } else {
            "direct"
        },
    );
    for (room, seen) in &by_room {
        let mut order: BTreeMap<u64, (u64, String)> = BTreeMap::new();
        for (user, seen) in seen {
            let seen = seen.lock().unwrap();
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
            assert!(
                seen.refused.is_empty(),
                "user {user}'s reconnects were refused with {:?}",
                seen.refused
            );
            for (at, landed) in &seen.landings {
                for (node, from, to, _) in &drains {
                    assert!(
                        !(landed == node && from <= at && at <= to),
                        "user {user}'s socket landed on {node} {:?} after its SIGTERM, while it was draining",
                        *at - *from
                    );
                }
            }
            // The route's node parameter lands the socket there, unless that
            // node was stopping or not yet back in the gateway.
            for (at, named, landed) in &seen.routed {
                let away = drains
                    .iter()
                    .any(|(node, from, _, back)| node == named && from <= at && at <= back);
                assert!(
                    away || named == landed,
                    "user {user} followed the route to {named} but landed on {landed}"
                );
            }
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
    // Direct, each stop closes its node's three sockets after a drop of the
    // next one's three; through the gateway, round-robin and routes decide
    // who is where after the first stop.
    let least = if through_gateway { 9 } else { 15 };
    assert!(resumes >= least, "too few resumes to tell: {resumes}");
    if let Some(gateway) = &gateway {
        // Each stop was seen by HAProxy's check as the node's own "draining"
        // 503 (before its listener closed), not as a node gone.
        let log = std::fs::read_to_string(&gateway.log).unwrap_or_default();
        for (node, ..) in &drains {
            let downs: Vec<&str> = log
                .lines()
                .filter(|l| l.contains(&format!("Server myroom/{node} is DOWN")))
                .collect();
            assert!(
                !downs.is_empty() && downs.iter().all(|l| l.contains("Layer7 wrong status, code: 503")),
                "HAProxy did not see {node} draining before it closed: {downs:?}"
            );
        }
    }
    assert_eq!(cluster.map_version(1).await, Some(1), "the BUILD was stored once");
    cluster.assert_no_panics();
}
