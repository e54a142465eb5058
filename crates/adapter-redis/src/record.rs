//! The compact `{number}@{node}` values stored for sessions and leases.
//!
//! The number comes first and is all digits, so the first `@` splits the value
//! even when a node id contains `@`. Numbers stay strings end to end (Lua would
//! turn them into doubles), and the scripts compare whole values as strings.

use room_core::SessionId;
use room_ports::{NodeId, SessionAt};

/// `{number}@{node}`.
pub(crate) fn encode(number: u64, node: &NodeId) -> String {
    format!("{number}@{node}")
}

/// The number and node of a stored value, or `None` if it is malformed.
pub(crate) fn decode(value: &str) -> Option<(u64, NodeId)> {
    let (number, node) = value.split_once('@')?;
    let number = number.parse().ok()?;
    Some((number, NodeId(node.to_owned())))
}

/// A session as stored in a room's session hash.
pub(crate) fn encode_session(at: &SessionAt) -> String {
    encode(at.session.0, &at.node)
}

/// A stored session, or `None` (logged) if it is malformed.
pub(crate) fn decode_session(value: &str) -> Option<SessionAt> {
    let decoded = decode(value).map(|(session, node)| SessionAt {
        node,
        session: SessionId(session),
    });
    if decoded.is_none() {
        tracing::warn!(value, "malformed session record ignored");
    }
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_at_sign_splits_the_value() {
        let node = NodeId("a@b".to_owned());
        let value = encode(42, &node);
        assert_eq!(value, "42@a@b");
        assert_eq!(decode(&value), Some((42, node)));
    }

    #[test]
    fn malformed_values_decode_to_none() {
        assert_eq!(decode("x@n"), None);
        assert_eq!(decode("42"), None);
        assert_eq!(decode_session("@n"), None);
    }

    #[test]
    fn large_session_ids_survive() {
        let at = SessionAt {
            node: NodeId("n".to_owned()),
            session: SessionId(u64::MAX),
        };
        assert_eq!(decode_session(&encode_session(&at)), Some(at));
    }
}
