//! SQLite's one writer, with group commit.
//!
//! SQLite commits one write transaction at a time, and with `synchronous=FULL` every
//! commit waits for the disk. One transaction per write would make the disk's flush
//! rate the service's write rate. So one thread owns the write connection and gathers
//! the writes that arrive together into one transaction: each write runs in a savepoint
//! of its own (a failing write rolls back alone, its batch goes on), the transaction
//! commits once for all of them, and only then does each caller hear its result. A
//! write is therefore answered only once it is on disk, and never waits for a
//! transaction of its own.
//!
//! Writes run one after another in the order they arrived, so each sees the ones before
//! it exactly as with a single connection; reads use connections of their own and never
//! queue behind writes (WAL).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::anyhow;
use diesel::connection::SimpleConnection;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sqlite::Sqlite;
use diesel::{QueryResult, RunQueryDsl, SqliteConnection};
use order_domain::RepositoryError;
use tokio::sync::oneshot;

/// The most writes one transaction gathers: enough to absorb any concurrency the
/// service sees, few enough that no write waits long behind a batch.
const MAX_BATCH: usize = 512;

/// What a write does once its batch's commit is known: deliver its own result if the
/// batch committed, the commit's failure if not.
type Delivery = Box<dyn FnOnce(Result<(), &str>) + Send>;

/// A write, run on the writer's connection inside its savepoint.
type Job = Box<dyn FnOnce(&mut SqliteConnection) -> Delivery + Send>;

/// Opens a fresh write connection, for when a failed commit leaves the old one in an
/// unknown state.
pub(crate) type Connect = Box<dyn Fn() -> anyhow::Result<SqliteConnection> + Send>;

enum Message {
    Write(Job),
    Close(oneshot::Sender<anyhow::Result<()>>),
}

/// How many writes and commits the writer has made: their ratio is the mean batch.
#[derive(Debug, Default)]
pub struct WriterStats {
    writes: AtomicU64,
    commits: AtomicU64,
}

impl WriterStats {
    /// Writes made (committed or rolled back alone), and transactions committed.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.writes.load(Ordering::Relaxed),
            self.commits.load(Ordering::Relaxed),
        )
    }
}

/// The handle to the writer thread. Cheap to clone; the thread ends when the last
/// handle is dropped or [`GroupCommitWriter::close`] is called.
#[derive(Debug, Clone)]
pub(crate) struct GroupCommitWriter {
    sender: mpsc::Sender<Message>,
    stats: Arc<WriterStats>,
}

impl GroupCommitWriter {
    /// Starts the writer thread on `conn`, the only connection that writes.
    pub(crate) fn start(conn: SqliteConnection, reconnect: Connect) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel();
        let stats = Arc::new(WriterStats::default());
        let thread_stats = Arc::clone(&stats);
        let _thread: JoinHandle<()> = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, &reconnect, &receiver, &thread_stats))?;
        Ok(Self { sender, stats })
    }

    /// How many writes and commits the writer has made.
    pub(crate) fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Runs `work` as one write: all of it is committed, or none, and the result comes
    /// back only once it is on disk.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, RepositoryError>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> anyhow::Result<T> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let span = tracing::Span::current();
        let job: Job = Box::new(move |conn| {
            let outcome = span.in_scope(|| in_savepoint(conn, work));
            Box::new(move |committed| {
                let result = match committed {
                    Ok(()) => outcome.map_err(super::database::classify),
                    Err(failure) => Err(super::database::classify(anyhow!(
                        "the commit failed: {failure}"
                    ))),
                };
                // The caller may have gone (its request was abandoned): nothing to tell.
                let _ = answer.send(result);
            })
        });
        self.sender
            .send(Message::Write(job))
            .map_err(|_| stopped())?;
        // A write dropped unanswered was never run: its batch could not begin.
        answered.await.unwrap_or_else(|_| {
            Err(RepositoryError::Unavailable(anyhow!(
                "the write could not begin a transaction"
            )))
        })
    }

    /// Makes the writes queued before this call, folds the write-ahead log into the
    /// database file, and stops the writer.
    pub(crate) async fn close(&self) -> Result<(), RepositoryError> {
        let (done, closed) = oneshot::channel();
        self.sender
            .send(Message::Close(done))
            .map_err(|_| stopped())?;
        closed
            .await
            .map_err(|_| stopped())?
            .map_err(RepositoryError::Internal)
    }
}

/// The statements that give each write of a batch its savepoint. Diesel would issue
/// them as text, parsed anew for every write; as statements of fixed text with a type
/// of their own they are prepared once on the writer's connection and reused.
macro_rules! fixed_statement {
    ($name:ident, $sql:literal) => {
        #[derive(Debug, Clone, Copy, QueryId)]
        struct $name;

        impl QueryFragment<Sqlite> for $name {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
                out.push_sql($sql);
                Ok(())
            }
        }

        impl RunQueryDsl<SqliteConnection> for $name {}
    };
}

fixed_statement!(Savepoint, "SAVEPOINT write");
fixed_statement!(Release, "RELEASE write");
fixed_statement!(RollbackTo, "ROLLBACK TO write");

/// Runs `work` in a savepoint of the batch's transaction: when it fails, what it did is
/// rolled back and the batch goes on.
fn in_savepoint<T>(
    conn: &mut SqliteConnection,
    work: impl FnOnce(&mut SqliteConnection) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    Savepoint.execute(conn)?;
    let outcome = work(conn);
    if outcome.is_err() {
        RollbackTo.execute(conn)?;
    }
    Release.execute(conn)?;
    outcome
}

fn stopped() -> RepositoryError {
    RepositoryError::Unavailable(anyhow!("the database writer has stopped"))
}

fn run(
    mut conn: SqliteConnection,
    reconnect: &Connect,
    receiver: &mpsc::Receiver<Message>,
    stats: &WriterStats,
) {
    // Blocks for the first message of a batch, then takes whatever else is waiting.
    while let Ok(first) = receiver.recv() {
        let mut batch = Vec::new();
        let mut close = None;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Write(job) => batch.push(job),
                Message::Close(done) => {
                    close = Some(done);
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = receiver.try_recv().ok();
            }
        }
        if !batch.is_empty() && !commit(&mut conn, batch, stats) {
            match reconnect() {
                Ok(fresh) => conn = fresh,
                Err(error) => {
                    tracing::error!(
                        error = format!("{error:#}"),
                        "cannot reopen the write connection; keeping the old one"
                    );
                }
            }
        }
        if let Some(done) = close {
            let checkpointed = conn
                .batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")
                .map_err(anyhow::Error::from);
            let _ = done.send(checkpointed);
            return;
        }
    }
}

/// Runs a batch in one transaction and tells each write how it went; false when the
/// commit failed.
fn commit(conn: &mut SqliteConnection, batch: Vec<Job>, stats: &WriterStats) -> bool {
    let size = batch.len() as u64;
    let mut deliveries = Vec::with_capacity(batch.len());
    // IMMEDIATE takes the write lock up front, so the batch never fails half-way when
    // upgrading from a read lock.
    let committed = conn.immediate_transaction::<_, diesel::result::Error, _>(|conn| {
        for job in batch {
            deliveries.push(job(conn));
        }
        Ok(())
    });
    let failure = committed.as_ref().err().map(ToString::to_string);
    if committed.is_ok() {
        stats.commits.fetch_add(1, Ordering::Relaxed);
    } else {
        tracing::error!(
            error = failure.as_deref().unwrap_or_default(),
            writes = size,
            "a batch of writes failed to commit"
        );
    }
    stats.writes.fetch_add(size, Ordering::Relaxed);
    for deliver in deliveries {
        deliver(failure.as_deref().map_or(Ok(()), Err));
    }
    committed.is_ok()
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Poll;

    use diesel::Connection;
    use diesel::sql_types::{BigInt, Text};

    use super::*;

    type Written = Result<(), RepositoryError>;
    type Writes = Pin<Box<dyn Future<Output = Vec<Written>>>>;

    fn open(path: &std::path::Path) -> anyhow::Result<SqliteConnection> {
        let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             CREATE TABLE IF NOT EXISTS notes (key TEXT PRIMARY KEY NOT NULL);",
        )?;
        Ok(conn)
    }

    fn writer(dir: &tempfile::TempDir) -> anyhow::Result<GroupCommitWriter> {
        let path = dir.path().join("notes.db");
        let reopen = path.clone();
        Ok(GroupCommitWriter::start(
            open(&path)?,
            Box::new(move || open(&reopen)),
        )?)
    }

    fn note(conn: &mut SqliteConnection, key: &str) -> anyhow::Result<()> {
        diesel::sql_query("INSERT INTO notes (key) VALUES (?)")
            .bind::<Text, _>(key)
            .execute(conn)?;
        Ok(())
    }

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        count: i64,
    }

    fn count(dir: &tempfile::TempDir, like: &str) -> anyhow::Result<i64> {
        let mut conn = open(&dir.path().join("notes.db"))?;
        Ok(
            diesel::sql_query("SELECT COUNT(*) AS count FROM notes WHERE key LIKE ?")
                .bind::<Text, _>(like)
                .get_result::<Count>(&mut conn)?
                .count,
        )
    }

    /// Holds the writer inside a first write until `queue` has queued its writes, so
    /// that those are all waiting when the writer next looks: one batch, for certain.
    async fn behind_a_held_write(
        writer: &GroupCommitWriter,
        queue: impl FnOnce() -> Writes,
    ) -> anyhow::Result<(Written, Vec<Written>)> {
        let (started, running) = oneshot::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let held = tokio::spawn({
            let writer = writer.clone();
            async move {
                writer
                    .write(move |conn| {
                        let _ = started.send(());
                        let _ = released.recv();
                        note(conn, "held")
                    })
                    .await
            }
        });
        tokio::time::timeout(std::time::Duration::from_secs(10), running).await??;
        let mut writes = queue();
        // Polling once sends every write to the writer, which is busy with the held one.
        std::future::poll_fn(|cx| {
            assert!(writes.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        release.send(())?;
        let held = held.await?;
        Ok((held, writes.await))
    }

    #[tokio::test]
    async fn writes_that_arrive_together_share_one_commit() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let writer = writer(&dir)?;
        let queued = {
            let writer = writer.clone();
            move || -> Writes {
                Box::pin(futures::future::join_all((0..63).map(move |i| {
                    let writer = writer.clone();
                    async move {
                        writer
                            .write(move |conn| note(conn, &format!("queued-{i}")))
                            .await
                    }
                })))
            }
        };

        let (held, queued) = behind_a_held_write(&writer, queued).await?;

        assert!(held.is_ok());
        assert!(queued.iter().all(Result::is_ok));
        assert_eq!(
            writer.stats().counts(),
            (64, 2),
            "the held write, then one batch of 63"
        );
        assert_eq!(count(&dir, "queued-%")?, 63);
        Ok(())
    }

    #[tokio::test]
    async fn a_failing_write_rolls_back_alone_and_its_batch_commits() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let writer = writer(&dir)?;
        let queued = {
            let writer = writer.clone();
            move || -> Writes {
                Box::pin(futures::future::join_all((0..20).map(move |i| {
                    let writer = writer.clone();
                    async move {
                        writer
                            .write(move |conn| {
                                note(conn, &format!("queued-{i}"))?;
                                if i == 7 {
                                    // Its first insert succeeded; this one breaks the key.
                                    note(conn, "queued-0")?;
                                }
                                Ok(())
                            })
                            .await
                    }
                })))
            }
        };

        let (_, queued) = behind_a_held_write(&writer, queued).await?;

        for (i, written) in queued.iter().enumerate() {
            assert_eq!(written.is_err(), i == 7, "write {i}: {written:?}");
        }
        assert!(matches!(queued[7], Err(RepositoryError::Internal(_))));
        assert_eq!(writer.stats().counts(), (21, 2));
        assert_eq!(count(&dir, "queued-%")?, 19, "all but the failed one");
        assert_eq!(count(&dir, "queued-7")?, 0, "nothing of the failed one");
        Ok(())
    }

    #[tokio::test]
    async fn closing_makes_the_queued_writes_then_refuses_more() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let writer = writer(&dir)?;
        let pending = writer.write(|conn| note(conn, "before-close"));
        let (written, closed) = tokio::join!(pending, writer.close());
        written?;
        closed?;
        assert_eq!(count(&dir, "before-close")?, 1);
        assert!(matches!(
            writer.write(|conn| note(conn, "after-close")).await,
            Err(RepositoryError::Unavailable(_))
        ));
        assert_eq!(
            std::fs::metadata(dir.path().join("notes.db-wal")).map_or(0, |m| m.len()),
            0,
            "the write-ahead log is folded into the file"
        );
        Ok(())
    }
}
