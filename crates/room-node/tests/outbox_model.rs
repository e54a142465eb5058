//! The outbox against a simple model: whatever it coalesces, a client that
//! finally reads everything sees what an unbounded queue would have shown,
//! and never gets a frame before one that was queued before it (issue 13,
//! items 4 and 5).

use std::collections::BTreeMap;

use proptest::prelude::*;
use room_core::UserId;
use room_node::{CloseReason, Frame, Kind, Next, Outbox};

#[derive(Debug, Clone)]
enum Op {
    Enter(u64),
    Leave(u64),
    Move(u64, u8),
    Sync,
    Other,
    /// The writer finished its last write and takes up to n frames.
    Take(usize),
    /// The writer takes up to n more frames for the write in progress.
    TakeMore(usize),
}

fn op() -> impl Strategy<Value = (Op, usize)> {
    let op = prop_oneof![
        2 => (0..4u64).prop_map(Op::Enter),
        1 => (0..4u64).prop_map(Op::Leave),
        6 => (0..4u64, 0..20u8).prop_map(|(u, x)| Op::Move(u, x)),
        2 => Just(Op::Sync),
        1 => Just(Op::Other),
        2 => (1..6usize).prop_map(Op::Take),
        1 => (1..4usize).prop_map(Op::TakeMore),
    ];
    (op, 0..120usize)
}

/// What the client shows: who is where, and the other messages it got, in order.
#[derive(Debug, Default, PartialEq, Eq, Clone)]
struct Client {
    users: BTreeMap<u64, u8>,
    others: Vec<usize>,
    /// Push index of every frame received, in order of receipt.
    received: Vec<usize>,
}

impl Client {
    fn apply(&mut self, text: &str) {
        let mut parts = text.split('|');
        let index: usize = parts.next().unwrap().parse().unwrap();
        self.received.push(index);
        let body = parts.next().unwrap();
        let mut words = body.split(' ');
        match words.next().unwrap() {
            "E" => {
                self.users.insert(words.next().unwrap().parse().unwrap(), 0);
            }
            "L" => {
                self.users.remove(&words.next().unwrap().parse().unwrap());
            }
            "M" => {
                let user = words.next().unwrap().parse().unwrap();
                self.users.insert(user, words.next().unwrap().parse().unwrap());
            }
            "S" => {
                self.users = words
                    .filter(|w| !w.is_empty())
                    .map(|w| {
                        let (u, x) = w.split_once(':').unwrap();
                        (u.parse().unwrap(), x.parse().unwrap())
                    })
                    .collect();
            }
            "O" => self.others.push(index),
            other => panic!("unknown frame {other}"),
        }
    }

    fn deliver(&mut self, next: Option<Next>) -> bool {
        match next {
            Some(Next::Frames(frames)) => {
                for frame in frames {
                    self.apply(frame.as_str());
                }
                true
            }
            _ => false,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_client_finally_sees_what_an_unbounded_queue_shows(
        capacity in 2..12usize,
        budget in 150..1500usize,
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let outbox = Outbox::new(capacity).with_byte_budget(budget);
        let mut room: BTreeMap<u64, u8> = BTreeMap::new();
        let mut unbounded = Client::default();
        let mut client = Client::default();
        let mut largest = 0;
        for (index, (op, padding)) in ops.into_iter().enumerate() {
            let (body, mover, kind) = match op {
                Op::Enter(u) if !room.contains_key(&u) => {
                    room.insert(u, 0);
                    (format!("E {u}"), None, Kind::Change)
                }
                Op::Leave(u) if room.contains_key(&u) => {
                    room.remove(&u);
                    (format!("L {u}"), None, Kind::Change)
                }
                Op::Move(u, x) if room.contains_key(&u) => {
                    room.insert(u, x);
                    (format!("M {u} {x}"), Some(UserId(u)), Kind::Change)
                }
                Op::Sync => {
                    let users: Vec<String> = room.iter().map(|(u, x)| format!("{u}:{x}")).collect();
                    (format!("S {}", users.join(" ")), None, Kind::State)
                }
                Op::Other => ("O".to_owned(), None, Kind::Other),
                Op::Take(n) => {
                    client.deliver(outbox.try_next(n));
                    continue;
                }
                Op::TakeMore(n) => {
                    for frame in outbox.take_more(n) {
                        client.apply(frame.as_str());
                    }
                    continue;
                }
                // A command the room refused: nothing is sent.
                _ => continue,
            };
            let text = format!("{index}|{body}|{}", "x".repeat(padding));
            largest = largest.max(text.len());
            unbounded.apply(&text);
            outbox.push(Frame { bytes: text.into(), mover, joined: false, kind });
            prop_assert!(outbox.bytes_used() <= budget.max(largest), "over budget: {}", outbox.bytes_used());
            prop_assert!(outbox.len() <= capacity);
        }
        while client.deliver(outbox.try_next(usize::MAX)) {}
        prop_assert!(
            client.received.windows(2).all(|w| w[0] < w[1]),
            "delivered out of order: {:?}", client.received
        );
        let closed_too_slow = matches!(outbox.try_next(1), Some(Next::Close(CloseReason::TooSlow)));
        if !closed_too_slow {
            prop_assert_eq!(&client.users, &unbounded.users);
            prop_assert_eq!(&client.others, &unbounded.others);
        }
    }
}
