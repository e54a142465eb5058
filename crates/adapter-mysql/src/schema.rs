//! Embedded schema migrations, run at every start.
//!
//! The SQL files are compiled in with `include_str!`. Applied versions are
//! recorded in `myroom_schema`; a server-side named lock (`GET_LOCK`) keeps two
//! nodes starting together from migrating at once. Every statement is
//! idempotent, so a migration interrupted halfway is simply run again on the
//! next start (no "dirty" state to repair by hand).

use std::collections::BTreeSet;
use std::time::Duration;

use sqlx::MySqlConnection;

/// One schema step.
struct Migration {
    version: u32,
    description: &'static str,
    sql: &'static str,
}

/// Every schema step, oldest first.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "users, games, library, room_maps",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        description: "room_maps_set_aside",
        sql: include_str!("../migrations/0002_room_maps_set_aside.sql"),
    },
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: u32 = 2;

const CREATE_VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS myroom_schema (
    version     INT UNSIGNED NOT NULL,
    description VARCHAR(255) NOT NULL,
    applied_at  DATETIME(3)  NOT NULL,
    PRIMARY KEY (version)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4";

/// Longest wait for another node's migration to finish.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// A failed step: which migration (0 for the bookkeeping) and why.
pub(crate) struct MigrateFailure {
    pub version: u32,
    pub description: &'static str,
    pub source: sqlx::Error,
}

/// Bring the schema of `conn`'s database up to [`SCHEMA_VERSION`].
/// Returns the versions applied by this call.
pub(crate) async fn migrate(conn: &mut MySqlConnection) -> Result<Vec<u32>, MigrateFailure> {
    let bookkeeping = |source| MigrateFailure {
        version: 0,
        description: "schema bookkeeping",
        source,
    };
    let locked: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(GET_LOCK(LEFT(CONCAT('myroom_schema:', DATABASE()), 64), ?) AS SIGNED)",
    )
    .bind(LOCK_WAIT.as_secs())
    .fetch_one(&mut *conn)
    .await
    .map_err(bookkeeping)?;
    if locked != Some(1) {
        return Err(bookkeeping(sqlx::Error::Protocol(format!(
            "another node held the migration lock for {LOCK_WAIT:?}"
        ))));
    }
    let applied = apply_missing(conn).await;
    let released = sqlx::query("DO RELEASE_LOCK(LEFT(CONCAT('myroom_schema:', DATABASE()), 64))")
        .execute(&mut *conn)
        .await;
    let applied = applied?;
    released.map_err(bookkeeping)?;
    Ok(applied)
}

async fn apply_missing(conn: &mut MySqlConnection) -> Result<Vec<u32>, MigrateFailure> {
    let bookkeeping = |source| MigrateFailure {
        version: 0,
        description: "schema bookkeeping",
        source,
    };
    sqlx::raw_sql(CREATE_VERSION_TABLE)
        .execute(&mut *conn)
        .await
        .map_err(bookkeeping)?;
    let done: BTreeSet<u32> = sqlx::query_scalar("SELECT version FROM myroom_schema")
        .fetch_all(&mut *conn)
        .await
        .map_err(bookkeeping)?
        .into_iter()
        .collect();

    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        let failed = |source| MigrateFailure {
            version: migration.version,
            description: migration.description,
            source,
        };
        sqlx::raw_sql(migration.sql)
            .execute(&mut *conn)
            .await
            .map_err(failed)?;
        sqlx::query(
            "INSERT INTO myroom_schema (version, description, applied_at) VALUES (?, ?, UTC_TIMESTAMP(3))",
        )
        .bind(migration.version)
        .bind(migration.description)
        .execute(&mut *conn)
        .await
        .map_err(failed)?;
        tracing::info!(
            version = migration.version,
            migration.description,
            "applied schema migration"
        );
        applied.push(migration.version);
    }
    if let Some(newer) = done.iter().find(|v| **v > SCHEMA_VERSION) {
        tracing::warn!(
            found = newer,
            known = SCHEMA_VERSION,
            "the database has a newer schema than this build knows; continuing"
        );
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_increasing_and_end_at_the_current_one() {
        let versions: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(versions.last(), Some(&SCHEMA_VERSION));
    }

    #[test]
    fn every_statement_is_idempotent() {
        for migration in MIGRATIONS {
            for statement in migration.sql.split(';').map(str::trim) {
                let code: String = statement
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("--"))
                    .collect::<Vec<_>>()
                    .join("\n");
                let code = code.trim();
                if code.is_empty() {
                    continue;
                }
                assert!(
                    code.starts_with("CREATE TABLE IF NOT EXISTS"),
                    "migration {} has a statement that is not idempotent: {code}",
                    migration.version
                );
            }
        }
    }
}
