//! Connection pools whose connections are used on Tokio's blocking threads, since
//! Diesel's calls block.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use diesel::r2d2::{ConnectionManager, CustomizeConnection, HandleError, Pool, R2D2Connection};
use order_domain::RepositoryError;
use tokio::sync::Semaphore;

use super::errors::classify;

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
    /// How many writes may wait for SQLite's one writer; past it a write is refused
    /// at once as unavailable (503), so that a stalled disk turns into fast refusals,
    /// not an ever-growing queue of waiting requests.
    pub write_queue: usize,
    /// How long a write may wait for SQLite's one writer and run on it before its
    /// request is answered 503: a write still waiting then is dropped (certainly not
    /// made), one under way may yet commit (its outcome is unknown).
    pub write_timeout: Duration,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self {
            pool_size: 8,
            connection_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
            write_queue: 4096,
            write_timeout: Duration::from_secs(5),
        }
    }
}

/// A pool whose connections are used on Tokio's blocking threads (Diesel's calls
/// block), with a thread taken only once a connection is free.
pub(crate) struct BlockingPool<C: R2D2Connection + 'static> {
    pub(crate) pool: Pool<ConnectionManager<C>>,
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
    pub(crate) fn new(pool: Pool<ConnectionManager<C>>, wait: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(pool.max_size() as usize)),
            pool,
            wait,
        }
    }

    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, RepositoryError>
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

pub(crate) trait PoolState {
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

/// Logs the pool's failures to connect as our own lines: r2d2's own go through the
/// `log` crate at ERROR with the path of its source file on the build machine, once per
/// retry. A request that ends up without a connection is logged where it fails.
#[derive(Debug)]
struct ConnectionFailures;

impl HandleError<diesel::r2d2::Error> for ConnectionFailures {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        tracing::warn!(error = %error.to_string().trim_end(), "cannot open a database connection");
    }
}

pub(crate) fn pool<C: R2D2Connection + 'static>(
    url: &str,
    size: u32,
    options: &DatabaseOptions,
    local: Option<Box<dyn CustomizeConnection<C, diesel::r2d2::Error>>>,
) -> anyhow::Result<Pool<ConnectionManager<C>>> {
    let mut builder = Pool::builder()
        .max_size(size.max(1))
        .min_idle(Some(1))
        .connection_timeout(options.connection_timeout)
        .error_handler(Box::new(ConnectionFailures));
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use diesel::SqliteConnection;

    use super::*;

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
}
