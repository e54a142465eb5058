//! Setting aside a stored map that cannot be read: moved to
//! `room_maps_set_aside`, never overwritten, and the room row keeps its
//! version with no map, so its owner can BUILD over it.

use room_core::RoomId;
use room_ports::StoreError;
use sqlx::MySqlPool;

use crate::error::to_store_error;

/// Move `room`'s map at `version` aside; where it went, or `None` if the row
/// changed meanwhile (a save replaced it).
pub(crate) async fn set_aside(
    pool: &MySqlPool,
    room: RoomId,
    version: u64,
    why: &str,
) -> Result<Option<String>, StoreError> {
    let mut tx = pool.begin().await.map_err(to_store_error)?;
    let reason: String = why.chars().take(1000).collect();
    let copied = sqlx::query(
        "INSERT INTO room_maps_set_aside (owner_id, version, map_doc, reason, set_aside_at) \
         SELECT owner_id, version, map_doc, ?, UTC_TIMESTAMP(3) FROM room_maps \
         WHERE owner_id = ? AND version = ? AND map_doc IS NOT NULL",
    )
    .bind(&reason)
    .bind(room.0)
    .bind(version)
    .execute(&mut *tx)
    .await
    .map_err(to_store_error)?;
    if copied.rows_affected() != 1 {
        return Ok(None);
    }
    let id: u64 = sqlx::query_scalar("SELECT LAST_INSERT_ID()")
        .fetch_one(&mut *tx)
        .await
        .map_err(to_store_error)?;
    let cleared = sqlx::query(
        "UPDATE room_maps SET map_doc = NULL, updated_at = UTC_TIMESTAMP(3) \
         WHERE owner_id = ? AND version = ? AND map_doc IS NOT NULL",
    )
    .bind(room.0)
    .bind(version)
    .execute(&mut *tx)
    .await
    .map_err(to_store_error)?;
    if cleared.rows_affected() != 1 {
        // Dropping the transaction rolls the copy back.
        return Ok(None);
    }
    tx.commit().await.map_err(to_store_error)?;
    tracing::error!(%room, version, set_aside_id = id, %why, "stored map cannot be read; moved it to room_maps_set_aside");
    Ok(Some(format!("room_maps_set_aside id {id}, version {version}")))
}
