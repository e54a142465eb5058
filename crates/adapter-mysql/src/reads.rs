//! The read operations of the port: a room, a library, the user list, a ping.

use room_core::{GameId, RoomId, UserId};
use room_ports::{GameInfo, StoreError, StoredRoom, UserSummary};
use sqlx::MySqlPool;

use crate::doc;
use crate::error::to_store_error;

type RoomRow = (String, Option<String>, Option<u64>);

/// The owner's nickname and the stored map, decoded but not validated.
pub(crate) async fn load_room(pool: &MySqlPool, room: RoomId) -> Result<Option<StoredRoom>, StoreError> {
    let row: Option<RoomRow> = sqlx::query_as(
        "SELECT u.nickname, m.map_doc, m.version \
         FROM users u LEFT JOIN room_maps m ON m.owner_id = u.id \
         WHERE u.id = ?",
    )
    .bind(room.0)
    .fetch_optional(pool)
    .await
    .map_err(to_store_error)?;

    let Some((owner_nickname, text, version)) = row else {
        return Ok(None);
    };
    let version = version.unwrap_or(0);
    let (map, set_aside) = match text.map(|text| doc::decode(&text)) {
        None => (None, None),
        Some(Ok(doc)) => (Some(doc), None),
        Some(Err(error)) => match crate::aside::set_aside(pool, room, version, &error.to_string()).await? {
            Some(place) => (None, Some(place)),
            // Replaced meanwhile by a save: read what is there now.
            None => return Box::pin(load_room(pool, room)).await,
        },
    };
    Ok(Some(StoredRoom {
        owner_nickname,
        map,
        version,
        set_aside,
    }))
}

/// The games in `user`'s library, by id.
pub(crate) async fn owned_games(pool: &MySqlPool, user: UserId) -> Result<Vec<GameInfo>, StoreError> {
    let rows: Vec<(u64, String)> = sqlx::query_as(
        "SELECT g.id, g.name FROM library l JOIN games g ON g.id = l.game_id \
         WHERE l.user_id = ? ORDER BY g.id",
    )
    .bind(user.0)
    .fetch_all(pool)
    .await
    .map_err(to_store_error)?;
    Ok(rows
        .into_iter()
        .map(|(id, name)| GameInfo { id: GameId(id), name })
        .collect())
}

/// Up to `limit` users, by id.
pub(crate) async fn list_users(pool: &MySqlPool, limit: usize) -> Result<Vec<UserSummary>, StoreError> {
    let limit = u64::try_from(limit).unwrap_or(u64::MAX);
    let rows: Vec<(u64, String)> = sqlx::query_as("SELECT id, nickname FROM users ORDER BY id LIMIT ?")
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(to_store_error)?;
    Ok(rows
        .into_iter()
        .map(|(id, nickname)| UserSummary {
            user: UserId(id),
            nickname,
        })
        .collect())
}

/// One round trip to the server.
pub(crate) async fn ping(pool: &MySqlPool) -> Result<(), StoreError> {
    sqlx::query("SELECT 1")
        .execute(pool)
        .await
        .map_err(to_store_error)?;
    Ok(())
}
