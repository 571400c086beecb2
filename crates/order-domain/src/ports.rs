//! The ports: what the order service needs from the world, as traits that adapters
//! implement. Each method's `# Errors` section is a contract adapters must keep.
//!
//! With the `mocks` feature every port has a `mockall` mock (`MockOrderRepository`, …)
//! for the tests of crates that embed this one.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::access::Subject;
use crate::address::Address;
use crate::effect::{EffectId, PendingEffect};
use crate::event::{EventId, HistoryEntry, OrderChanged, RecordedEvent};
use crate::lifecycle::OrderStatus;
use crate::order::Order;
use crate::values::{
    Currency, CustomerId, IdempotencyKey, Money, OrderId, PaymentReference, ProductId, Quantity,
    RequestFingerprint, RequestId, StoreId,
};

/// The services this one depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpstreamService {
    /// Knows customers and their addresses.
    Customer,
    /// Holds the stock and its reservations.
    Inventory,
    /// Tells customers what happened to their orders.
    Notification,
    /// Processes payments and refunds.
    Payment,
    /// Quotes shipping.
    Shipping,
}

impl UpstreamService {
    /// The service's name in logs, metrics and health reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Inventory => "inventory",
            Self::Notification => "notification",
            Self::Payment => "payment",
            Self::Shipping => "shipping",
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

    /// Whether this inventory keeps its stock in the order repository's own database,
    /// so that [`OrderRepository::insert_reserving`] can reserve it in the transaction
    /// that stores the order. Then a placement is one durable commit, and no stock can
    /// be left reserved by a placement cut off before it stored its order. An inventory
    /// service never can; `false` unless overridden.
    fn shares_order_store(&self) -> bool {
        false
    }
}

/// Where a payment stands, as the payment service knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    /// The money was taken: the only status that pays for an order.
    Captured,
    /// Authorized, not yet taken.
    Authorized,
    /// It did not go through.
    Failed,
    /// It was paid back.
    Refunded,
}

impl PaymentStatus {
    /// The status's name in the payment service's contract.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Captured => "captured",
            Self::Authorized => "authorized",
            Self::Failed => "failed",
            Self::Refunded => "refunded",
        }
    }
}

/// A payment as the payment service describes it. Its fields are the service's word,
/// taken as they come: checking them against the order is the domain's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    /// The order the payment is for, as the payment service names it.
    pub order_id: String,
    /// Where it stands.
    pub status: PaymentStatus,
    /// How much, in minor units.
    pub amount: i64,
    /// In which currency.
    pub currency: String,
}

/// What a payment is checked against: a payment service needs only the reference; the
/// demo directory makes up a payment that matches the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentCheck {
    /// The payment's reference at the payment service.
    pub reference: PaymentReference,
    /// The order it must pay for.
    pub order_id: OrderId,
    /// The order's total.
    pub amount: Money,
    /// The order's currency.
    pub currency: Currency,
}

/// A refund to ask for: its id (the order's, so that asking twice is one refund), the
/// payment it pays back, and how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// The refund's id: the order's.
    pub refund_id: OrderId,
    /// The payment to pay back.
    pub payment_reference: PaymentReference,
    /// How much.
    pub amount: Money,
    /// In which currency.
    pub currency: Currency,
}

/// Why a refund was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundError {
    /// The payment service refused it for good (a 4xx other than 409): an operator
    /// must settle it.
    #[error("the refund was refused: {0}")]
    Refused(String),
    /// No answer could be had; asking again later may work.
    #[error(transparent)]
    Unavailable(#[from] UpstreamUnavailable),
}

/// The payment service: it vouches for payments and pays them back.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Payments: Send + Sync + 'static {
    /// The payment `check.reference`, or `None` when the payment service does not know
    /// it.
    ///
    /// # Errors
    /// [`UpstreamUnavailable`] when no answer could be had.
    async fn find_payment(
        &self,
        check: &PaymentCheck,
        request_id: &RequestId,
    ) -> Result<Option<PaymentRecord>, UpstreamUnavailable>;

    /// Pays a payment back. A refund of an id refunded before is done already, not a
    /// second refund.
    ///
    /// # Errors
    /// See [`RefundError`].
    async fn refund(
        &self,
        refund: &RefundRequest,
        request_id: &RequestId,
    ) -> Result<(), RefundError>;
}

/// What shipping an order is quoted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteRequest {
    /// Where it goes.
    pub destination: Address,
    /// What goes.
    pub items: Vec<ReservationLine>,
    /// The currency the order is in, and the quote must be in.
    pub currency: Currency,
}

/// What shipping costs, as the shipping service quotes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// How much.
    pub amount: Money,
    /// In which currency.
    pub currency: Currency,
    /// The service it is a price of (`standard`, …).
    pub service_level: String,
}

/// The shipping service, which prices shipping.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ShippingQuotes: Send + Sync + 'static {
    /// What shipping `request` costs.
    ///
    /// # Errors
    /// [`UpstreamUnavailable`] when no usable quote could be had.
    async fn quote(
        &self,
        request: &QuoteRequest,
        request_id: &RequestId,
    ) -> Result<Quote, UpstreamUnavailable>;
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
    /// Whose key it is: each caller's keys are its own (`None`: open mode's).
    pub owner: Option<Subject>,
    /// The client's key.
    pub key: IdempotencyKey,
    /// What the request asks, to tell a replay from a reuse.
    pub fingerprint: RequestFingerprint,
    /// The order this request places: it identifies the claim among the claims of the
    /// key over time.
    pub order_id: OrderId,
    /// How long a completed key replays its first response.
    pub retention: Duration,
    /// How long an unfinished claim is honoured: past it, the claim counts as abandoned
    /// by a process that died, and the key may be claimed afresh.
    pub abandon_after: Duration,
    /// The placement's durable trace, recorded with the claim and due when the claim
    /// counts as abandoned (see [`OrderRepository::insert_placed_order`]).
    pub guard: PendingEffect,
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
    /// Whose key it is ([`IdempotencyClaim::owner`]).
    pub owner: Option<Subject>,
    /// The key claimed.
    pub key: IdempotencyKey,
    /// The order its claim places ([`IdempotencyClaim::order_id`]).
    pub order_id: OrderId,
    /// What the first request answered.
    pub response: StoredResponse,
}

/// Decides which one request processes an idempotency key.
///
/// Times (when a claim was made, when it counts as abandoned, when a key expires) are
/// the store's own clock's, the database's where it is shared, so that instances whose
/// clocks disagree never take over each other's claims early.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Claims `claim.key` of `claim.owner` for this request, atomically: of concurrent
    /// claims of one owner's key, across processes too, exactly one gets
    /// [`ClaimOutcome::Claimed`]; another owner's same key is another key. A
    /// completed key past its retention, or an unfinished claim older than its
    /// `abandon_after`, is claimed afresh. A successful claim records `claim.guard` in
    /// the same transaction, due `claim.abandon_after` from now, as
    /// [`EffectOutbox::record_effect`] would.
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

    /// Deletes up to `limit` keys whose retention has ended, completed or not, and says
    /// how many it deleted. A key claimed afresh meanwhile is kept.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails; then nothing was deleted.
    async fn forget_expired(&self, limit: u32) -> Result<u32, RepositoryError>;

    /// What a claim of `request.key` would find now, claiming nothing: `None` when the
    /// key is free (unused, expired, or claimed by a request that counts as abandoned).
    /// Lets a replay be answered before anything else is asked of anyone.
    ///
    /// The default finds every key free: then a replay is found only by
    /// [`OrderRepository::insert_reserving`], after the customer and the shipping
    /// quote were looked up.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    async fn recall(&self, request: &KeyRequest) -> Result<Option<KeyTaken>, RepositoryError> {
        let _ = request;
        Ok(None)
    }
}

/// An idempotency key as one request uses it, when the key is claimed and completed in
/// the transaction that stores the order (see [`OrderRepository::insert_reserving`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRequest {
    /// Whose key it is: each caller's keys are its own (`None`: open mode's).
    pub owner: Option<Subject>,
    /// The client's key.
    pub key: IdempotencyKey,
    /// What the request asks, to tell a replay from a reuse.
    pub fingerprint: RequestFingerprint,
    /// How long a completed key replays its first response.
    pub retention: Duration,
    /// How long another request's unfinished claim of the key is honoured
    /// ([`IdempotencyClaim::abandon_after`]).
    pub abandon_after: Duration,
}

/// A key that is not free for a request: what the request gets instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyTaken {
    /// The same request completed before: answer with this.
    Replay(StoredResponse),
    /// The same request is being processed right now.
    InProgress,
    /// The key was used for a different request.
    KeyReused,
}

/// What [`OrderRepository::insert_reserving`] came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReservingOutcome {
    /// The order, its reservation and its key's response are stored.
    Stored,
    /// The key was not free; nothing was stored.
    KeyTaken(KeyTaken),
    /// The stock could not be reserved ([`ReservationError::UnknownProducts`] or
    /// [`ReservationError::InsufficientStock`]); nothing was stored.
    Refused(ReservationError),
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
    /// The change's event, for the feed and the broker.
    pub event: RecordedEvent,
    /// What the change asks of the world beyond the database, recorded with it so that
    /// it cannot be lost.
    pub effects: Vec<DueEffect>,
}

/// Whether a change was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Stored.
    Saved,
    /// The order changed since the change was decided; nothing was stored.
    VersionConflict,
}

/// A new order to store: the order, its first history entry and its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedOrder {
    /// The order.
    pub order: Order,
    /// Its first history entry.
    pub entry: HistoryEntry,
    /// The event of its placement.
    pub event: RecordedEvent,
}

/// Whether a placed order was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored, and its guard forgotten.
    Stored,
    /// The placement's guard was taken (the placement counted as abandoned, and its
    /// reservation is being released): nothing was stored.
    GuardTaken,
}

/// An effect to record, and when it falls due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEffect {
    /// The effect.
    pub effect: PendingEffect,
    /// How long from now (by the store's clock) until a worker may carry it out.
    pub due_in: Duration,
}

/// Keeps the effects that have not been done yet, so that none is ever lost: each is
/// recorded before it is done (with the change that makes it necessary, see
/// [`OrderRepository::save_change`], or before the call that does it), and forgotten
/// only once done.
///
/// An effect taken by a worker (see [`EffectOutbox::take_due_effects`] and
/// [`EffectOutbox::take_effect`]) stays taken: a later record of it reschedules it but
/// never makes it untaken again. That is what lets a placement's guard decide between
/// the placement and the release of its reservation (see
/// [`OrderRepository::insert_placed_order`]). Times are the store's own clock's.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EffectOutbox: Send + Sync + 'static {
    /// Records an effect, due `due_in` from now; an effect recorded before with the
    /// same [`crate::Effect::id`] is replaced.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails; then nothing was recorded.
    async fn record_effect(&self, effect: &DueEffect) -> Result<(), RepositoryError>;

    /// Takes the effect `id` to carry it out now, hidden from other workers for
    /// `lease`, if it is recorded and nobody has taken it yet; says whether it did.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails; then nothing was taken.
    async fn take_effect(&self, id: &EffectId, lease: Duration) -> Result<bool, RepositoryError>;

    /// Takes up to `limit` due effects, oldest due first, and hides each from other
    /// workers for `lease`, so that instances sharing the database rarely try one
    /// together.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    async fn take_due_effects(
        &self,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<PendingEffect>, RepositoryError>;

    /// Forgets a done effect.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    async fn complete_effect(&self, id: &EffectId) -> Result<(), RepositoryError>;
}

/// Keeps orders and their histories.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OrderRepository: Send + Sync + 'static {
    /// Stores a new order, its first history entry, its event and, when given, the
    /// idempotency key's outcome, in one transaction: all of it or nothing. The same
    /// transaction forgets the placement's guard (`guard`, an effect that releases the
    /// order's reservation), but only if no worker has taken it: a guard taken means
    /// that its placement counted as abandoned and the reservation is being given back,
    /// and then nothing is stored ([`InsertOutcome::GuardTaken`]). So of a placement and
    /// the release of its stock exactly one wins, whatever the timing.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails or the claim on `completion.key`
    /// is no longer this request's; then nothing was stored.
    async fn insert_placed_order(
        &self,
        placed: &PlacedOrder,
        completion: Option<IdempotencyCompletion>,
        guard: &EffectId,
    ) -> Result<InsertOutcome, RepositoryError>;

    /// Stores a new order, its first history entry and its event together with its
    /// reservation of the stock kept in this database (see
    /// [`Inventory::shares_order_store`]) and, when `key` is given, the key claimed and
    /// completed with `key.1` as its response: in one transaction, all of it or nothing.
    /// Reserving the stock and claiming the key follow [`Inventory::reserve`] and
    /// [`IdempotencyStore::claim`]: every line or none; of concurrent requests with
    /// one key exactly one stores its order.
    ///
    /// The default keeps no stock: it fails, and an inventory that shares the order
    /// store needs a repository that overrides it.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails; then nothing was stored.
    async fn insert_reserving(
        &self,
        placed: &PlacedOrder,
        reservation: &Reservation,
        key: Option<(KeyRequest, StoredResponse)>,
    ) -> Result<ReservingOutcome, RepositoryError> {
        let _ = (placed, reservation, key);
        Err(RepositoryError::Internal(anyhow::anyhow!(
            "this order repository keeps no stock"
        )))
    }

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

    /// Stores a change of an order, its history entry, its event and the effects it
    /// asks for (as [`EffectOutbox::record_effect`] records them), in one transaction — but only if the stored order is
    /// still at `change.previous_version`, so that of two concurrent changes decided on
    /// the same version, across processes too, only one is stored.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails; then nothing was stored.
    async fn save_change(&self, change: &OrderChange) -> Result<SaveOutcome, RepositoryError>;

    /// Records that the payment service refused the order's pending refund for good
    /// (its status becomes failed), without a change of the order's version: it is the
    /// payment service's word, for an operator to settle, not a change a client made.
    /// A refund not pending is left as it is.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    async fn mark_refund_failed(&self, id: OrderId) -> Result<(), RepositoryError>;

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

/// Makes ids.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait IdSource: Send + Sync + 'static {
    /// A new order id, never handed out before.
    fn next_order_id(&self) -> OrderId;

    /// A new event id, never handed out before.
    fn next_event_id(&self) -> EventId;
}

/// Writes events down as consumers receive them. The events are the domain's; their
/// format (CloudEvents JSON with the order as the API shows it, say) is the business of
/// whoever publishes them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait EventFormat: Send + Sync + 'static {
    /// The event's body, as every consumer (the feed, a broker) receives it.
    fn render<'a>(&self, change: &OrderChanged<'a>) -> Vec<u8>;
}

/// Where a reader of the event feed starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedStart {
    /// At the oldest event kept.
    Oldest,
    /// After the event at this position.
    After(u64),
    /// At the end: nothing now, only what comes next.
    End,
}

/// One event of the feed, at its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    /// Where it stands in the feed: positions grow in the order events were committed.
    pub position: u64,
    /// The event.
    pub event: RecordedEvent,
}

/// A page of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPage {
    /// The events, in commit order.
    pub events: Vec<FeedEvent>,
    /// Where the next page starts: the last event's position, or where this page
    /// started when it is empty.
    pub next_after: u64,
}

/// Why the feed could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The reader asked to start after a position whose successors are no longer
    /// kept: it missed events.
    #[error("the events after this position are no longer kept")]
    Expired,
    /// The database failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// The events recorded with every change (see [`OrderRepository::save_change`]), read
/// in commit order.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Up to `limit` events from `start`, in the order they were committed: an event
    /// committed later than one already read is never placed before it, whatever the
    /// instance that committed it, so a reader that keeps passing `next_after` sees
    /// every event once.
    ///
    /// # Errors
    /// [`FeedError::Expired`] when `start` is after a position older than the oldest
    /// event kept (events after it were forgotten); [`FeedError::Repository`] when the
    /// database fails.
    async fn read_events(&self, start: FeedStart, limit: u32) -> Result<FeedPage, FeedError>;

    /// Forgets up to `limit` of the oldest events recorded more than `retention` ago,
    /// and says how many it forgot.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails; then nothing was forgotten.
    async fn forget_events(&self, retention: Duration, limit: u32) -> Result<u32, RepositoryError>;

    /// Takes, or keeps, the lease of the consumer `consumer` for `holder` until `lease`
    /// from now, unless another holder's lease on it still runs; returns the
    /// consumer's position then (`None`: another holder has it). A consumer met for the
    /// first time starts at `start`: [`FeedStart::Oldest`] to be told every event kept,
    /// [`FeedStart::End`] to be told only what comes next.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    async fn lease_consumer(
        &self,
        consumer: &str,
        holder: &str,
        lease: Duration,
        start: FeedStart,
    ) -> Result<Option<u64>, RepositoryError>;

    /// Moves the consumer's position forward to `position`, if `holder` still holds
    /// its lease; says whether it did.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    async fn advance_consumer(
        &self,
        consumer: &str,
        holder: &str,
        position: u64,
    ) -> Result<bool, RepositoryError>;

    /// How far behind the consumer is: the events after its position, and when the
    /// oldest of them was recorded. A consumer never leased has nothing waiting.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    async fn consumer_backlog(&self, consumer: &str) -> Result<Backlog, RepositoryError>;
}

/// The events waiting for a consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    /// How many.
    pub waiting: u64,
    /// When the oldest was recorded.
    pub oldest: Option<DateTime<Utc>>,
}

/// The broker did not take an event: it could not be reached, or did not acknowledge it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the broker did not take the event: {0}")]
pub struct BrokerUnavailable(pub String);

/// A message broker the events are published to, for the rest of the marketplace.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EventBroker: Send + Sync + 'static {
    /// Publishes an event, returning once the broker has acknowledged it (then it is
    /// kept, whatever happens to this service). Publishing one again is harmless: the
    /// broker drops a repeat of an event id it has seen.
    ///
    /// # Errors
    /// [`BrokerUnavailable`] when it was not acknowledged; it may or may not have been
    /// taken.
    async fn publish(&self, event: &RecordedEvent) -> Result<(), BrokerUnavailable>;
}

/// How one try of an effect ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EffectOutcome {
    /// Done.
    Done,
    /// Not done; it will be tried again.
    Retried,
    /// Refused for good; it will not be tried again (logged for an operator).
    GivenUp,
}

impl EffectOutcome {
    /// The outcome's name in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Retried => "retried",
            Self::GivenUp => "given_up",
        }
    }
}

/// Watches the effects the service carries out, for operators (metrics, say).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait EffectObserver: Send + Sync + 'static {
    /// One try of an effect of `kind` ([`crate::Effect::kind`]) ended so.
    fn effect_tried(&self, kind: &'static str, outcome: EffectOutcome);
}

/// Why a notification was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// The notification service refused it for good (a 4xx other than 408 and 429):
    /// sending it again would be refused again.
    #[error("the notification was refused: {0}")]
    Refused(String),
    /// No answer could be had; sending it again later may work.
    #[error(transparent)]
    Unavailable(#[from] UpstreamUnavailable),
}

/// The notification service, which tells customers what happened to their orders.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// Sends the notification of `event`, a customer-facing one (see
    /// [`crate::OrderEvent::notifies_customer`]). Sending one again is harmless: the
    /// notification service deduplicates by the event's id.
    ///
    /// # Errors
    /// See [`NotifyError`].
    async fn notify(
        &self,
        event: &RecordedEvent,
        request_id: &RequestId,
    ) -> Result<(), NotifyError>;
}
