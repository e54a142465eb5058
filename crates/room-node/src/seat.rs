//! Seat tokens (PROTOCOL.md §9): what a client presents, on a new socket,
//! to resume its user's seat in a room after its connection dropped.
//!
//! A token names the user, the room and the seat (a number the room's host
//! gives each seat, new when a seat is given again) and carries an
//! HMAC-SHA256 of them under the cluster's seat key. Any node with the key
//! checks one without state of its own; whether the seat is still held is
//! the room's answer. A token is useless alone: the new socket must present
//! a valid access token for the same user. The seat key is derived from the
//! JWT secret under a label of its own, so a seat token never verifies as
//! anything else signed with that secret.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use room_core::{ErrorCode, RoomId, UserId};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The longest token PROTOCOL.md §9 allows.
pub const MAX_TOKEN_BYTES: usize = 1024;

const VERSION: &str = "s1";

/// The seat a token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatClaim {
    /// Whose seat.
    pub user: UserId,
    /// In which room.
    pub room: RoomId,
    /// Which seat of that user in that room (the room's number for it).
    pub seat: u64,
}

/// Why a token does not name a seat of the socket's user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeatError {
    /// Not a seat token at all (76100).
    #[error("not a seat token")]
    Malformed,
    /// Its signature does not check (76401).
    #[error("the seat token's signature does not check")]
    Forged,
    /// It names another user than the socket's access token (76401).
    #[error("the seat token is another user's")]
    OtherUser,
}

impl SeatError {
    /// The protocol's error code for it.
    pub fn code(&self) -> ErrorCode {
        match self {
            SeatError::Malformed => ErrorCode::Parse,
            SeatError::Forged | SeatError::OtherUser => ErrorCode::Unauthorized,
        }
    }
}

/// Signs and checks seat tokens.
#[derive(Clone)]
pub struct SeatKey {
    key: [u8; 32],
}

impl std::fmt::Debug for SeatKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeatKey(..)")
    }
}

impl SeatKey {
    /// The seat key of a cluster whose access tokens are signed with `jwt_secret`.
    pub fn derive(jwt_secret: &[u8]) -> SeatKey {
        let mut mac = HmacSha256::new_from_slice(jwt_secret).expect("HMAC takes a key of any length");
        mac.update(b"myroom seat tokens v1");
        SeatKey {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, body: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(body.as_bytes());
        mac
    }

    /// The token for `claim`.
    pub fn sign(&self, claim: SeatClaim) -> String {
        let body = format!("{VERSION}.{}.{}.{}", claim.user, claim.room, claim.seat);
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&body).finalize().into_bytes());
        format!("{body}.{signature}")
    }

    /// The seat `token` names, if it is one of ours and `user`'s.
    pub fn verify(&self, token: &str, user: UserId) -> Result<SeatClaim, SeatError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(SeatError::Malformed);
        }
        let (body, signature) = token.rsplit_once('.').ok_or(SeatError::Malformed)?;
        let mut parts = body.split('.');
        let (Some(VERSION), Some(owner), Some(room), Some(seat), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(SeatError::Malformed);
        };
        let number = |text: &str| {
            // Digits only, as `sign` writes them: one seat has one token.
            if text.is_empty()
                || !text.bytes().all(|b| b.is_ascii_digit())
                || (text.len() > 1 && text.starts_with('0'))
            {
                return Err(SeatError::Malformed);
            }
            text.parse::<u64>().map_err(|_| SeatError::Malformed)
        };
        let claim = SeatClaim {
            user: UserId(number(owner)?),
            room: RoomId(number(room)?),
            seat: number(seat)?,
        };
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| SeatError::Malformed)?;
        // Constant time: nothing about the expected signature leaks.
        self.mac(body)
            .verify_slice(&signature)
            .map_err(|_| SeatError::Forged)?;
        if claim.user != user {
            return Err(SeatError::OtherUser);
        }
        Ok(claim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLAIM: SeatClaim = SeatClaim {
        user: UserId(3),
        room: RoomId(7),
        seat: 42,
    };

    fn key() -> SeatKey {
        SeatKey::derive(b"a cluster secret of at least thirty-two bytes")
    }

    #[test]
    fn a_token_names_its_seat_for_its_user_on_any_node_with_the_key() {
        let token = key().sign(CLAIM);
        assert!(token.len() <= MAX_TOKEN_BYTES);
        // Another node derives the same key from the same secret.
        assert_eq!(key().verify(&token, UserId(3)), Ok(CLAIM));
    }

    #[test]
    fn a_token_is_useless_to_another_user() {
        let token = key().sign(CLAIM);
        assert_eq!(key().verify(&token, UserId(4)), Err(SeatError::OtherUser));
        assert_eq!(SeatError::OtherUser.code().as_u32(), 76401);
    }

    #[test]
    fn changing_any_part_breaks_the_signature() {
        let token = key().sign(CLAIM);
        for (from, to) in [(".3.", ".4."), (".7.", ".8."), (".42.", ".43.")] {
            let forged = token.replacen(from, to, 1);
            assert_ne!(forged, token);
            let user = if from == ".3." { UserId(4) } else { UserId(3) };
            assert_eq!(key().verify(&forged, user), Err(SeatError::Forged), "{forged}");
        }
        let other = SeatKey::derive(b"another cluster's secret, also long enough");
        assert_eq!(other.verify(&token, UserId(3)), Err(SeatError::Forged));
    }

    #[test]
    fn what_is_not_a_token_is_malformed() {
        let token = key().sign(CLAIM);
        let signature = token.rsplit_once('.').unwrap().1.to_owned();
        for bad in [
            String::new(),
            "garbage".into(),
            format!("s2.3.7.42.{signature}"),
            format!("s1.03.7.42.{signature}"),
            format!("s1.3.7.42.9.{signature}"),
            format!("s1.3.7.-1.{signature}"),
            format!("s1.3.7.42.{signature}!"),
            "s1.3.7.42.".to_owned() + &"A".repeat(MAX_TOKEN_BYTES),
        ] {
            assert_eq!(
                key().verify(&bad, UserId(3)),
                Err(SeatError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(SeatError::Malformed.code().as_u32(), 76100);
    }
}
