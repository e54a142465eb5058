//! Seeding users and their libraries at start (idempotent upserts).

use room_ports::{StoreError, UserSeed};
use sqlx::{MySqlConnection, MySqlPool};

use crate::error::to_store_error;

/// Create or update every user, game and library row of `users` in one
/// transaction. Seeding adds and renames; it never removes a game from a
/// library. A game seeded with an empty name keeps the name it has, or is
/// called "Game {id}" if it is new.
pub(crate) async fn seed_users(pool: &MySqlPool, users: &[UserSeed]) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(to_store_error)?;
    for user in users {
        seed_one(&mut tx, user).await.map_err(to_store_error)?;
    }
    tx.commit().await.map_err(to_store_error)?;
    tracing::info!(users = users.len(), "seeded users");
    Ok(())
}

async fn seed_one(conn: &mut MySqlConnection, user: &UserSeed) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO users (id, nickname) VALUES (?, ?) ON DUPLICATE KEY UPDATE nickname = ?")
        .bind(user.user.0)
        .bind(&user.nickname)
        .bind(&user.nickname)
        .execute(&mut *conn)
        .await?;
    for game in &user.games {
        if game.name.is_empty() {
            sqlx::query("INSERT INTO games (id, name) VALUES (?, ?) ON DUPLICATE KEY UPDATE id = id")
                .bind(game.id.0)
                .bind(format!("Game {}", game.id))
                .execute(&mut *conn)
                .await?;
        } else {
            sqlx::query("INSERT INTO games (id, name) VALUES (?, ?) ON DUPLICATE KEY UPDATE name = ?")
                .bind(game.id.0)
                .bind(&game.name)
                .bind(&game.name)
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query(
            "INSERT INTO library (user_id, game_id) VALUES (?, ?) ON DUPLICATE KEY UPDATE user_id = user_id",
        )
        .bind(user.user.0)
        .bind(game.id.0)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
