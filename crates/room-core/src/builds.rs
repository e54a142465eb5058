//! The BUILDs of one room between admission and their answer (PROTOCOL.md
//! §5): at most a bound of them at once, each waiting for the owner's
//! library, then stored one at a time in the order they came, whenever
//! their lookups end. Pure bookkeeping: the engine does the lookups and the
//! saves and tells the queue their outcome.

use std::collections::{BTreeSet, VecDeque};

use crate::ids::GameId;
use crate::map::MapDoc;

/// One admitted BUILD, with what its caller needs to answer it (`T`).
#[derive(Debug)]
struct Queued<T> {
    id: u64,
    tag: T,
    doc: MapDoc,
    owned: Option<BTreeSet<GameId>>,
}

/// A BUILD whose turn to be approved and stored has come.
#[derive(Debug, PartialEq, Eq)]
pub struct ReadyBuild<T> {
    /// What the caller gave at admission.
    pub tag: T,
    /// The map as sent.
    pub doc: MapDoc,
    /// The owner's library, as looked up for it.
    pub owned: BTreeSet<GameId>,
}

/// The BUILDs of one room in flight.
#[derive(Debug)]
pub struct BuildQueue<T> {
    max: usize,
    next_id: u64,
    waiting: VecDeque<Queued<T>>,
    /// One BUILD is being stored: no other starts from a version that may be stale.
    saving: bool,
}

impl<T> BuildQueue<T> {
    /// A queue that holds at most `max` BUILDs (admitted, not answered).
    pub fn new(max: usize) -> BuildQueue<T> {
        BuildQueue {
            max: max.max(1),
            next_id: 0,
            waiting: VecDeque::new(),
            saving: false,
        }
    }

    /// BUILDs admitted and not answered yet (the one being stored included).
    pub fn in_flight(&self) -> usize {
        self.waiting.len() + usize::from(self.saving)
    }

    /// Whether a BUILD is being stored.
    pub fn is_saving(&self) -> bool {
        self.saving
    }

    /// Admit a BUILD that passed [`Room::check_build`](crate::Room::check_build):
    /// the id its library lookup answers under, or `None` when the room has
    /// as many in flight as it may (the BUILD is refused, nothing changes).
    pub fn admit(&mut self, tag: T, doc: MapDoc) -> Option<u64> {
        if self.in_flight() >= self.max {
            return None;
        }
        self.next_id += 1;
        self.waiting.push_back(Queued {
            id: self.next_id,
            tag,
            doc,
            owned: None,
        });
        Some(self.next_id)
    }

    /// The library lookup of BUILD `id` found `owned`.
    pub fn owned(&mut self, id: u64, owned: BTreeSet<GameId>) {
        if let Some(queued) = self.waiting.iter_mut().find(|q| q.id == id) {
            queued.owned = Some(owned);
        }
    }

    /// The library lookup of BUILD `id` failed: the BUILD leaves the queue
    /// (its caller answers it with `tag`).
    pub fn lookup_failed(&mut self, id: u64) -> Option<T> {
        let index = self.waiting.iter().position(|q| q.id == id)?;
        self.waiting.remove(index).map(|q| q.tag)
    }

    /// The next BUILD to approve and store, if its turn has come: none is
    /// being stored, and the oldest one has its library. From now on it is
    /// the one being stored, until [`BuildQueue::answered`].
    pub fn next_ready(&mut self) -> Option<ReadyBuild<T>> {
        if self.saving || self.waiting.front().is_none_or(|q| q.owned.is_none()) {
            return None;
        }
        let queued = self.waiting.pop_front()?;
        self.saving = true;
        Some(ReadyBuild {
            tag: queued.tag,
            doc: queued.doc,
            owned: queued.owned.unwrap_or_default(),
        })
    }

    /// The BUILD taken by `next_ready` has its answer (stored, refused by the
    /// room's checks, or by the store): the next one may start.
    pub fn answered(&mut self) {
        self.saving = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library(games: &[u64]) -> BTreeSet<GameId> {
        games.iter().map(|g| GameId(*g)).collect()
    }

    #[test]
    fn builds_are_stored_one_at_a_time_in_the_order_they_came() {
        let mut queue = BuildQueue::new(4);
        let first = queue.admit("first", MapDoc::default()).unwrap();
        let second = queue.admit("second", MapDoc::default()).unwrap();
        // The second lookup ends first: it still waits for the first.
        queue.owned(second, library(&[2]));
        assert_eq!(queue.next_ready(), None);
        queue.owned(first, library(&[1]));
        let ready = queue.next_ready().unwrap();
        assert_eq!((ready.tag, ready.owned), ("first", library(&[1])));
        // One is being stored: the second waits for its answer.
        assert_eq!(queue.next_ready(), None);
        queue.answered();
        assert_eq!(queue.next_ready().map(|r| r.tag), Some("second"));
    }

    #[test]
    fn at_most_the_bound_is_in_flight_counting_the_one_being_stored() {
        let mut queue = BuildQueue::new(2);
        let a = queue.admit(1, MapDoc::default()).unwrap();
        queue.admit(2, MapDoc::default()).unwrap();
        assert_eq!(queue.admit(3, MapDoc::default()), None);
        queue.owned(a, library(&[]));
        queue.next_ready().unwrap();
        assert_eq!(
            queue.admit(3, MapDoc::default()),
            None,
            "the one being stored still counts"
        );
        queue.answered();
        assert!(queue.admit(3, MapDoc::default()).is_some());
    }

    #[test]
    fn a_failed_lookup_leaves_the_queue_and_lets_the_next_go() {
        let mut queue = BuildQueue::new(4);
        let a = queue.admit("a", MapDoc::default()).unwrap();
        let b = queue.admit("b", MapDoc::default()).unwrap();
        queue.owned(b, library(&[]));
        assert_eq!(queue.lookup_failed(a), Some("a"));
        assert_eq!(queue.lookup_failed(a), None);
        assert_eq!(queue.next_ready().map(|r| r.tag), Some("b"));
        assert_eq!(queue.in_flight(), 1);
    }
}
