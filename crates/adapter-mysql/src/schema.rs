//! Embedded schema migrations, run at every start by sqlx's [`Migrator`].
//!
//! The SQL files are compiled in with `include_str!` (`Migrator::new(path)`
//! would read them from disk at run time, and `migrate!` needs sqlx's
//! `macros` feature). sqlx records applied versions in `_sqlx_migrations`.
//!
//! Nodes that start together take turns through a named lock of our own:
//! sqlx's (`GET_LOCK(name, -1)`) waits forever on MySQL, but MariaDB has no
//! negative timeout and returns at once without the lock, so two nodes would
//! apply the same migration (a duplicate-key error for one of them).
//!
//! MySQL commits every DDL statement on its own, so no transaction undoes a
//! migration cut off halfway: sqlx then finds its row `success = FALSE` and
//! refuses the database as "dirty". Every statement here is idempotent, so
//! such a migration is simply run again (its row cleared first). The same
//! makes a database migrated by the runner this replaced (bookkeeping in
//! `myroom_schema`, no `_sqlx_migrations`) safe: every migration runs once
//! more over what is there, changing nothing, and migration 3 drops the old
//! table.

use std::time::Duration;

use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::{MySqlConnection, SqlSafeStr};

/// One schema step, as embedded.
pub(crate) struct Step {
    pub version: i64,
    pub description: &'static str,
    pub sql: &'static str,
}

/// Every schema step, oldest first.
pub(crate) const STEPS: &[Step] = &[
    Step {
        version: 1,
        description: "users, games, library, room_maps",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Step {
        version: 2,
        description: "room_maps_set_aside",
        sql: include_str!("../migrations/0002_room_maps_set_aside.sql"),
    },
    Step {
        version: 3,
        description: "drop the old runner's myroom_schema",
        sql: include_str!("../migrations/0003_drop_myroom_schema.sql"),
    },
    Step {
        version: 4,
        description: "room_maps.epoch",
        sql: include_str!("../migrations/0004_room_maps_epoch.sql"),
    },
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: u32 = 4;

/// Longest wait for another node's migration to finish.
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(30);

/// The lock's name: the one the replaced runner took, so that a node of the
/// previous build starting at the same time takes turns with this one too.
const LOCK_NAME: &str = "LEFT(CONCAT('myroom_schema:', DATABASE()), 64)";

/// Why the schema could not be brought up to date.
pub(crate) enum Failure {
    /// Another node held the migration lock for [`LOCK_WAIT`].
    Locked,
    /// What sqlx reported.
    Migrate(MigrateError),
}

impl From<MigrateError> for Failure {
    fn from(error: MigrateError) -> Self {
        Failure::Migrate(error)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Self {
        Failure::Migrate(MigrateError::Execute(error))
    }
}

fn migrator() -> Migrator {
    let migrations = STEPS
        .iter()
        .map(|step| {
            Migration::new(
                step.version,
                step.description.into(),
                MigrationType::Simple,
                step.sql.into_sql_str(),
                false,
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.set_locking(false);
    // A database a newer build has migrated further still serves this one
    // (nodes of two versions during a rolling upgrade).
    migrator.set_ignore_missing(true);
    migrator
}

/// Bring the schema of `conn`'s database up to [`SCHEMA_VERSION`]; the
/// newest version the database has afterwards.
pub(crate) async fn migrate(conn: &mut MySqlConnection) -> Result<i64, Failure> {
    let locked: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT CAST(GET_LOCK({LOCK_NAME}, ?) AS SIGNED)"
    )))
    .bind(LOCK_WAIT.as_secs())
    .fetch_one(&mut *conn)
    .await?;
    if locked != Some(1) {
        return Err(Failure::Locked);
    }
    let migrated = migrate_locked(conn).await;
    let released = sqlx::query(sqlx::AssertSqlSafe(format!("DO RELEASE_LOCK({LOCK_NAME})")))
        .execute(&mut *conn)
        .await;
    let newest = migrated?;
    released?;
    Ok(newest)
}

async fn migrate_locked(conn: &mut MySqlConnection) -> Result<i64, Failure> {
    let migrator = migrator();
    let mut cleared = 0;
    loop {
        // `run_direct` is what `run` calls; sqlx offers it because through
        // `run`'s `Acquire` bound the compiler cannot prove the future `Send`
        // (which a spawned `connect` needs).
        match migrator.run_direct(None, &mut *conn, false).await {
            Ok(()) => break,
            Err(MigrateError::Dirty(version))
                if migrator.version_exists(version) && cleared < STEPS.len() =>
            {
                tracing::warn!(
                    version,
                    "schema migration was cut off before it finished; running it again (it is idempotent)"
                );
                sqlx::query("DELETE FROM _sqlx_migrations WHERE version = ? AND success = FALSE")
                    .bind(version)
                    .execute(&mut *conn)
                    .await?;
                cleared += 1;
            }
            Err(error) => return Err(error.into()),
        }
    }
    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut *conn)
        .await?;
    let newest = newest.unwrap_or(0);
    if newest > i64::from(SCHEMA_VERSION) {
        tracing::warn!(
            found = newest,
            known = SCHEMA_VERSION,
            "the database has a newer schema than this build knows; continuing"
        );
    }
    Ok(newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_increasing_and_end_at_the_current_one() {
        let versions: Vec<i64> = STEPS.iter().map(|s| s.version).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(versions.last(), Some(&i64::from(SCHEMA_VERSION)));
    }

    /// Every file of `migrations/` is embedded, as it is on disk.
    #[test]
    fn every_migration_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
            .expect("the migrations directory")
            .map(|entry| {
                let path = entry.expect("an entry").path();
                let name = path.file_name().expect("a name").to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&path).expect("a readable file"))
            })
            .collect();
        files.sort();
        assert_eq!(files.len(), STEPS.len(), "{files:?}");
        for ((name, text), step) in files.iter().zip(STEPS) {
            assert!(name.starts_with(&format!("{:04}_", step.version)), "{name}");
            assert_eq!(text, step.sql, "{name}");
        }
    }
}
