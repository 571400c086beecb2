//! The database the store keeps orders in: an embedded SQLite file, or a PostgreSQL
//! server shared by many instances of the service. Both run the same Diesel queries
//! (see [`on_database!`]); what differs is how connections are pooled and how a write
//! transaction begins.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, R2D2Connection};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::group_commit::GroupCommitWriter;
use order_domain::RepositoryError;
use tokio::sync::Semaphore;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Instances starting together take this advisory lock, so that one of them applies the
/// migrations while the others wait, then find nothing left to do.
const MIGRATION_LOCK: i64 = 0x6f72_6465_7273;

/// Where the orders are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An embedded SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server (`postgres://…`, libpq's URL syntax).
    Postgres(String),
}

impl DatabaseUrl {
    /// Parses `sqlite://PATH` (relative, or absolute as `sqlite:///PATH`), `sqlite:PATH`,
    /// or `postgres://…` / `postgresql://…`.
    ///
    /// # Errors
    /// When the URL has none of these forms.
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        url.strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .filter(|path| !path.is_empty())
            .map(|path| Self::Sqlite(PathBuf::from(path)))
            .ok_or_else(|| "is neither a sqlite://PATH nor a postgres:// URL".to_owned())
    }

    /// The URL with any password replaced by `***`, for logs and `check-config`.
    pub fn masked(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            Self::Postgres(url) => masked_url(url),
        }
    }
}

/// `url` with the password of its user, if any, replaced by `***`: fit for logs and
/// printed configuration.
pub fn masked_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// How connections are pooled.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// Connections that serve reads on SQLite (writes have their own single one), or
    /// all connections on PostgreSQL.
    pub pool_size: u32,
    /// How long a request waits for a connection before the database counts as
    /// unavailable (503).
    pub connection_timeout: Duration,
    /// How long a statement waits for SQLite's lock (`busy_timeout`).
    pub busy_timeout: Duration,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self {
            pool_size: 8,
            connection_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// Settings SQLite keeps per connection, so each new one gets them.
#[derive(Debug, Clone, Copy)]
struct SqlitePragmas {
    busy_timeout_ms: u128,
}

impl SqlitePragmas {
    fn apply(self, conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
        // synchronous=FULL: a commit is on disk before the client hears of it.
        // temp_store=MEMORY: the journals that let each write of a batch roll back alone
        // (savepoints) stay in memory instead of spilling to a temporary file that is
        // created, written and deleted for every write.
        conn.batch_execute(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
             PRAGMA busy_timeout = {};",
            self.busy_timeout_ms
        ))
    }
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        self.apply(conn).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// SQLite: writes through the one writer, with group commit; reads through a pool of
/// connections of their own, which WAL lets read while the writer writes.
#[derive(Clone)]
pub(crate) struct SqliteBackend {
    writer: GroupCommitWriter,
    readers: BlockingPool<SqliteConnection>,
}

impl SqliteBackend {
    /// Runs `work` as one write: all of it is committed, or none, and the result comes
    /// back once it is on disk.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, RepositoryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> anyhow::Result<T> + Send + 'static,
    {
        self.writer.write(work).await
    }

    /// Runs a short read (one order, one history, one page of a listing through its
    /// index) right where it is asked for, when a
    /// read connection is free at once: a read of a local file takes microseconds and,
    /// in WAL, never waits for the writer, so a thread of its own would cost more in
    /// hand-offs than it saves. When none is free it waits on a blocking thread instead,
    /// never on the worker.
    ///
    /// No transaction is opened: every read is of an order and its lines, which are
    /// written in one transaction and never changed after, or of one statement.
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, RepositoryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> anyhow::Result<T> + Send + 'static,
    {
        match self.readers.pool.try_get() {
            Some(mut conn) => work(&mut conn).map_err(classify),
            None => self.readers.run(work).await,
        }
    }

    /// Runs a read that may take a while (the readiness probe, which must be able to
    /// time out) on a blocking thread, so that it never holds up a worker's other
    /// requests.
    pub(crate) async fn read_on_thread<T, F>(&self, work: F) -> Result<T, RepositoryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> anyhow::Result<T> + Send + 'static,
    {
        self.readers.run(work).await
    }
}

/// A pool whose connections are used on Tokio's blocking threads (Diesel's calls
/// block), with a thread taken only once a connection is free.
struct BlockingPool<C: R2D2Connection + 'static> {
    pool: Pool<ConnectionManager<C>>,
    /// One permit per connection. A request waits for a permit here, without a thread,
    /// before it takes a blocking thread: otherwise every request beyond the pool's
    /// size would hold a thread (its stack, its allocator's heap) only to wait for a
    /// connection, and memory would grow with the load.
    permits: Arc<Semaphore>,
    /// How long a request waits for a connection before the database counts as
    /// unavailable.
    wait: Duration,
}

// Cloning shares the pool and its permits; the connection type need not be Clone.
impl<C: R2D2Connection + 'static> Clone for BlockingPool<C> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            permits: Arc::clone(&self.permits),
            wait: self.wait,
        }
    }
}

impl<C: R2D2Connection + 'static> BlockingPool<C> {
    fn new(pool: Pool<ConnectionManager<C>>, wait: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(pool.max_size() as usize)),
            pool,
            wait,
        }
    }

    async fn run<T, F>(&self, work: F) -> Result<T, RepositoryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut C) -> anyhow::Result<T> + Send + 'static,
    {
        let unavailable = |cause: anyhow::Error| {
            RepositoryError::Unreached(cause.context("no database connection"))
        };
        // One deadline for the permit and the connection together.
        let deadline = Instant::now() + self.wait;
        let permit = tokio::time::timeout(self.wait, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| unavailable(anyhow!("none free within {:?}", self.wait)))?
            .map_err(|e| unavailable(anyhow!(e)))?;
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        let outcome = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(|| {
                let left = deadline.saturating_duration_since(Instant::now());
                let mut conn = pool
                    .get_timeout(left)
                    .map_err(|e| unavailable(anyhow!(e)))?;
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
}

/// PostgreSQL: one pool for reads and writes, each write in a transaction of its own,
/// run on Tokio's blocking threads (libpq blocks while the server answers).
#[derive(Clone)]
pub(crate) struct PostgresBackend {
    pool: BlockingPool<PgConnection>,
    /// The readiness probe's own connection, so that a probe never queues behind the
    /// requests of a busy instance (which would report a healthy database as down).
    probe: Arc<Mutex<Option<PgConnection>>>,
    url: Arc<str>,
}

impl PostgresBackend {
    /// Runs `work` in one transaction: all of it commits, or none.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, RepositoryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut PgConnection) -> anyhow::Result<T> + Send + 'static,
    {
        self.pool.run(|conn| conn.transaction(work)).await
    }

    /// Runs `work` on a pooled connection, outside a transaction, as on SQLite: every
    /// read is of an order and its lines, written in one transaction and never changed
    /// after, or of one statement; a transaction would only add two round trips.
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, RepositoryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut PgConnection) -> anyhow::Result<T> + Send + 'static,
    {
        self.pool.run(work).await
    }

    /// Checks the database on the probe's own connection, opened afresh after a
    /// failure.
    async fn probe(&self) -> Result<Readiness, RepositoryError> {
        let (probe, url) = (Arc::clone(&self.probe), Arc::clone(&self.url));
        tokio::task::spawn_blocking(move || {
            let mut held = probe.lock().unwrap_or_else(PoisonError::into_inner);
            let conn = match held.as_mut() {
                Some(conn) => conn,
                None => held.insert(PgConnection::establish(&url).map_err(|e| {
                    RepositoryError::Unreached(anyhow!(e).context("cannot connect"))
                })?),
            };
            let checked = readiness_of(conn, POSTGRES_MIGRATIONS).map_err(classify);
            if checked.is_err() {
                *held = None;
            }
            checked
        })
        .await
        .unwrap_or_else(|e| Err(RepositoryError::Internal(anyhow!(e))))
    }
}

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

    /// Whether the database answers now and every migration this binary knows is
    /// applied (another instance may have applied them, or a newer one more).
    ///
    /// # Errors
    /// [`RepositoryError`] when the database does not answer.
    pub async fn readiness(&self) -> Result<Readiness, RepositoryError> {
        match &self.backend {
            Backend::Sqlite(sqlite) => {
                if !sqlite.writer.is_running() {
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

    /// How many writes and commits SQLite's group-commit writer has made; `None` on
    /// PostgreSQL, which commits every write on its own.
    pub fn write_counts(&self) -> Option<(u64, u64)> {
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

/// Reads the applied migrations, which also proves the database answers.
fn readiness_of<DB: diesel::backend::Backend>(
    conn: &mut impl MigrationHarness<DB>,
    migrations: EmbeddedMigrations,
) -> anyhow::Result<Readiness> {
    let pending = conn
        .has_pending_migration(migrations)
        .map_err(|e| anyhow!(e))?;
    Ok(Readiness {
        migrations_applied: !pending,
    })
}

/// What a readiness check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    /// Every migration this binary knows is applied.
    pub migrations_applied: bool,
}

/// How one connection pool is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    /// `readers` on SQLite (its writer holds one connection of its own), `shared` on
    /// PostgreSQL.
    pub pool: &'static str,
    /// Connections open.
    pub connections: u32,
    /// Of those, connections waiting for work.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

trait PoolState {
    fn counts(&self) -> (u32, u32);
    fn max(&self) -> u32;
}

impl<C: R2D2Connection + 'static> PoolState for Pool<ConnectionManager<C>> {
    fn counts(&self) -> (u32, u32) {
        let state = self.state();
        (state.connections, state.idle_connections)
    }

    fn max(&self) -> u32 {
        self.max_size()
    }
}

fn pool<C: R2D2Connection + 'static>(
    url: &str,
    size: u32,
    options: &DatabaseOptions,
    local: Option<Box<dyn CustomizeConnection<C, diesel::r2d2::Error>>>,
) -> anyhow::Result<Pool<ConnectionManager<C>>> {
    let mut builder = Pool::builder()
        .max_size(size.max(1))
        .min_idle(Some(1))
        .connection_timeout(options.connection_timeout);
    if let Some(customizer) = local {
        // A connection to a local file does not go stale: checking it with a query
        // each time it is taken would only cost time.
        builder = builder
            .connection_customizer(customizer)
            .test_on_check_out(false);
    }
    builder
        .build(ConnectionManager::<C>::new(url))
        .context("cannot connect to the database")
}

fn open_sqlite(path: &Path, options: &DatabaseOptions) -> anyhow::Result<SqliteBackend> {
    let url = path
        .to_str()
        .ok_or_else(|| anyhow!("the database path is not UTF-8"))?
        .to_owned();
    let pragmas = SqlitePragmas {
        busy_timeout_ms: options.busy_timeout.as_millis(),
    };
    let context = || format!("cannot open the SQLite database {}", path.display());
    let connect = {
        let url = url.clone();
        move || -> anyhow::Result<SqliteConnection> {
            let mut conn = SqliteConnection::establish(&url)?;
            pragmas.apply(&mut conn)?;
            Ok(conn)
        }
    };
    let mut writer = connect().with_context(context)?;
    writer
        .run_pending_migrations(SQLITE_MIGRATIONS)
        .map_err(|e| anyhow!(e))
        .context("cannot apply the database migrations")?;
    let writer = GroupCommitWriter::start(writer, Box::new(connect))
        .context("cannot start the database writer")?;
    let readers =
        pool(&url, options.pool_size, options, Some(Box::new(pragmas))).with_context(context)?;
    Ok(SqliteBackend {
        writer,
        readers: BlockingPool::new(readers, options.connection_timeout),
    })
}

fn open_postgres(url: &str, options: &DatabaseOptions) -> anyhow::Result<PostgresBackend> {
    let pool = pool::<PgConnection>(url, options.pool_size, options, None)?;
    let mut conn = pool.get().context("cannot connect to the database")?;
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(&mut conn)?;
    let migrated = conn
        .run_pending_migrations(POSTGRES_MIGRATIONS)
        .map(|_| ())
        .map_err(|e| anyhow!(e));
    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(&mut conn)?;
    migrated.context("cannot apply the database migrations")?;
    drop(conn);
    Ok(PostgresBackend {
        pool: BlockingPool::new(pool, options.connection_timeout),
        probe: Arc::new(Mutex::new(None)),
        url: Arc::from(url),
    })
}

/// A lost connection or a locked database is a passing condition (503, retry);
/// anything else is a fault (500).
pub(crate) fn classify(error: anyhow::Error) -> RepositoryError {
    let passing = error.chain().any(|cause| {
        if let Some(DieselError::DatabaseError(kind, _)) = cause.downcast_ref::<DieselError>()
            && matches!(
                kind,
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand
            )
        {
            return true;
        }
        let text = cause.to_string();
        text.contains("database is locked") || text.contains("database is busy")
    });
    if passing {
        RepositoryError::Unavailable(error)
    } else {
        RepositoryError::Internal(error)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[test]
    fn urls_select_the_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://orders.db"),
            Ok(DatabaseUrl::Sqlite("orders.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/orders.db"),
            Ok(DatabaseUrl::Sqlite("/var/lib/orders.db".into()))
        );
        assert!(matches!(
            DatabaseUrl::parse("postgresql://db/orders"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(DatabaseUrl::parse("mysql://db").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[tokio::test]
    async fn work_that_gets_no_connection_in_time_is_unreached_not_begun() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let url = dir.path().join("pool.db").to_string_lossy().into_owned();
        let options = DatabaseOptions {
            pool_size: 1,
            connection_timeout: Duration::from_millis(100),
            ..DatabaseOptions::default()
        };
        let pool = Arc::new(BlockingPool::new(
            pool::<SqliteConnection>(&url, 1, &options, None)?,
            options.connection_timeout,
        ));
        let (started, is_started) = std::sync::mpsc::channel();
        let (finish, may_finish) = std::sync::mpsc::channel::<()>();
        let holder = tokio::spawn({
            let pool = Arc::clone(&pool);
            async move {
                pool.run(move |_conn| {
                    started.send(())?;
                    may_finish.recv()?;
                    Ok(())
                })
                .await
            }
        });
        tokio::task::spawn_blocking(move || is_started.recv()).await??;

        let begun = Arc::new(AtomicBool::new(false));
        let waiting = {
            let begun = Arc::clone(&begun);
            pool.run(move |_conn| {
                begun.store(true, Ordering::SeqCst);
                Ok(())
            })
        };
        assert!(matches!(waiting.await, Err(RepositoryError::Unreached(_))));
        assert!(!begun.load(Ordering::SeqCst), "the work never ran");

        finish.send(())?;
        holder.await??;
        Ok(())
    }

    #[test]
    fn passwords_are_masked() {
        let url = |text: &str| DatabaseUrl::Postgres(text.to_owned()).masked();
        assert_eq!(
            url("postgres://app:s3cret@db:5432/orders?sslmode=require"),
            "postgres://app:***@db:5432/orders?sslmode=require"
        );
        assert_eq!(url("postgres://app@db/orders"), "postgres://app@db/orders");
        assert_eq!(url("postgres://db/orders"), "postgres://db/orders");
    }
}
