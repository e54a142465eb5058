//! Maps and users to store.

use room_core::{GameId, ItemDoc, Map, MapDoc, UserId};
use room_ports::{GameInfo, UserSeed};

/// A valid map of `side` with `games` (id, x, y) and `objects` (id, name, x, y), in that order.
pub fn map(side: i64, games: &[(u64, i64, i64)], objects: &[(&str, &str, i64, i64)]) -> Map {
    let doc = MapDoc {
        side,
        game_list: games.iter().map(|(id, ..)| id.to_string()).collect(),
        object_list: objects.iter().map(|(id, ..)| (*id).to_owned()).collect(),
        games: games
            .iter()
            .map(|(id, x, y)| {
                let item = ItemDoc {
                    name: format!("Game {id}"),
                    x: *x,
                    y: *y,
                };
                (id.to_string(), item)
            })
            .collect(),
        objects: objects
            .iter()
            .map(|(id, name, x, y)| {
                let item = ItemDoc {
                    name: (*name).to_owned(),
                    x: *x,
                    y: *y,
                };
                ((*id).to_owned(), item)
            })
            .collect(),
    };
    Map::validate(&doc, 64).expect("the test map is valid")
}

/// A user who owns `games` (named "Name {id}").
pub fn user(id: u64, nickname: &str, games: &[u64]) -> UserSeed {
    UserSeed {
        user: UserId(id),
        nickname: nickname.to_owned(),
        games: games
            .iter()
            .map(|g| GameInfo {
                id: GameId(*g),
                name: format!("Name {g}"),
            })
            .collect(),
    }
}
