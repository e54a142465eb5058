//! PROTOCOL.md §9 at the room's level: a client that drops and resumes from
//! the replay log, at any point, ends with what an always-connected client
//! shows, and sees every room event number once, in order.

use std::collections::BTreeMap;

use proptest::prelude::*;
use room_core::{
    Audience, Cell, Command, Direction, Map, Outgoing, Replay, ReplayLog, Room, RoomId, RoomLimits,
    ServerMsg, SessionId, UserId, frame_seq, parse_server_frame, with_seq,
};

const ROOM: RoomId = RoomId(7);
const WATCHER: SessionId = SessionId(1);
const DROPPER: SessionId = SessionId(2);

/// What a client shows: where everyone is, and the last event number it saw.
#[derive(Debug, Default, PartialEq)]
struct Shown {
    cells: BTreeMap<u64, Cell>,
    seq: u64,
}

impl Shown {
    /// Apply one frame an opted-in socket received; numbers must follow on.
    fn apply(&mut self, frame: &str) {
        let seq = frame_seq(frame).expect("a readable frame");
        match parse_server_frame(frame).expect("a readable frame") {
            ServerMsg::Sync { room } => {
                self.cells = room.users.iter().map(|u| (u.user.0, u.cell)).collect();
                self.seq = seq.expect("a SYNC to an opted-in socket has its seq");
                return;
            }
            ServerMsg::Enter { user, cell, .. } | ServerMsg::Move { user, cell, .. } => {
                self.cells.insert(user.0, cell);
            }
            ServerMsg::Leave { user } => {
                self.cells.remove(&user.0);
            }
            _ => return,
        }
        let seq = seq.expect("a room event has its seq");
        assert_eq!(seq, self.seq + 1, "event numbers follow on");
        self.seq = seq;
    }
}

/// One room and its replay log, fed as the room's driver would feed them.
struct World {
    room: Room,
    log: ReplayLog,
}

fn reaches(audience: Audience, session: SessionId) -> bool {
    match audience {
        Audience::All => true,
        Audience::AllExcept(except) => except != session,
        Audience::Session(only) => only == session,
    }
}

impl World {
    /// Number and log the room events of `out` once; the frames each of
    /// `sessions` gets, as opted-in sockets.
    fn emit(&mut self, out: Vec<Outgoing>, sessions: [SessionId; 2]) -> [Vec<String>; 2] {
        let mut frames = [Vec::new(), Vec::new()];
        for event in out {
            let frame = if event.is_room_event() {
                let number = self.log.record(event.audience, event.msg.encode());
                with_seq(&event.msg.encode(), number)
            } else {
                // An answer to one socket: a SYNC carries the last number it contains.
                event.msg.encode_with_seq(self.log.last())
            };
            for (k, session) in sessions.iter().enumerate() {
                if reaches(event.audience, *session) {
                    frames[k].push(frame.clone());
                }
            }
        }
        frames
    }

    fn resume(&self, shown: &mut Shown) {
        match self.log.since(shown.seq, DROPPER) {
            Replay::Events(frames) => {
                for frame in frames {
                    shown.apply(&frame);
                }
            }
            Replay::Sync => shown.apply(
                &ServerMsg::Sync {
                    room: self.room.view(),
                }
                .encode_with_seq(self.log.last()),
            ),
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    Move(u64, u8),
    /// User 4 comes and goes.
    Visit,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        prop_oneof![
            8 => (prop::sample::select(vec![1u64, 3]), 0u8..4).prop_map(|(u, d)| Step::Move(u, d)),
            1 => Just(Step::Visit),
        ],
        1..80,
    )
}

fn direction(d: u8) -> Direction {
    [Direction::Up, Direction::Right, Direction::Down, Direction::Left][usize::from(d)]
}

proptest! {
    #[test]
    fn a_client_that_resumes_at_any_point_ends_as_an_always_connected_one(
        steps in steps(),
        drop_at in 0usize..80,
        away_for in 0usize..80,
        capacity in 1usize..40,
    ) {
        let mut world = World {
            room: Room::new(ROOM, Map::empty(), 1, RoomLimits::default()),
            log: ReplayLog::new(capacity, 1 << 20, 0),
        };
        let (mut watcher, mut dropper) = (Shown::default(), Shown::default());
        for (user, session) in [(1u64, WATCHER), (2, DROPPER), (3, SessionId(3))] {
            let enter = Command::Enter { session, user: UserId(user), nickname: format!("u{user}") };
            let out = world.room.apply(enter).unwrap();
            let [to_watcher, to_dropper] = world.emit(out, [WATCHER, DROPPER]);
            to_watcher.iter().for_each(|f| watcher.apply(f));
            to_dropper.iter().for_each(|f| dropper.apply(f));
        }
        let resume_at = drop_at + away_for;
        let mut visiting = false;
        for (i, step) in steps.iter().enumerate() {
            if i == resume_at && away_for > 0 {
                world.resume(&mut dropper);
            }
            let out = match step {
                Step::Move(user, d) => world.room.apply(Command::Move { session: SessionId(*user), direction: direction(*d) }),
                Step::Visit if visiting => world.room.apply(Command::Leave { session: SessionId(4) }),
                Step::Visit => world.room.apply(Command::Enter { session: SessionId(4), user: UserId(4), nickname: "u4".into() }),
            };
            if matches!(step, Step::Visit) {
                visiting = !visiting;
            }
            let Ok(out) = out else { continue };
            let [to_watcher, to_dropper] = world.emit(out, [WATCHER, DROPPER]);
            to_watcher.iter().for_each(|f| watcher.apply(f));
            // While its socket is away, what was sent to it is lost.
            let away = i >= drop_at && i < resume_at;
            if !away {
                to_dropper.iter().for_each(|f| dropper.apply(f));
            }
        }
        if resume_at >= steps.len() && drop_at < steps.len() && away_for > 0 {
            world.resume(&mut dropper);
        }
        let truth: BTreeMap<u64, Cell> = world.room.view().users.iter().map(|u| (u.user.0, u.cell)).collect();
        prop_assert_eq!(&watcher.cells, &truth);
        prop_assert_eq!(&dropper, &watcher);
        prop_assert_eq!(dropper.seq, world.log.last());
    }
}
