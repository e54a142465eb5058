//! Encoding an event once and handing the same bytes to every recipient.

use room_core::ServerMsg;

use crate::metrics_names as m;
use crate::outbox::{Frame, Outbox, Pushed};

/// An event encoded once, ready to be queued to any number of sockets.
pub(crate) struct Encoded {
    frame: Frame,
    code: &'static str,
    error_code: Option<String>,
}

impl Encoded {
    pub(crate) fn new(msg: &ServerMsg) -> Encoded {
        let mover = match msg {
            ServerMsg::Move { user, .. } => Some(*user),
            _ => None,
        };
        let error_code = match msg {
            ServerMsg::Error { code, .. } => Some(code.to_string()),
            _ => None,
        };
        Encoded {
            frame: Frame {
                bytes: msg.encode().into(),
                mover,
            },
            code: code_label(msg.code()),
            error_code,
        }
    }
}

impl Encoded {
    /// The encoded frame as text.
    pub(crate) fn text(&self) -> &str {
        self.frame.as_str()
    }
}

/// Encode `msg` and queue it to `outbox` alone, counting it like any other message.
pub fn queue_message(outbox: &Outbox, msg: &ServerMsg) {
    send_to(outbox, &Encoded::new(msg));
}

/// Queue `encoded` to `outbox`, counting what happened.
pub(crate) fn send_to(outbox: &Outbox, encoded: &Encoded) {
    match outbox.push(encoded.frame.clone()) {
        Pushed::Queued => {}
        Pushed::Coalesced => metrics::counter!(m::COALESCED).increment(1),
        Pushed::Dropped => {
            metrics::counter!(m::DROPPED).increment(1);
            return;
        }
    }
    metrics::counter!(m::MESSAGES_OUT, "code" => encoded.code).increment(1);
    if let Some(code) = &encoded.error_code {
        metrics::counter!(m::ERRORS, "code" => code.clone()).increment(1);
    }
}

/// A static label for a behaviour code, so counting never allocates.
pub fn code_label(code: u8) -> &'static str {
    const LABELS: [&str; 100] = {
        let mut labels = ["other"; 100];
        labels[10] = "10";
        labels[11] = "11";
        labels[19] = "19";
        labels[20] = "20";
        labels[40] = "40";
        labels[98] = "98";
        labels[99] = "99";
        labels
    };
    LABELS.get(usize::from(code)).copied().unwrap_or("other")
}
