//! The compact `{epoch}@{node}` values stored for leases.
//!
//! The number comes first and is all digits, so the first `@` splits the value
//! even when a node id contains `@`. Numbers stay strings end to end (Lua would
//! turn them into doubles), and the scripts compare whole values as strings.

use room_ports::NodeId;

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
        assert_eq!(decode("@n"), None);
    }

    #[test]
    fn large_numbers_survive() {
        let node = NodeId("n".to_owned());
        assert_eq!(decode(&encode(u64::MAX, &node)), Some((u64::MAX, node)));
    }
}
