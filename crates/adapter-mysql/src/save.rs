//! Saving a map: one transaction with the epoch fence, an optimistic version
//! check and the ownership re-check.

use std::collections::BTreeSet;

use room_core::{GameId, Map, RoomId};
use room_ports::StoreError;
use sqlx::{MySqlConnection, MySqlPool};

use crate::doc;
use crate::error::{codes, server_code, to_store_error};

/// How often a transaction the server picked as a deadlock victim is re-run.
const DEADLOCK_ATTEMPTS: u32 = 3;

/// Store `map` for `room` if the stored version is `expected` and no writer
/// with an epoch above `epoch` saved it; the new version.
///
/// Inside one transaction: create the room's row if absent (version 0, epoch
/// 0), lock it (`FOR UPDATE`), compare epochs, then versions, lock and read
/// the owner's library (`LOCK IN SHARE MODE`, so a game cannot leave it
/// before the commit), write (with `epoch` as the room's epoch), commit. Any
/// failure rolls everything back: the old map stays. A node without a
/// cluster saves under `room_ports::NO_LEASE` and keeps the stored epoch
/// (`room_ports::fence` says why).
pub(crate) async fn save_map(
    pool: &MySqlPool,
    room: RoomId,
    map: &Map,
    expected: u64,
    epoch: u64,
) -> Result<u64, StoreError> {
    let text = doc::encode(&map.to_doc());
    let mut attempt = 1;
    loop {
        match try_save(pool, room, map, &text, expected, epoch).await {
            Err(Failed::Db(error))
                if server_code(&error) == Some(codes::DEADLOCK) && attempt < DEADLOCK_ATTEMPTS =>
            {
                tracing::debug!(%room, attempt, "map save was a deadlock victim; running it again");
                attempt += 1;
            }
            Err(Failed::Db(error)) if server_code(&error) == Some(codes::NO_REFERENCED_ROW) => {
                return Err(StoreError::RoomNotFound(room));
            }
            Err(Failed::Db(error)) => return Err(to_store_error(error)),
            Err(Failed::Rejected(error)) => return Err(error),
            Ok(version) => return Ok(version),
        }
    }
}

enum Failed {
    Db(sqlx::Error),
    Rejected(StoreError),
}

impl From<sqlx::Error> for Failed {
    fn from(error: sqlx::Error) -> Self {
        Failed::Db(error)
    }
}

async fn try_save(
    pool: &MySqlPool,
    room: RoomId,
    map: &Map,
    text: &str,
    expected: u64,
    epoch: u64,
) -> Result<u64, Failed> {
    let mut tx = pool.begin().await?;
    let (found, stored_epoch) = lock_version(&mut tx, room).await?;
    let epoch = room_ports::fence(room, epoch, stored_epoch).map_err(Failed::Rejected)?;
    if found != expected {
        return Err(Failed::Rejected(StoreError::VersionConflict { expected, found }));
    }
    let owned = locked_library(&mut tx, room).await?;
    if let Some(game) = map.first_unowned_game(&owned) {
        return Err(Failed::Rejected(StoreError::GameNotOwned(game)));
    }
    let version = found + 1;
    // The row is locked, so the version and epoch conditions hold; they are
    // repeated here so that the statement alone never breaks the rules.
    let written = sqlx::query(
        "UPDATE room_maps SET map_doc = ?, version = ?, epoch = ?, updated_at = UTC_TIMESTAMP(3) \
         WHERE owner_id = ? AND version = ? AND epoch <= ?",
    )
    .bind(text)
    .bind(version)
    .bind(epoch)
    .bind(room.0)
    .bind(found)
    .bind(epoch)
    .execute(&mut *tx)
    .await?;
    if written.rows_affected() != 1 {
        // The row is locked by this transaction, so this would be a server bug.
        return Err(Failed::Db(sqlx::Error::Protocol(format!(
            "room {room}: the locked map row was not updated"
        ))));
    }
    tx.commit().await?;
    Ok(version)
}

/// The room's stored version and epoch, with its row locked until the
/// transaction ends. A room that never had a map gets a row at version 0,
/// epoch 0 (rolled back with the transaction if the save fails), so two first
/// saves also serialize on it.
async fn lock_version(conn: &mut MySqlConnection, room: RoomId) -> Result<(u64, u64), Failed> {
    let owner: Option<u64> = sqlx::query_scalar("SELECT id FROM users WHERE id = ?")
        .bind(room.0)
        .fetch_optional(&mut *conn)
        .await?;
    if owner.is_none() {
        return Err(Failed::Rejected(StoreError::RoomNotFound(room)));
    }
    sqlx::query(
        "INSERT INTO room_maps (owner_id, map_doc, version, epoch, updated_at) \
         VALUES (?, NULL, 0, 0, UTC_TIMESTAMP(3)) \
         ON DUPLICATE KEY UPDATE owner_id = owner_id",
    )
    .bind(room.0)
    .execute(&mut *conn)
    .await?;
    let stored: (u64, u64) =
        sqlx::query_as("SELECT version, epoch FROM room_maps WHERE owner_id = ? FOR UPDATE")
            .bind(room.0)
            .fetch_one(&mut *conn)
            .await?;
    Ok(stored)
}

/// The owner's games, share-locked until the transaction ends.
async fn locked_library(conn: &mut MySqlConnection, room: RoomId) -> Result<BTreeSet<GameId>, Failed> {
    let games: Vec<u64> =
        sqlx::query_scalar("SELECT game_id FROM library WHERE user_id = ? LOCK IN SHARE MODE")
            .bind(room.owner().0)
            .fetch_all(&mut *conn)
            .await?;
    Ok(games.into_iter().map(GameId).collect())
}
