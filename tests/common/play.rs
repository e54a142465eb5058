//! Players of the three-process tests: a user's socket on one node with
//! everything it received, and the checks the cluster tests share (everyone
//! agrees on the room, a round of MOVEs seen whole and in one order, the host
//! every node names). Every wait is bounded by [`GUARD`] or a given patience.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::future::join_all;
use room_core::{Direction, Map, RoomView, ServerMsg};
use tokio::time::Instant;

use super::cluster::{Cluster, Route};
use super::{Client, Event};

/// Guard against hangs only.
pub const GUARD: Duration = Duration::from_secs(20);
/// Every test plays in alice's room.
pub const ROOM: u64 = 1;

pub const UP: u8 = 0;
pub const RIGHT: u8 = 1;
pub const DOWN: u8 = 2;
pub const LEFT: u8 = 3;

/// Who stands where: user id -> (x, y).
pub type Spots = BTreeMap<u64, (u16, u16)>;

/// One MOVE as seen: (user, direction, (x, y)).
pub type Seen = (u64, Direction, (u16, u16));

pub fn spots(view: &RoomView) -> Spots {
    let mut out = Spots::new();
    for user in &view.users {
        let earlier = out.insert(user.user.0, (user.cell.x, user.cell.y));
        assert!(
            earlier.is_none(),
            "user {} is listed twice in {view:?}",
            user.user
        );
    }
    out
}

pub fn stepped((x, y): (u16, u16), direction: u8) -> (u16, u16) {
    match direction {
        UP => (x, y - 1),
        RIGHT => (x + 1, y),
        DOWN => (x, y + 1),
        _ => (x - 1, y),
    }
}

pub fn direction(code: u8) -> Direction {
    [Direction::Up, Direction::Right, Direction::Down, Direction::Left][code as usize]
}

/// A user's socket on one node, with everything it has received.
pub struct Player {
    pub user: u64,
    pub node: usize,
    pub node_id: String,
    pub client: Client,
    pub seen: Vec<ServerMsg>,
}

impl Player {
    pub async fn connect(cluster: &Cluster, node: usize, user: u64) -> Player {
        Player {
            user,
            node,
            node_id: cluster.node(node).id.clone(),
            client: cluster.connect(node, user).await,
            seen: Vec::new(),
        }
    }

    /// Connect and enter [`ROOM`]; the SYNC that answered.
    pub async fn enter(cluster: &Cluster, node: usize, user: u64) -> (Player, RoomView) {
        let mut player = Player::connect(cluster, node, user).await;
        let view = player.send_enter().await;
        (player, view)
    }

    pub async fn send_enter(&mut self) -> RoomView {
        self.send(&format!(r#"10{{"room_id":"{ROOM}"}}"#)).await;
        let answer = self.until("the SYNC answering ENTER", pick_sync).await;
        answer.unwrap_or_else(|e| panic!("{}: ENTER refused: {e:?}", self.who()))
    }

    pub fn who(&self) -> String {
        format!("user {} on node {}", self.user, self.node_id)
    }

    pub fn tail(&self) -> String {
        let from = self.seen.len().saturating_sub(12);
        format!("{:#?}", &self.seen[from..])
    }

    pub async fn send(&mut self, text: &str) {
        self.client.send(text).await;
    }

    pub async fn step(&mut self, direction: u8) {
        self.send(&format!(r#"20{{"direction":{direction}}}"#)).await;
    }

    /// The next event within `wait` (`None` if nothing came); messages are recorded.
    pub async fn event(&mut self, wait: Duration) -> Option<Event> {
        let event = self.client.next_event_within(wait).await;
        if let Some(Event::Msg(msg)) = &event {
            self.seen.push(msg.clone());
        }
        event
    }

    /// Read until `pick` takes a message; the socket must stay open.
    pub async fn until<T>(&mut self, what: &str, pick: impl FnMut(&ServerMsg) -> Option<T>) -> T {
        match self.until_within(GUARD, pick).await {
            Ok(found) => found,
            Err(None) => panic!(
                "{}: waited {GUARD:?} for {what}; last messages: {}",
                self.who(),
                self.tail()
            ),
            Err(Some(event)) => panic!(
                "{}: socket ended ({event:?}) while waiting for {what}; last messages: {}",
                self.who(),
                self.tail()
            ),
        }
    }

    /// Read until `pick` takes a message, for at most `wait`. `Err(None)`: time
    /// ran out; `Err(Some(_))`: the socket ended.
    pub async fn until_within<T>(
        &mut self,
        wait: Duration,
        mut pick: impl FnMut(&ServerMsg) -> Option<T>,
    ) -> Result<T, Option<Event>> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.event(left).await {
                Some(Event::Msg(msg)) => {
                    if let Some(found) = pick(&msg) {
                        return Ok(found);
                    }
                }
                Some(ended) => return Err(Some(ended)),
                None => return Err(None),
            }
        }
    }

    /// Send `11` and read the next SYNC (`Err` with the ERROR if one comes first).
    pub async fn sync_now(&mut self) -> Result<RoomView, ServerMsg> {
        self.send("11").await;
        self.until("a SYNC answering 11", pick_sync).await
    }

    /// As [`Player::sync_now`], but a silence of `wait` is an answer too (`Err(None)`).
    pub async fn sync_within(&mut self, wait: Duration) -> Result<RoomView, Option<ServerMsg>> {
        self.send("11").await;
        let who = self.who();
        match self.until_within(wait, pick_sync).await {
            Ok(Ok(view)) => Ok(view),
            Ok(Err(error)) => Err(Some(error)),
            Err(None) => Err(None),
            Err(Some(ended)) => panic!("{who}: socket ended ({ended:?}); last messages: {}", self.tail()),
        }
    }

    /// The next `count` MOVEs, whoever made them (other messages are skipped).
    pub async fn moves(&mut self, count: usize) -> Vec<Seen> {
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let got = out.len();
            let m = self
                .until(&format!("MOVE {} of {count} (have {got})", got + 1), pick_move)
                .await;
            out.push(m);
        }
        out
    }

    /// Up to `count` MOVEs within `wait`; whether all came.
    pub async fn moves_within(&mut self, count: usize, wait: Duration) -> (Vec<Seen>, bool) {
        let deadline = Instant::now() + wait;
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.until_within(left, pick_move).await {
                Ok(m) => out.push(m),
                Err(None) => return (out, false),
                Err(Some(ended)) => panic!(
                    "{}: socket ended ({ended:?}) while waiting for MOVEs; last messages: {}",
                    self.who(),
                    self.tail()
                ),
            }
        }
        (out, true)
    }

    /// Read until the socket ends; the messages before, and how it ended.
    pub async fn until_end(&mut self) -> (Vec<ServerMsg>, Event) {
        let mut msgs = Vec::new();
        loop {
            match self.event(GUARD).await {
                Some(Event::Msg(msg)) => msgs.push(msg),
                Some(ended) => return (msgs, ended),
                None => panic!(
                    "{}: the socket stayed open for {GUARD:?}; last messages: {}",
                    self.who(),
                    self.tail()
                ),
            }
        }
    }
}

/// A SYNC, or the ERROR that came instead of it.
pub fn pick_sync(msg: &ServerMsg) -> Option<Result<RoomView, ServerMsg>> {
    match msg {
        ServerMsg::Sync { room } => Some(Ok(room.clone())),
        ServerMsg::Error { .. } => Some(Err(msg.clone())),
        _ => None,
    }
}

pub fn pick_move(msg: &ServerMsg) -> Option<Seen> {
    match msg {
        ServerMsg::Move {
            user,
            direction,
            cell,
        } => Some((user.0, *direction, (cell.x, cell.y))),
        _ => None,
    }
}

pub fn is_leave_of(msg: &ServerMsg, users: &BTreeSet<u64>) -> Option<u64> {
    match msg {
        ServerMsg::Leave { user } if users.contains(&user.0) => Some(user.0),
        _ => None,
    }
}

/// Ask every player for the room until each sees exactly `expected` (and `map`, if given).
pub async fn settle(players: &mut [Player], expected: &Spots, map: Option<&Map>) {
    join_all(players.iter_mut().map(|p| async move {
        let deadline = Instant::now() + GUARD;
        loop {
            let answer = p.sync_now().await;
            if let Ok(view) = &answer
                && spots(view) == *expected
                && map.is_none_or(|m| view.map == *m)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: the room never showed {expected:?} (map {map:?}); last answer: {answer:#?}",
                p.who()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }))
    .await;
}

/// Ask everyone for the room until all answer, agree, everyone is in it and the
/// map is `map`; the positions they agree on. SYNCs and silences on the way are fine.
pub async fn converge(players: &mut [Player], map: &Map, patience: Duration) -> Spots {
    let everyone: BTreeSet<u64> = players.iter().map(|p| p.user).collect();
    let deadline = Instant::now() + patience;
    loop {
        let answers = join_all(players.iter_mut().map(|p| p.sync_within(Duration::from_secs(3)))).await;
        let views: Vec<&RoomView> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
        if views.len() == players.len() {
            let first = spots(views[0]);
            let keys: BTreeSet<u64> = first.keys().copied().collect();
            if keys == everyone && views.iter().all(|v| spots(v) == first && v.map == *map) {
                return first;
            }
        }
        if Instant::now() >= deadline {
            let report: Vec<String> = players
                .iter()
                .zip(&answers)
                .map(|(p, a)| match a {
                    Ok(view) => format!(
                        "{}: users {:?}, map side {}",
                        p.who(),
                        spots(view),
                        view.map.side()
                    ),
                    Err(e) => format!("{}: {e:?}", p.who()),
                })
                .collect();
            panic!(
                "the room never agreed on every node within {patience:?} \
                 (want users {everyone:?}, map side {}): last answers:\n{}",
                map.side(),
                report.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Everyone steps once, in `direction`; each sees every step once, in the same
/// order, at the cell one step from `from`. The new positions.
pub async fn move_round(players: &mut [Player], from: &Spots, direction_code: u8) -> Spots {
    let count = players.len();
    let seqs = join_all(players.iter_mut().map(|p| async move {
        p.step(direction_code).await;
        p.moves(count).await
    }))
    .await;
    check_round(players, &seqs, from, direction_code)
}

/// As [`move_round`], but a round that someone did not see whole within 5 s
/// is an answer too: what each player who fell short saw.
pub async fn try_move_round(
    players: &mut [Player],
    from: &Spots,
    direction_code: u8,
) -> Result<Spots, Vec<String>> {
    let count = players.len();
    let results = join_all(players.iter_mut().map(|p| async move {
        p.step(direction_code).await;
        p.moves_within(count, Duration::from_secs(5)).await
    }))
    .await;
    if results.iter().all(|(_, complete)| *complete) {
        let seqs: Vec<Vec<Seen>> = results.into_iter().map(|(seen, _)| seen).collect();
        return Ok(check_round(players, &seqs, from, direction_code));
    }
    Err(players
        .iter()
        .zip(&results)
        .filter(|(_, (_, complete))| !complete)
        .map(|(p, (seen, _))| format!("{} saw {} of {count}", p.who(), seen.len()))
        .collect())
}

pub fn check_round(players: &[Player], seqs: &[Vec<Seen>], from: &Spots, direction_code: u8) -> Spots {
    let mut to = from.clone();
    for (user, dir, cell) in &seqs[0] {
        assert_eq!(
            *dir,
            direction(direction_code),
            "MOVE of user {user}: {:?}",
            seqs[0]
        );
        let start = from
            .get(user)
            .unwrap_or_else(|| panic!("MOVE of user {user}, who is not playing"));
        assert_eq!(
            *cell,
            stepped(*start, direction_code),
            "MOVE of user {user} from {start:?}"
        );
        to.insert(*user, *cell);
    }
    let movers: BTreeSet<u64> = seqs[0].iter().map(|m| m.0).collect();
    assert_eq!(
        movers.len(),
        players.len(),
        "each player moved once: {:?}",
        seqs[0]
    );
    same_order(players, seqs);
    to
}

/// Every player saw the MOVEs in the order the first one did.
pub fn same_order(players: &[Player], seqs: &[Vec<Seen>]) {
    for (p, seq) in players.iter().zip(seqs) {
        assert_eq!(
            seq,
            &seqs[0],
            "{} saw the MOVEs in another order than {}",
            p.who(),
            players[0].who()
        );
    }
}

/// The node hosting [`ROOM`] now, as every running node sees it.
pub async fn agreed_host(cluster: &Cluster, not: Option<&str>) -> Route {
    let mut routes = Vec::new();
    for i in cluster.running() {
        let route = cluster
            .wait_route(i, ROOM, GUARD, |r| r.hosted && Some(r.node.as_str()) != not)
            .await
            .unwrap_or_else(|last| {
                panic!(
                    "node {} never named a live host of room {ROOM} (not {not:?}); last route {last:?}",
                    cluster.node(i).id
                )
            });
        routes.push((cluster.node(i).id.clone(), route));
    }
    for (asker, route) in &routes {
        assert_eq!(
            route, &routes[0].1,
            "node {asker} names another host than node {}",
            routes[0].0
        );
    }
    let route = routes[0].1.clone();
    let host = cluster.index_of(&route.node);
    assert!(
        cluster.node(host).is_running(),
        "the route names node {}, which is not running",
        route.node
    );
    assert_eq!(
        route.url,
        cluster.node(host).ws_base(),
        "the route's URL is the host's advertised URL"
    );
    route
}

/// Two players per node in [`ROOM`]: `first` (already in), then users from `next_user` up.
pub async fn two_per_node(cluster: &Cluster, first: Player, mut next_user: u64) -> Vec<Player> {
    let mut players = vec![first];
    for node in 0..cluster.nodes.len() {
        while players.iter().filter(|p| p.node == node).count() < 2 {
            let (p, _) = Player::enter(cluster, node, next_user).await;
            players.push(p);
            next_user += 1;
        }
    }
    players
}

/// Walk each player in `direction` as many cells as `steps` says, one at a time,
/// each step confirmed by its own MOVE.
pub async fn walk(players: &mut [Player], direction_code: u8, steps: impl Fn(u64) -> u64) {
    for p in players.iter_mut() {
        for _ in 0..steps(p.user) {
            p.step(direction_code).await;
            let me = p.user;
            p.until("its own MOVE", |m| pick_move(m).filter(|s| s.0 == me))
                .await;
        }
    }
}
