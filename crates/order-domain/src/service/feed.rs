//! Reading the events of every order, in commit order, as the feed's consumers do.

use tracing::instrument;

use super::OrderService;
use crate::access::{Caller, Scope};
use std::time::Duration;

use crate::ports::{FeedError, FeedPage, FeedStart, RepositoryError};

/// How many events one write forgets: few enough that the writes of requests are not
/// held up behind it.
const EVENTS_FORGOTTEN_PER_WRITE: u32 = 1000;

/// How many events one page of the feed holds: 1 to 1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedPageSize(u32);

impl FeedPageSize {
    /// The size of a page when the reader names none.
    pub const DEFAULT: FeedPageSize = FeedPageSize(100);
    /// The largest page.
    pub const MAX: u32 = 1000;

    /// Takes a page size.
    ///
    /// # Errors
    /// [`crate::InvalidValue`] unless `1 <= size <= 1000`.
    pub fn new(size: i64) -> Result<Self, crate::InvalidValue> {
        u32::try_from(size)
            .ok()
            .filter(|size| (1..=Self::MAX).contains(size))
            .map(Self)
            .ok_or_else(|| crate::InvalidValue::new(format!("must be from 1 to {}", Self::MAX)))
    }

    /// The number of events.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Why the feed was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadFeedError {
    /// Only operators read the feed when callers are authenticated.
    #[error("only operators may read the event feed")]
    Forbidden,
    /// The reader missed events: those after its position are no longer kept.
    #[error("the events after this position are no longer kept")]
    Expired,
    /// The database failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

impl OrderService {
    /// A page of the events of every order, from `start`, in the order they were
    /// committed: a reader that starts at [`FeedStart::Oldest`] and keeps passing
    /// `next_after` sees every event kept, once and in order, whichever instance
    /// committed it. Operators only, when callers are authenticated.
    ///
    /// # Errors
    /// See [`ReadFeedError`].
    #[instrument(skip(self, caller))]
    pub async fn read_feed(
        &self,
        caller: &Caller,
        start: FeedStart,
        size: FeedPageSize,
    ) -> Result<FeedPage, ReadFeedError> {
        if let Caller::Principal(principal) = caller
            && !principal.scopes().contains(&Scope::Admin)
        {
            return Err(ReadFeedError::Forbidden);
        }
        self.ports
            .events
            .read_events(start, size.get())
            .await
            .map_err(|error| match error {
                FeedError::Expired => ReadFeedError::Expired,
                FeedError::Repository(error) => ReadFeedError::Repository(error),
            })
    }

    /// Forgets the events recorded more than `retention` ago, a batch per write until
    /// none is left; a reader of the feed that had not passed them learns it missed
    /// them. Meant to be called periodically. Returns how many were forgotten.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails; the batches before stay forgotten.
    pub async fn forget_old_events(&self, retention: Duration) -> Result<u64, RepositoryError> {
        let mut forgotten = 0;
        loop {
            let deleted = self
                .ports
                .events
                .forget_events(retention, EVENTS_FORGOTTEN_PER_WRITE)
                .await?;
            forgotten += u64::from(deleted);
            if deleted < EVENTS_FORGOTTEN_PER_WRITE {
                return Ok(forgotten);
            }
        }
    }
}
