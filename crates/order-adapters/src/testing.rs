//! Databases for tests: each test gets one of its own, so tests run in parallel and
//! leave nothing behind. Behind the `testing` feature; not for production use.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::{
    Connection, ExpressionMethods, PgConnection, QueryDsl, RunQueryDsl, SqliteConnection,
};
use tempfile::TempDir;
use uuid::Uuid;

use crate::persistence::database::on_database;
use crate::persistence::schema::{demo_reservations, effects};
use crate::persistence::{Database, DatabaseUrl};

/// The variable that names the PostgreSQL server tests may use.
pub const POSTGRES_URL_VARIABLE: &str = "ORDERS_TEST_DATABASE_URL";

/// Whether the tests run under CI (`CI` set, as CI services do, and not `false`):
/// there a test whose database or broker is missing fails instead of skipping, so a
/// green run never hides tests that did not run.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| !matches!(value.as_str(), "" | "0" | "false"))
}

/// The PostgreSQL server tests may use, or `None` (after saying so on stderr) when
/// [`POSTGRES_URL_VARIABLE`] is unset and PostgreSQL tests must be skipped.
///
/// # Panics
/// When it is unset [`under_ci`]: the test fails rather than pass without running.
pub fn postgres_server() -> Option<String> {
    let url = std::env::var(POSTGRES_URL_VARIABLE)
        .ok()
        .filter(|url| !url.is_empty());
    if url.is_none() {
        assert!(
            !under_ci(),
            "CI is set but {POSTGRES_URL_VARIABLE} is not: the PostgreSQL tests must run"
        );
        eprintln!("skipping a PostgreSQL test: {POSTGRES_URL_VARIABLE} is not set");
    }
    url
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary folder.
    Sqlite,
    /// A schema of its own on the server of [`POSTGRES_URL_VARIABLE`].
    Postgres,
}

/// A database of one test's own, removed when this value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    url: DatabaseUrl,
    // Held for their `Drop`, which removes the database.
    _sqlite_dir: Option<TempDir>,
    _postgres_schema: Option<PostgresSchema>,
}

impl TestDatabase {
    /// A fresh, empty database on `backend`.
    ///
    /// # Errors
    /// When the temporary folder cannot be made, or the PostgreSQL server is unset or
    /// unreachable.
    pub fn create(backend: Backend) -> anyhow::Result<Self> {
        Ok(match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                Self {
                    url: DatabaseUrl::Sqlite(dir.path().join("orders.db")),
                    _sqlite_dir: Some(dir),
                    _postgres_schema: None,
                }
            }
            Backend::Postgres => {
                let server = postgres_server()
                    .with_context(|| format!("{POSTGRES_URL_VARIABLE} is not set"))?;
                let schema = PostgresSchema::create(&server)?;
                Self {
                    url: schema.url(),
                    _sqlite_dir: None,
                    _postgres_schema: Some(schema),
                }
            }
        })
    }

    /// Where the database is.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }
}

/// How many stock releases `database` still owes the inventory: recorded (a placement's
/// guard among them), and so to be made or tried again. Reads only; the service's
/// retries go on undisturbed.
///
/// # Errors
/// When the database fails.
pub async fn owed_releases(database: &Database) -> anyhow::Result<i64> {
    let owed = on_database!(database, read, |conn| Ok(effects::table
        .filter(effects::kind.eq("release_reservation"))
        .count()
        .get_result::<i64>(conn)?));
    Ok(owed?)
}

/// The ids of the reservations the built-in demo inventory holds.
///
/// # Errors
/// When the database fails.
pub async fn demo_reservation_ids(database: &Database) -> anyhow::Result<HashSet<String>> {
    let ids = on_database!(database, read, |conn| Ok(demo_reservations::table
        .select(demo_reservations::reservation_id)
        .distinct()
        .load::<String>(conn)?));
    Ok(ids?.into_iter().collect())
}

/// SQLite's write lock on a database file, held by a connection of the test's own
/// until dropped, as a long write of another process would hold it: the service's
/// writer waits for it (up to its busy timeout), and the service's writes queue behind.
#[allow(missing_debug_implementations)]
pub struct SqliteWriteLock(SqliteConnection);

impl SqliteWriteLock {
    /// Takes the write lock of `url`'s file.
    ///
    /// # Errors
    /// When `url` is not a SQLite database, or its lock cannot be had.
    pub fn take(url: &DatabaseUrl) -> anyhow::Result<Self> {
        let DatabaseUrl::Sqlite(path) = url else {
            anyhow::bail!("not a SQLite database");
        };
        let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
        // Waits its turn behind the service's writer, which may hold the lock now.
        conn.batch_execute("PRAGMA busy_timeout = 10000; BEGIN IMMEDIATE")?;
        Ok(Self(conn))
    }
}

impl Drop for SqliteWriteLock {
    fn drop(&mut self) {
        let _ = self.0.batch_execute("ROLLBACK");
    }
}

/// Runs each named test, an `async fn(Backend) -> anyhow::Result<()>` of the calling
/// module, on SQLite and, when [`POSTGRES_URL_VARIABLE`] is set, on PostgreSQL: one
/// suite, both backends, as `sqlite::<name>` and `postgres::<name>`.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        $crate::on_one_backend!($($test),*);
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() -> ::anyhow::Result<()> {
                    if $crate::testing::postgres_server().is_none() {
                        return Ok(());
                    }
                    super::$test($crate::testing::Backend::Postgres).await
                }
            )*
        }
    };
}

/// Runs each named test, an `async fn(Backend) -> anyhow::Result<()>` of the calling
/// module, on SQLite only, as `sqlite::<name>`: for tests of what does not depend on the
/// database (the HTTP layer against its document, its conventions), which a second
/// backend would only run twice.
#[macro_export]
macro_rules! on_one_backend {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() -> ::anyhow::Result<()> {
                    super::$test($crate::testing::Backend::Sqlite).await
                }
            )*
        }
    };
}

/// Waits until `probe` finds what it looks for (`Ok(true)`), asking again every few
/// milliseconds for at most `within`; the error names `what` was awaited, and a probe's
/// error ends the wait at once. For waiting on what happens in the background (a retry,
/// a relay, a recovery) without sleeping a fixed time in its stead.
///
/// # Errors
/// The probe's error, or `within` passed without it finding what it looks for.
pub async fn eventually(
    within: Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if probe().await? {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "not {what} after {within:?}");
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// How long [`eventually`] waits between probes: short beside any deadline, long
/// enough not to keep a core busy.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// A schema of its own on a PostgreSQL server, dropped with everything in it when this
/// value is dropped.
#[derive(Debug)]
pub struct PostgresSchema {
    server: String,
    name: String,
}

impl PostgresSchema {
    /// Creates a fresh schema on `server`.
    ///
    /// # Errors
    /// When the server cannot be reached.
    pub fn create(server: &str) -> anyhow::Result<Self> {
        let name = format!("test_{}", Uuid::new_v4().simple());
        let mut conn =
            PgConnection::establish(server).context("cannot reach the test PostgreSQL server")?;
        diesel::sql_query(format!("CREATE SCHEMA {name}")).execute(&mut conn)?;
        Ok(Self {
            server: server.to_owned(),
            name,
        })
    }

    /// A URL whose connections see only this schema.
    pub fn url(&self) -> DatabaseUrl {
        let separator = if self.server.contains('?') { '&' } else { '?' };
        DatabaseUrl::Postgres(format!(
            "{}{separator}options=-csearch_path%3D{}",
            self.server, self.name
        ))
    }
}

impl Drop for PostgresSchema {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.server) {
            // Best effort: a schema left behind only costs disk space, so waiting long
            // for a lock a leftover connection holds is not worth a stuck test run.
            let _ = conn.batch_execute(&format!(
                "SET lock_timeout = '5s'; DROP SCHEMA {} CASCADE",
                self.name
            ));
        }
    }
}
