//! The use cases: what a client can ask of the order service, carried out over the
//! ports. One module per reason to change: placing an order, changing one, reading
//! them, and carrying out the effects they leave to do.

mod change;
mod effects;
mod feed;
mod place;
mod read;
mod relay;
#[cfg(test)]
mod tests;

pub use feed::{FeedPageSize, ReadFeedError};
pub use relay::{BROKER_RELAY, NOTIFICATION_RELAY, RelayError, RelayPolicy, RelayRound};

use std::sync::Arc;
use std::time::Duration;

use crate::command::TotalError;
use crate::effect::EffectPolicy;
use crate::event::{HistoryEntry, OrderChanged, RecordedEvent};
use crate::order::CommandError;
use crate::order::Order;
use crate::ports::{
    Clock, CustomerDirectory, EffectObserver, EffectOutbox, EventBroker, EventFormat, EventLog,
    IdSource, IdempotencyStore, Inventory, Notifier, OrderRepository, PaymentStatus, Payments,
    RepositoryError, ShippingQuotes, Shortage, StoredResponse, UpstreamUnavailable,
};
use crate::values::{IdempotencyKey, ProductId, RequestFingerprint};

/// The adapters the service works through.
#[allow(missing_debug_implementations)]
pub struct Ports {
    /// Orders and histories.
    pub orders: Arc<dyn OrderRepository>,
    /// Idempotency keys.
    pub idempotency: Arc<dyn IdempotencyStore>,
    /// The customer service.
    pub customers: Arc<dyn CustomerDirectory>,
    /// The inventory service.
    pub inventory: Arc<dyn Inventory>,
    /// The payment service.
    pub payments: Arc<dyn Payments>,
    /// The shipping service.
    pub shipping: Arc<dyn ShippingQuotes>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// New ids.
    pub ids: Arc<dyn IdSource>,
    /// Effects outside the database not yet done.
    pub effects: Arc<dyn EffectOutbox>,
    /// How events are written down for their consumers.
    pub event_format: Arc<dyn EventFormat>,
    /// The events recorded, for the feed and the relays.
    pub events: Arc<dyn EventLog>,
    /// The broker events are published to; `None`: they are only in the feed.
    pub broker: Option<Arc<dyn EventBroker>>,
    /// The notification service.
    pub notifier: Arc<dyn Notifier>,
    /// Who watches the effects carried out.
    pub effect_observer: Arc<dyn EffectObserver>,
}

/// How placements are kept safe against retries, hang-ups and crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacementPolicy {
    /// How long a completed idempotency key replays its first response (24 h by
    /// default).
    pub key_retention: Duration,
    /// How long a placement may be under way before it counts as abandoned by a
    /// process that died: its key may then be claimed afresh, and the stock it may have
    /// reserved is given back. Longer than any placement can take (60 s by default).
    pub abandon_after: Duration,
}

impl Default for PlacementPolicy {
    fn default() -> Self {
        Self {
            key_retention: Duration::from_secs(24 * 60 * 60),
            abandon_after: Duration::from_secs(60),
        }
    }
}

/// Everything about how the service goes about its work that is not a port: windows,
/// retries, leases. The defaults are the spec's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policies {
    /// How placements are kept safe against retries, hang-ups and crashes.
    pub placement: PlacementPolicy,
    /// How effects outside the database are carried out and tried again.
    pub effects: EffectPolicy,
    /// How events are relayed to the broker and the notification service.
    pub relay: RelayPolicy,
}

/// An idempotent request: its key, and what it asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentRequest {
    /// The client's `Idempotency-Key`.
    pub key: IdempotencyKey,
    /// What the request asks.
    pub fingerprint: RequestFingerprint,
}

/// What placing an order produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// A new order.
    Created(Box<crate::Order>),
    /// The key was processed before: the first response, as it was stored.
    Replayed(StoredResponse),
}

/// Why an order was not placed. In every case nothing was stored, no stock stays
/// reserved for it once the service has settled, and the idempotency key may be used
/// again.
#[derive(Debug, thiserror::Error)]
pub enum PlaceOrderError {
    /// The customer service does not know the customer.
    #[error("the customer is unknown")]
    CustomerNotFound,
    /// No address was given and the customer has none on file.
    #[error("no shipping address was given and the customer has none on file")]
    ShippingAddressRequired,
    /// The inventory does not know these products.
    #[error("unknown products")]
    UnknownProducts(Vec<ProductId>),
    /// These products are short.
    #[error("insufficient stock")]
    InsufficientStock(Vec<Shortage>),
    /// An upstream service gave no usable answer.
    #[error(transparent)]
    DependencyUnavailable(#[from] UpstreamUnavailable),
    /// The caller may not place an order for this customer.
    #[error("the caller may not place orders for this customer")]
    Forbidden,
    /// The key was used before for a different request.
    #[error("the idempotency key was used for a different request")]
    IdempotencyKeyReused,
    /// The same request is being processed right now.
    #[error("a request with this idempotency key is in progress")]
    IdempotencyRequestInProgress,
    /// The total, once the shipping service quoted shipping, overflows or is not the
    /// total the client claimed.
    #[error(transparent)]
    Total(#[from] TotalError),
    /// The placement took so long that it counted as abandoned, and its stock is being
    /// given back; retrying may work.
    #[error("the placement took too long and was given up")]
    Abandoned,
    /// The database failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Why a business action on an order was not carried out. In every case the order
/// is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ChangeOrderError {
    /// No such order, or the caller may not see it.
    #[error("the order does not exist")]
    NotFound,
    /// The caller sees the order, but its scopes do not allow the action.
    #[error("the caller's scopes do not allow this action")]
    Forbidden,
    /// The order refused the command.
    #[error(transparent)]
    Refused(#[from] CommandError),
    /// The client's `If-Match` version is not the order's current one.
    #[error("the order is not at the expected version")]
    PreconditionFailed,
    /// The payment service does not vouch for the payment: unknown, not captured, or
    /// for another order, amount or currency.
    #[error("the payment is not verified")]
    PaymentNotVerified(Vec<PaymentMismatch>),
    /// An upstream service (the payment service) gave no usable answer.
    #[error(transparent)]
    DependencyUnavailable(#[from] UpstreamUnavailable),
    /// Other changes of the order kept winning the race to be stored; retry.
    #[error("the order is being changed by many requests at once")]
    Contention,
    /// The database failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// How a payment differs from what the order needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentMismatch {
    /// The payment service does not know the payment.
    Unknown,
    /// The payment is not captured.
    Status(PaymentStatus),
    /// The payment is for another order, by the payment service's id of it.
    OrderId(String),
    /// The payment is of another amount, in minor units.
    Amount(i64),
    /// The payment is in another currency.
    Currency(String),
}

/// Why an order or its history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadOrderError {
    /// No such order, it was deleted, or the caller may not see it.
    #[error("the order does not exist")]
    NotFound,
    /// The caller asked for orders of another customer or store than its own.
    #[error("the caller may not list these orders")]
    Forbidden,
    /// The database failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// The order service's use cases.
#[allow(missing_debug_implementations)]
pub struct OrderService {
    ports: Ports,
    placement_policy: PlacementPolicy,
    effect_policy: EffectPolicy,
    relay_policy: RelayPolicy,
}

impl OrderService {
    /// A service working through `ports`, as `policies` say.
    pub fn new(ports: Ports, policies: Policies) -> Self {
        Self {
            ports,
            placement_policy: policies.placement,
            effect_policy: policies.effects,
            relay_policy: policies.relay,
        }
    }
}

impl OrderService {
    /// The event of a change, written down for its consumers.
    fn event_of(&self, order: &Order, entry: &HistoryEntry) -> RecordedEvent {
        let id = self.ports.ids.next_event_id();
        RecordedEvent {
            id,
            order_id: order.id(),
            version: entry.version,
            name: entry.event.name(),
            at: entry.at,
            body: self
                .ports
                .event_format
                .render(&OrderChanged { id, order, entry }),
        }
    }
}
