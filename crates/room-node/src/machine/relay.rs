//! A room hosted by another node, as this node sees it: the local sessions'
//! commands go to the host, the host's events come to them. The relay checks
//! the order of the host's events itself (whatever the bus does), keeps its
//! members' view in step with the host's, and notices when the host changes.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use room_core::{Audience, Command, ErrorCode, MapDoc, RoomId, SessionId, UserId};
use room_ports::{NodeId, SessionAt};

use super::sequence::{Sequence, SequenceCheck};
use super::{Closing, EnterAnswer, REPLACED_REMEMBERED, SeatAsk, Shadow};
use crate::contract::{Change, HostEvent, NodeCommand, NodeMessage};
use crate::ordered::{IdMap, IdSet};

/// BUILDs of one session the relay waits for at most (the host admits fewer).
const BUILDS_WAITED: usize = 8;

/// Commands of this node's sessions a relay holds while the room moves
/// (its host handed it over). Past it a command is refused with 76503.
const HELD: usize = 1024;

/// How often a relay asks who hosts the room while it moves.
const MOVING_CHECK: Duration = Duration::from_millis(50);

const UNREACHABLE: &str = "the room's host cannot be reached; try again";

/// What a relay is told.
#[derive(Debug)]
pub(crate) enum RelayInput {
    /// A local session asks to enter.
    Enter {
        session: SessionId,
        user: UserId,
        nickname: String,
        /// What it asks of resume: the host gives seats and answers resumes.
        seat: SeatAsk,
    },
    /// A local session's socket went without LEAVE: the host holds its seat, if any.
    Away { session: SessionId },
    /// A local session's SYNC, MOVE or LEAVE.
    Command(Command),
    /// A local session's BUILD (the host checks it).
    Build {
        session: SessionId,
        doc: MapDoc,
        /// Its `"ref"`, echoed in its answer.
        reference: Option<String>,
    },
    /// An event of the room, as the bus delivered it.
    Event(HostEvent),
    /// The bus says events of the room may have been lost.
    Gap,
    /// The host refused a forwarded ENTER, or no longer knows the session.
    EnterRefused {
        session: SessionId,
        code: ErrorCode,
        message: String,
    },
    /// A host asks which of this node's sessions are in the room.
    AskMembers { host: NodeId },
    /// Another node's command, sent here as if this node hosted the room.
    Remote { from: SessionAt, command: NodeCommand },
    /// A command this relay sent reached a node that does not host the room.
    Bounced {
        node: NodeId,
        session: SessionId,
        command: NodeCommand,
    },
    /// The host handed the room over.
    HandedOver,
    /// A command held while the room moved, carried from an earlier phase here.
    Held(HeldCommand),
    /// Who holds the room's lease now (`None`: nobody).
    Holder(Option<(NodeId, u64)>),
    /// A message for the host could not be sent for `session`.
    Unsent { session: SessionId },
    /// `session` stopped waiting for the answer to its ENTER.
    Abandoned { session: SessionId },
    /// The host gave the forwarded BUILD `ticket` its answer: `refused`,
    /// or the SYNC of its map (sent to the room).
    BuildDone {
        ticket: u64,
        refused: Option<(ErrorCode, String)>,
    },
}

/// What a relay asks its driver to do, in order.
#[derive(Debug, PartialEq)]
pub(crate) enum RelayEffect {
    /// Answer the ENTER of a local session.
    Answer { session: SessionId, answer: EnterAnswer },
    /// From now on `session`'s socket gets the room's events.
    Attach { session: SessionId },
    /// An event of the host for the attached sockets it reaches.
    Deliver {
        audience: Audience,
        frame: String,
        mover: Option<UserId>,
        /// Its `"seq"` for sockets that opted into resume.
        number: Option<u64>,
        /// Frames for the same one socket right after it (a SEAT, a replay).
        then: Vec<String>,
        /// The builder and `"ref"` of the BUILD this room-wide SYNC answers.
        reply: Option<(SessionId, String)>,
    },
    /// An ERROR for one local socket; `reference`: the `"ref"` of the BUILD it answers.
    Error {
        session: SessionId,
        code: ErrorCode,
        message: String,
        reference: Option<String>,
    },
    /// Deliver `frame` (if any) to `session`'s socket, then close it.
    Close {
        session: SessionId,
        frame: Option<String>,
        closing: Closing,
    },
    /// Send `message` to `node`; when it cannot be sent, tell the relay
    /// `Unsent` for `session`.
    ToNode {
        node: NodeId,
        message: NodeMessage,
        session: Option<SessionId>,
    },
    /// Ask the hosting registry who holds the room.
    AskHolder,
}

/// How a relay ended.
#[derive(Debug)]
pub(crate) enum RelayEnd {
    /// Nobody here needs the room any more.
    Done,
    /// The host is gone (or this node holds the lease): these local sessions
    /// carry on under the next host, which may start from what they saw.
    Moved {
        members: Vec<(SessionId, UserId, String)>,
        shadow: Shadow,
        /// Resumes not answered yet: the next host answers them.
        resuming: Vec<Resuming>,
        /// Commands held while the room moved, for the next host, in order.
        held: Vec<HeldCommand>,
    },
}

/// A local session's resume waiting for its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resuming {
    pub session: SessionId,
    pub user: UserId,
    pub nickname: String,
    pub seat: u64,
    pub seq: u64,
}

/// A local session's command, held while the room moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeldCommand {
    pub session: SessionId,
    pub user: UserId,
    pub nickname: String,
    pub command: NodeCommand,
}

#[derive(Debug)]
struct Member {
    user: UserId,
    nickname: String,
    /// Its socket opted into resume.
    resume: bool,
    /// `Some(deadline)` while the host has not answered its ENTER.
    entering: Option<Instant>,
    /// The seat and number its entering socket resumes from (PROTOCOL.md §9).
    resuming: Option<(u64, u64)>,
}

/// The relay of one room on this node.
#[derive(Debug)]
pub(crate) struct Relay {
    room: RoomId,
    node: NodeId,
    host: NodeId,
    epoch: u64,
    forward_timeout: Duration,
    check_every: Duration,
    next_check: Instant,
    /// Every local session in (or entering) the room.
    members: IdMap<SessionId, Member>,
    /// Where the host's event numbers stand here.
    order: Sequence,
    /// Members that missed events and have had no fresh SYNC since: asked
    /// for again at every check until each has one (a SYNC can be lost too).
    stale: IdSet<SessionId>,
    /// Where everyone stands, as the relayed events say.
    shadow: Shadow,
    /// Local sessions replaced by a newer one of their user.
    replaced: IdMap<SessionId, (UserId, String)>,
    /// Forwarded BUILDs the host has not answered yet: ticket -> session, deadline.
    /// Forwarded BUILDs by ticket: who sent it, until when it waits, its `"ref"`.
    builds: IdMap<u64, (SessionId, Instant, Option<String>)>,
    next_ticket: u64,
    build_timeout: Duration,
    effects: VecDeque<RelayEffect>,
    ended: Option<RelayEnd>,
    /// While the room moves (its host handed it over, or a command came
    /// back unapplied): until when the relay looks for the next host before
    /// ending, so that the room's next phase here finds it.
    moving: Option<Instant>,
    /// Commands held while the room moves, sent to the next host in order.
    held: VecDeque<HeldCommand>,
    /// When the room started moving and until when it may: kept while the
    /// same holder keeps bouncing (a node holding the lease that has not
    /// loaded the room yet), so retries end at the first deadline.
    moving_since: Option<(Instant, Instant)>,
}

/// What a relay needs to start.
pub(crate) struct RelaySetup {
    pub room: RoomId,
    pub node: NodeId,
    pub host: NodeId,
    pub epoch: u64,
    pub forward_timeout: Duration,
    /// How long a forwarded BUILD may wait for the host's answer.
    pub build_timeout: Duration,
    /// How often the host is checked and told this node's members.
    pub check_every: Duration,
}

impl Relay {
    /// Start relaying to `setup.host`; `carried` sessions (from an earlier
    /// phase of the room here) are entered on the host again.
    pub(crate) fn new(
        setup: RelaySetup,
        carried: Vec<(SessionId, UserId, String, bool)>,
        now: Instant,
    ) -> Relay {
        let mut relay = Relay {
            room: setup.room,
            node: setup.node,
            host: setup.host,
            epoch: setup.epoch,
            forward_timeout: setup.forward_timeout,
            check_every: setup.check_every,
            next_check: now + setup.check_every,
            members: IdMap::default(),
            order: Sequence::default(),
            stale: IdSet::default(),
            shadow: Shadow::default(),
            replaced: IdMap::default(),
            builds: IdMap::default(),
            next_ticket: 0,
            build_timeout: setup.build_timeout,
            effects: VecDeque::new(),
            ended: None,
            moving: None,
            held: VecDeque::new(),
            moving_since: None,
        };
        for (session, user, nickname, resume) in carried {
            relay.send_command(session, user, &nickname, NodeCommand::Enter { resume });
            relay.members.insert(
                session,
                Member {
                    user,
                    nickname,
                    resume,
                    entering: None,
                    resuming: None,
                },
            );
            relay.effects.push_back(RelayEffect::Attach { session });
        }
        relay
    }

    /// The next effect to carry out.
    pub(crate) fn poll_effect(&mut self) -> Option<RelayEffect> {
        self.effects.pop_front()
    }

    /// When `on_timeout` is due.
    pub(crate) fn poll_timeout(&self) -> Instant {
        self.next_check
    }

    /// How the relay ended, once it has.
    pub(crate) fn take_end(&mut self) -> Option<RelayEnd> {
        self.ended.take()
    }

    /// Whether no local session needs the room (entered or entering, or a
    /// command of it held for the next host). Not once the relay has ended:
    /// a relay that moved has handed its members to the room's next phase
    /// (they are in its end, no longer in `members`), and finishing it then
    /// would drop them with their sockets open in a room nobody serves.
    pub(crate) fn is_idle(&self) -> bool {
        self.ended.is_none() && self.members.is_empty() && self.held.is_empty()
    }

    /// Nobody here needs the room: tell the host, which forgets whatever it
    /// still has of this node (a LEAVE lost on the way), and end.
    pub(crate) fn finish(&mut self) {
        self.send_members_to(self.host.clone());
        self.ended = Some(RelayEnd::Done);
    }

    /// The periodic check: who hosts the room, ENTERs not answered in time,
    /// the member list for the host, SYNCs still owed.
    pub(crate) fn on_timeout(&mut self, now: Instant) {
        if now < self.next_check {
            return;
        }
        if let Some(deadline) = self.moving {
            if now >= deadline {
                // No next host found in time: the room's next phase here
                // takes the lease itself or finds its holder, with what is held.
                tracing::info!(room = %self.room, held = self.held.len(), "no next host in time; trying the lease");
                return self.moved();
            }
            self.next_check = now + MOVING_CHECK.min(self.check_every);
            self.effects.push_back(RelayEffect::AskHolder);
            return;
        }
        self.next_check = now + self.check_every;
        self.effects.push_back(RelayEffect::AskHolder);
        self.refuse_late_enters(now);
        self.refuse_late_builds(now);
        self.send_members_to(self.host.clone());
        let members = &self.members;
        self.stale
            .retain(|session| members.get(session).is_some_and(|m| m.entering.is_none()));
        if !self.stale.is_empty() {
            self.ask_resync();
        }
    }

    pub(crate) fn handle(&mut self, input: RelayInput, now: Instant) {
        match input {
            RelayInput::Enter {
                session,
                user,
                nickname,
                seat,
            } => self.enter(session, user, nickname, seat, now),
            RelayInput::Away { session } => self.let_go(session, NodeCommand::Away),
            RelayInput::Command(command) => match command {
                Command::Sync { session } => self.forward(session, NodeCommand::Sync),
                Command::Move { session, direction } => {
                    self.forward(session, NodeCommand::Move { direction })
                }
                // Also while entering: the host may have entered it already.
                Command::Leave { session } => self.let_go(session, NodeCommand::Leave),
                Command::Enter { .. } => {}
            },
            RelayInput::Build {
                session,
                doc,
                reference,
            } => self.forward_build(session, doc, reference, now),
            RelayInput::BuildDone { ticket, refused } => self.build_done(ticket, refused),
            RelayInput::Event(event) => self.on_event(event),
            RelayInput::Gap => {
                self.all_stale();
                self.ask_resync();
            }
            RelayInput::EnterRefused {
                session,
                code,
                message,
            } => self.refused(session, code, message),
            RelayInput::AskMembers { host } => self.send_members_to(host),
            RelayInput::Remote { from, command } => {
                // Relays apply nothing; the sender's node holds it and finds the host.
                self.effects.push_back(RelayEffect::ToNode {
                    node: from.node,
                    message: NodeMessage::Bounced {
                        room: self.room,
                        node: self.node.clone(),
                        session: from.session,
                        command,
                    },
                    session: None,
                });
            }
            RelayInput::Bounced {
                node,
                session,
                command,
            } => self.bounced(&node, session, command, now),
            RelayInput::HandedOver => self.start_moving(now),
            RelayInput::Held(held) => match held.command {
                NodeCommand::Build { map, reference, .. } => {
                    self.forward_build(held.session, map, reference, now)
                }
                command => self.send_command(held.session, held.user, &held.nickname, command),
            },
            RelayInput::Holder(holder) => self.on_holder(holder, now),
            RelayInput::Unsent { session } => self.unsent(session),
            RelayInput::Abandoned { session } => {
                if let Some(member) = self.members.remove(&session) {
                    // It is not in the room as far as its socket knows: the host must forget it.
                    self.send_command(session, member.user, &member.nickname, NodeCommand::Leave);
                }
            }
        }
    }

    fn enter(&mut self, session: SessionId, user: UserId, nickname: String, seat: SeatAsk, now: Instant) {
        let resume = seat != SeatAsk::None;
        let command = match seat {
            SeatAsk::Resume { seat, seq } => NodeCommand::Resume { seat, seq },
            _ => NodeCommand::Enter { resume },
        };
        if let Some(member) = self.members.get(&session) {
            // Entered already: the host answers SYNC (and SEAT) again. (A
            // resume comes on a new session, never on a member's.)
            if member.entering.is_none() && matches!(command, NodeCommand::Enter { .. }) {
                self.forward(session, command);
                self.answer(session, EnterAnswer::Entered);
            }
            return;
        }
        let resuming = match command {
            NodeCommand::Resume { seat, seq } => Some((seat, seq)),
            _ => None,
        };
        self.send_command(session, user, &nickname, command);
        self.members.insert(
            session,
            Member {
                user,
                nickname,
                resume,
                entering: Some(now + self.forward_timeout),
                resuming,
            },
        );
    }

    /// The host handed the room over, or a command came back unapplied:
    /// hold commands and look for the next host (at once, then often).
    fn start_moving(&mut self, now: Instant) {
        if self.moving.is_none() {
            tracing::debug!(room = %self.room, host = %self.host, "the room is moving; holding commands");
            let (_, until) = *self.moving_since.get_or_insert((now, now + self.forward_timeout));
            self.moving = Some(until);
            self.next_check = now + MOVING_CHECK.min(self.check_every);
            self.effects.push_back(RelayEffect::AskHolder);
        }
    }

    /// `command` of `session` reached `node`, which does not host the room.
    fn bounced(&mut self, node: &NodeId, session: SessionId, command: NodeCommand, now: Instant) {
        let from_host = *node == self.host;
        if from_host {
            self.start_moving(now);
        }
        match command {
            // Sent again to the next host from what the member asked.
            NodeCommand::Enter { .. } | NodeCommand::Resume { .. } if from_host => {}
            // Sent to an earlier host: this one gets it now (or holds it, if it moves too).
            NodeCommand::Enter { .. } | NodeCommand::Resume { .. } => {
                if let Some(member) = self.members.get(&session)
                    && member.entering.is_some()
                {
                    let (user, nickname) = (member.user, member.nickname.clone());
                    self.send_command(session, user, &nickname, command);
                }
            }
            command => {
                let (user, nickname) = match (self.members.get(&session), self.replaced.get(&session)) {
                    (Some(member), _) => (member.user, member.nickname.clone()),
                    (None, Some((user, nickname))) => (*user, nickname.clone()),
                    // Gone since (a LEAVE or away of it): the host learns it from the member lists.
                    (None, None) => return,
                };
                if from_host {
                    self.hold(HeldCommand {
                        session,
                        user,
                        nickname,
                        command,
                    });
                } else {
                    self.send_command(session, user, &nickname, command);
                }
            }
        }
    }

    fn hold(&mut self, held: HeldCommand) {
        if self.held.len() >= HELD {
            tracing::warn!(room = %self.room, session = %held.session, "too many commands held while the room moves; refused one");
            let reference = match held.command {
                NodeCommand::Build {
                    ticket, reference, ..
                } => {
                    self.builds.remove(&ticket);
                    reference
                }
                _ => None,
            };
            return self.effects.push_back(RelayEffect::Error {
                session: held.session,
                code: ErrorCode::Unavailable,
                message: "the room is moving and too much is waiting; try again".to_owned(),
                reference,
            });
        }
        self.held.push_back(held);
    }

    /// `session` is no longer the room's here: the host is told `command`
    /// (LEAVE, or away: it holds the seat, if any).
    fn let_go(&mut self, session: SessionId, command: NodeCommand) {
        if let Some(member) = self.members.remove(&session) {
            self.send_command(session, member.user, &member.nickname, command);
        }
        self.stale.remove(&session);
    }

    fn answer(&mut self, session: SessionId, answer: EnterAnswer) {
        self.effects.push_back(RelayEffect::Answer { session, answer });
    }

    fn forward(&mut self, session: SessionId, msg: NodeCommand) {
        let (user, nickname) = match (self.members.get(&session), self.replaced.get(&session)) {
            (Some(member), _) if member.entering.is_none() => (member.user, member.nickname.clone()),
            // Sent just before the socket was replaced: the host answers the user's newer session.
            (None, Some((user, nickname))) if matches!(msg, NodeCommand::Build { .. }) => {
                (*user, nickname.clone())
            }
            _ => return,
        };
        self.send_command(session, user, &nickname, msg);
    }

    fn send_command(&mut self, session: SessionId, user: UserId, nickname: &str, command: NodeCommand) {
        if self.moving.is_some() {
            // ENTERs and resumes go to the next host from what the member asked.
            if !matches!(command, NodeCommand::Enter { .. } | NodeCommand::Resume { .. }) {
                self.hold(HeldCommand {
                    session,
                    user,
                    nickname: nickname.to_owned(),
                    command,
                });
            }
            return;
        }
        let message = NodeMessage::Command {
            room: self.room,
            from: SessionAt {
                node: self.node.clone(),
                session,
            },
            user,
            nickname: nickname.to_owned(),
            command,
        };
        self.effects.push_back(RelayEffect::ToNode {
            node: self.host.clone(),
            message,
            session: Some(session),
        });
    }

    /// Forward a BUILD under a ticket of its own, so that it is answered
    /// within `build_timeout` whatever happens to the host.
    fn forward_build(&mut self, session: SessionId, doc: MapDoc, reference: Option<String>, now: Instant) {
        let waiting = self.builds.values().filter(|(s, _, _)| *s == session).count();
        if waiting >= BUILDS_WAITED {
            return self.effects.push_back(RelayEffect::Error {
                session,
                code: ErrorCode::RateLimited,
                message: "too many BUILDs in flight; wait for their answers".to_owned(),
                reference,
            });
        }
        self.next_ticket += 1;
        let ticket = self.next_ticket;
        let known = self.members.contains_key(&session) || self.replaced.contains_key(&session);
        let build = NodeCommand::Build {
            map: doc,
            ticket,
            reference: reference.clone(),
        };
        self.forward(session, build);
        if known {
            self.builds
                .insert(ticket, (session, now + self.build_timeout, reference));
        }
    }

    fn build_done(&mut self, ticket: u64, refused: Option<(ErrorCode, String)>) {
        // An answer after its deadline was answered already (76503): not twice.
        let Some((sent_by, _, reference)) = self.builds.remove(&ticket) else {
            return;
        };
        // Sent just before its socket was replaced: the user's newer socket is answered.
        let session = match self.replaced.get(&sent_by) {
            Some((user, _)) if !self.members.contains_key(&sent_by) => self
                .members
                .iter()
                .find(|(_, m)| m.user == *user)
                .map_or(sent_by, |(session, _)| *session),
            _ => sent_by,
        };
        if let Some((code, message)) = refused {
            self.effects.push_back(RelayEffect::Error {
                session,
                code,
                message,
                reference,
            });
        }
    }

    /// BUILDs the host did not answer in time get 76503: the host may have
    /// stored the map all the same, and a SYNC shows it if it did.
    fn refuse_late_builds(&mut self, now: Instant) {
        let mut late: Vec<u64> = self
            .builds
            .iter()
            .filter(|(_, (_, deadline, _))| *deadline <= now)
            .map(|(ticket, _)| *ticket)
            .collect();
        late.sort_unstable();
        for ticket in late {
            let Some((session, _, reference)) = self.builds.remove(&ticket) else {
                continue;
            };
            tracing::info!(room = %self.room, %session, host = %self.host, "the host did not answer a BUILD in time");
            self.answer_build_unknown(
                session,
                reference,
                "the room's host did not answer the BUILD in time",
            );
        }
    }

    fn answer_build_unknown(&mut self, session: SessionId, reference: Option<String>, why: &str) {
        self.effects.push_back(RelayEffect::Error {
            session,
            code: ErrorCode::Unavailable,
            message: format!("{why}; it may or may not be stored: SYNC shows the room's map; try again"),
            reference,
        });
    }

    fn unsent(&mut self, session: SessionId) {
        // What could not be sent will not be answered.
        self.builds.retain(|_, (of, _, _)| *of != session);
        match self.members.get(&session) {
            Some(member) if member.entering.is_some() => {
                self.members.remove(&session);
                self.answer(
                    session,
                    EnterAnswer::Refused(ErrorCode::Unavailable, UNREACHABLE.to_owned()),
                );
            }
            Some(_) => self.effects.push_back(RelayEffect::Error {
                session,
                code: ErrorCode::Unavailable,
                message: UNREACHABLE.to_owned(),
                reference: None,
            }),
            None => {}
        }
    }

    fn on_event(&mut self, event: HostEvent) {
        let checked = self.order.check(event.epoch, event.seq);
        if checked != SequenceCheck::Stale && self.moving.is_none() {
            // The host serves the room: a later move starts its patience afresh.
            self.moving_since = None;
        }
        match checked {
            // Already delivered (a duplicate), or older than what was (reordered): the gap it left was seen.
            SequenceCheck::Stale => return,
            SequenceCheck::Deliver if event.change != Change::Marker => {}
            // Events were lost, or a new host numbers them: fresh SYNCs repair what the clients show.
            SequenceCheck::Deliver | SequenceCheck::Gap { .. } => {
                tracing::debug!(room = %self.room, epoch = event.epoch, seq = event.seq, "events of the room were lost");
                self.all_stale();
                self.ask_resync();
            }
        }
        if event.change == Change::Marker {
            // The host's marker of its last event number carries nothing to deliver.
            return;
        }
        if event.epoch > self.epoch {
            self.epoch = event.epoch;
        }
        let gone = self.shadow.follow(event.seq, event.number, &event.change);
        if let Some(number) = event.number
            && number > 0
            && !matches!(event.audience, Audience::Session(_))
        {
            self.shadow.keep(number, event.audience, &event.frame);
        }
        let mover = match &event.change {
            Change::Moved { user, .. } => Some(*user),
            _ => None,
        };
        match event.audience {
            Audience::Session(session) => {
                if matches!(event.change, Change::Synced { .. }) {
                    // What was lost before this SYNC no longer matters to its socket.
                    self.stale.remove(&session);
                }
                self.for_one(session, event.frame, &event.change, event.number, event.then);
            }
            audience => self.effects.push_back(RelayEffect::Deliver {
                audience,
                frame: event.frame,
                mover,
                number: event.number,
                then: Vec::new(),
                reply: event.reply,
            }),
        }
        if let Some(user) = gone {
            self.reenter_evicted(user);
        }
    }

    /// An event for one session: the answer to its ENTER, a reply, or the
    /// host replacing it.
    fn for_one(
        &mut self,
        session: SessionId,
        frame: String,
        change: &Change,
        number: Option<u64>,
        then: Vec<String>,
    ) {
        let Some(member) = self.members.get_mut(&session) else {
            return;
        };
        member.resuming = None;
        if member.entering.take().is_some() {
            self.answer(session, EnterAnswer::Entered);
            self.effects.push_back(RelayEffect::Attach { session });
        }
        if *change == Change::Replaced {
            let Some(gone) = self.members.remove(&session) else {
                return;
            };
            self.stale.remove(&session);
            if self.replaced.len() >= REPLACED_REMEMBERED {
                self.replaced.clear();
            }
            self.replaced.insert(session, (gone.user, gone.nickname));
            self.effects.push_back(RelayEffect::Close {
                session,
                frame: Some(frame),
                closing: Closing::Replaced,
            });
            return;
        }
        self.effects.push_back(RelayEffect::Deliver {
            audience: Audience::Session(session),
            frame,
            mover: None,
            number,
            then,
            reply: None,
        });
    }

    /// The host announced `user` as gone while their socket here is alive
    /// (it wrongly thought this node dead): put them back.
    fn reenter_evicted(&mut self, user: UserId) {
        let evicted: Vec<(SessionId, String, bool)> = self
            .members
            .iter()
            .filter(|(_, m)| m.user == user && m.entering.is_none())
            .map(|(session, m)| (*session, m.nickname.clone(), m.resume))
            .collect();
        for (session, nickname, resume) in evicted {
            self.send_command(session, user, &nickname, NodeCommand::Enter { resume });
        }
    }

    fn refused(&mut self, session: SessionId, code: ErrorCode, message: String) {
        let Some(member) = self.members.remove(&session) else {
            return;
        };
        self.stale.remove(&session);
        if member.entering.is_some() {
            self.answer(session, EnterAnswer::Refused(code, message));
        } else {
            // The host no longer knows this session (it moved): the client must enter again.
            self.effects.push_back(RelayEffect::Close {
                session,
                frame: Some(room_core::ServerMsg::error(code, message).encode()),
                closing: Closing::TryAgainLater,
            });
        }
    }

    /// Every entered member may have missed events.
    fn all_stale(&mut self) {
        self.stale = self
            .members
            .iter()
            .filter(|(_, m)| m.entering.is_none())
            .map(|(session, _)| *session)
            .collect();
    }

    fn ask_resync(&mut self) {
        tracing::debug!(room = %self.room, host = %self.host, "asking for fresh SYNCs");
        self.effects.push_back(RelayEffect::ToNode {
            node: self.host.clone(),
            message: NodeMessage::Resync {
                room: self.room,
                node: self.node.clone(),
            },
            session: None,
        });
    }

    fn on_holder(&mut self, holder: Option<(NodeId, u64)>, now: Instant) {
        match holder {
            // Nobody hosts it (the host died or handed over), or this node
            // does: the room moves on with this node's sessions.
            None => self.moved(),
            Some((node, _)) if node == self.node => self.moved(),
            // While moving, the same holder too, after a while: it bounced a
            // command while it was taking the room (a restarted node, say).
            Some((node, epoch))
                if node != self.host
                    || epoch != self.epoch
                    || self
                        .moving_since
                        .is_some_and(|(since, _)| now >= since + MOVING_CHECK) =>
            {
                if node != self.host || epoch != self.epoch {
                    self.moving_since = None;
                } else if let Some((since, _)) = &mut self.moving_since {
                    // The next bounce waits as long again before it is retried.
                    *since = now;
                }
                tracing::info!(room = %self.room, %node, epoch, "room has a new host");
                self.host = node;
                self.epoch = epoch;
                if self.moving.take().is_some() {
                    // The wait for an answer starts again with the new host.
                    for member in self.members.values_mut() {
                        if member.entering.is_some() {
                            member.entering = Some(now + self.forward_timeout);
                        }
                    }
                }
                // The new host may have an older picture: enter everyone again (it answers SYNC).
                let mut everyone: Vec<(SessionId, UserId, String, NodeCommand)> = self
                    .members
                    .iter()
                    .map(|(session, m)| {
                        let ask = match m.resuming {
                            Some((seat, seq)) => NodeCommand::Resume { seat, seq },
                            None => NodeCommand::Enter { resume: m.resume },
                        };
                        (*session, m.user, m.nickname.clone(), ask)
                    })
                    .collect();
                everyone.sort_unstable_by_key(|(session, _, _, _)| *session);
                for (session, user, nickname, ask) in everyone {
                    self.send_command(session, user, &nickname, ask);
                }
                // Then what was held, in the order it was sent.
                for held in std::mem::take(&mut self.held) {
                    self.send_command(held.session, held.user, &held.nickname, held.command);
                }
            }
            Some(_) => {}
        }
    }

    fn moved(&mut self) {
        let held: Vec<HeldCommand> = std::mem::take(&mut self.held).into();
        // Held BUILDs never reached a host: the next one answers them.
        for command in &held {
            if let NodeCommand::Build { ticket, .. } = command.command {
                self.builds.remove(&ticket);
            }
        }
        let mut waiting: Vec<(u64, SessionId, Option<String>)> =
            self.builds.drain().map(|(t, (s, _, r))| (t, s, r)).collect();
        waiting.sort_unstable();
        for (_, session, reference) in waiting {
            self.answer_build_unknown(session, reference, "the room is moving to another host");
        }
        let mut members = Vec::with_capacity(self.members.len());
        let mut resuming = Vec::new();
        for (session, member) in self.members.drain() {
            if let (Some(_), Some((seat, seq))) = (member.entering, member.resuming) {
                // Not answered yet: the next host answers it.
                resuming.push(Resuming {
                    session,
                    user: member.user,
                    nickname: member.nickname,
                    seat,
                    seq,
                });
                continue;
            }
            if member.entering.is_some() {
                // Answered now; the next host enters them with the others.
                self.effects.push_back(RelayEffect::Answer {
                    session,
                    answer: EnterAnswer::Entered,
                });
                self.effects.push_back(RelayEffect::Attach { session });
            }
            members.push((session, member.user, member.nickname));
        }
        members.sort_unstable_by_key(|(session, _, _)| *session);
        resuming.sort_unstable_by_key(|r| r.session);
        self.moving = None;
        self.moving_since = None;
        self.ended = Some(RelayEnd::Moved {
            members,
            shadow: std::mem::take(&mut self.shadow),
            resuming,
            held,
        });
    }

    /// ENTERs the host did not answer in time are refused (76503); the host
    /// is told to forget them, in case only its answer was lost.
    fn refuse_late_enters(&mut self, now: Instant) {
        let mut late: Vec<SessionId> = self
            .members
            .iter()
            .filter(|(_, m)| m.entering.is_some_and(|deadline| deadline <= now))
            .map(|(session, _)| *session)
            .collect();
        late.sort_unstable();
        for session in late {
            let Some(member) = self.members.remove(&session) else {
                continue;
            };
            tracing::info!(room = %self.room, %session, host = %self.host, "the host did not answer an ENTER in time");
            self.answer(
                session,
                EnterAnswer::Refused(
                    ErrorCode::Unavailable,
                    "the room's host did not answer in time; try again".to_owned(),
                ),
            );
            self.send_command(session, member.user, &member.nickname, NodeCommand::Leave);
        }
    }

    /// Tell `host` (the one this relay knows, or one that asked) which sessions this node has in the room.
    fn send_members_to(&mut self, host: NodeId) {
        let mut entered = Vec::new();
        let mut entering = Vec::new();
        for (session, member) in &self.members {
            match member.entering {
                None => entered.push(*session),
                Some(_) => entering.push(*session),
            }
        }
        entered.sort_unstable();
        entering.sort_unstable();
        self.effects.push_back(RelayEffect::ToNode {
            node: host,
            message: NodeMessage::Members {
                room: self.room,
                node: self.node.clone(),
                entered,
                entering,
            },
            session: None,
        });
    }
}
