//! What an upgrade's query asks of the socket besides its token: `batch=1`,
//! and resume (PROTOCOL.md §9): `resume=1` to opt in, or
//! `resume=<token>&seq=<n>` to take a seat up again.

use room_core::{ErrorCode, UserId};
use room_node::seat::{SeatClaim, SeatKey};

/// How a socket was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Handshake {
    pub batch: bool,
    pub resume: ResumeAsk,
}

impl Handshake {
    /// A socket that did not opt into resume.
    pub(crate) fn plain(batch: bool) -> Handshake {
        Handshake {
            batch,
            resume: ResumeAsk::No,
        }
    }
}

/// What a socket asked of resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResumeAsk {
    /// Nothing: §8 as ever.
    No,
    /// `resume=1`: opted in; it gets a seat when it enters.
    OptIn,
    /// `resume=<token>&seq=<n>` with a token of its user's: opted in, and
    /// asking for that seat, having seen events up to `seq`.
    Seat { claim: SeatClaim, seq: u64 },
    /// `resume=<token>` that names no seat of its user's (or a bad `seq`):
    /// opted in, and told why; the socket stays open and nothing changes.
    Refused { code: ErrorCode, message: String },
}

impl ResumeAsk {
    /// Read the query's `resume` and `seq` for a socket of `user`.
    pub(crate) fn of_query(
        resume: Option<&str>,
        seq: Option<&str>,
        key: &SeatKey,
        user: UserId,
    ) -> ResumeAsk {
        let Some(resume) = resume else {
            return ResumeAsk::No;
        };
        if resume == "1" {
            return ResumeAsk::OptIn;
        }
        let claim = match key.verify(resume, user) {
            Ok(claim) => claim,
            Err(e) => {
                return ResumeAsk::Refused {
                    code: e.code(),
                    message: e.to_string(),
                };
            }
        };
        // Digits only: "+1", " 1" or "1.0" are not a number the server sent.
        let seq = seq
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok());
        match seq {
            Some(seq) => ResumeAsk::Seat { claim, seq },
            None => ResumeAsk::Refused {
                code: ErrorCode::Parse,
                message: "resume needs seq: the last seq this client saw, a non-negative integer".to_owned(),
            },
        }
    }

    /// Whether the socket opted in.
    pub(crate) fn opted_in(&self) -> bool {
        !matches!(self, ResumeAsk::No)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use room_core::RoomId;

    fn key() -> SeatKey {
        SeatKey::derive(b"the resume query tests' secret, long enough")
    }

    fn token() -> String {
        key().sign(SeatClaim {
            user: UserId(3),
            room: RoomId(7),
            seat: 9,
        })
    }

    #[test]
    fn no_resume_is_no_change_and_one_opts_in() {
        assert_eq!(
            ResumeAsk::of_query(None, Some("4"), &key(), UserId(3)),
            ResumeAsk::No
        );
        assert_eq!(
            ResumeAsk::of_query(Some("1"), None, &key(), UserId(3)),
            ResumeAsk::OptIn
        );
    }

    #[test]
    fn a_token_with_a_seq_asks_for_its_seat() {
        let asked = ResumeAsk::of_query(Some(&token()), Some("12"), &key(), UserId(3));
        let ResumeAsk::Seat { claim, seq } = asked else {
            panic!("{asked:?}");
        };
        assert_eq!((claim.room, claim.seat, seq), (RoomId(7), 9, 12));
    }

    #[test]
    fn a_missing_or_bad_seq_is_76100_and_a_foreign_token_76401() {
        for seq in [
            None,
            Some(""),
            Some("-1"),
            Some("1.5"),
            Some("+2"),
            Some("x"),
            Some("99999999999999999999999"),
        ] {
            let asked = ResumeAsk::of_query(Some(&token()), seq, &key(), UserId(3));
            assert!(
                matches!(
                    &asked,
                    ResumeAsk::Refused {
                        code: ErrorCode::Parse,
                        ..
                    }
                ),
                "{seq:?}: {asked:?}"
            );
        }
        let other = ResumeAsk::of_query(Some(&token()), Some("1"), &key(), UserId(4));
        assert!(matches!(
            other,
            ResumeAsk::Refused {
                code: ErrorCode::Unauthorized,
                ..
            }
        ));
        let junk = ResumeAsk::of_query(Some("junk"), Some("1"), &key(), UserId(3));
        assert!(matches!(
            junk,
            ResumeAsk::Refused {
                code: ErrorCode::Parse,
                ..
            }
        ));
        assert!(
            junk.opted_in(),
            "a socket that presented a token is opted in all the same"
        );
    }
}
