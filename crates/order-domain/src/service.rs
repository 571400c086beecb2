//! The use cases: what a client can ask of the order service, carried out over the
//! ports.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tracing::{instrument, warn};

use crate::command::{NewOrder, OrderCommand};
use crate::event::HistoryEntry;
use crate::order::{CommandError, Order};
use crate::ports::{
    ClaimOutcome, Clock, CustomerDirectory, IdempotencyClaim, IdempotencyCompletion,
    IdempotencyStore, Inventory, OrderChange, OrderIdSource, OrderPage, OrderQuery,
    OrderRepository, PendingRelease, ReleaseOutbox, RepositoryError, Reservation, ReservationError,
    ReservationLine, SaveOutcome, Shortage, StoredResponse, UpstreamUnavailable,
};
use crate::values::{IdempotencyKey, OrderId, ProductId, RequestFingerprint, RequestId};

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
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// New order ids.
    pub ids: Arc<dyn OrderIdSource>,
    /// Stock releases not yet confirmed by the inventory.
    pub releases: Arc<dyn ReleaseOutbox>,
}

/// How long idempotency keys are remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyPolicy {
    /// How long a completed key replays its first response (24 h by default).
    pub retention: TimeDelta,
    /// How long an unfinished claim is honoured before it counts as abandoned by a
    /// process that died; longer than any request can take (60 s by default).
    pub abandon_after: TimeDelta,
}

impl Default for IdempotencyPolicy {
    fn default() -> Self {
        Self {
            retention: TimeDelta::hours(24),
            abandon_after: TimeDelta::seconds(60),
        }
    }
}

/// How releases of stock reservations that failed are tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleasePolicy {
    /// The wait after the first failure; it doubles with each further one.
    pub first_retry: TimeDelta,
    /// The longest wait between two tries.
    pub max_retry: TimeDelta,
    /// How long a taken release stays hidden from other instances while it is tried.
    pub hide_for: TimeDelta,
    /// How many due releases one round takes.
    pub batch: u32,
}

impl Default for ReleasePolicy {
    fn default() -> Self {
        Self {
            first_retry: TimeDelta::seconds(1),
            max_retry: TimeDelta::minutes(5),
            hide_for: TimeDelta::seconds(30),
            batch: 100,
        }
    }
}

impl ReleasePolicy {
    /// When to try a release again after its `attempts`-th failure.
    fn next_try(&self, attempts: u32, now: DateTime<Utc>) -> DateTime<Utc> {
        let doublings = attempts.saturating_sub(1).min(30);
        let wait = self.first_retry * (1_i32 << doublings);
        now + wait.min(self.max_retry)
    }
}

/// How often a change is decided afresh when other changes of the same order keep
/// winning the race to be stored.
const MAX_CHANGE_ATTEMPTS: usize = 32;

/// How many expired idempotency keys one write deletes: few enough that the writes of
/// requests are not held up behind it.
const EXPIRED_KEYS_PER_WRITE: u32 = 500;

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
    Created(Box<Order>),
    /// The key was processed before: the first response, as it was stored.
    Replayed(StoredResponse),
}

/// Why an order was not placed. In every case nothing was stored, no stock stays
/// reserved for it, and the idempotency key may be used again.
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
    /// The key was used before for a different request.
    #[error("the idempotency key was used for a different request")]
    IdempotencyKeyReused,
    /// The same request is being processed right now.
    #[error("a request with this idempotency key is in progress")]
    IdempotencyRequestInProgress,
    /// The database failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Why a business action on an order was not carried out. In every case the order
/// is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ChangeOrderError {
    /// No such order.
    #[error("the order does not exist")]
    NotFound,
    /// The order refused the command.
    #[error(transparent)]
    Refused(#[from] CommandError),
    /// The client's `If-Match` version is not the order's current one.
    #[error("the order is not at the expected version")]
    PreconditionFailed,
    /// Other changes of the order kept winning the race to be stored; retry.
    #[error("the order is being changed by many requests at once")]
    Contention,
    /// The database failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Why an order or its history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadOrderError {
    /// No such order, or it was deleted.
    #[error("the order does not exist")]
    NotFound,
    /// The database failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// The order service's use cases.
#[allow(missing_debug_implementations)]
pub struct OrderService {
    ports: Ports,
    idempotency_policy: IdempotencyPolicy,
    release_policy: ReleasePolicy,
}

impl OrderService {
    /// A service working through `ports`.
    pub fn new(
        ports: Ports,
        idempotency_policy: IdempotencyPolicy,
        release_policy: ReleasePolicy,
    ) -> Self {
        Self {
            ports,
            idempotency_policy,
            release_policy,
        }
    }

    /// Places an order: checks the customer, reserves the stock, then stores the order
    /// with its first history entry and, for an idempotent request, the response that
    /// `respond` renders from the new order, all in one transaction.
    ///
    /// With an idempotent request, a key already completed for the same request replays
    /// its stored response without calling anything else.
    ///
    /// # Errors
    /// See [`PlaceOrderError`]; whatever the error, nothing was stored and the stock is
    /// released.
    #[instrument(skip_all, fields(customer_id = %new_order.customer_id(), request_id = %request_id))]
    pub async fn place_order(
        &self,
        new_order: NewOrder,
        idempotency: Option<IdempotentRequest>,
        respond: impl FnOnce(&Order) -> StoredResponse + Send,
        request_id: &RequestId,
    ) -> Result<Placement, PlaceOrderError> {
        let Some(request) = idempotency else {
            return self
                .place_claimed(new_order, None, respond, request_id)
                .await
                .map(|order| Placement::Created(Box::new(order)));
        };
        let now = self.ports.clock.now();
        let claim = IdempotencyClaim {
            key: request.key,
            fingerprint: request.fingerprint,
            now,
            expires_at: now + self.idempotency_policy.retention,
            abandoned_before: now - self.idempotency_policy.abandon_after,
        };
        match self.ports.idempotency.claim(&claim).await? {
            ClaimOutcome::Claimed => {}
            ClaimOutcome::Replay(response) => return Ok(Placement::Replayed(response)),
            ClaimOutcome::InProgress => return Err(PlaceOrderError::IdempotencyRequestInProgress),
            ClaimOutcome::KeyReused => return Err(PlaceOrderError::IdempotencyKeyReused),
        }
        let placed = self
            .place_claimed(new_order, Some(&claim), respond, request_id)
            .await;
        if placed.is_err()
            && let Err(error) = self.ports.idempotency.abandon(&claim).await
        {
            warn!(error = %error, "could not free the idempotency key; it frees itself once the claim counts as abandoned");
        }
        placed.map(|order| Placement::Created(Box::new(order)))
    }

    async fn place_claimed(
        &self,
        new_order: NewOrder,
        claim: Option<&IdempotencyClaim>,
        respond: impl FnOnce(&Order) -> StoredResponse + Send,
        request_id: &RequestId,
    ) -> Result<Order, PlaceOrderError> {
        let customer = self
            .ports
            .customers
            .find_customer(new_order.customer_id(), request_id)
            .await?
            .ok_or(PlaceOrderError::CustomerNotFound)?;
        let address = match new_order.shipping_address() {
            Some(address) => address.clone(),
            None => customer
                .shipping_address
                .ok_or(PlaceOrderError::ShippingAddressRequired)?,
        };
        let now = self.ports.clock.now();
        let (order, placed) = Order::place(self.ports.ids.next_order_id(), new_order, address, now);
        self.reserve_stock(&order, request_id).await?;
        let completion = claim.map(|claim| IdempotencyCompletion {
            key: claim.key.clone(),
            claimed_at: claim.now,
            response: respond(&order),
        });
        match self.store(&order, &placed, completion).await {
            Ok(()) => Ok(order),
            Err(PlaceOrderError::Repository(RepositoryError::Unavailable(cause))) => {
                // The connection may have failed after the commit: whether the order is
                // stored decides whether its stock may be given back.
                match self.ports.orders.find_order(order.id()).await {
                    Ok(Some(_)) => Ok(order),
                    Ok(None) => {
                        self.release_stock(order.id(), request_id).await;
                        Err(RepositoryError::Unavailable(cause).into())
                    }
                    Err(_) => {
                        tracing::error!(order_id = %order.id(), "the order may or may not be stored; its stock stays reserved rather than risk a stored order without stock");
                        Err(RepositoryError::Unavailable(cause).into())
                    }
                }
            }
            Err(error) => {
                self.release_stock(order.id(), request_id).await;
                Err(error)
            }
        }
    }

    async fn reserve_stock(
        &self,
        order: &Order,
        request_id: &RequestId,
    ) -> Result<(), PlaceOrderError> {
        let reservation = Reservation {
            id: order.id(),
            lines: order
                .lines()
                .items()
                .iter()
                .map(|item| ReservationLine {
                    product_id: item.product_id().clone(),
                    quantity: item.quantity(),
                })
                .collect(),
        };
        match self.ports.inventory.reserve(&reservation, request_id).await {
            Ok(()) => Ok(()),
            Err(ReservationError::UnknownProducts(products)) => {
                Err(PlaceOrderError::UnknownProducts(products))
            }
            Err(ReservationError::InsufficientStock(shortages)) => {
                Err(PlaceOrderError::InsufficientStock(shortages))
            }
            Err(ReservationError::Unavailable(unavailable)) => {
                // The reservation may have been made before the answer was lost, or may
                // still land. Calling the inventory that just failed again would keep
                // the client waiting for another failure, so the release is recorded
                // for the background retries, due a little later so that a late
                // reservation lands first.
                self.record_release(PendingRelease {
                    reservation_id: order.id(),
                    request_id: request_id.clone(),
                    attempts: 0,
                    due_at: self.release_policy.next_try(1, self.ports.clock.now()),
                })
                .await;
                Err(unavailable.into())
            }
        }
    }

    async fn store(
        &self,
        order: &Order,
        placed: &HistoryEntry,
        completion: Option<IdempotencyCompletion>,
    ) -> Result<(), PlaceOrderError> {
        Ok(self
            .ports
            .orders
            .insert_placed_order(order, placed, completion)
            .await?)
    }

    async fn release_stock(&self, reservation_id: OrderId, request_id: &RequestId) {
        let release = PendingRelease {
            reservation_id,
            request_id: request_id.clone(),
            attempts: 0,
            due_at: self.ports.clock.now(),
        };
        self.release(release).await;
    }

    /// Tries a release once; a failure is recorded for a later try, so that a release
    /// is never lost.
    async fn release(&self, release: PendingRelease) {
        let id = release.reservation_id;
        match self.ports.inventory.release(id, &release.request_id).await {
            Ok(()) => {
                if let Err(error) = self.ports.releases.complete_release(id).await {
                    warn!(reservation_id = %id, error = %error, "a release is done but stays recorded; it will be repeated, harmlessly");
                }
            }
            Err(unavailable) => {
                let attempts = release.attempts + 1;
                let due_at = self
                    .release_policy
                    .next_try(attempts, self.ports.clock.now());
                warn!(reservation_id = %id, attempts, error = %unavailable, "a release failed; it will be tried again");
                self.record_release(PendingRelease {
                    attempts,
                    due_at,
                    ..release
                })
                .await;
            }
        }
    }

    async fn record_release(&self, release: PendingRelease) {
        if let Err(error) = self.ports.releases.record_release(&release).await {
            tracing::error!(reservation_id = %release.reservation_id, error = %error, "a release could not be recorded for a retry; the stock stays held");
        }
    }

    /// Tries once more every release that is due; meant to be called periodically.
    /// Returns how many were tried.
    ///
    /// # Errors
    /// [`RepositoryError`] when the due releases cannot be read.
    pub async fn retry_due_releases(&self) -> Result<usize, RepositoryError> {
        let now = self.ports.clock.now();
        let due = self
            .ports
            .releases
            .take_due_releases(
                now,
                now + self.release_policy.hide_for,
                self.release_policy.batch,
            )
            .await?;
        let count = due.len();
        for release in due {
            self.release(release).await;
        }
        Ok(count)
    }

    /// Deletes the idempotency keys whose retention has ended, a batch per write until
    /// none is left, so that the keys kept are only those a retention window holds.
    /// Meant to be called periodically. Returns how many were deleted.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails; the batches before stay deleted.
    pub async fn forget_expired_keys(&self) -> Result<u64, RepositoryError> {
        let now = self.ports.clock.now();
        let mut forgotten = 0;
        loop {
            // Keys claimed from now on expire after `now`: the loop ends.
            let deleted = self
                .ports
                .idempotency
                .forget_expired(now, EXPIRED_KEYS_PER_WRITE)
                .await?;
            forgotten += u64::from(deleted);
            if deleted < EXPIRED_KEYS_PER_WRITE {
                return Ok(forgotten);
            }
        }
    }

    /// Carries out a business action on an order: decides it against the order's
    /// current state and stores it only if no other change came first; when one did,
    /// decides again against the new state. With `expected_version` (`If-Match`), the
    /// action applies only to that version.
    ///
    /// A change that gives the stock back records the release in the same transaction,
    /// then tries it; if the inventory is unavailable the change still stands and the
    /// release is tried again later by [`OrderService::retry_due_releases`].
    ///
    /// # Errors
    /// See [`ChangeOrderError`].
    #[instrument(skip_all, fields(order_id = %id, action = %command.action(), request_id = %request_id))]
    pub async fn change_order(
        &self,
        id: OrderId,
        command: OrderCommand,
        expected_version: Option<u32>,
        request_id: &RequestId,
    ) -> Result<Order, ChangeOrderError> {
        for _ in 0..MAX_CHANGE_ATTEMPTS {
            let current = self
                .ports
                .orders
                .find_order(id)
                .await?
                .ok_or(ChangeOrderError::NotFound)?;
            if current.deleted_at().is_some() {
                return Err(CommandError::Deleted.into());
            }
            if let Some(expected) = expected_version
                && expected != current.version()
            {
                return Err(ChangeOrderError::PreconditionFailed);
            }
            let previous_version = current.version();
            let mut order = current;
            let now = self.ports.clock.now();
            let (entry, effects) = order.apply(command.clone(), now)?;
            let release = effects.release_reservation.then(|| PendingRelease {
                reservation_id: id,
                request_id: request_id.clone(),
                attempts: 0,
                // The release is tried right after the commit; the record is the
                // safety net for when that try fails or the process dies.
                due_at: self.release_policy.next_try(1, now),
            });
            let change = OrderChange {
                order,
                entry,
                previous_version,
                release,
            };
            match self.ports.orders.save_change(&change).await? {
                SaveOutcome::Saved => {
                    if let Some(release) = change.release {
                        self.release(release).await;
                    }
                    return Ok(change.order);
                }
                SaveOutcome::VersionConflict if expected_version.is_some() => {
                    return Err(ChangeOrderError::PreconditionFailed);
                }
                SaveOutcome::VersionConflict => {}
            }
        }
        Err(ChangeOrderError::Contention)
    }

    /// Whether the order can be changed at all: it exists and is not deleted. For a
    /// caller that reports these before the details of a change it could not read.
    ///
    /// # Errors
    /// [`ChangeOrderError::NotFound`], [`CommandError::Deleted`] (as
    /// [`ChangeOrderError::Refused`]), or [`ChangeOrderError::Repository`].
    #[instrument(skip(self))]
    pub async fn ensure_changeable(&self, id: OrderId) -> Result<(), ChangeOrderError> {
        match self.ports.orders.find_order(id).await? {
            None => Err(ChangeOrderError::NotFound),
            Some(order) if order.deleted_at().is_some() => Err(CommandError::Deleted.into()),
            Some(_) => Ok(()),
        }
    }

    /// The order with this id.
    ///
    /// # Errors
    /// [`ReadOrderError::NotFound`] when there is none or it was deleted.
    #[instrument(skip(self))]
    pub async fn get_order(&self, id: OrderId) -> Result<Order, ReadOrderError> {
        self.ports
            .orders
            .find_order(id)
            .await?
            .filter(|order| order.deleted_at().is_none())
            .ok_or(ReadOrderError::NotFound)
    }

    /// One page of the orders that match `query`, newest first; deleted orders are
    /// never listed.
    ///
    /// # Errors
    /// [`ReadOrderError::Repository`] when the database fails.
    #[instrument(skip(self))]
    pub async fn list_orders(&self, query: &OrderQuery) -> Result<OrderPage, ReadOrderError> {
        Ok(self.ports.orders.list_orders(query).await?)
    }

    /// What happened to an order, oldest first. A deleted order's history stays
    /// readable: it ends with the deletion.
    ///
    /// # Errors
    /// [`ReadOrderError::NotFound`] when the order never existed.
    #[instrument(skip(self))]
    pub async fn order_history(&self, id: OrderId) -> Result<Vec<HistoryEntry>, ReadOrderError> {
        let history = self.ports.orders.order_history(id).await?;
        if history.is_empty() {
            Err(ReadOrderError::NotFound)
        } else {
            Ok(history)
        }
    }
}
