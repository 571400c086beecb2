//! The embedded SQLite database: one file, opened in WAL mode with full fsync, one
//! writer connection (SQLite serialises writers anyway, and queueing them here beats
//! letting them fight over the lock) and a pool of readers that never wait for it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::{Connection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use order_domain::RepositoryError;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

type SqlitePool = Pool<ConnectionManager<SqliteConnection>>;

/// How the database's connections are pooled.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Connections that serve reads.
    pub readers: u32,
    /// How long a request waits for a connection before the database counts as
    /// unavailable.
    pub connection_timeout: Duration,
    /// How long a statement waits for SQLite's lock (`busy_timeout`).
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            readers: 4,
            connection_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// Settings SQLite keeps per connection, so each new one gets them.
#[derive(Debug)]
struct Pragmas {
    busy_timeout_ms: u128,
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // synchronous=FULL: a commit is on disk before the client hears of it.
        conn.batch_execute(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {};",
            self.busy_timeout_ms
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The database file and its connections. Cheap to clone.
#[derive(Clone)]
pub struct SqliteDatabase {
    path: PathBuf,
    writer: SqlitePool,
    readers: SqlitePool,
}

impl std::fmt::Debug for SqliteDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDatabase")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteDatabase {
    /// Opens (creating if need be) the database file and applies pending migrations.
    ///
    /// # Errors
    /// When the file cannot be opened or a migration fails.
    pub fn open(path: &Path, options: &SqliteOptions) -> anyhow::Result<Self> {
        let pool = |size| {
            let url = path
                .to_str()
                .ok_or_else(|| anyhow!("the database path is not UTF-8"))?;
            Pool::builder()
                .max_size(size)
                .connection_timeout(options.connection_timeout)
                .connection_customizer(Box::new(Pragmas {
                    busy_timeout_ms: options.busy_timeout.as_millis(),
                }))
                .build(ConnectionManager::<SqliteConnection>::new(url))
                .with_context(|| format!("cannot open the SQLite database {}", path.display()))
        };
        let writer = pool(1)?;
        writer
            .get()
            .context("cannot connect to the SQLite database")?
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow!(e))
            .context("cannot apply the database migrations")?;
        Ok(Self {
            path: path.to_owned(),
            writer,
            readers: pool(options.readers.max(1))?,
        })
    }

    /// Runs `work` on the writer connection inside one `BEGIN IMMEDIATE` transaction,
    /// off the async runtime: all of it commits, or none.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, RepositoryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> anyhow::Result<T> + Send + 'static,
    {
        run_blocking(self.writer.clone(), |conn| conn.immediate_transaction(work)).await
    }

    /// Runs `work` on a reader connection inside one (deferred) transaction, so that it
    /// reads one consistent snapshot.
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, RepositoryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> anyhow::Result<T> + Send + 'static,
    {
        run_blocking(self.readers.clone(), |conn| conn.transaction(work)).await
    }
}

async fn run_blocking<T, F>(pool: SqlitePool, work: F) -> Result<T, RepositoryError>
where
    T: Send + 'static,
    F: FnOnce(&mut SqliteConnection) -> anyhow::Result<T> + Send + 'static,
{
    let span = tracing::Span::current();
    let outcome = tokio::task::spawn_blocking(move || {
        span.in_scope(|| {
            let mut conn: PooledConnection<_> = pool.get().map_err(|e| {
                RepositoryError::Unavailable(anyhow!(e).context("no database connection"))
            })?;
            work(&mut conn).map_err(classify)
        })
    })
    .await;
    outcome.unwrap_or_else(|e| {
        Err(RepositoryError::Internal(
            anyhow!(e).context("database task failed"),
        ))
    })
}

/// A locked or busy database is a passing condition; anything else is a fault.
fn classify(error: anyhow::Error) -> RepositoryError {
    let busy = error.chain().any(|cause| {
        let text = cause.to_string();
        text.contains("database is locked") || text.contains("database is busy")
    });
    if busy {
        RepositoryError::Unavailable(error)
    } else {
        RepositoryError::Internal(error)
    }
}
