//! SQLite's one writer, with group commit.
//!
//! SQLite commits one write transaction at a time, and with `synchronous=FULL` every
//! commit waits for the disk. One transaction per write would make the disk's flush
//! rate the service's write rate. So one thread owns the write connection and gathers
//! the writes that arrive together into one transaction, the transaction commits once
//! for all of them, and only then does each caller hear its result. A write is
//! therefore answered only once it is on disk, and never waits for a transaction of its
//! own.
//!
//! A failing write must roll back alone while its batch goes on. A savepoint per write
//! would do that, but SQLite then copies every page a write touches before changing it,
//! and the writes of a batch touch the same pages over and over: 14% of the writer's
//! time when placing orders. So a batch first runs without savepoints; only when one of its writes
//! fails is it rolled back and run again, each write in a savepoint of its own. A write
//! may therefore run twice, and must do nothing but its statements.
//!
//! Writes run one after another in the order they arrived, so each sees the ones before
//! it exactly as with a single connection; reads use connections of their own and never
//! queue behind writes (WAL).
//!
//! Each write has a deadline, so that a hung disk turns into fast refusals instead of
//! requests that wait as long as the disk does. Past it, a write still waiting in the
//! queue is dropped and its caller told it was never made; a write the writer had
//! already begun may still commit, so its caller is told the outcome is unknown.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use diesel::sql_types::Integer;
use diesel::{QueryableByName, RunQueryDsl, SqliteConnection};
use order_domain::RepositoryError;
use tokio::sync::oneshot;

use super::fixed::{Release, RollbackTo, Savepoint};

/// The most writes one transaction gathers: enough to absorb any concurrency the
/// service sees, few enough that no write waits long behind a batch.
const MAX_BATCH: usize = 512;

/// Why a batch did not commit.
#[derive(Debug)]
struct CommitFailure {
    reason: String,
    /// Whether the batch may have committed all the same (an I/O error at `COMMIT`):
    /// its writes' outcome is unknown, not certainly rolled back.
    may_have_committed: bool,
}

/// A write for the writer to run, once or, when its batch is run again, twice.
type Job = Box<dyn Write>;

/// How a batch's writes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// All in the batch's transaction, as one: the first try.
    Together,
    /// Each in a savepoint of its own, so that a failing one rolls back alone.
    Alone,
}

trait Write: Send {
    /// Runs the write on the writer's connection, keeping its outcome; whether it
    /// succeeded, or the reason, when its savepoint could not be kept and the batch
    /// cannot go on.
    fn run(&mut self, conn: &mut SqliteConnection, isolation: Isolation) -> Result<bool, String>;

    /// Tells the caller how its write went once the batch's commit is known: its own
    /// outcome if the batch committed, the commit's failure if not.
    fn deliver(self: Box<Self>, committed: Result<(), &CommitFailure>);
}

/// A write and its caller, waiting to be told.
struct PendingWrite<T, F> {
    work: F,
    span: tracing::Span,
    answer: oneshot::Sender<Result<T, RepositoryError>>,
    /// The outcome of its latest run; `None` while not run, or when its savepoint broke.
    outcome: Option<anyhow::Result<T>>,
}

impl<T, F> Write for PendingWrite<T, F>
where
    T: Send,
    F: FnMut(&mut SqliteConnection) -> anyhow::Result<T> + Send,
{
    fn run(&mut self, conn: &mut SqliteConnection, isolation: Isolation) -> Result<bool, String> {
        let work = &mut self.work;
        self.outcome = None;
        let outcome = self.span.in_scope(|| match isolation {
            Isolation::Together => Ok(caught(conn, work)),
            Isolation::Alone => in_savepoint(conn, work),
        })?;
        let succeeded = outcome.is_ok();
        self.outcome = Some(outcome);
        Ok(succeeded)
    }

    fn deliver(self: Box<Self>, committed: Result<(), &CommitFailure>) {
        let result = match (committed, self.outcome) {
            (Ok(()), Some(outcome)) => outcome.map_err(super::errors::classify),
            (Err(failure), _) if failure.may_have_committed => {
                Err(RepositoryError::Unavailable(anyhow!(
                    "the commit failed and may have happened all the same: {}",
                    failure.reason
                )))
            }
            (Err(failure), _) => Err(super::errors::classify(anyhow!(
                "the commit failed: {}",
                failure.reason
            ))),
            // A write whose savepoint broke stops its batch: never committed.
            (Ok(()), None) => Err(RepositoryError::Internal(anyhow!(
                "a batch committed past a broken write"
            ))),
        };
        // The caller may have gone (its request was abandoned): nothing to tell.
        let _ = self.answer.send(result);
    }
}

/// Opens a fresh write connection, for when a failed commit leaves the old one in an
/// unknown state.
pub(crate) type Connect = Box<dyn Fn() -> anyhow::Result<SqliteConnection> + Send>;

enum Message {
    Write(Queued),
    Close(oneshot::Sender<anyhow::Result<()>>),
}

/// A write in the queue: its job, when it must be begun by, and whether it was.
struct Queued {
    job: Job,
    deadline: Instant,
    state: Arc<AtomicU8>,
}

/// A write waiting in the queue: either side may settle it, once.
const WAITING: u8 = 0;
/// The writer has begun it: it may commit, whatever its caller hears.
const BEGUN: u8 = 1;
/// Dropped past its deadline, by its caller or the writer: it is never run.
const DROPPED: u8 = 2;

impl Queued {
    /// Takes the write for running; `None` when it is past its deadline, dropped by its
    /// caller or now by the writer: never run, and its caller hears it was not made.
    fn begin(self) -> Option<Job> {
        let next = if Instant::now() < self.deadline {
            BEGUN
        } else {
            DROPPED
        };
        let taken = self
            .state
            .compare_exchange(WAITING, next, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        (taken && next == BEGUN).then_some(self.job)
    }
}

/// How many writes and commits the writer has made: their ratio is the mean batch.
#[derive(Debug, Default)]
pub struct WriterStats {
    writes: AtomicU64,
    commits: AtomicU64,
    /// Batches run a second time, each write alone, because one of their writes failed.
    reruns: AtomicU64,
}

impl WriterStats {
    /// What the writer has done so far.
    pub fn counts(&self) -> WriteCounts {
        WriteCounts {
            writes: self.writes.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            reruns: self.reruns.load(Ordering::Relaxed),
        }
    }
}

/// What SQLite's group-commit writer has done since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteCounts {
    /// Writes in committed batches (each committed, or rolled back alone).
    pub writes: u64,
    /// Transactions committed: `writes / commits` is the mean batch.
    pub commits: u64,
    /// Batches run a second time, each write in a savepoint of its own, because one of
    /// their writes failed.
    pub reruns: u64,
}

/// The handle to the writer thread. Cheap to clone; the thread ends when the last
/// handle is dropped or [`GroupCommitWriter::close`] is called.
#[derive(Debug, Clone)]
pub(crate) struct GroupCommitWriter {
    sender: mpsc::SyncSender<Message>,
    stats: Arc<WriterStats>,
    running: Arc<AtomicBool>,
    /// How long a write may wait for the writer and run on it before its caller is
    /// answered.
    deadline: Duration,
}

/// Clears the writer's running flag however its thread ends, a panic included.
struct RunningGuard(Arc<AtomicBool>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

impl GroupCommitWriter {
    /// Starts the writer thread on `conn`, the only connection that writes, with room
    /// for `capacity` writes waiting for it, each answered within `deadline`.
    pub(crate) fn start(
        conn: SqliteConnection,
        reconnect: Connect,
        capacity: usize,
        deadline: Duration,
    ) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::sync_channel(capacity);
        let stats = Arc::new(WriterStats::default());
        let running = Arc::new(AtomicBool::new(true));
        let (thread_stats, guard) = (Arc::clone(&stats), RunningGuard(Arc::clone(&running)));
        let _thread: JoinHandle<()> = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                let _guard = guard;
                run(conn, &reconnect, &receiver, &thread_stats);
            })?;
        Ok(Self {
            sender,
            stats,
            running,
            deadline,
        })
    }

    /// Whether the writer still takes writes: false once it has stopped, whatever
    /// stopped it.
    pub(crate) fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// How many writes and commits the writer has made.
    pub(crate) fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Runs `work` as one write: all of it is committed, or none, and the result comes
    /// back only once it is on disk, or once the write's deadline has passed. `work` may
    /// run twice (see the module's documentation), the first run rolled back.
    ///
    /// # Errors
    /// [`RepositoryError::Unreached`] when the write was certainly not made: the queue
    /// was full, the writer has stopped, or the write was still waiting at its deadline.
    /// [`RepositoryError::Unavailable`] when it may have been: begun but not committed
    /// by its deadline, or its commit failed in a way that may have committed it.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, RepositoryError>
    where
        T: Send + 'static,
        F: FnMut(&mut SqliteConnection) -> anyhow::Result<T> + Send + 'static,
    {
        let (answer, mut answered) = oneshot::channel();
        let job: Job = Box::new(PendingWrite {
            work,
            span: tracing::Span::current(),
            answer,
            outcome: None,
        });
        let state = Arc::new(AtomicU8::new(WAITING));
        let queued = Queued {
            job,
            deadline: Instant::now() + self.deadline,
            state: Arc::clone(&state),
        };
        self.sender
            .try_send(Message::Write(queued))
            .map_err(|refused| match refused {
                mpsc::TrySendError::Full(_) => {
                    RepositoryError::Unreached(anyhow!("the database writer's queue is full"))
                }
                mpsc::TrySendError::Disconnected(_) => stopped(),
            })?;
        // A write dropped unanswered was never run: its batch could not begin, or the
        // writer found it past its deadline.
        let unanswered = || {
            Err(RepositoryError::Unreached(anyhow!(
                "the write could not begin a transaction"
            )))
        };
        match tokio::time::timeout(self.deadline, &mut answered).await {
            Ok(answer) => answer.unwrap_or_else(|_| unanswered()),
            Err(_) => past_deadline(&state, answered.try_recv().ok(), self.deadline),
        }
    }

    /// Makes the writes queued before this call, folds the write-ahead log into the
    /// database file, and stops the writer.
    pub(crate) async fn close(&self) -> Result<(), RepositoryError> {
        let (done, closed) = oneshot::channel();
        // Waits for room when the queue is full: the writer is emptying it, and the
        // writes already queued must be made before the database closes.
        self.sender
            .send(Message::Close(done))
            .map_err(|_| stopped())?;
        closed
            .await
            .map_err(|_| stopped())?
            .map_err(RepositoryError::Internal)
    }
}

/// Runs `work` in a savepoint of the batch's transaction: when it fails (or panics),
/// what it did is rolled back and the batch goes on.
///
/// # Errors
/// When the savepoint itself could not be kept: SQLite may already have rolled the
/// whole transaction back (a full disk, say), so the batch must not go on, or the
/// writes after this one would commit on their own.
fn in_savepoint<T>(
    conn: &mut SqliteConnection,
    work: impl FnOnce(&mut SqliteConnection) -> anyhow::Result<T>,
) -> Result<anyhow::Result<T>, String> {
    Savepoint
        .execute(conn)
        .map_err(|e| format!("cannot open a savepoint: {e}"))?;
    let outcome = caught(conn, work);
    let closed = match &outcome {
        Ok(_) => Release.execute(conn),
        Err(_) => RollbackTo.execute(conn).and_then(|_| Release.execute(conn)),
    };
    match (closed, &outcome) {
        (Ok(_), _) => Ok(outcome),
        (Err(error), Ok(_)) => Err(format!("cannot release a savepoint: {error}")),
        (Err(error), Err(cause)) => Err(format!(
            "{cause:#}; then its savepoint could not be rolled back: {error}"
        )),
    }
}

/// Runs `work`, a panic in it turned into its failure: a bug in one write must not stop
/// the writer.
fn caught<T>(
    conn: &mut SqliteConnection,
    work: impl FnOnce(&mut SqliteConnection) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    catch_unwind(AssertUnwindSafe(|| work(conn)))
        .unwrap_or_else(|_| Err(anyhow!("the write panicked")))
}

/// What `PRAGMA wal_checkpoint` answers: whether it could not finish.
#[derive(QueryableByName)]
struct Checkpoint {
    #[diesel(sql_type = Integer)]
    busy: i32,
}

/// Copies the whole write-ahead log into the database file and empties the log.
fn fold_log_into_file(conn: &mut SqliteConnection) -> anyhow::Result<()> {
    let checkpoint: Checkpoint =
        diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").get_result(conn)?;
    if checkpoint.busy != 0 {
        anyhow::bail!(
            "a reader held the write-ahead log; SQLite folds it in when the database is next opened"
        );
    }
    Ok(())
}

/// What a write's caller hears once its deadline passed: the answer, if it has just
/// come; else whether the write is certainly not made (dropped while still waiting, so
/// the writer never runs it) or may yet be (the writer had begun it).
fn past_deadline<T>(
    state: &AtomicU8,
    late: Option<Result<T, RepositoryError>>,
    deadline: Duration,
) -> Result<T, RepositoryError> {
    if let Some(answer) = late {
        return answer;
    }
    match state.compare_exchange(WAITING, DROPPED, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) | Err(DROPPED) => Err(RepositoryError::Unreached(anyhow!(
            "the write waited past its deadline ({deadline:?}) for the database writer; \
             it was not made"
        ))),
        Err(_) => Err(RepositoryError::Unavailable(anyhow!(
            "the write was not committed within its deadline ({deadline:?}); it may yet be"
        ))),
    }
}

fn stopped() -> RepositoryError {
    RepositoryError::Unreached(anyhow!("the database writer has stopped"))
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
                Message::Write(queued) => batch.extend(queued.begin()),
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
            let folded = fold_log_into_file(&mut conn);
            // Closed before it is said to be: closing takes a lock on the file, which a
            // connection opened right after `close` returned would otherwise run into.
            drop(conn);
            let _ = done.send(folded);
            return;
        }
    }
}

/// Runs a batch in one transaction and tells each write how it went; false when the
/// commit failed.
fn commit(conn: &mut SqliteConnection, mut batch: Vec<Job>, stats: &WriterStats) -> bool {
    let size = batch.len() as u64;
    let committed = match run_batch(conn, &mut batch, Isolation::Together) {
        Err(Batch::WriteFailed) => {
            stats.reruns.fetch_add(1, Ordering::Relaxed);
            run_batch(conn, &mut batch, Isolation::Alone)
        }
        ran => ran,
    };
    let failure = match committed {
        Ok(()) => None,
        Err(Batch::Broken(reason)) => Some(CommitFailure {
            reason,
            may_have_committed: false,
        }),
        Err(Batch::WriteFailed) => Some(CommitFailure {
            reason: "a write failed outside a savepoint".into(),
            may_have_committed: false,
        }),
        Err(Batch::NotCommitted(error)) => Some(CommitFailure {
            reason: error.to_string(),
            may_have_committed: super::errors::commit_may_have_happened(&error),
        }),
    };
    match &failure {
        None => {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats.writes.fetch_add(size, Ordering::Relaxed);
        }
        Some(failure) => tracing::error!(
            error = failure.reason.as_str(),
            writes = size,
            outcome = if failure.may_have_committed {
                "unknown"
            } else {
                "rolled_back"
            },
            "a batch of writes failed to commit"
        ),
    }
    for write in batch {
        write.deliver(failure.as_ref().map_or(Ok(()), Err));
    }
    failure.is_none()
}

/// Why a run of a batch did not commit.
enum Batch {
    /// A write failed while the writes ran together: the batch is rolled back, to be
    /// run again with each write alone.
    WriteFailed,
    /// A write's savepoint could not be kept: SQLite may already have rolled the whole
    /// transaction back (a full disk, say), so the batch must not go on, or the writes
    /// after it would commit on their own. The writes not yet run are dropped: their
    /// callers hear that the write could not begin.
    Broken(String),
    /// The transaction could not begin or commit.
    NotCommitted(diesel::result::Error),
}

/// Runs every write of the batch in one transaction, `isolation` deciding how a failing
/// write is undone, and commits it unless a write failed with no savepoint to undo it.
fn run_batch(
    conn: &mut SqliteConnection,
    batch: &mut [Job],
    isolation: Isolation,
) -> Result<(), Batch> {
    let mut stopped = None;
    // IMMEDIATE takes the write lock up front, so the batch never fails half-way when
    // upgrading from a read lock.
    let committed = conn.immediate_transaction::<_, diesel::result::Error, _>(|conn| {
        for write in batch.iter_mut() {
            match write.run(conn, isolation) {
                Ok(false) if isolation == Isolation::Together => {
                    stopped = Some(Batch::WriteFailed);
                }
                Ok(_) => continue,
                Err(reason) => stopped = Some(Batch::Broken(reason)),
            }
            return Err(diesel::result::Error::RollbackTransaction);
        }
        Ok(())
    });
    match (committed, stopped) {
        (Ok(()), _) => Ok(()),
        (Err(diesel::result::Error::RollbackTransaction), Some(stopped)) => Err(stopped),
        (Err(error), _) => Err(Batch::NotCommitted(error)),
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Poll;

    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    use diesel::sql_types::{BigInt, Text};

    use super::*;

    /// Room for more writes than two batches hold, so that only the test of a full
    /// queue fills it.
    const CAPACITY: usize = 2 * MAX_BATCH;

    type Written = Result<(), RepositoryError>;
    type Writes = Pin<Box<dyn Future<Output = Vec<Written>>>>;

    fn open(path: &std::path::Path) -> anyhow::Result<SqliteConnection> {
        let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             CREATE TABLE IF NOT EXISTS notes (key TEXT PRIMARY KEY NOT NULL); \
             CREATE TABLE IF NOT EXISTS parents (id TEXT PRIMARY KEY NOT NULL); \
             CREATE TABLE IF NOT EXISTS children (parent TEXT NOT NULL REFERENCES parents (id));",
        )?;
        Ok(conn)
    }

    fn writer(dir: &tempfile::TempDir) -> anyhow::Result<GroupCommitWriter> {
        writer_with_deadline(dir, Duration::from_secs(30))
    }

    fn writer_with_deadline(
        dir: &tempfile::TempDir,
        deadline: Duration,
    ) -> anyhow::Result<GroupCommitWriter> {
        let path = dir.path().join("notes.db");
        let reopen = path.clone();
        Ok(GroupCommitWriter::start(
            open(&path)?,
            Box::new(move || open(&reopen)),
            CAPACITY,
            deadline,
        )?)
    }

    fn writes_and_commits(writer: &GroupCommitWriter) -> (u64, u64) {
        let counts = writer.stats().counts();
        (counts.writes, counts.commits)
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

    /// `count` writes of a note each (`queued-0`, `queued-1`, …), none failing.
    fn notes_queued(writer: &GroupCommitWriter, count: usize) -> impl FnOnce() -> Writes + use<> {
        queue(writer, count, usize::MAX, |_| Ok(()))
    }

    /// A write (of the note `held`) that the writer is stuck in, as on a hung disk,
    /// until the sender returned is used or dropped; with its caller's task.
    async fn a_held_write(
        writer: &GroupCommitWriter,
    ) -> anyhow::Result<(
        tokio::task::JoinHandle<Written>,
        std::sync::mpsc::Sender<()>,
    )> {
        let (started, running) = oneshot::channel();
        let mut started = Some(started);
        let (release, released) = std::sync::mpsc::channel::<()>();
        let held = tokio::spawn({
            let writer = writer.clone();
            async move {
                writer
                    .write(move |conn| {
                        if let Some(started) = started.take() {
                            let _ = started.send(());
                        }
                        let _ = released.recv();
                        note(conn, "held")
                    })
                    .await
            }
        });
        tokio::time::timeout(Duration::from_secs(10), running).await??;
        Ok((held, release))
    }

    /// Holds the writer inside a first write until `queue` has queued its writes, so
    /// that those are all waiting when the writer next looks: one batch, for certain.
    async fn behind_a_held_write(
        writer: &GroupCommitWriter,
        queue: impl FnOnce() -> Writes,
    ) -> anyhow::Result<(Written, Vec<Written>)> {
        let (held, release) = a_held_write(writer).await?;
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
        let queued = notes_queued(&writer, 63);

        let (held, queued) = behind_a_held_write(&writer, queued).await?;

        assert!(held.is_ok());
        assert!(queued.iter().all(Result::is_ok));
        assert_eq!(
            writes_and_commits(&writer),
            (64, 2),
            "the held write, then one batch of 63"
        );
        assert_eq!(writer.stats().counts().reruns, 0);
        assert_eq!(count(&dir, "queued-%")?, 63);
        Ok(())
    }

    #[tokio::test]
    async fn a_write_past_a_full_queue_is_refused_at_once_and_not_made() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let writer = writer(&dir)?;
        let queued = notes_queued(&writer, CAPACITY + 10);

        let (held, queued) = behind_a_held_write(&writer, queued).await?;

        assert!(held.is_ok());
        let refused: Vec<usize> = (0..queued.len()).filter(|&i| queued[i].is_err()).collect();
        assert_eq!(refused, (CAPACITY..CAPACITY + 10).collect::<Vec<_>>());
        assert!(
            refused
                .iter()
                .all(|&i| matches!(queued[i], Err(RepositoryError::Unreached(_)))),
            "refused as certainly not made: {queued:?}"
        );
        assert_eq!(
            count(&dir, "queued-%")?,
            CAPACITY as i64,
            "none of the refused"
        );
        Ok(())
    }

    #[tokio::test]
    async fn past_its_deadline_a_queued_write_is_never_made_and_a_begun_one_may_be()
    -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let deadline = Duration::from_millis(200);
        let writer = writer_with_deadline(&dir, deadline)?;
        let (held, release) = a_held_write(&writer).await?;
        let waited = Instant::now();

        let queued = notes_queued(&writer, 5)().await;
        let held = held.await?;

        assert!(
            waited.elapsed() < Duration::from_secs(5),
            "answered at the deadline, not when the disk came back: {:?}",
            waited.elapsed()
        );
        assert!(
            queued
                .iter()
                .all(|w| matches!(w, Err(RepositoryError::Unreached(_)))),
            "still queued: certainly not made: {queued:?}"
        );
        assert!(
            matches!(held, Err(RepositoryError::Unavailable(_))),
            "begun: its outcome unknown: {held:?}"
        );
        release.send(())?;
        crate::testing::eventually(
            Duration::from_secs(10),
            "the begun write committed",
            async || Ok(count(&dir, "held")? > 0),
        )
        .await?;
        assert_eq!(count(&dir, "queued-%")?, 0, "the dropped writes never ran");
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
        assert_eq!(writes_and_commits(&writer), (21, 2));
        assert_eq!(
            writer.stats().counts().reruns,
            1,
            "run together, then again each alone"
        );
        assert_eq!(count(&dir, "queued-%")?, 19, "all but the failed one");
        assert_eq!(count(&dir, "queued-7")?, 0, "nothing of the failed one");
        Ok(())
    }

    /// How often each of ten writes of one batch ran, the `failing`-th failing after
    /// its note, and their results.
    async fn runs_of_a_batch(failing: Option<usize>) -> anyhow::Result<(Vec<u64>, Vec<bool>)> {
        let dir = tempfile::tempdir()?;
        let writer = writer(&dir)?;
        let runs: Arc<Vec<AtomicU64>> = Arc::new((0..10).map(|_| AtomicU64::new(0)).collect());
        let batch = {
            let (writer, runs) = (writer.clone(), Arc::clone(&runs));
            move || -> Writes {
                Box::pin(futures::future::join_all((0..10).map(move |i| {
                    let (writer, runs) = (writer.clone(), Arc::clone(&runs));
                    async move {
                        writer
                            .write(move |conn| {
                                runs[i].fetch_add(1, Ordering::SeqCst);
                                note(conn, &format!("queued-{i}"))?;
                                if Some(i) == failing {
                                    anyhow::bail!("refused");
                                }
                                Ok(())
                            })
                            .await
                    }
                })))
            }
        };
        let (_, written) = behind_a_held_write(&writer, batch).await?;
        let kept = count(&dir, "queued-%")?;
        assert_eq!(
            kept,
            written.iter().filter(|w| w.is_ok()).count() as i64,
            "each write that succeeded is kept once"
        );
        Ok((
            runs.iter().map(|r| r.load(Ordering::SeqCst)).collect(),
            written.iter().map(Result::is_ok).collect(),
        ))
    }

    #[tokio::test]
    async fn a_write_runs_once_unless_another_of_its_batch_fails() -> anyhow::Result<()> {
        let (runs, succeeded) = runs_of_a_batch(None).await?;
        assert_eq!(runs, vec![1; 10], "none failed: each ran once");
        assert!(succeeded.iter().all(|&ok| ok));

        let (runs, succeeded) = runs_of_a_batch(Some(4)).await?;
        assert_eq!(
            runs,
            [vec![2; 5], vec![1; 5]].concat(),
            "up to the failing one together, rolled back, then all again, each alone"
        );
        assert_eq!(succeeded, (0..10).map(|i| i != 4).collect::<Vec<_>>());
        Ok(())
    }

    /// `count` writes queued behind a held one, the `failing`-th doing `fail` after its note.
    fn queue(
        writer: &GroupCommitWriter,
        count: usize,
        failing: usize,
        fail: fn(&mut SqliteConnection) -> anyhow::Result<()>,
    ) -> impl FnOnce() -> Writes + use<> {
        let writer = writer.clone();
        move || -> Writes {
            Box::pin(futures::future::join_all((0..count).map(move |i| {
                let writer = writer.clone();
                async move {
                    writer
                        .write(move |conn| {
                            note(conn, &format!("queued-{i}"))?;
                            if i == failing {
                                fail(conn)?;
                            }
                            Ok(())
                        })
                        .await
                }
            })))
        }
    }

    #[tokio::test]
    async fn a_batch_whose_commit_fails_answers_every_write_with_the_failure_and_the_writer_goes_on()
    -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let writer = writer(&dir)?;
        // A child without its parent, checked only at commit: the batch cannot commit.
        let orphan = |conn: &mut SqliteConnection| -> anyhow::Result<()> {
            conn.batch_execute(
                "PRAGMA defer_foreign_keys = ON; INSERT INTO children (parent) VALUES ('none');",
            )?;
            Ok(())
        };

        let (_, queued) = behind_a_held_write(&writer, queue(&writer, 10, 4, orphan)).await?;

        assert!(queued.iter().all(Result::is_err), "{queued:?}");
        assert_eq!(
            count(&dir, "queued-%")?,
            0,
            "nothing of the batch is stored"
        );
        assert_eq!(
            writes_and_commits(&writer),
            (1, 1),
            "only the held write's batch"
        );
        writer.write(|conn| note(conn, "after")).await?;
        assert_eq!(count(&dir, "after")?, 1, "the writer goes on");
        Ok(())
    }

    #[tokio::test]
    async fn a_panicking_write_rolls_back_alone() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let writer = writer(&dir)?;
        let panics = |_: &mut SqliteConnection| -> anyhow::Result<()> { panic!("a bug") };

        let (_, queued) = behind_a_held_write(&writer, queue(&writer, 5, 2, panics)).await?;

        for (i, written) in queued.iter().enumerate() {
            assert_eq!(written.is_err(), i == 2, "write {i}");
        }
        assert_eq!(count(&dir, "queued-%")?, 4);
        assert!(writer.is_running());
        Ok(())
    }

    #[tokio::test]
    async fn a_batch_holds_at_most_its_limit_of_writes() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let writer = writer(&dir)?;
        let writes = MAX_BATCH + 88;
        let none = |_: &mut SqliteConnection| Ok(());

        let (_, queued) =
            behind_a_held_write(&writer, queue(&writer, writes, writes, none)).await?;

        assert!(queued.iter().all(Result::is_ok));
        assert_eq!(
            writes_and_commits(&writer),
            (writes as u64 + 1, 3),
            "the held write, then a full batch, then the rest"
        );
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
            Err(RepositoryError::Unreached(_))
        ));
        assert_eq!(
            std::fs::metadata(dir.path().join("notes.db-wal")).map_or(0, |m| m.len()),
            0,
            "the write-ahead log is folded into the file"
        );
        Ok(())
    }
}
