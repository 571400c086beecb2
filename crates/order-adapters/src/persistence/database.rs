//! The database the store keeps orders in: an embedded SQLite file, or a PostgreSQL
//! server shared by many instances of the service. Both run the same Diesel queries
//! (see [`on_database!`]); what differs is how connections are pooled and how a write
//! transaction begins.

use anyhow::anyhow;
use order_domain::RepositoryError;

use super::group_commit::WriteCounts;
use super::migrations::{Readiness, SQLITE_MIGRATIONS, readiness_of};
use super::pool::{DatabaseOptions, PoolState, PoolUse};
use super::postgres::{PostgresBackend, open_postgres};
use super::sqlite::{SqliteBackend, open_sqlite};
use super::url::DatabaseUrl;

#[derive(Clone)]
pub(crate) enum Backend {
    Sqlite(SqliteBackend),
    Postgres(PostgresBackend),
}

/// The database and its connection pools. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    url: DatabaseUrl,
    pub(crate) backend: Backend,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.url.masked())
            .finish_non_exhaustive()
    }
}

/// Runs the same Diesel code on whichever connection type the database has: `$body`
/// is compiled once per backend, with `$conn` bound to that backend's connection.
macro_rules! on_database {
    ($database:expr, $mode:ident, |$conn:ident| $body:expr) => {
        match &$database.backend {
            $crate::persistence::database::Backend::Sqlite(pools) => {
                pools
                    .$mode(move |$conn: &mut diesel::SqliteConnection| $body)
                    .await
            }
            $crate::persistence::database::Backend::Postgres(pools) => {
                pools
                    .$mode(move |$conn: &mut diesel::PgConnection| $body)
                    .await
            }
        }
    };
}
pub(crate) use on_database;

impl Database {
    /// Connects (creating the SQLite file if need be) and applies pending migrations;
    /// instances starting together on one PostgreSQL database apply them once.
    ///
    /// # Errors
    /// When the database cannot be reached or a migration fails.
    pub fn open(url: &DatabaseUrl, options: &DatabaseOptions) -> anyhow::Result<Self> {
        let backend = match url {
            DatabaseUrl::Sqlite(path) => Backend::Sqlite(open_sqlite(path, options)?),
            DatabaseUrl::Postgres(url) => Backend::Postgres(open_postgres(url, options)?),
        };
        Ok(Self {
            url: url.clone(),
            backend,
        })
    }

    /// Where the database is, its password masked.
    pub fn describe(&self) -> String {
        self.url.masked()
    }

    /// Whether this process can still write: false once the SQLite writer thread has
    /// stopped, which nothing short of a restart brings back. Always true on
    /// PostgreSQL, whose connections are made again as needed.
    pub fn can_write(&self) -> bool {
        match &self.backend {
            Backend::Sqlite(sqlite) => sqlite.writer.is_running(),
            Backend::Postgres(_) => true,
        }
    }

    /// Whether the database answers now and every migration this binary knows is
    /// applied (another instance may have applied them, or a newer one more).
    ///
    /// # Errors
    /// [`RepositoryError`] when the database does not answer.
    pub async fn readiness(&self) -> Result<Readiness, RepositoryError> {
        match &self.backend {
            Backend::Sqlite(sqlite) => {
                if !self.can_write() {
                    return Err(RepositoryError::Unreached(anyhow!(
                        "the database writer has stopped"
                    )));
                }
                sqlite
                    .read_on_thread(|conn| readiness_of(conn, SQLITE_MIGRATIONS))
                    .await
            }
            Backend::Postgres(postgres) => postgres.probe().await,
        }
    }

    /// Gives the committed events their positions in the feed, where the database does
    /// not do it as it commits them (PostgreSQL: see `events.rs`).
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    pub(crate) async fn sequence_events(&self) -> Result<(), RepositoryError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(postgres) => postgres.write(super::events::sequence_events).await,
        }
    }

    /// How the connection pools are used now.
    pub fn pool_use(&self) -> Vec<PoolUse> {
        let state = |name, pool: &dyn PoolState| {
            let (connections, idle) = pool.counts();
            PoolUse {
                pool: name,
                connections,
                idle,
                max: pool.max(),
            }
        };
        match &self.backend {
            // The writer has its one connection, always held.
            Backend::Sqlite(sqlite) => vec![state("readers", &sqlite.readers.pool)],
            // One pool serves both.
            Backend::Postgres(postgres) => vec![state("shared", &postgres.pool.pool)],
        }
    }

    /// What SQLite's group-commit writer has done; `None` on PostgreSQL, which commits
    /// every write on its own.
    pub fn write_counts(&self) -> Option<WriteCounts> {
        match &self.backend {
            Backend::Sqlite(sqlite) => Some(sqlite.writer.stats().counts()),
            Backend::Postgres(_) => None,
        }
    }

    /// Closes the database as the service stops: on SQLite, folds the write-ahead log
    /// into the database file, so that the file alone holds everything. The
    /// connections close as the last handles to the pools are dropped.
    ///
    /// # Errors
    /// [`RepositoryError`] when the checkpoint fails; nothing is lost then, SQLite
    /// replays the log when the file is next opened.
    pub async fn close(&self) -> Result<(), RepositoryError> {
        match &self.backend {
            Backend::Sqlite(sqlite) => sqlite.writer.close().await,
            Backend::Postgres(_) => Ok(()),
        }
    }
}
