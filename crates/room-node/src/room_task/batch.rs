//! Room-level batching for batch=1 sockets (DESIGN.md "Fast path"): the room
//! logs the messages of a tick once, and at the end of the tick queues ONE
//! joined frame per batching recipient. Recipients who got exactly the
//! room-wide messages of the tick share the same `Bytes`; a recipient named by
//! a message of its own (a SYNC, an ERROR, an `AllExcept`) or who entered
//! mid-tick gets its own join. Non-batched sockets never pass through here.
//!
//! Order per recipient is the log's order, and a recipient is flushed and
//! forgotten (`remove`) before it stops being an occupant, so it gets exactly
//! what an unbatched socket would have got, in the same order.
//!
//! A socket whose queue is full is not pushed to: its messages wait in a
//! backlog where only the latest MOVE per user, and nothing before the latest
//! SYNC, is kept (the batched form of the outbox's coalescing); a backlog that
//! still outgrows the queue's capacity or byte budget closes the socket with 1013.

use std::collections::VecDeque;

use crate::ordered::{IdMap, IdSet};
use std::sync::Arc;

use bytes::Bytes;
use room_core::{Audience, SessionId};
use tokio::time::{Duration, Instant};

use crate::fanout::{self, Encoded};
use crate::metrics_names as m;
use crate::outbox::{Frame, Kind, Outbox, Pushed};

/// One message of the tick, with what counting it needs.
#[derive(Clone)]
struct Logged {
    audience: Audience,
    frame: Frame,
    /// The same with its `"seq"`, for sockets that opted into resume.
    numbered: Option<Frame>,
    code: &'static str,
    error_code: Option<&'static str>,
}

impl Logged {
    /// The frame a socket gets: numbered if it opted into resume.
    fn frame_for(&self, numbered: bool) -> &Frame {
        match &self.numbered {
            Some(frame) if numbered => frame,
            _ => &self.frame,
        }
    }

    /// The message as such a socket's backlog holds it.
    fn as_for(&self, numbered: bool) -> Logged {
        Logged {
            frame: self.frame_for(numbered).clone(),
            numbered: None,
            ..self.clone()
        }
    }

    fn reaches(&self, session: SessionId) -> bool {
        match self.audience {
            Audience::All => true,
            Audience::AllExcept(except) => except != session,
            Audience::Session(only) => only == session,
        }
    }
}

struct Recipient {
    outbox: Arc<Outbox>,
    /// Index in the log of the first message this recipient gets (it entered mid-tick).
    since: usize,
    /// Named by a message of this tick (Session or AllExcept): gets its own join.
    own: bool,
    /// Messages held back because the socket's queue was full.
    backlog: VecDeque<Logged>,
}

/// The batching recipients of a room and the messages of the current tick.
pub(super) struct Batch {
    tick: Duration,
    last_flush: Instant,
    log: Vec<Logged>,
    recipients: IdMap<SessionId, Recipient>,
    /// Recipients with a non-empty backlog.
    backlogged: usize,
}

impl Batch {
    pub(super) fn new(tick: Duration) -> Batch {
        Batch {
            tick,
            last_flush: Instant::now(),
            log: Vec::new(),
            recipients: IdMap::default(),
            backlogged: 0,
        }
    }

    /// Batching recipients in the room.
    pub(super) fn len(&self) -> usize {
        self.recipients.len()
    }

    pub(super) fn contains(&self, session: SessionId) -> bool {
        self.recipients.contains_key(&session)
    }

    /// `session` (a batch=1 socket) is an occupant from now on.
    pub(super) fn add(&mut self, session: SessionId, outbox: Arc<Outbox>) {
        let since = self.log.len();
        self.recipients.insert(
            session,
            Recipient {
                outbox,
                since,
                own: since > 0,
                backlog: VecDeque::new(),
            },
        );
    }

    /// Whether a flush has anything to do (the room's tick timer runs only then).
    pub(super) fn pending(&self) -> bool {
        !self.log.is_empty() || self.backlogged > 0
    }

    /// When the next flush is due.
    pub(super) fn deadline(&self) -> Instant {
        self.last_flush + self.tick
    }

    /// Log a message for the batching recipients it reaches. The caller has
    /// already sent it to the non-batched ones.
    pub(super) fn log(&mut self, audience: Audience, encoded: &Encoded, numbered: Option<&Encoded>) {
        if self.recipients.is_empty() {
            return;
        }
        match audience {
            Audience::All => {}
            Audience::AllExcept(named) | Audience::Session(named) => match self.recipients.get_mut(&named) {
                Some(recipient) => recipient.own = true,
                // A message for one session that is not batching: not ours.
                None if matches!(audience, Audience::Session(_)) => return,
                None => {}
            },
        }
        self.log.push(Logged {
            audience,
            frame: encoded.frame.clone(),
            numbered: numbered.map(|n| n.frame.clone()),
            code: encoded.code,
            error_code: encoded.error_code,
        });
    }

    /// End of a tick: queue one joined frame per recipient that has messages.
    pub(super) fn flush(&mut self) {
        self.last_flush = Instant::now();
        if !self.pending() {
            return;
        }
        let log = std::mem::take(&mut self.log);
        // Room-wide messages: what every recipient without messages of its own gets.
        let wide: Vec<&Logged> = log
            .iter()
            .filter(|l| !matches!(l.audience, Audience::Session(_)))
            .collect();
        // One join for the sockets that opted into resume, one for the others.
        let mut shared: [Option<Frame>; 2] = [None, None];
        let mut shared_sent = 0u64;
        let mut backlogged = 0;
        for (&session, recipient) in &mut self.recipients {
            let plain = !recipient.own && recipient.since == 0 && recipient.backlog.is_empty();
            if plain && !recipient.outbox.is_full() {
                if wide.is_empty() {
                    continue;
                }
                let numbered = recipient.outbox.is_numbered();
                let frame = shared[usize::from(numbered)]
                    .get_or_insert_with(|| joined(wide.iter().map(|l| l.frame_for(numbered))));
                match recipient.outbox.push(frame.clone()) {
                    Pushed::Queued | Pushed::Coalesced => shared_sent += 1,
                    Pushed::Dropped => metrics::counter!(m::DROPPED).increment(wide.len() as u64),
                }
                continue;
            }
            let numbered = recipient.outbox.is_numbered();
            let mine = log[recipient.since.min(log.len())..]
                .iter()
                .filter(|l| l.reaches(session))
                .map(|l| l.as_for(numbered));
            recipient.backlog.extend(mine);
            recipient.since = 0;
            recipient.own = false;
            send_backlog(recipient);
            if !recipient.backlog.is_empty() {
                backlogged += 1;
            }
        }
        self.backlogged = backlogged;
        for logged in &wide {
            fanout::count(logged.code, logged.error_code, shared_sent);
        }
    }

    /// Queue what `session` has pending now and forget it (it leaves, is
    /// replaced, or the room stops here).
    pub(super) fn remove(&mut self, session: SessionId) {
        let Some(mut recipient) = self.recipients.remove(&session) else {
            return;
        };
        if !recipient.backlog.is_empty() {
            self.backlogged = self.backlogged.saturating_sub(1);
        }
        let numbered = recipient.outbox.is_numbered();
        let mine = self.log[recipient.since.min(self.log.len())..]
            .iter()
            .filter(|l| l.reaches(session))
            .map(|l| l.as_for(numbered));
        recipient.backlog.extend(mine);
        send_backlog(&mut recipient);
    }

    /// Flush and forget every recipient.
    pub(super) fn flush_all(&mut self) {
        self.flush();
        self.recipients.clear();
        self.backlogged = 0;
    }
}

/// Queue `recipient`'s backlog as one frame, or keep it (compacted) while its queue is full.
fn send_backlog(recipient: &mut Recipient) {
    if recipient.backlog.is_empty() {
        return;
    }
    // The backlog is this socket's memory too: it counts against the same budget.
    let (budget, used) = (recipient.outbox.byte_budget(), recipient.outbox.bytes_used());
    let held = |backlog: &VecDeque<Logged>| backlog.iter().map(|l| l.frame.bytes.len()).sum::<usize>();
    let full = recipient.outbox.is_full();
    if full || used + held(&recipient.backlog) > budget {
        let before = recipient.backlog.len();
        compact(&mut recipient.backlog);
        let coalesced = before - recipient.backlog.len();
        if coalesced > 0 {
            metrics::counter!(m::COALESCED).increment(coalesced as u64);
        }
    }
    if full {
        if recipient.backlog.len() > recipient.outbox.capacity() || used + held(&recipient.backlog) > budget {
            metrics::counter!(m::DROPPED).increment(recipient.backlog.len() as u64);
            recipient.backlog.clear();
            recipient.outbox.close_too_slow();
        }
        return;
    }
    // The outbox decides the rest: it coalesces its own queue or closes with 1013.
    let frame = joined(recipient.backlog.iter().map(|l| &l.frame));
    match recipient.outbox.push(frame) {
        Pushed::Queued | Pushed::Coalesced => {
            for logged in &recipient.backlog {
                fanout::count(logged.code, logged.error_code, 1);
            }
        }
        Pushed::Dropped => metrics::counter!(m::DROPPED).increment(recipient.backlog.len() as u64),
    }
    recipient.backlog.clear();
}

/// Keep only what the client still needs once the whole backlog is delivered
/// (the batched form of the outbox's coalescing): the latest MOVE of each
/// user, and nothing of the room's state before its latest SYNC. Messages are
/// only removed, never reordered.
fn compact(backlog: &mut VecDeque<Logged>) {
    let last_state = backlog.iter().rposition(|l| l.frame.kind.is_state());
    let mut seen = IdSet::default();
    let keep: Vec<bool> = backlog
        .iter()
        .enumerate()
        .rev()
        .map(|(i, l)| {
            let before_state = last_state.is_some_and(|s| i < s);
            let superseded = (before_state && l.frame.kind.is_redundant_after_state())
                || l.frame.mover.is_some_and(|mover| !seen.insert(mover));
            !superseded
        })
        .collect();
    let mut index = keep.len();
    backlog.retain(|_| {
        index -= 1;
        keep[index]
    });
}

/// The frames' texts joined by newlines, as one frame the writer sends as is.
fn joined<'a>(frames: impl Iterator<Item = &'a Frame> + Clone) -> Frame {
    let kinds: Vec<Kind> = frames.clone().map(|f| f.kind).collect();
    let len: usize = frames.clone().map(|f| f.bytes.len() + 1).sum();
    let mut out = Vec::with_capacity(len);
    for (i, frame) in frames.enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(&frame.bytes);
    }
    Frame {
        bytes: Bytes::from(out),
        mover: None,
        joined: true,
        kind: Kind::joined(kinds),
    }
}
