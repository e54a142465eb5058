//! What a relay learns of a room from its host's events.

use room_core::{Cell, ServerMsg, UserId};

use crate::ordered::IdMap;

/// The newest positions this node saw relayed, more recent than a snapshot
/// written behind by a host that died: a new host prefers them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Shadow {
    pub seq: u64,
    /// Who was in the room, where, and under which nickname.
    pub users: IdMap<UserId, (Cell, String)>,
}

impl Shadow {
    /// Follow event `seq` of the room; returns the user it announced as gone.
    pub(crate) fn follow(&mut self, seq: u64, msg: &ServerMsg) -> Option<UserId> {
        self.seq = self.seq.max(seq);
        match msg {
            ServerMsg::Enter { user, nickname, cell } => {
                self.users.insert(*user, (*cell, nickname.clone()));
            }
            ServerMsg::Move { user, cell, .. } => {
                if let Some(seen) = self.users.get_mut(user) {
                    seen.0 = *cell;
                }
            }
            ServerMsg::Leave { user } => {
                self.users.remove(user);
                return Some(*user);
            }
            ServerMsg::Sync { room } => {
                self.users.clear();
                self.users
                    .extend(room.users.iter().map(|u| (u.user, (u.cell, u.nickname.clone()))));
            }
            _ => {}
        }
        None
    }
}
