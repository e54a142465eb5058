//! The order of a room's events as a relay receives them from its host.

/// What to do with an arriving event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SequenceCheck {
    /// Next in order: deliver it.
    Deliver,
    /// Events were skipped, or a new host numbers them: deliver it, and
    /// resynchronise the room's sockets.
    Gap { expected: u64, got: u64 },
    /// From an older host epoch, or already seen (a duplicate, or reordered
    /// behind a later one whose gap was seen): drop it.
    Stale,
}

/// The host epoch and the last sequence number delivered of one room.
#[derive(Debug, Default)]
pub(crate) struct Sequence {
    last: Option<(u64, u64)>,
}

impl Sequence {
    /// Check an event numbered `seq` under host `epoch`, and record it. The
    /// first event is the starting point (the relay's members got a SYNC from
    /// the host when they entered).
    pub(crate) fn check(&mut self, epoch: u64, seq: u64) -> SequenceCheck {
        let Some((last_epoch, last_seq)) = self.last else {
            self.last = Some((epoch, seq));
            return SequenceCheck::Deliver;
        };
        if epoch < last_epoch || (epoch == last_epoch && seq <= last_seq) {
            return SequenceCheck::Stale;
        }
        self.last = Some((epoch, seq));
        if epoch == last_epoch && seq == last_seq + 1 {
            SequenceCheck::Deliver
        } else {
            SequenceCheck::Gap {
                expected: last_seq + 1,
                got: seq,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_events_are_delivered() {
        let mut order = Sequence::default();
        assert_eq!(order.check(1, 7), SequenceCheck::Deliver);
        assert_eq!(order.check(1, 8), SequenceCheck::Deliver);
    }

    #[test]
    fn a_skipped_number_is_a_gap_and_the_late_one_is_stale() {
        let mut order = Sequence::default();
        order.check(1, 1);
        assert_eq!(order.check(1, 3), SequenceCheck::Gap { expected: 2, got: 3 });
        assert_eq!(order.check(1, 2), SequenceCheck::Stale);
        assert_eq!(order.check(1, 3), SequenceCheck::Stale);
        assert_eq!(order.check(1, 4), SequenceCheck::Deliver);
    }

    #[test]
    fn a_new_epoch_is_a_gap_and_the_old_hosts_events_are_stale() {
        let mut order = Sequence::default();
        order.check(1, 10);
        assert_eq!(order.check(2, 3), SequenceCheck::Gap { expected: 11, got: 3 });
        assert_eq!(order.check(1, 11), SequenceCheck::Stale);
        assert_eq!(order.check(2, 4), SequenceCheck::Deliver);
    }
}
