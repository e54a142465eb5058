//! The room's map: a square grid with games and objects, each filling one cell.
//!
//! [`MapDoc`] is a map as a client sent it (well-formed, not yet checked);
//! [`Map::validate`] turns it into a [`Map`] or says which rule of
//! PROTOCOL.md §5 it breaks.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::ids::{Cell, GameId};

/// The side of a map with no stored layout.
pub const DEFAULT_SIDE: u16 = 20;
/// The largest side the protocol allows; a server may set a lower limit.
pub const MAX_SIDE: u16 = 64;
/// The smallest side the protocol allows.
pub const MIN_SIDE: u16 = 2;
/// Longest id of a game or object, in characters.
pub const MAX_ID_CHARS: usize = 32;
/// Longest display name, in characters (Unicode scalar values).
pub const MAX_NAME_CHARS: usize = 64;

/// An item as a client sent it: name and position, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemDoc {
    /// Display name.
    pub name: String,
    /// Column, as sent.
    pub x: i64,
    /// Row, as sent.
    pub y: i64,
}

/// A map as a client sent it in BUILD: the MAP shape of PROTOCOL.md §4,
/// with entries kept in the order they were written so duplicates can be seen.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MapDoc {
    /// Cells per side, as sent.
    pub side: i64,
    /// The `gameList` array.
    pub game_list: Vec<String>,
    /// The `objectList` array.
    pub object_list: Vec<String>,
    /// The `games` object, in document order.
    pub games: Vec<(String, ItemDoc)>,
    /// The `objects` object, in document order.
    pub objects: Vec<(String, ItemDoc)>,
}

/// A placed item of a valid map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Display name, 1..=64 characters.
    pub name: String,
    /// The one cell it fills.
    pub cell: Cell,
}

/// A map that satisfies every rule of PROTOCOL.md §5 (except game ownership,
/// which needs the owner's library: see [`Map::first_unowned_game`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map {
    side: u16,
    games: Vec<(GameId, Item)>,
    objects: Vec<(String, Item)>,
    filled: Vec<bool>,
    spawn: Cell,
}

/// A rule of PROTOCOL.md §5 that a map breaks (all reported as 76410).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MapError {
    /// `side` is outside `2..=limit`.
    #[error("side {side} is outside 2..={limit}")]
    SideOutOfRange {
        /// The side sent.
        side: i64,
        /// The largest side this server accepts.
        limit: u16,
    },
    /// `gameList` or `objectList` does not list exactly the keys of its object.
    #[error("{list} does not list exactly the keys of {object}")]
    ListMismatch {
        /// `gameList` or `objectList`.
        list: &'static str,
        /// `games` or `objects`.
        object: &'static str,
    },
    /// The same id appears twice (in a list, an object, or across games and objects).
    #[error("duplicate id {0:?}")]
    DuplicateId(String),
    /// A game id that is not the decimal form of a store id.
    #[error("game id {0:?} is not a decimal number")]
    BadGameId(String),
    /// An object id that is not 1..=32 characters of `A-Z a-z 0-9 _ -`.
    #[error("object id {0:?} must be 1..=32 characters of A-Z a-z 0-9 _ -")]
    BadObjectId(String),
    /// A name that is empty or longer than 64 characters.
    #[error("name of {0:?} must be 1..=64 characters")]
    BadName(String),
    /// An item outside the grid.
    #[error("{id:?} at ({x},{y}) is outside the grid")]
    OutOfGrid {
        /// The item's id.
        id: String,
        /// Its column, as sent.
        x: i64,
        /// Its row, as sent.
        y: i64,
    },
    /// Two items in one cell.
    #[error("{first:?} and {second:?} share a cell")]
    CellTaken {
        /// The item placed first.
        first: String,
        /// The item placed on top of it.
        second: String,
    },
    /// Every cell is filled, so nobody could stand anywhere.
    #[error("no free cell left")]
    NoFreeCell,
}

impl Map {
    /// The map of a room with no stored layout: empty, side 20.
    pub fn empty() -> Map {
        Map::empty_of_side(DEFAULT_SIDE)
    }

    /// An empty map of `side` cells (clamped into `MIN_SIDE..=MAX_SIDE`).
    pub fn empty_of_side(side: u16) -> Map {
        let side = side.clamp(MIN_SIDE, MAX_SIDE);
        Map {
            side,
            games: Vec::new(),
            objects: Vec::new(),
            filled: vec![false; usize::from(side) * usize::from(side)],
            spawn: Cell::new(0, 0),
        }
    }

    /// Check `doc` against every structural rule of PROTOCOL.md §5 with sides
    /// up to `max_side`, and build the map. The first broken rule is reported.
    pub fn validate(doc: &MapDoc, max_side: u16) -> Result<Map, MapError> {
        let limit = max_side.clamp(MIN_SIDE, MAX_SIDE);
        let side = u16::try_from(doc.side)
            .ok()
            .filter(|s| (MIN_SIDE..=limit).contains(s))
            .ok_or(MapError::SideOutOfRange {
                side: doc.side,
                limit,
            })?;

        check_list_matches(&doc.game_list, &doc.games, "gameList", "games")?;
        check_list_matches(&doc.object_list, &doc.objects, "objectList", "objects")?;

        let mut map = Map::empty_of_side(side);
        let mut seen_ids: HashSet<&str> = HashSet::new();
        let mut occupant: Vec<Option<&str>> = vec![None; map.filled.len()];

        for (id, item) in &doc.games {
            let game = parse_game_id(id)?;
            let cell = map.check_item(id, item, &mut seen_ids, &mut occupant)?;
            map.games.push((
                game,
                Item {
                    name: item.name.clone(),
                    cell,
                },
            ));
        }
        for (id, item) in &doc.objects {
            if !is_object_id(id) {
                return Err(MapError::BadObjectId(id.clone()));
            }
            let cell = map.check_item(id, item, &mut seen_ids, &mut occupant)?;
            map.objects.push((
                id.clone(),
                Item {
                    name: item.name.clone(),
                    cell,
                },
            ));
        }
        reorder_like(&doc.game_list, &mut map.games, |g| g.to_string());
        reorder_like(&doc.object_list, &mut map.objects, |o| o.clone());

        map.spawn = map.first_free_cell().ok_or(MapError::NoFreeCell)?;
        Ok(map)
    }

    fn check_item<'d>(
        &mut self,
        id: &'d str,
        item: &ItemDoc,
        seen_ids: &mut HashSet<&'d str>,
        occupant: &mut [Option<&'d str>],
    ) -> Result<Cell, MapError> {
        if !seen_ids.insert(id) {
            return Err(MapError::DuplicateId(id.to_owned()));
        }
        let chars = item.name.chars().count();
        if chars == 0 || chars > MAX_NAME_CHARS {
            return Err(MapError::BadName(id.to_owned()));
        }
        let out_of_grid = || MapError::OutOfGrid {
            id: id.to_owned(),
            x: item.x,
            y: item.y,
        };
        let x = u16::try_from(item.x)
            .ok()
            .filter(|x| *x < self.side)
            .ok_or_else(out_of_grid)?;
        let y = u16::try_from(item.y)
            .ok()
            .filter(|y| *y < self.side)
            .ok_or_else(out_of_grid)?;
        let cell = Cell::new(x, y);
        let index = self.index(cell);
        if let Some(first) = occupant[index] {
            return Err(MapError::CellTaken {
                first: first.to_owned(),
                second: id.to_owned(),
            });
        }
        occupant[index] = Some(id);
        self.filled[index] = true;
        Ok(cell)
    }

    /// Cells per side.
    pub fn side(&self) -> u16 {
        self.side
    }

    /// The games, in `gameList` order.
    pub fn games(&self) -> &[(GameId, Item)] {
        &self.games
    }

    /// The objects (walls, furniture), in `objectList` order.
    pub fn objects(&self) -> &[(String, Item)] {
        &self.objects
    }

    /// Where users enter and where a BUILD sends everyone: the first cell in
    /// row-major order that holds no game or object.
    pub fn spawn(&self) -> Cell {
        self.spawn
    }

    /// Whether `cell` lies on the grid and holds a game or object.
    pub fn is_filled(&self, cell: Cell) -> bool {
        cell.x < self.side && cell.y < self.side && self.filled[self.index(cell)]
    }

    /// The first game of this map that is not in `owned`, if any.
    pub fn first_unowned_game(&self, owned: &BTreeSet<GameId>) -> Option<GameId> {
        self.games
            .iter()
            .map(|(id, _)| *id)
            .find(|id| !owned.contains(id))
    }

    /// This map as a document, the inverse of [`Map::validate`].
    pub fn to_doc(&self) -> MapDoc {
        let item_doc = |item: &Item| ItemDoc {
            name: item.name.clone(),
            x: i64::from(item.cell.x),
            y: i64::from(item.cell.y),
        };
        MapDoc {
            side: i64::from(self.side),
            game_list: self.games.iter().map(|(id, _)| id.to_string()).collect(),
            object_list: self.objects.iter().map(|(id, _)| id.clone()).collect(),
            games: self
                .games
                .iter()
                .map(|(id, it)| (id.to_string(), item_doc(it)))
                .collect(),
            objects: self
                .objects
                .iter()
                .map(|(id, it)| (id.clone(), item_doc(it)))
                .collect(),
        }
    }

    fn index(&self, cell: Cell) -> usize {
        usize::from(cell.y) * usize::from(self.side) + usize::from(cell.x)
    }

    fn first_free_cell(&self) -> Option<Cell> {
        let side = usize::from(self.side);
        let index = self.filled.iter().position(|filled| !filled)?;
        let (x, y) = (index % side, index / side);
        Some(Cell::new(u16::try_from(x).ok()?, u16::try_from(y).ok()?))
    }
}

impl Default for Map {
    fn default() -> Self {
        Map::empty()
    }
}

fn check_list_matches(
    list: &[String],
    entries: &[(String, ItemDoc)],
    list_name: &'static str,
    object_name: &'static str,
) -> Result<(), MapError> {
    let mut listed = BTreeSet::new();
    for id in list {
        if !listed.insert(id.as_str()) {
            return Err(MapError::DuplicateId(id.clone()));
        }
    }
    let mut keys = BTreeSet::new();
    for (id, _) in entries {
        if !keys.insert(id.as_str()) {
            return Err(MapError::DuplicateId(id.clone()));
        }
    }
    if listed != keys {
        return Err(MapError::ListMismatch {
            list: list_name,
            object: object_name,
        });
    }
    Ok(())
}

/// Keep the list's order, since that is what clients sent and read back.
/// Ranks are looked up in a table built once: a linear search per comparison
/// would make a BUILD with a few thousand items quadratic on the room's task.
fn reorder_like<T>(list: &[String], items: &mut [(T, Item)], key: impl Fn(&T) -> String) {
    let rank: HashMap<&str, usize> = list.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    items.sort_by_cached_key(|(id, _)| rank.get(key(id).as_str()).copied());
}

fn parse_game_id(id: &str) -> Result<GameId, MapError> {
    let canonical = !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id.bytes().all(|b| b.is_ascii_digit())
        && (id == "0" || !id.starts_with('0'));
    canonical
        .then(|| id.parse().ok())
        .flatten()
        .map(GameId)
        .ok_or_else(|| MapError::BadGameId(id.to_owned()))
}

fn is_object_id(id: &str) -> bool {
    (1..=MAX_ID_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
