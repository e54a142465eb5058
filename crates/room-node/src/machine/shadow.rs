//! What a relay learns of a room from its host's events.

use room_core::{Cell, UserId};

use crate::contract::Change;
use crate::ordered::IdMap;

/// The newest positions this node saw relayed, more recent than a snapshot
/// written behind by a host that died: a new host prefers them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Shadow {
    pub seq: u64,
    /// The highest room event number (PROTOCOL.md §9) relayed.
    pub number: u64,
    /// Who was in the room, where, and under which nickname.
    pub users: IdMap<UserId, (Cell, String)>,
}

impl Shadow {
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
