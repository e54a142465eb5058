//! What a relay learns of a room from its host's events.

use room_core::{Audience, Cell, ReplayLog, UserId};

use crate::contract::Change;
use crate::ordered::IdMap;

/// Room events a relay keeps of what it relayed, so that if the host dies
/// and this node takes the room over, a resume it can replay is RESUMED
/// (the host's own bounds: `--resume-log` defaults to as many, 256 KiB).
const RELAYED_KEPT: usize = 512;
const RELAYED_BYTES: usize = 256 * 1024;

/// The newest positions this node saw relayed, more recent than a snapshot
/// written behind by a host that died: a new host prefers them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Shadow {
    pub seq: u64,
    /// The highest room event number (PROTOCOL.md §9) relayed.
    pub number: u64,
    /// The numbered room events relayed, without a hole up to the last.
    pub relayed: Option<ReplayLog>,
    /// Who was in the room, where, and under which nickname.
    pub users: IdMap<UserId, (Cell, String)>,
}

impl Shadow {
    /// Keep room event `number` as relayed (its frame without its number):
    /// after a hole the events before it cannot be replayed and go.
    pub(crate) fn keep(&mut self, number: u64, audience: Audience, frame: &str) {
        let log = match &mut self.relayed {
            Some(log) if log.last() + 1 == number => log,
            _ => self
                .relayed
                .insert(ReplayLog::new(RELAYED_KEPT, RELAYED_BYTES, number - 1)),
        };
        log.record(audience, frame.to_owned());
    }

    /// Follow event `seq` of the room; returns the user it announced as gone.
    pub(crate) fn follow(&mut self, seq: u64, number: Option<u64>, change: &Change) -> Option<UserId> {
        self.seq = self.seq.max(seq);
        self.number = self.number.max(number.unwrap_or(0));
        match change {
            Change::Entered { user, nickname, cell } => {
                self.users.insert(*user, (*cell, nickname.clone()));
            }
            Change::Moved { user, cell } => {
                if let Some(seen) = self.users.get_mut(user) {
                    seen.0 = *cell;
                }
            }
            Change::Left { user } => {
                self.users.remove(user);
                return Some(*user);
            }
            Change::Synced { users } => {
                self.users.clear();
                self.users.extend(
                    users
                        .iter()
                        .map(|(user, cell, nickname)| (*user, (*cell, nickname.clone()))),
                );
            }
            Change::Marker | Change::Replaced | Change::Reply => {}
        }
        None
    }
}
