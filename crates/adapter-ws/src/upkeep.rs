//! A socket reader's deadlines (dead peer, legacy ENTER), as a pure function
//! of when the peer was last heard: the reader keeps one timer armed at the
//! answer's next instant and does not touch it when frames arrive, so an idle
//! socket wakes once per dead-peer timeout at most instead of on a fixed tick
//! (issue 17: that tick was most of the server's idle CPU).

use std::time::Duration;

use tokio::time::Instant;

/// What the reader must do when its timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Nothing yet: look again at this instant.
    Nothing(Instant),
    /// Nothing heard (no frame, no pong) for the dead-peer timeout.
    DeadPeer,
    /// A legacy socket's ENTER deadline passed without a valid ENTER.
    EnterDeadline,
}

/// The verdict at `now` for a socket last heard at `last_heard`, still
/// waiting for its legacy ENTER until `enter_deadline` if `Some`.
pub(crate) fn due(
    now: Instant,
    last_heard: Instant,
    enter_deadline: Option<Instant>,
    dead_peer: Duration,
) -> Due {
    let silent_until = last_heard + dead_peer;
    if now >= silent_until {
        return Due::DeadPeer;
    }
    match enter_deadline {
        Some(deadline) if now >= deadline => Due::EnterDeadline,
        Some(deadline) => Due::Nothing(silent_until.min(deadline)),
        None => Due::Nothing(silent_until),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEAD: Duration = Duration::from_secs(45);

    #[test]
    fn an_idle_entered_socket_is_next_looked_at_when_it_could_be_dead() {
        let start = Instant::now();
        // Heard 10 s ago: nothing for another 35 s, not a second from now.
        let now = start + Duration::from_secs(10);
        assert_eq!(due(now, start, None, DEAD), Due::Nothing(start + DEAD));
        // A pong at 15 s moves the next look to 60 s; the timer that fired at 45 s just re-arms.
        let pong = start + Duration::from_secs(15);
        assert_eq!(due(start + DEAD, pong, None, DEAD), Due::Nothing(pong + DEAD));
    }

    #[test]
    fn silence_past_the_timeout_is_a_dead_peer() {
        let start = Instant::now();
        assert_eq!(due(start + DEAD, start, None, DEAD), Due::DeadPeer);
    }

    #[test]
    fn a_legacy_socket_is_looked_at_on_its_enter_deadline() {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(5);
        assert_eq!(due(start, start, Some(deadline), DEAD), Due::Nothing(deadline));
        assert_eq!(due(deadline, start, Some(deadline), DEAD), Due::EnterDeadline);
    }
}
