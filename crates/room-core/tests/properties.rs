//! Property tests: random operation sequences run against a small reference
//! model written here from PROTOCOL.md alone (no room-core logic reused), and
//! codec round trips for every message type.

use std::collections::{BTreeSet, HashSet};

use proptest::prelude::*;
use proptest::sample::select;
use room_core::{
    Audience, Cell, ClientMsg, Command, Direction, ErrorCode, GameId, ItemDoc, Map, MapDoc, Outgoing, Reject,
    Room, RoomId, RoomLimits, RoomView, ServerMsg, SessionId, UserId, UserView, parse_client_frame,
    parse_server_frame,
};

const ROOM_ID: u64 = 7;
/// The users of the generated scenarios; the first owns the room.
const USERS: [u64; 5] = [7, 3, 4, 5, 6];
const NICKNAMES: [&str; 5] = ["owner", "Gäst", "민수", "🦀 crab", "a\"b\\c\nd"];
/// Game ids the generators like to use, and that the owner may own.
const GAME_POOL: [&str; 5] = ["1", "2", "3", "12", "42"];
/// A session id no scenario ever enters with.
const STRANGER: u64 = 99;

// ---- the reference model ---------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
struct ModelUser {
    user: u64,
    nickname: String,
    session: u64,
    x: i64,
    y: i64,
}

/// The room as PROTOCOL.md describes it: a map document (entries in list
/// order), the users in order of arrival, and a counter of events.
#[derive(Debug, Clone)]
struct Model {
    capacity: usize,
    max_side: i64,
    map: MapDoc,
    version: u64,
    users: Vec<ModelUser>,
    seq: u64,
}

/// An event as the model predicts it: what, and to whom.
#[derive(Debug, Clone, PartialEq)]
enum Ev {
    /// ENTER to everyone but `except`.
    Enter {
        except: u64,
        user: u64,
        nickname: String,
        x: i64,
        y: i64,
    },
    /// SYNC to one session, or to everyone (`None`).
    Sync { to: Option<u64> },
    /// LEAVE to everyone left.
    Leave { user: u64 },
    /// MOVE to everyone.
    Move { user: u64, dir: u8, x: i64, y: i64 },
    /// 98 to the replaced session.
    Replaced { to: u64 },
}

impl Model {
    fn new(capacity: usize, max_side: i64) -> Model {
        Model {
            capacity,
            max_side,
            map: MapDoc {
                side: 20,
                ..MapDoc::default()
            },
            version: 0,
            users: Vec::new(),
            seq: 0,
        }
    }

    fn items(&self) -> impl Iterator<Item = &ItemDoc> {
        self.map
            .games
            .iter()
            .chain(&self.map.objects)
            .map(|(_, item)| item)
    }

    fn filled(&self, x: i64, y: i64) -> bool {
        self.items().any(|item| item.x == x && item.y == y)
    }

    fn spawn(&self) -> (i64, i64) {
        for y in 0..self.map.side {
            for x in 0..self.map.side {
                if !self.filled(x, y) {
                    return (x, y);
                }
            }
        }
        unreachable!("a model map always has a free cell")
    }

    fn by_session(&self, session: u64) -> Option<usize> {
        self.users.iter().position(|u| u.session == session)
    }

    fn session_of(&self, user: u64) -> Option<u64> {
        self.users.iter().find(|u| u.user == user).map(|u| u.session)
    }

    fn enter(&mut self, session: u64, user: u64, nickname: &str) -> Result<Vec<Ev>, u32> {
        if let Some(i) = self.by_session(session)
            && self.users[i].user != user
        {
            return Err(76102); // one socket speaks for one user
        }
        if let Some(i) = self.users.iter().position(|u| u.user == user) {
            if self.users[i].session == session {
                return Ok(vec![Ev::Sync { to: Some(session) }]);
            }
            let old = self.users[i].session;
            self.users[i].session = session;
            self.users[i].nickname = nickname.to_owned();
            return Ok(vec![Ev::Replaced { to: old }, Ev::Sync { to: Some(session) }]);
        }
        if self.users.len() >= self.capacity {
            return Err(76409);
        }
        let (x, y) = self.spawn();
        self.users.push(ModelUser {
            user,
            nickname: nickname.to_owned(),
            session,
            x,
            y,
        });
        Ok(vec![
            Ev::Enter {
                except: session,
                user,
                nickname: nickname.to_owned(),
                x,
                y,
            },
            Ev::Sync { to: Some(session) },
        ])
    }

    fn sync(&self, session: u64) -> Result<Vec<Ev>, u32> {
        self.by_session(session).ok_or(76102u32)?;
        Ok(vec![Ev::Sync { to: Some(session) }])
    }

    fn leave(&mut self, session: u64) -> Result<Vec<Ev>, u32> {
        let i = self.by_session(session).ok_or(76102u32)?;
        let gone = self.users.remove(i);
        Ok(vec![Ev::Leave { user: gone.user }])
    }

    fn step(&mut self, session: u64, dir: u8) -> Result<Vec<Ev>, u32> {
        let i = self.by_session(session).ok_or(76102u32)?;
        let (dx, dy) = [(0, -1), (1, 0), (0, 1), (-1, 0)][usize::from(dir)];
        let (x, y) = (self.users[i].x + dx, self.users[i].y + dy);
        let side = self.map.side;
        if x < 0 || y < 0 || x >= side || y >= side || self.filled(x, y) {
            return Ok(Vec::new());
        }
        self.users[i].x = x;
        self.users[i].y = y;
        Ok(vec![Ev::Move {
            user: self.users[i].user,
            dir,
            x,
            y,
        }])
    }

    fn build(&mut self, session: u64, doc: &MapDoc, owned: &BTreeSet<u64>) -> Result<Vec<Ev>, u32> {
        let i = self.by_session(session).ok_or(76102u32)?;
        if self.users[i].user != ROOM_ID {
            return Err(76403);
        }
        let map = model_validate(doc, self.max_side).ok_or(76410u32)?;
        if map
            .games
            .iter()
            .any(|(id, _)| !owned.contains(&id.parse::<u64>().unwrap_or(u64::MAX)))
        {
            return Err(76403);
        }
        self.map = map;
        self.version += 1;
        let (x, y) = self.spawn();
        for u in &mut self.users {
            (u.x, u.y) = (x, y);
        }
        Ok(vec![Ev::Sync { to: None }])
    }
}

/// PROTOCOL.md §4-5, written out plainly: the map in list order, or `None` if any structural rule fails.
fn model_validate(doc: &MapDoc, max_side: i64) -> Option<MapDoc> {
    let side = doc.side;
    if side < 2 || side > max_side.min(64) {
        return None;
    }
    fn distinct<'a>(ids: impl Iterator<Item = &'a String>) -> Option<BTreeSet<&'a String>> {
        let all: Vec<&String> = ids.collect();
        let set: BTreeSet<&String> = all.iter().copied().collect();
        (all.len() == set.len()).then_some(set)
    }
    let game_list = distinct(doc.game_list.iter())?;
    let game_keys = distinct(doc.games.iter().map(|(id, _)| id))?;
    let object_list = distinct(doc.object_list.iter())?;
    let object_keys = distinct(doc.objects.iter().map(|(id, _)| id))?;
    if game_list != game_keys || object_list != object_keys {
        return None;
    }
    if game_keys.intersection(&object_keys).next().is_some() {
        return None;
    }
    let game_id_ok = |id: &str| {
        !id.is_empty()
            && id.chars().count() <= 32
            && id.chars().all(|c| c.is_ascii_digit())
            && (id == "0" || !id.starts_with('0'))
            && id.parse::<u64>().is_ok()
    };
    let object_id_ok = |id: &str| {
        (1..=32).contains(&id.chars().count())
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if !doc.games.iter().all(|(id, _)| game_id_ok(id)) || !doc.objects.iter().all(|(id, _)| object_id_ok(id))
    {
        return None;
    }
    let mut cells = HashSet::new();
    for (_, item) in doc.games.iter().chain(&doc.objects) {
        let name_ok = (1..=64).contains(&item.name.chars().count());
        let inside = (0..side).contains(&item.x) && (0..side).contains(&item.y);
        if !name_ok || !inside || !cells.insert((item.x, item.y)) {
            return None;
        }
    }
    if i64::try_from(cells.len()).ok()? >= side * side {
        return None;
    }
    let in_list_order = |list: &[String], entries: &[(String, ItemDoc)]| {
        list.iter()
            .map(|id| entries.iter().find(|(key, _)| key == id).cloned())
            .collect::<Option<Vec<_>>>()
    };
    Some(MapDoc {
        side,
        game_list: doc.game_list.clone(),
        object_list: doc.object_list.clone(),
        games: in_list_order(&doc.game_list, &doc.games)?,
        objects: in_list_order(&doc.object_list, &doc.objects)?,
    })
}

// ---- comparing the room with the model -----------------------------------------------

fn to_ev(out: &Outgoing) -> Ev {
    let cell = |c: Cell| (i64::from(c.x), i64::from(c.y));
    match (&out.msg, out.audience) {
        (
            ServerMsg::Enter {
                user,
                nickname,
                cell: c,
            },
            Audience::AllExcept(s),
        ) => {
            let (x, y) = cell(*c);
            Ev::Enter {
                except: s.0,
                user: user.0,
                nickname: nickname.clone(),
                x,
                y,
            }
        }
        (ServerMsg::Sync { .. }, Audience::Session(s)) => Ev::Sync { to: Some(s.0) },
        (ServerMsg::Sync { .. }, Audience::All) => Ev::Sync { to: None },
        (ServerMsg::Leave { user }, Audience::All) => Ev::Leave { user: user.0 },
        (
            ServerMsg::Move {
                user,
                direction,
                cell: c,
            },
            Audience::All,
        ) => {
            let (x, y) = cell(*c);
            Ev::Move {
                user: user.0,
                dir: direction.code(),
                x,
                y,
            }
        }
        (ServerMsg::ClosePreConnection { .. }, Audience::Session(s)) => Ev::Replaced { to: s.0 },
        other => panic!("unexpected event or audience: {other:?}"),
    }
}

fn model_users(model: &Model) -> Vec<(u64, String, u64, i64, i64)> {
    model
        .users
        .iter()
        .map(|u| (u.user, u.nickname.clone(), u.session, u.x, u.y))
        .collect()
}

fn room_users(room: &Room) -> Vec<(u64, String, u64, i64, i64)> {
    room.occupants()
        .iter()
        .map(|o| {
            (
                o.user.0,
                o.nickname.clone(),
                o.session.0,
                i64::from(o.cell.x),
                i64::from(o.cell.y),
            )
        })
        .collect()
}

/// A SYNC shows the room as the model has it, and its `userCount` is the number of users.
fn check_sync(view: &RoomView, msg: &ServerMsg, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(view.room_id, RoomId(ROOM_ID));
    let users: Vec<(u64, String, i64, i64)> = view
        .users
        .iter()
        .map(|u| {
            (
                u.user.0,
                u.nickname.clone(),
                i64::from(u.cell.x),
                i64::from(u.cell.y),
            )
        })
        .collect();
    let expected: Vec<(u64, String, i64, i64)> = model
        .users
        .iter()
        .map(|u| (u.user, u.nickname.clone(), u.x, u.y))
        .collect();
    prop_assert_eq!(users, expected);
    prop_assert_eq!(&view.map.to_doc(), &model.map);
    let frame = msg.encode();
    let json: serde_json::Value =
        serde_json::from_str(&frame[2..]).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(json["room"]["userCount"].as_u64(), Some(model.users.len() as u64));
    prop_assert_eq!(
        json["room"]["users"].as_object().map(|o| o.len()),
        Some(model.users.len())
    );
    Ok(())
}

/// Every invariant, after every step.
fn check_state(room: &Room, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(room_users(room), model_users(model));
    prop_assert_eq!(&room.map().to_doc(), &model.map);
    prop_assert_eq!(room.seq(), model.seq);
    prop_assert_eq!(room.map_version(), model.version);
    let map = room.map();
    let mut users = HashSet::new();
    let mut sessions = HashSet::new();
    for o in room.occupants() {
        prop_assert!(
            o.cell.x < map.side() && o.cell.y < map.side(),
            "{o:?} off the grid"
        );
        prop_assert!(!map.is_filled(o.cell), "{o:?} on a filled cell");
        prop_assert!(users.insert(o.user), "{:?} present twice", o.user);
        prop_assert!(sessions.insert(o.session), "{:?} speaks twice", o.session);
    }
    prop_assert!(room.occupants().len() <= model.capacity);
    Ok(())
}

// ---- operations ----------------------------------------------------------------------

/// Who issues a command: a raw session id, whichever session speaks for a user
/// now, or the n-th user present (a stranger if the room is empty).
#[derive(Debug, Clone, Copy)]
enum Who {
    Session(u64),
    User(usize),
    Present(usize),
}

#[derive(Debug, Clone)]
enum Op {
    Enter {
        session: u64,
        user: usize,
        nickname: usize,
    },
    Leave(Who),
    Sync(Who),
    Move(Who, u8),
    Build(Who, MapDoc, BTreeSet<u64>),
    Frame(Who, String),
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        1 => (1u64..=15).prop_map(Who::Session),
        2 => (0usize..USERS.len()).prop_map(Who::User),
        5 => (0usize..USERS.len()).prop_map(Who::Present),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Mostly one of the user's own three sockets; sometimes any socket at all.
        5 => (0..USERS.len(), 0u64..3, prop::option::weighted(0.15, 1u64..=15), 0..NICKNAMES.len())
            .prop_map(|(user, slot, any_session, nickname)| Op::Enter {
                session: any_session.unwrap_or(user as u64 * 3 + slot + 1),
                user,
                nickname,
            }),
        2 => who().prop_map(Op::Leave),
        1 => who().prop_map(Op::Sync),
        8 => (who(), 0u8..4).prop_map(|(w, d)| Op::Move(w, d)),
        2 => (who(), build_doc(), owned()).prop_map(|(w, d, o)| Op::Build(w, d, o)),
        2 => (Just(Who::User(0)), build_doc(), owned()).prop_map(|(w, d, o)| Op::Build(w, d, o)),
        2 => (who(), garbage_frame()).prop_map(|(w, f)| Op::Frame(w, f)),
    ]
}

fn owned() -> impl Strategy<Value = BTreeSet<u64>> {
    let all: BTreeSet<u64> = GAME_POOL
        .iter()
        .map(|id| id.parse().expect("pool ids are numbers"))
        .collect();
    prop_oneof![
        Just(all),
        prop::collection::btree_set(select(vec![1u64, 2, 3, 12, 42, 77]), 0..=6),
    ]
}

fn item(
    name: impl Strategy<Value = String>,
    coord: impl Strategy<Value = i64> + Clone,
) -> impl Strategy<Value = ItemDoc> {
    (name, coord.clone(), coord).prop_map(|(name, x, y)| ItemDoc { name, x, y })
}

fn good_name() -> impl Strategy<Value = String> {
    "[a-zA-Z가-힣🦀é ]{1,12}"
}

/// A map that is valid by construction (ownership aside): distinct cells, good ids and names.
fn valid_doc() -> impl Strategy<Value = MapDoc> {
    (3i64..=8)
        .prop_flat_map(|side| {
            let cells: Vec<i64> = (0..side * side).collect();
            (
                Just(side),
                prop::sample::subsequence(cells, 0..=5).prop_shuffle(),
                prop::collection::vec(any::<bool>(), 5),
                prop::collection::vec(good_name(), 5),
                any::<bool>(),
            )
        })
        .prop_map(|(side, cells, is_game, names, reverse)| {
            let mut doc = MapDoc {
                side,
                ..MapDoc::default()
            };
            for (i, cell) in cells.into_iter().enumerate() {
                let entry = ItemDoc {
                    name: names[i].clone(),
                    x: cell % side,
                    y: cell / side,
                };
                if is_game[i] {
                    doc.games.push((GAME_POOL[i].to_owned(), entry));
                } else {
                    doc.objects.push((format!("o-{i}_X"), entry));
                }
            }
            doc.game_list = doc.games.iter().map(|(id, _)| id.clone()).collect();
            doc.object_list = doc.objects.iter().map(|(id, _)| id.clone()).collect();
            if reverse {
                doc.game_list.reverse();
                doc.object_list.reverse();
            }
            doc
        })
}

/// One thing to break in an otherwise valid map.
#[derive(Debug, Clone)]
enum Breakage {
    Side(i64),
    DropFromList(bool),
    AddToList(bool, String),
    DuplicateInList(bool),
    DuplicateKey(bool),
    Coordinates(usize, i64, i64),
    Collide,
    Name(usize, String),
    GameId(String),
    ObjectId(String),
    SameIdAcross,
    FillEverything,
}

fn breakage() -> impl Strategy<Value = Breakage> {
    prop_oneof![
        select(vec![i64::MIN, -1, 0, 1, 2, 9, 64, 65, 1000, i64::MAX]).prop_map(Breakage::Side),
        any::<bool>().prop_map(Breakage::DropFromList),
        (
            any::<bool>(),
            select(vec!["1".to_owned(), "77".into(), "w".into(), String::new()])
        )
            .prop_map(|(g, id)| Breakage::AddToList(g, id)),
        any::<bool>().prop_map(Breakage::DuplicateInList),
        any::<bool>().prop_map(Breakage::DuplicateKey),
        (0usize..10, -2i64..12, -2i64..12).prop_map(|(i, x, y)| Breakage::Coordinates(i, x, y)),
        Just(Breakage::Collide),
        (
            0usize..10,
            prop_oneof![Just(String::new()), ".{60,70}", "[é🦀]{63,66}"]
        )
            .prop_map(|(i, n)| Breakage::Name(i, n)),
        prop_oneof![
            Just(String::new()),
            Just("012".to_owned()),
            "[a-z]{1,3}",
            "[0-9]{1,3}",
            "[1-9][0-9]{20,33}"
        ]
        .prop_map(Breakage::GameId),
        prop_oneof![
            Just(String::new()),
            "[a-z]{31,34}",
            "[a-z]{0,2}[ .é/🦀][a-z]{0,2}",
            "[A-Za-z0-9_-]{1,4}"
        ]
        .prop_map(Breakage::ObjectId),
        Just(Breakage::SameIdAcross),
        Just(Breakage::FillEverything),
    ]
}

fn break_doc(mut doc: MapDoc, breakage: Breakage) -> MapDoc {
    fn pick<T>(v: &mut [T], i: usize) -> Option<&mut T> {
        let len = v.len();
        (len > 0).then(|| &mut v[i % len])
    }
    match breakage {
        Breakage::Side(side) => doc.side = side,
        Breakage::DropFromList(games) => {
            let list = if games {
                &mut doc.game_list
            } else {
                &mut doc.object_list
            };
            list.pop();
        }
        Breakage::AddToList(games, id) => {
            let list = if games {
                &mut doc.game_list
            } else {
                &mut doc.object_list
            };
            list.push(id);
        }
        Breakage::DuplicateInList(games) => {
            let list = if games {
                &mut doc.game_list
            } else {
                &mut doc.object_list
            };
            if let Some(first) = list.first().cloned() {
                list.push(first);
            }
        }
        Breakage::DuplicateKey(games) => {
            let entries = if games { &mut doc.games } else { &mut doc.objects };
            if let Some(first) = entries.first().cloned() {
                entries.push(first);
            }
        }
        Breakage::Coordinates(i, x, y) => {
            let mut items: Vec<&mut ItemDoc> = doc
                .games
                .iter_mut()
                .chain(&mut doc.objects)
                .map(|(_, it)| it)
                .collect();
            if let Some(item) = pick(&mut items, i) {
                (item.x, item.y) = (x, y);
            }
        }
        Breakage::Collide => {
            let cells: Vec<(i64, i64)> = doc
                .games
                .iter()
                .chain(&doc.objects)
                .map(|(_, it)| (it.x, it.y))
                .collect();
            if let (Some(first), Some((_, last))) =
                (cells.first(), doc.objects.last_mut().or(doc.games.last_mut()))
            {
                (last.x, last.y) = *first;
            }
        }
        Breakage::Name(i, name) => {
            let mut items: Vec<&mut ItemDoc> = doc
                .games
                .iter_mut()
                .chain(&mut doc.objects)
                .map(|(_, it)| it)
                .collect();
            if let Some(item) = pick(&mut items, i) {
                item.name = name;
            }
        }
        Breakage::GameId(id) => {
            if let Some((key, _)) = doc.games.first_mut() {
                *key = id.clone();
                doc.game_list[0] = id;
            }
        }
        Breakage::ObjectId(id) => {
            if let Some((key, _)) = doc.objects.first_mut() {
                *key = id.clone();
                doc.object_list[0] = id;
            }
        }
        Breakage::SameIdAcross => {
            if let (Some((game, _)), Some((object, _))) = (doc.games.first(), doc.objects.first_mut()) {
                let game = game.clone();
                doc.object_list
                    .iter_mut()
                    .filter(|o| **o == *object)
                    .for_each(|o| *o = game.clone());
                *object = game;
            }
        }
        Breakage::FillEverything => {
            doc.games.clear();
            doc.game_list.clear();
            doc.objects = (0..doc.side * doc.side)
                .map(|i| {
                    let item = ItemDoc {
                        name: "wall".into(),
                        x: i % doc.side,
                        y: i / doc.side,
                    };
                    (format!("w{i}"), item)
                })
                .collect();
            doc.object_list = doc.objects.iter().map(|(id, _)| id.clone()).collect();
        }
    }
    doc
}

/// A map with random everything: mostly invalid, sometimes valid by luck.
fn wild_doc() -> impl Strategy<Value = MapDoc> {
    let game_id = prop_oneof![4 => select(GAME_POOL.to_vec()).prop_map(String::from), 1 => "[0-9a-z]{0,3}"];
    let object_id = prop_oneof![4 => "[a-c]{1,2}", 1 => ".{0,3}"];
    let name = prop_oneof![4 => good_name(), 1 => ".{0,3}"];
    let coord = -1i64..5;
    (
        prop_oneof![4 => 1i64..=5, 1 => any::<i64>()],
        prop::collection::vec((game_id, item(name.clone(), coord.clone())), 0..4),
        prop::collection::vec((object_id, item(name, coord)), 0..5),
        any::<u8>(),
    )
        .prop_map(|(side, games, objects, list_mode)| {
            let mut game_list: Vec<String> = games.iter().map(|(id, _)| id.clone()).collect();
            let mut object_list: Vec<String> = objects.iter().map(|(id, _)| id.clone()).collect();
            match list_mode % 8 {
                0 => game_list.reverse(),
                1 => object_list.truncate(1),
                2 => game_list.push("3".into()),
                _ => {}
            }
            MapDoc {
                side,
                game_list,
                object_list,
                games,
                objects,
            }
        })
}

fn build_doc() -> impl Strategy<Value = MapDoc> {
    prop_oneof![
        3 => valid_doc(),
        3 => (valid_doc(), breakage()).prop_map(|(doc, b)| break_doc(doc, b)),
        2 => wild_doc(),
    ]
}

fn garbage_frame() -> impl Strategy<Value = String> {
    let code = select(vec!["10", "11", "12", "19", "20", "40", "55", "98", "99", "00"]);
    let body = prop_oneof![
        Just(String::new()),
        Just("{}".to_owned()),
        r#"\{("(direction|room_id|map|side|x)":(-?[0-9]{1,2}|"[0-9a-z]{0,3}"|null|true|\[\]|\{\}),?){0,3}\}"#,
        ".{0,12}",
    ];
    prop_oneof![
        ".{0,12}",
        "[0-9]{2}.{0,16}",
        (code, body).prop_map(|(c, b)| format!("{c}{b}")),
        client_msg().prop_map(|m| m.encode()),
        (client_msg(), any::<prop::sample::Index>()).prop_map(|(m, cut)| {
            let frame = m.encode();
            let mut end = cut.index(frame.len() + 1);
            while !frame.is_char_boundary(end) {
                end -= 1;
            }
            frame[..end].to_owned()
        }),
    ]
}

// ---- running a scenario -------------------------------------------------------------------

fn resolve(who: Who, model: &Model) -> u64 {
    match who {
        Who::Session(s) => s,
        Who::User(i) => model.session_of(USERS[i]).unwrap_or(STRANGER),
        Who::Present(i) => match model.users.len() {
            0 => STRANGER,
            n => model.users[i % n].session,
        },
    }
}

/// The command a parsed frame stands for, if the room handles it (ENTER is routed by the engine).
enum FrameCmd {
    Sync,
    Leave,
    Move(u8),
    Build(MapDoc),
}

fn run_op(room: &mut Room, model: &mut Model, op: Op) -> Result<(), TestCaseError> {
    let all_games: BTreeSet<u64> = GAME_POOL.iter().map(|g| g.parse().expect("numbers")).collect();
    let before = room.clone();
    let (actual, expected): (Result<Vec<Outgoing>, Reject>, Result<Vec<Ev>, u32>) = match op {
        Op::Enter {
            session,
            user,
            nickname,
        } => (
            room.apply(Command::Enter {
                session: SessionId(session),
                user: UserId(USERS[user]),
                nickname: NICKNAMES[nickname].to_owned(),
            }),
            model.enter(session, USERS[user], NICKNAMES[nickname]),
        ),
        Op::Leave(who) => {
            let s = resolve(who, model);
            (
                room.apply(Command::Leave {
                    session: SessionId(s),
                }),
                model.leave(s),
            )
        }
        Op::Sync(who) => {
            let s = resolve(who, model);
            (
                room.apply(Command::Sync {
                    session: SessionId(s),
                }),
                model.sync(s),
            )
        }
        Op::Move(who, dir) => {
            let s = resolve(who, model);
            let direction = Direction::ALL[usize::from(dir)];
            (
                room.apply(Command::Move {
                    session: SessionId(s),
                    direction,
                }),
                model.step(s, dir),
            )
        }
        Op::Build(who, doc, owned) => {
            let s = resolve(who, model);
            (build(room, s, &doc, &owned), model.build(s, &doc, &owned))
        }
        Op::Frame(who, frame) => {
            let cmd = match parse_client_frame(&frame) {
                Err(e) => {
                    let code = e.code().as_u32();
                    prop_assert!(code == 76100 || code == 76900, "{frame:?} gave {code}");
                    return Ok(());
                }
                Ok(msg) => {
                    prop_assert_eq!(
                        u32::from(msg.code()),
                        frame[..2].parse::<u32>().unwrap_or(u32::MAX)
                    );
                    prop_assert_eq!(parse_client_frame(&msg.encode()), Ok(msg.clone()));
                    match msg {
                        ClientMsg::Enter { .. } => return Ok(()),
                        ClientMsg::Sync => FrameCmd::Sync,
                        ClientMsg::Leave => FrameCmd::Leave,
                        ClientMsg::Move { direction } => FrameCmd::Move(direction.code()),
                        ClientMsg::Build { map, .. } => FrameCmd::Build(map),
                    }
                }
            };
            return match cmd {
                FrameCmd::Sync => run_op(room, model, Op::Sync(who)),
                FrameCmd::Leave => run_op(room, model, Op::Leave(who)),
                FrameCmd::Move(d) => run_op(room, model, Op::Move(who, d)),
                FrameCmd::Build(doc) => run_op(room, model, Op::Build(who, doc, all_games)),
            };
        }
    };

    match (actual, expected) {
        (Err(reject), Err(code)) => {
            prop_assert_eq!(reject.code().as_u32(), code, "{:?}", reject);
            prop_assert_eq!(&*room, &before, "a rejected command changed the room");
        }
        (Ok(out), Ok(evs)) => {
            model.seq += evs.len() as u64;
            let seqs: Vec<u64> = out.iter().map(|o| o.seq).collect();
            let want: Vec<u64> = (before.seq() + 1..=before.seq() + evs.len() as u64).collect();
            prop_assert_eq!(seqs, want, "sequence numbers must go up by one per event");
            let got: Vec<Ev> = out.iter().map(to_ev).collect();
            prop_assert_eq!(&got, &evs);
            if evs.is_empty() {
                prop_assert_eq!(&*room, &before, "a command that sent nothing changed the room");
            }
            for o in &out {
                if let ServerMsg::Sync { room: view } = &o.msg {
                    check_sync(view, &o.msg, model)?;
                }
            }
            if evs == [Ev::Sync { to: None }] {
                let spawn = room.map().spawn();
                prop_assert!(
                    room.occupants().iter().all(|o| o.cell == spawn),
                    "not everyone at spawn"
                );
            }
        }
        (actual, expected) => {
            return Err(TestCaseError::fail(format!(
                "room said {actual:?}, model said {expected:?}"
            )));
        }
    }
    check_state(room, model)
}

fn build(
    room: &mut Room,
    session: u64,
    doc: &MapDoc,
    owned: &BTreeSet<u64>,
) -> Result<Vec<Outgoing>, Reject> {
    let owned: BTreeSet<GameId> = owned.iter().copied().map(GameId).collect();
    let before = room.clone();
    let approved = room.approve_build(SessionId(session), doc, &owned);
    assert_eq!(*room, before, "approve_build changed the room");
    let version = room.map_version() + 1;
    Ok(room.commit_build(approved?, version))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_operation_sequences_match_the_reference_model(
        capacity in 1usize..=5,
        max_side in select(vec![64i64, 10, 6]),
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let limits = RoomLimits { capacity, max_side: u16::try_from(max_side).expect("small") };
        let mut room = Room::new(RoomId(ROOM_ID), Map::empty(), 0, limits);
        let mut model = Model::new(capacity, max_side);
        check_state(&room, &model)?;
        for op in ops {
            run_op(&mut room, &mut model, op)?;
        }
    }

    #[test]
    fn map_validation_matches_the_reference_model(doc in build_doc(), max_side in select(vec![64u16, 6])) {
        let expected = model_validate(&doc, i64::from(max_side));
        match Map::validate(&doc, max_side) {
            Ok(map) => {
                prop_assert_eq!(Some(map.to_doc()), expected);
                let spawn = map.spawn();
                prop_assert!(!map.is_filled(spawn));
                let first_free = (0..map.side())
                    .flat_map(|y| (0..map.side()).map(move |x| Cell::new(x, y)))
                    .find(|c| !map.is_filled(*c));
                prop_assert_eq!(Some(spawn), first_free);
            }
            Err(e) => prop_assert!(expected.is_none(), "room-core refused a valid map: {e}"),
        }
    }
}

// ---- codec round trips ---------------------------------------------------------------------

fn nickname() -> impl Strategy<Value = String> {
    prop_oneof![
        good_name(),
        any::<String>(),
        select(NICKNAMES.to_vec()).prop_map(String::from)
    ]
}

fn cell() -> impl Strategy<Value = Cell> {
    (any::<u16>(), any::<u16>()).prop_map(|(x, y)| Cell::new(x, y))
}

fn direction() -> impl Strategy<Value = Direction> {
    select(Direction::ALL.to_vec())
}

fn room_view() -> impl Strategy<Value = RoomView> {
    let map = prop_oneof![
        valid_doc().prop_map(|d| Map::validate(&d, 64).expect("valid by construction")),
        (2u16..=64).prop_map(Map::empty_of_side),
    ];
    let user = (any::<u64>(), nickname(), cell()).prop_map(|(id, nickname, cell)| UserView {
        user: UserId(id),
        nickname,
        cell,
    });
    (any::<u64>(), prop::collection::vec(user, 0..5), map).prop_map(|(id, users, map)| RoomView {
        room_id: RoomId(id),
        users,
        map,
    })
}

fn server_msg() -> impl Strategy<Value = ServerMsg> {
    prop_oneof![
        (any::<u64>(), nickname(), cell()).prop_map(|(u, nickname, cell)| ServerMsg::Enter {
            user: UserId(u),
            nickname,
            cell
        }),
        room_view().prop_map(|room| ServerMsg::Sync { room }),
        any::<u64>().prop_map(|u| ServerMsg::Leave { user: UserId(u) }),
        (any::<u64>(), direction(), cell()).prop_map(|(u, direction, cell)| ServerMsg::Move {
            user: UserId(u),
            direction,
            cell
        }),
        any::<String>().prop_map(|message| ServerMsg::ClosePreConnection { message }),
        (select(ErrorCode::ALL.to_vec()), any::<String>())
            .prop_map(|(code, message)| ServerMsg::Error { code, message }),
    ]
}

fn any_doc() -> impl Strategy<Value = MapDoc> {
    let entry = (any::<String>(), (any::<String>(), any::<i64>(), any::<i64>()))
        .prop_map(|(id, (name, x, y))| (id, ItemDoc { name, x, y }));
    (
        any::<i64>(),
        prop::collection::vec(nickname(), 0..3),
        prop::collection::vec(any::<String>(), 0..3),
        prop::collection::vec(entry.clone(), 0..3),
        prop::collection::vec(entry, 0..3),
    )
        .prop_map(|(side, game_list, object_list, games, objects)| MapDoc {
            side,
            game_list,
            object_list,
            games,
            objects,
        })
}

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    prop_oneof![
        (any::<u64>(), prop::option::of(any::<String>())).prop_map(|(r, authorization)| ClientMsg::Enter {
            room_id: RoomId(r),
            authorization
        }),
        Just(ClientMsg::Sync),
        Just(ClientMsg::Leave),
        direction().prop_map(|direction| ClientMsg::Move { direction }),
        (
            prop_oneof![any_doc(), build_doc()],
            prop::option::of("[a-z0-9\"\\\\]{1,64}")
        )
            .prop_map(|(map, reference)| ClientMsg::Build { map, reference }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_server_message_reads_back_as_itself(msg in server_msg()) {
        let frame = msg.encode();
        prop_assert!(!frame.contains('\n'), "a raw newline would split a batch: {frame:?}");
        prop_assert_eq!(&frame[..2], format!("{:02}", msg.code()));
        prop_assert_eq!(parse_server_frame(&frame), Ok(msg));
    }

    #[test]
    fn every_client_message_reads_back_as_itself(msg in client_msg()) {
        let frame = msg.encode();
        prop_assert!(!frame.contains('\n'));
        prop_assert_eq!(parse_client_frame(&frame), Ok(msg));
    }

    #[test]
    fn every_map_document_reads_back_as_itself(doc in prop_oneof![any_doc(), build_doc()]) {
        let json = room_core::codec::encode_map_doc(&doc);
        prop_assert_eq!(room_core::codec::parse_map_doc(&json), Ok(doc));
    }

    #[test]
    fn any_text_parses_or_is_refused_with_76100_or_76900(frame in prop_oneof![any::<String>(), garbage_frame()]) {
        match parse_client_frame(&frame) {
            Ok(msg) => prop_assert_eq!(parse_client_frame(&msg.encode()), Ok(msg)),
            Err(e) => prop_assert!(matches!(e.code().as_u32(), 76100 | 76900), "{e:?}"),
        }
        // Reading server frames must not panic either, and what it accepts survives a round trip.
        if let Ok(msg) = parse_server_frame(&frame) {
            prop_assert_eq!(parse_server_frame(&msg.encode()), Ok(msg));
        }
    }
}
