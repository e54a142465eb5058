//! Encoding an event once and handing the same bytes to every recipient.
//!
//! Counting is per event, not per recipient: a fan-out pushes to every
//! outbox first and then adds the number of recipients to the counters in
//! one increment, and every label is a `&'static str`, so counting never
//! allocates.

use room_core::{ErrorCode, ServerMsg, UserId};

use crate::metrics_names as m;
use crate::outbox::{Frame, Outbox, Pushed};

/// An event encoded once, ready to be queued to any number of sockets.
pub(crate) struct Encoded {
    pub(crate) frame: Frame,
    pub(crate) code: &'static str,
    pub(crate) error_code: Option<&'static str>,
}

impl Encoded {
    pub(crate) fn new(msg: &ServerMsg) -> Encoded {
        let mut encoded = Encoded::with_text(msg, msg.encode());
        if let ServerMsg::Error { code, .. } = msg {
            encoded.error_code = Some(error_label(*code));
        }
        encoded
    }

    /// `msg` that was encoded already as `text` (not an ERROR).
    pub(crate) fn with_text(msg: &ServerMsg, text: String) -> Encoded {
        let mover = match msg {
            ServerMsg::Move { user, .. } => Some(*user),
            _ => None,
        };
        Encoded {
            frame: Frame::message(text, mover),
            code: code_label(msg.code()),
            error_code: None,
        }
    }

    /// The ERROR answering a BUILD: with `"ref"` when the BUILD carried one (PROTOCOL.md §5).
    pub(crate) fn error_answering(code: ErrorCode, message: String, reference: Option<&str>) -> Encoded {
        let msg = ServerMsg::error(code, message);
        match reference {
            Some(reference) => Encoded::relayed(room_core::with_ref(&msg.encode(), reference), None),
            None => Encoded::new(&msg),
        }
    }

    /// A frame another node encoded (a relayed event), counted like one of ours.
    pub(crate) fn relayed(text: String, mover: Option<UserId>) -> Encoded {
        let code = text.get(..2).and_then(|c| c.parse::<u8>().ok()).unwrap_or(0);
        let error_code = match code {
            // Errors are rare: parsing one for its label costs nothing that matters.
            99 => match room_core::parse_server_frame(&text) {
                Ok(ServerMsg::Error { code, .. }) => Some(error_label(code)),
                _ => None,
            },
            _ => None,
        };
        Encoded {
            frame: Frame::message(text, mover),
            code: code_label(code),
            error_code,
        }
    }

    /// The same message with `"seq":number` (PROTOCOL.md §9), for the
    /// sockets that opted into resume.
    pub(crate) fn numbered(&self, number: u64) -> Encoded {
        Encoded {
            frame: Frame::message(room_core::with_seq(self.text(), number), self.frame.mover),
            code: self.code,
            error_code: self.error_code,
        }
    }

    /// The encoded frame as text.
    pub(crate) fn text(&self) -> &str {
        self.frame.as_str()
    }

    /// Count `n` deliveries of this message.
    pub(crate) fn count(&self, n: u64) {
        count(self.code, self.error_code, n);
    }
}

/// Count `n` deliveries of one message with behaviour label `code`.
pub(crate) fn count(code: &'static str, error_code: Option<&'static str>, n: u64) {
    if n == 0 {
        return;
    }
    metrics::counter!(m::MESSAGES_OUT, "code" => code).increment(n);
    if let Some(error) = error_code {
        metrics::counter!(m::ERRORS, "code" => error).increment(n);
    }
}

/// Encode `msg` and queue it to `outbox` alone, counting it like any other
/// message. Called on a room's task (from an observer), it reaches the
/// socket only while the socket is in that room ([`Outbox::push`]).
pub fn queue_message(outbox: &Outbox, msg: &ServerMsg) {
    send_to(outbox, &Encoded::new(msg));
}

/// Queue `encoded` to `outbox`, counting what happened.
pub(crate) fn send_to(outbox: &Outbox, encoded: &Encoded) {
    if push(outbox, encoded.frame.clone()) {
        encoded.count(1);
    }
}

/// Queue `frame` to `outbox` without counting it as sent; true if it was queued.
/// Drops are counted here (they are rare); the outbox counts what it coalesced.
pub(crate) fn push(outbox: &Outbox, frame: Frame) -> bool {
    match outbox.push(frame) {
        Pushed::Queued => true,
        // The outbox counted the frames it dropped to make room.
        Pushed::Coalesced => true,
        Pushed::Dropped => {
            metrics::counter!(m::DROPPED).increment(1);
            false
        }
    }
}

/// A static label for a behaviour code, so counting never allocates.
pub fn code_label(code: u8) -> &'static str {
    const LABELS: [&str; 100] = {
        let mut labels = ["other"; 100];
        labels[10] = "10";
        labels[11] = "11";
        labels[12] = "12";
        labels[13] = "13";
        labels[19] = "19";
        labels[20] = "20";
        labels[40] = "40";
        labels[98] = "98";
        labels[99] = "99";
        labels
    };
    LABELS.get(usize::from(code)).copied().unwrap_or("other")
}

/// A static label for a protocol error code (the wire number as text).
pub(crate) fn error_label(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Parse => "76100",
        ErrorCode::Replaced => "76101",
        ErrorCode::NotInRoom => "76102",
        ErrorCode::Unauthorized => "76401",
        ErrorCode::Forbidden => "76403",
        ErrorCode::RoomNotFound => "76404",
        ErrorCode::SeatExpired => "76408",
        ErrorCode::RoomFull => "76409",
        ErrorCode::InvalidMap => "76410",
        ErrorCode::FrameTooLarge => "76413",
        ErrorCode::RateLimited => "76429",
        ErrorCode::Unavailable => "76503",
        ErrorCode::CodeNotAllowed => "76900",
        ErrorCode::Internal => "76999",
        // A code added to room-core later: the unit test below catches it.
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_labels_are_the_wire_numbers() {
        for code in ErrorCode::ALL {
            assert_eq!(error_label(code), code.as_u32().to_string());
        }
    }
}
