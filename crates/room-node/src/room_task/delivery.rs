//! The sockets of this node that a room delivers to, hosted or relayed:
//! each event is encoded once and queued to every socket it reaches now, or
//! logged for the tick's one joined frame to the batch=1 sockets. Sockets
//! that opted into resume get the same events with their `"seq"`, encoded
//! once more per event (not per socket).

use std::sync::Arc;

use room_core::{Audience, SessionId};
use tokio::time::Instant;

use super::batch::Batch;
use crate::fanout::{self, Encoded, send_to};
use crate::ordered::{IdMap, IdSet};
use crate::outbox::Outbox;

pub(super) struct Delivery {
    outboxes: IdMap<SessionId, Arc<Outbox>>,
    /// The batch=1 sockets among `outboxes` and the messages of the current tick.
    batch: Batch,
    /// The sockets among `outboxes` that opted into resume.
    numbered: IdSet<SessionId>,
}

impl Delivery {
    pub(super) fn new(tick: std::time::Duration) -> Delivery {
        Delivery {
            outboxes: IdMap::default(),
            batch: Batch::new(tick),
            numbered: IdSet::default(),
        }
    }

    /// From now on `session`'s socket gets what reaches it.
    pub(super) fn attach(&mut self, session: SessionId, outbox: Arc<Outbox>) {
        if outbox.is_numbered() {
            self.numbered.insert(session);
        }
        if outbox.is_batched() {
            self.batch.add(session, outbox.clone());
        }
        self.outboxes.insert(session, outbox);
    }

    /// `session` stops getting the room's events: what its tick holds for it goes out first.
    pub(super) fn detach(&mut self, session: SessionId) -> Option<Arc<Outbox>> {
        self.batch.remove(session);
        self.numbered.remove(&session);
        self.outboxes.remove(&session)
    }

    pub(super) fn is_attached(&self, session: SessionId) -> bool {
        self.outboxes.contains_key(&session)
    }

    /// Queue `encoded` to the attached sockets `audience` reaches; those
    /// that opted into resume get it with `"seq":number` when it has one.
    /// An event for one socket is followed by `then` (frames encoded
    /// elsewhere: a SEAT, a replay), in order.
    pub(super) fn deliver(
        &mut self,
        audience: Audience,
        encoded: &Encoded,
        number: Option<u64>,
        then: &[String],
    ) {
        let numbered = match number {
            Some(number) if !self.numbered.is_empty() => Some(encoded.numbered(number)),
            _ => None,
        };
        let numbered = numbered.as_ref();
        match audience {
            Audience::Session(session) => {
                match numbered {
                    Some(numbered) if self.numbered.contains(&session) => self.send_one(session, numbered),
                    _ => self.send_one(session, encoded),
                }
                for line in then {
                    self.send_one(session, &Encoded::relayed(line.clone(), None));
                }
            }
            Audience::All | Audience::AllExcept(_) => {
                let except = match audience {
                    Audience::AllExcept(except) => Some(except),
                    _ => None,
                };
                // Sockets that are not batching get the frame now; counted once per event.
                let mut sent = 0;
                if self.outboxes.len() > self.batch.len() {
                    for (session, outbox) in &self.outboxes {
                        if Some(*session) == except || self.batch.contains(*session) {
                            continue;
                        }
                        let frame = match numbered {
                            Some(numbered) if outbox.is_numbered() => &numbered.frame,
                            _ => &encoded.frame,
                        };
                        if fanout::push(outbox, frame.clone()) {
                            sent += 1;
                        }
                    }
                }
                encoded.count(sent);
                self.batch.log(audience, encoded, numbered);
            }
        }
    }

    /// [`deliver`](Self::deliver), except that the session of `reply` (a
    /// BUILD's sender) gets a room-wide SYNC with the `"ref"` of its BUILD,
    /// in the same place among its frames (PROTOCOL.md §5).
    pub(super) fn deliver_answering(
        &mut self,
        audience: Audience,
        encoded: &Encoded,
        number: Option<u64>,
        then: &[String],
        reply: Option<&(SessionId, String)>,
    ) {
        let Some((builder, reference)) =
            reply.filter(|(builder, _)| matches!(audience, Audience::All) && self.is_attached(*builder))
        else {
            return self.deliver(audience, encoded, number, then);
        };
        self.deliver(Audience::AllExcept(*builder), encoded, number, then);
        let frame = match number {
            Some(number) if self.numbered.contains(builder) => room_core::with_seq(encoded.text(), number),
            _ => encoded.text().to_owned(),
        };
        self.send_one(
            *builder,
            &Encoded::relayed(room_core::with_ref(&frame, reference), None),
        );
    }

    /// Queue `encoded` to `session` alone (after what its tick already holds for it).
    pub(super) fn send_one(&mut self, session: SessionId, encoded: &Encoded) {
        if self.batch.contains(session) {
            self.batch.log(Audience::Session(session), encoded, None);
        } else if let Some(outbox) = self.outboxes.get(&session) {
            send_to(outbox, encoded);
        }
    }

    /// Whether the tick has something to send (its timer runs only then).
    pub(super) fn tick_pending(&self) -> bool {
        self.batch.pending()
    }

    pub(super) fn tick_deadline(&self) -> Instant {
        self.batch.deadline()
    }

    /// End of a tick: one joined frame per batching socket.
    pub(super) fn flush(&mut self) {
        self.batch.flush();
    }

    /// Send what the tick holds and let every socket go.
    pub(super) fn detach_all(&mut self) -> IdMap<SessionId, Arc<Outbox>> {
        self.batch.flush_all();
        self.numbered.clear();
        std::mem::take(&mut self.outboxes)
    }
}
