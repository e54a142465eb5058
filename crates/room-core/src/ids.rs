//! Typed identifiers and grid coordinates.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

numeric_id!(
    /// A room; equal to its owner's user id, since each user owns one room.
    RoomId
);
numeric_id!(
    /// A user, as named by the `idx` claim of their token.
    UserId
);
numeric_id!(
    /// One connected socket. Unique across the whole service, not just one node,
    /// so that audiences can be resolved wherever the socket lives.
    SessionId
);
numeric_id!(
    /// A game in the persistent store; sent on the wire as a decimal string.
    GameId
);

impl RoomId {
    /// The user who owns this room.
    pub fn owner(self) -> UserId {
        UserId(self.0)
    }
}

/// A cell of the grid: `(0,0)` is top-left, x grows to the right, y down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Cell {
    /// Column.
    pub x: u16,
    /// Row.
    pub y: u16,
}

impl Cell {
    /// The cell at column `x`, row `y`.
    pub const fn new(x: u16, y: u16) -> Self {
        Cell { x, y }
    }

    /// The neighbour one step in `direction`, if it lies inside a grid of `side` cells.
    pub fn step(self, direction: Direction, side: u16) -> Option<Cell> {
        let (x, y) = (self.x, self.y);
        let next = match direction {
            Direction::Up => Cell::new(x, y.checked_sub(1)?),
            Direction::Right => Cell::new(x.checked_add(1)?, y),
            Direction::Down => Cell::new(x, y.checked_add(1)?),
            Direction::Left => Cell::new(x.checked_sub(1)?, y),
        };
        (next.x < side && next.y < side).then_some(next)
    }
}

/// One step of movement, numbered as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// 0: towards row 0.
    Up,
    /// 1: towards higher columns.
    Right,
    /// 2: towards higher rows.
    Down,
    /// 3: towards column 0.
    Left,
}

impl Direction {
    /// Every direction, in wire order.
    pub const ALL: [Direction; 4] = [Direction::Up, Direction::Right, Direction::Down, Direction::Left];

    /// The wire number of this direction.
    pub fn code(self) -> u8 {
        match self {
            Direction::Up => 0,
            Direction::Right => 1,
            Direction::Down => 2,
            Direction::Left => 3,
        }
    }

    /// The direction with wire number `code`, if there is one.
    pub fn from_code(code: u64) -> Option<Direction> {
        Direction::ALL.get(usize::try_from(code).ok()?).copied()
    }
}
