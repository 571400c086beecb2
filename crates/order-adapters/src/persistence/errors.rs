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
