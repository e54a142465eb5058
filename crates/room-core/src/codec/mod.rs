//! The wire format: a two-digit behaviour code followed by a JSON object.
//!
//! [`parse_client_frame`] reads what clients send; [`ServerMsg::encode`]
//! writes what the server sends, byte-compatible with PROTOCOL.md §4, and
//! [`parse_server_frame`] reads it back (for clients, tools and tests).

mod client;
mod json;
mod server;

pub use client::{ClientMsg, MAX_REF_CHARS, parse_client_frame};
pub use server::{
    ServerMsg, frame_ref, frame_seq, parse_server_frame, split_batch, with_ref, with_seq, with_you,
};

use crate::error::ErrorCode;

/// Behaviour codes of PROTOCOL.md §3-4.
pub mod codes {
    /// ENTER, both directions.
    pub const ENTER: u8 = 10;
    /// SYNC, both directions.
    pub const SYNC: u8 = 11;
    /// SEAT, server to client (PROTOCOL.md §9).
    pub const SEAT: u8 = 12;
    /// RESUMED, server to client (PROTOCOL.md §9).
    pub const RESUMED: u8 = 13;
    /// LEAVE, both directions.
    pub const LEAVE: u8 = 19;
    /// MOVE, both directions.
    pub const MOVE: u8 = 20;
    /// BUILD, client to server.
    pub const BUILD: u8 = 40;
    /// CLOSE_PRE_CONNECTION, server to client.
    pub const CLOSE_PRE_CONNECTION: u8 = 98;
    /// ERROR, server to client.
    pub const ERROR: u8 = 99;
}

/// Why a frame is not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// Shorter than a behaviour code.
    #[error("frame too short: a frame is two digits and a JSON object")]
    TooShort,
    /// The first two characters are not ASCII digits.
    #[error("frame does not start with a two-digit behaviour code")]
    BadCode,
    /// A behaviour code the receiver does not accept.
    #[error("behaviour code {0:02} is not allowed here")]
    CodeNotAllowed(u8),
    /// The body is not a JSON object of the expected shape.
    #[error("bad message body: {0}")]
    Body(String),
}

impl ProtoError {
    /// The protocol code this error is reported with.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProtoError::CodeNotAllowed(_) => ErrorCode::CodeNotAllowed,
            ProtoError::TooShort | ProtoError::BadCode | ProtoError::Body(_) => ErrorCode::Parse,
        }
    }
}

/// Split a frame into its behaviour code and JSON body (`{}` when empty).
fn split_frame(frame: &str) -> Result<(u8, &str), ProtoError> {
    let bytes = frame.as_bytes();
    if bytes.len() < 2 {
        return Err(ProtoError::TooShort);
    }
    let (a, b) = (bytes[0], bytes[1]);
    if !a.is_ascii_digit() || !b.is_ascii_digit() {
        return Err(ProtoError::BadCode);
    }
    let body = &frame[2..];
    let body = if body.trim().is_empty() { "{}" } else { body };
    Ok(((a - b'0') * 10 + (b - b'0'), body))
}

/// Read a MAP object (PROTOCOL.md §4) as stored or sent: well-formed, not yet validated.
pub fn parse_map_doc(json: &str) -> Result<crate::map::MapDoc, ProtoError> {
    client::from_body::<json::MapJson>(json).map(Into::into)
}

/// Write a MAP object (PROTOCOL.md §4), as SYNC carries it.
pub fn encode_map_doc(map: &crate::map::MapDoc) -> String {
    let mut out = String::new();
    server::write_map_doc(&mut out, map);
    out
}

/// Write a ROOM object (PROTOCOL.md §4), as SYNC carries it.
pub fn encode_room(room: &crate::view::RoomView) -> String {
    let mut out = String::new();
    server::write_room(&mut out, room);
    out
}
