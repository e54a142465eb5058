//! room-node
