//! What a database failure means to the domain: passing (503, retry) or a fault (500).

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use order_domain::RepositoryError;

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

/// Whether a transaction whose `COMMIT` failed with `error` may have committed all the
/// same. An I/O error (SQLite's `SQLITE_IOERR` family, "disk I/O error", as when an
/// `fsync` fails) can come after the commit reached the write-ahead log, which the
/// next opening replays: its writes' outcome is unknown. Any other failure (a deferred
/// constraint, a lock) leaves the transaction uncommitted.
pub(crate) fn commit_may_have_happened(error: &DieselError) -> bool {
    let io_error = |message: &str| message.contains("disk I/O error");
    match error {
        DieselError::DatabaseError(_, info) => io_error(info.message()),
        DieselError::RollbackErrorOnCommit {
            rollback_error,
            commit_error,
        } => commit_may_have_happened(commit_error) || commit_may_have_happened(rollback_error),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_error(message: &str) -> DieselError {
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new(message.to_owned()))
    }

    #[test]
    fn an_io_error_at_commit_leaves_the_outcome_unknown() {
        assert!(commit_may_have_happened(&sqlite_error("disk I/O error")));
        // The commit failed with it, and so did the rollback that followed.
        assert!(commit_may_have_happened(
            &DieselError::RollbackErrorOnCommit {
                rollback_error: Box::new(sqlite_error(
                    "cannot rollback - no transaction is active"
                )),
                commit_error: Box::new(sqlite_error("disk I/O error")),
            }
        ));
    }

    #[test]
    fn a_commit_refused_before_it_is_written_is_certainly_rolled_back() {
        for refused in [
            sqlite_error("FOREIGN KEY constraint failed"),
            sqlite_error("database is locked"),
            DieselError::RollbackTransaction,
            DieselError::DatabaseError(
                DatabaseErrorKind::ForeignKeyViolation,
                Box::new("FOREIGN KEY constraint failed".to_owned()),
            ),
        ] {
            assert!(!commit_may_have_happened(&refused), "{refused:?}");
        }
    }
}
