//! The ports: what the order service needs from the world, as traits that adapters
//! implement. Each method's `# Errors` section is a contract adapters must keep.
//!
//! With the `mocks` feature every port has a `mockall` mock (`MockOrderRepository`, …)
//! for the tests of crates that embed this one.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::address::Address;
use crate::event::HistoryEntry;
use crate::lifecycle::OrderStatus;
use crate::order::Order;
use crate::values::{
    CustomerId, IdempotencyKey, OrderId, ProductId, Quantity, RequestFingerprint, RequestId,
    StoreId,
};

/// The services this one depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpstreamService {
    /// Knows customers and their addresses.
    Customer,
    /// Holds the stock and its reservations.
    Inventory,
}

impl UpstreamService {
    /// The service's name in logs, metrics and health reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Inventory => "inventory",
        }
    }
}

impl fmt::Display for UpstreamService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An upstream service did not give a usable answer: it failed, timed out, answered
/// something outside its contract, or its circuit is open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {service} service is unavailable: {reason}")]
pub struct UpstreamUnavailable {
    /// Which service.
    pub service: UpstreamService,
    /// What went wrong, for the logs (never shown to clients).
    pub reason: String,
    /// When a retry may succeed, if the adapter knows (an open circuit does).
    pub retry_after: Option<Duration>,
}

/// A customer as the customer service knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// Their id.
    pub id: CustomerId,
    /// Where orders ship when the client names no address.
    pub shipping_address: Option<Address>,
}

/// Looks customers up.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait CustomerDirectory: Send + Sync + 'static {
    /// The customer with this id, or `None` when the directory does not know them.
    ///
    /// # Errors
    /// [`UpstreamUnavailable`] when no answer could be had; an unknown customer is
    /// `Ok(None)`, never an error.
    async fn find_customer(
        &self,
        id: &CustomerId,
        request_id: &RequestId,
    ) -> Result<Option<Customer>, UpstreamUnavailable>;
}

/// One product and quantity to hold back for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationLine {
    /// The product.
    pub product_id: ProductId,
    /// How many units.
    pub quantity: Quantity,
}

/// Stock held for one order; its id is the order's id, so repeating a reservation is
/// safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The order's id.
    pub id: OrderId,
    /// What to hold.
    pub lines: Vec<ReservationLine>,
}

/// A product with less stock than an order asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortage {
    /// The product.
    pub product_id: ProductId,
    /// How many the order asked for.
    pub requested: u32,
    /// How many there are.
    pub available: u64,
}

/// Why stock could not be reserved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReservationError {
    /// The inventory does not know these products.
    #[error("unknown products")]
    UnknownProducts(Vec<ProductId>),
    /// These products are short; nothing was reserved.
    #[error("insufficient stock")]
    InsufficientStock(Vec<Shortage>),
    /// No answer could be had; the reservation may or may not exist.
    #[error(transparent)]
    Unavailable(#[from] UpstreamUnavailable),
}

/// Holds stock for orders.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Inventory: Send + Sync + 'static {
    /// Reserves every line, or none. Reserving the same reservation id again is not a
    /// second reservation.
    ///
    /// # Errors
    /// [`ReservationError::UnknownProducts`] naming every unknown product,
    /// [`ReservationError::InsufficientStock`] naming every short one, or
    /// [`ReservationError::Unavailable`].
    async fn reserve(
        &self,
        reservation: &Reservation,
        request_id: &RequestId,
    ) -> Result<(), ReservationError>;

    /// Gives a reservation's stock back. Releasing an unknown or already released
    /// reservation succeeds.
    ///
    /// # Errors
    /// [`UpstreamUnavailable`] when no answer could be had.
    async fn release(
        &self,
        reservation_id: OrderId,
        request_id: &RequestId,
    ) -> Result<(), UpstreamUnavailable>;
}

/// The database failed. Adapters translate their own errors into one of these.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    /// The database could not be reached (no connection within the timeout, the writer
    /// stopped), so nothing of the work was done; trying again later may work.
    #[error("the database is unavailable")]
    Unreached(#[source] anyhow::Error),
    /// The database failed while the work was under way in a way that may pass (a lost
    /// connection, a locked database): the work may or may not have taken effect, and
    /// trying again later may work.
    #[error("the database is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else.
    #[error("the database failed")]
    Internal(#[source] anyhow::Error),
}

/// The response first given to an idempotent request, kept so that a replay gets the
/// very same answer. Opaque here: its shape is the caller's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse(pub Vec<u8>);

/// A request to become the one request that processes an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// The client's key.
    pub key: IdempotencyKey,
    /// What the request asks, to tell a replay from a reuse.
    pub fingerprint: RequestFingerprint,
    /// Now.
    pub now: DateTime<Utc>,
    /// When the key may be used afresh (the retention window's end).
    pub expires_at: DateTime<Utc>,
    /// An unfinished claim made before this instant was abandoned (its process died)
    /// and may be taken over.
    pub abandoned_before: DateTime<Utc>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This request owns the key: process it, then complete or abandon the claim.
    Claimed,
    /// The same request completed before: answer with this.
    Replay(StoredResponse),
    /// The same request is being processed right now.
    InProgress,
    /// The key was used for a different request.
    KeyReused,
}

/// The outcome to record for a claimed key, in the same transaction as the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyCompletion {
    /// The key claimed.
    pub key: IdempotencyKey,
    /// When it was claimed ([`IdempotencyClaim::now`]): identifies this request's claim.
    pub claimed_at: DateTime<Utc>,
    /// What the first request answered.
    pub response: StoredResponse,
}

/// Decides which one request processes an idempotency key.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Claims `claim.key` for this request, atomically: of concurrent claims of one
    /// key, across processes too, exactly one gets [`ClaimOutcome::Claimed`]. A
    /// completed key past its `expires_at`, or an unfinished claim older than
    /// `abandoned_before`, is claimed afresh.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails; then nothing was claimed.
    async fn claim(&self, claim: &IdempotencyClaim) -> Result<ClaimOutcome, RepositoryError>;

    /// Gives up this request's unfinished claim, so that the key can be used again. A
    /// claim that another request has taken over in the meantime is left alone.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    async fn abandon(&self, claim: &IdempotencyClaim) -> Result<(), RepositoryError>;

    /// Deletes up to `limit` keys whose `expires_at` is not after `now`, completed or
    /// not, and says how many it deleted. A key claimed afresh meanwhile is kept.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails; then nothing was deleted.
    async fn forget_expired(&self, now: DateTime<Utc>, limit: u32) -> Result<u32, RepositoryError>;
}

/// Where in a listing a page starts: after the order with this creation time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PagePosition {
    /// The last listed order's creation time.
    pub created_at: DateTime<Utc>,
    /// The last listed order's id.
    pub id: OrderId,
}

/// How many orders one page holds: 1 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u32);

impl PageSize {
    /// The size of a page when the client names none.
    pub const DEFAULT: PageSize = PageSize(20);
    /// The largest page.
    pub const MAX: u32 = 100;

    /// Takes a page size.
    ///
    /// # Errors
    /// [`crate::InvalidValue`] unless `1 <= size <= 100`.
    pub fn new(size: i64) -> Result<Self, crate::InvalidValue> {
        u32::try_from(size)
            .ok()
            .filter(|size| (1..=Self::MAX).contains(size))
            .map(Self)
            .ok_or_else(|| crate::InvalidValue::new(format!("must be from 1 to {}", Self::MAX)))
    }

    /// The number of orders.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Which orders to list: every filter given must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderQuery {
    /// Only this customer's orders.
    pub customer_id: Option<CustomerId>,
    /// Only this store's orders.
    pub store_id: Option<StoreId>,
    /// Only orders in this status.
    pub status: Option<OrderStatus>,
    /// At most this many.
    pub limit: PageSize,
    /// Start after this order; `None` starts with the newest.
    pub after: Option<PagePosition>,
}

/// One page of a listing, newest first (ties broken by id, higher first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPage {
    /// The orders.
    pub orders: Vec<Order>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<PagePosition>,
}

/// A decided change of an order, to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderChange {
    /// The order as changed.
    pub order: Order,
    /// The history entry of the change.
    pub entry: HistoryEntry,
    /// The version the change was decided on.
    pub previous_version: u32,
    /// The change gives the stock back: record the release so it cannot be lost.
    pub release: Option<PendingRelease>,
}

/// Whether a change was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Stored.
    Saved,
    /// The order changed since the change was decided; nothing was stored.
    VersionConflict,
}

/// A stock reservation to give back, kept until the inventory has confirmed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRelease {
    /// The reservation (the order's id).
    pub reservation_id: OrderId,
    /// The request that caused it, passed on to the inventory.
    pub request_id: RequestId,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When to try next.
    pub due_at: DateTime<Utc>,
}

/// Keeps the releases of stock reservations that have not succeeded yet, so that a
/// release is never lost: recorded in the same transaction as the change that caused it
/// (see [`OrderRepository::save_change`]), or on its own when a placement fails.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ReleaseOutbox: Send + Sync + 'static {
    /// Records a release to make (again, if it was recorded before).
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    async fn record_release(&self, release: &PendingRelease) -> Result<(), RepositoryError>;

    /// Takes up to `limit` releases due at `now` and hides them from other takers until
    /// `hidden_until`, so that instances sharing the database rarely try one together.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    async fn take_due_releases(
        &self,
        now: DateTime<Utc>,
        hidden_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingRelease>, RepositoryError>;

    /// Forgets a release the inventory confirmed.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    async fn complete_release(&self, reservation_id: OrderId) -> Result<(), RepositoryError>;
}

/// Keeps orders and their histories.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OrderRepository: Send + Sync + 'static {
    /// Stores a new order, its first history entry and, when given, the idempotency
    /// key's outcome, in one transaction: all of it or nothing.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails or the claim on `completion.key`
    /// is no longer this request's; then nothing was stored.
    async fn insert_placed_order(
        &self,
        order: &Order,
        placed: &HistoryEntry,
        completion: Option<IdempotencyCompletion>,
    ) -> Result<(), RepositoryError>;

    /// The order with this id, soft-deleted or not; `None` when there is none.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    async fn find_order(&self, id: OrderId) -> Result<Option<Order>, RepositoryError>;

    /// One page of the orders that match, never soft-deleted ones.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    async fn list_orders(&self, query: &OrderQuery) -> Result<OrderPage, RepositoryError>;

    /// Stores a change of an order, its history entry and, when asked, a pending release
    /// of its stock reservation, in one transaction — but only if the stored order is
    /// still at `change.previous_version`, so that of two concurrent changes decided on
    /// the same version, across processes too, only one is stored.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails; then nothing was stored.
    async fn save_change(&self, change: &OrderChange) -> Result<SaveOutcome, RepositoryError>;

    /// The order's history, oldest first; empty when the order does not exist.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    async fn order_history(&self, id: OrderId) -> Result<Vec<HistoryEntry>, RepositoryError>;
}

/// Tells the time.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC, to the microsecond (what databases keep).
    fn now(&self) -> DateTime<Utc>;
}

/// Makes order ids.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait OrderIdSource: Send + Sync + 'static {
    /// A new id, never handed out before.
    fn next_order_id(&self) -> OrderId;
}
