//! A database of its own for each test, dropped at the end (also on panic).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use adapter_mysql::{MysqlConfig, MysqlStore};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

/// The server the tests use, without a database (`mysql://user:pass@host:port`).
pub fn base_url() -> String {
    std::env::var("MYROOM_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

/// `base` with the database `name`, keeping any `?query`.
pub fn url_with_database(base: &str, name: &str) -> String {
    let (server, query) = base.split_once('?').map_or((base, None), |(s, q)| (s, Some(q)));
    let server = server.trim_end_matches('/');
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

/// `url` with its `host:port` replaced by `127.0.0.1:port`.
pub fn url_via_port(url: &str, port: u16) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let authority_start = url[scheme_end..]
        .find('@')
        .map_or(scheme_end, |i| scheme_end + i + 1);
    let authority_end = url[authority_start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| authority_start + i);
    format!(
        "{}127.0.0.1:{port}{}",
        &url[..authority_start],
        &url[authority_end..]
    )
}

/// A fresh database `myroom_test_<random>` on the test server.
pub struct TestDb {
    /// The database's name.
    pub name: String,
    /// A URL naming it.
    pub url: String,
    base: String,
    dropped: bool,
}

impl TestDb {
    /// Create the database; an unreachable server is a clear failure, never a skip.
    pub async fn create() -> TestDb {
        let base = base_url();
        let name = format!("myroom_test_{:016x}", random());
        let mut conn = match tokio::time::timeout(Duration::from_secs(15), connect(&base)).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(error)) => panic!(
                "cannot reach the test MariaDB at {base}: {error}. \
                 Start it, or set MYROOM_TEST_MYSQL_URL to a reachable server."
            ),
            Err(_) => panic!("the test MariaDB at {base} did not answer within 15 s"),
        };
        conn.execute(AssertSqlSafe(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4"
        )))
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let _ = conn.close().await;
        let url = url_with_database(&base, &name);
        TestDb {
            name,
            url,
            base,
            dropped: false,
        }
    }

    /// Store settings for this database, with short timeouts for tests.
    pub fn config(&self) -> MysqlConfig {
        let mut config = MysqlConfig::new(self.url.clone());
        config.max_connections = 4;
        config
    }

    /// A migrated store on this database.
    pub async fn store(&self) -> MysqlStore {
        MysqlStore::connect(self.config())
            .await
            .unwrap_or_else(|e| panic!("store on {}: {e}", self.name))
    }

    /// A plain connection to this database, to look at or tamper with rows.
    pub async fn admin(&self) -> MySqlConnection {
        connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("admin connection to {}: {e}", self.name))
    }

    /// Run `sql` (no arguments) on this database.
    pub async fn exec(&self, sql: &str) {
        let mut conn = self.admin().await;
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.close().await;
    }

    /// Drop the database.
    pub async fn drop_db(mut self) {
        self.dropped = true;
        drop_database(&self.base, &self.name).await;
    }
}

impl Drop for TestDb {
    /// A test that panicked still removes its database (on a thread of its own,
    /// since this may run inside the test's runtime).
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (base, name) = (self.base.clone(), self.name.clone());
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for cleanup");
            runtime.block_on(drop_database(&base, &name));
        });
        let _ = cleanup.join();
    }
}

async fn connect(url: &str) -> Result<MySqlConnection, sqlx::Error> {
    MySqlConnectOptions::from_str(url)?.connect().await
}

async fn drop_database(base: &str, name: &str) {
    let dropped = async {
        let mut conn = connect(base).await?;
        conn.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
            .await?;
        conn.close().await
    };
    match tokio::time::timeout(Duration::from_secs(15), dropped).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => eprintln!("could not drop test database {name}: {error}"),
        Err(_) => eprintln!("dropping test database {name} did not finish within 15 s"),
    }
}

fn random() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    hasher.finish()
}
