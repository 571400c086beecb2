//! SQLite: one writer thread with group commit, and a pool of readers beside it.

use std::path::Path;

use anyhow::{Context, anyhow};
use diesel::connection::SimpleConnection;
use diesel::r2d2::CustomizeConnection;
use diesel::{Connection, SqliteConnection};
use order_domain::RepositoryError;

use super::errors::classify;
use super::group_commit::GroupCommitWriter;
use super::migrations::{SQLITE_MIGRATIONS, apply_pending};
use super::pool::{BlockingPool, DatabaseOptions, pool};

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
    pub(crate) writer: GroupCommitWriter,
    pub(crate) readers: BlockingPool<SqliteConnection>,
}

impl SqliteBackend {
    /// Runs `work` as one write: all of it is committed, or none, and the result comes
    /// back once it is on disk. `work` may run twice, the first run rolled back: see
    /// [`GroupCommitWriter::write`].
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, RepositoryError>
    where
        T: Send + 'static,
        F: FnMut(&mut SqliteConnection) -> anyhow::Result<T> + Send + 'static,
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

pub(crate) fn open_sqlite(path: &Path, options: &DatabaseOptions) -> anyhow::Result<SqliteBackend> {
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
    apply_pending(&mut writer, SQLITE_MIGRATIONS)?;
    let writer = GroupCommitWriter::start(
        writer,
        Box::new(connect),
        options.write_queue,
        options.write_timeout,
    )
    .context("cannot start the database writer")?;
    let readers =
        pool(&url, options.pool_size, options, Some(Box::new(pragmas))).with_context(context)?;
    Ok(SqliteBackend {
        writer,
        readers: BlockingPool::new(readers, options.connection_timeout),
    })
}
