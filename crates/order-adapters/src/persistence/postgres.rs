//! PostgreSQL: one pool shared by reads and writes, and a connection of the readiness
//! probe's own.

use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, anyhow};
use diesel::{Connection, PgConnection, RunQueryDsl};
use order_domain::RepositoryError;

use super::errors::classify;
use super::migrations::{POSTGRES_MIGRATIONS, Readiness, apply_pending, readiness_of};
use super::pool::{BlockingPool, DatabaseOptions, pool};

/// Instances starting together take this advisory lock, so that one of them applies the
/// migrations while the others wait, then find nothing left to do.
const MIGRATION_LOCK: i64 = 0x6f72_6465_7273;
/// PostgreSQL: one pool for reads and writes, each write in a transaction of its own,
/// run on Tokio's blocking threads (libpq blocks while the server answers).
#[derive(Clone)]
pub(crate) struct PostgresBackend {
    pub(crate) pool: BlockingPool<PgConnection>,
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
    pub(crate) async fn probe(&self) -> Result<Readiness, RepositoryError> {
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

pub(crate) fn open_postgres(
    url: &str,
    options: &DatabaseOptions,
) -> anyhow::Result<PostgresBackend> {
    let pool = pool::<PgConnection>(url, options.pool_size, options, None)?;
    let mut conn = pool.get().context("cannot connect to the database")?;
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(&mut conn)?;
    let migrated = apply_pending(&mut conn, POSTGRES_MIGRATIONS);
    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(&mut conn)?;
    migrated?;
    drop(conn);
    Ok(PostgresBackend {
        pool: BlockingPool::new(pool, options.connection_timeout),
        probe: Arc::new(Mutex::new(None)),
        url: Arc::from(url),
    })
}
