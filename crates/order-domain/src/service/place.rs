//! Placing an order: check the customer, reserve the stock, store the order; at most
//! once per idempotency key, and never leaving stock reserved without an order, however
//! the placement is cut off.

use tracing::{instrument, warn};

use super::{IdempotentRequest, OrderService, PlaceOrderError, Placement};
use crate::access::{Actor, Caller};
use crate::address::Address;
use crate::command::NewOrder;
use crate::effect::{Effect, PendingEffect};
use crate::event::HistoryEntry;
use crate::lines::OrderLines;
use crate::order::Order;
use crate::ports::{
    ClaimOutcome, DueEffect, IdempotencyClaim, IdempotencyCompletion, InsertOutcome, KeyRequest,
    KeyTaken, PlacedOrder, QuoteRequest, RepositoryError, Reservation, ReservationError,
    ReservationLine, ReservingOutcome, StoredResponse, UpstreamService, UpstreamUnavailable,
};
use crate::values::{Money, OrderId, RequestId};

/// How many expired idempotency keys one write deletes: few enough that the writes of
/// requests are not held up behind it.
const EXPIRED_KEYS_PER_WRITE: u32 = 500;

impl OrderService {
    /// Places an order: checks the customer, reserves the stock, then stores the order
    /// with its first history entry and, for an idempotent request, the response that
    /// `respond` renders from the new order, all in one transaction.
    ///
    /// With an idempotent request, a key already completed for the same request replays
    /// its stored response without calling anything else.
    ///
    /// The caller must be allowed to place orders for the order's customer (see
    /// [`Caller::place_for`]); the first history entry records it as the actor, and an
    /// idempotency key is the caller's own: another caller's same key is another key.
    ///
    /// When the inventory keeps its stock in the order store
    /// ([`crate::Inventory::shares_order_store`], the built-in demo directory), the key,
    /// the reservation and the order are stored in one transaction instead
    /// ([`crate::OrderRepository::insert_reserving`]): one durable commit, and nothing
    /// below about guards applies, since nothing leaves the database.
    ///
    /// Safe to drop at any await: before the stock is reserved a guard is recorded
    /// (with the key's claim, when there is one) that gives the reservation back once
    /// the placement counts as abandoned ([`super::PlacementPolicy::abandon_after`]),
    /// unless the order was stored; storing the order forgets the guard in the same
    /// transaction. So a placement cut off anywhere (its caller gone, its process
    /// killed) ends, once the service has settled, with the order stored holding its
    /// reservation, or with no order and no stock held for it.
    ///
    /// # Errors
    /// See [`PlaceOrderError`]; whatever the error, nothing was stored and the stock is
    /// released (at once, or by [`OrderService::run_due_effects`] when the inventory
    /// cannot be reached now). One exception: [`RepositoryError::Unavailable`] when the
    /// store failed mid-write and the guard could not tell whether the order was
    /// stored; it may have been (holding its stock), and the caller must say so.
    #[instrument(skip_all, fields(customer_id = %new_order.customer_id(), request_id = %request_id))]
    pub async fn place_order(
        &self,
        caller: &Caller,
        new_order: NewOrder,
        idempotency: Option<IdempotentRequest>,
        respond: impl FnOnce(&Order) -> StoredResponse + Send,
        request_id: &RequestId,
    ) -> Result<Placement, PlaceOrderError> {
        let actor = caller
            .place_for(new_order.customer_id())
            .map_err(|_| PlaceOrderError::Forbidden)?;
        if self.ports.inventory.shares_order_store() {
            let key = idempotency.map(|request| KeyRequest {
                owner: caller.key_owner().cloned(),
                key: request.key,
                fingerprint: request.fingerprint,
                retention: self.placement_policy.key_retention,
                abandon_after: self.placement_policy.abandon_after,
            });
            return self
                .place_in_one_commit(actor, new_order, key, respond, request_id)
                .await;
        }
        // A fresh id for every attempt, so that the guard of an attempt that was cut off
        // can never release the reservation of a later one.
        let order_id = self.ports.ids.next_order_id();
        let guard = PendingEffect::new(
            Effect::ReleaseReservation {
                reservation_id: order_id,
                may_land_late: true,
            },
            request_id.clone(),
        );
        let abandon_after = self.placement_policy.abandon_after;
        let claim = match idempotency {
            Some(request) => {
                let claim = IdempotencyClaim {
                    owner: caller.key_owner().cloned(),
                    key: request.key,
                    fingerprint: request.fingerprint,
                    order_id,
                    retention: self.placement_policy.key_retention,
                    abandon_after,
                    guard: guard.clone(),
                };
                match self.ports.idempotency.claim(&claim).await? {
                    ClaimOutcome::Claimed => Some(claim),
                    ClaimOutcome::Replay(response) => return Ok(Placement::Replayed(response)),
                    ClaimOutcome::InProgress => {
                        return Err(PlaceOrderError::IdempotencyRequestInProgress);
                    }
                    ClaimOutcome::KeyReused => return Err(PlaceOrderError::IdempotencyKeyReused),
                }
            }
            None => {
                self.ports
                    .effects
                    .record_effect(&DueEffect {
                        effect: guard.clone(),
                        due_in: abandon_after,
                    })
                    .await?;
                None
            }
        };
        let guarded = Guarded {
            order_id,
            actor,
            claim: claim.as_ref(),
            guard,
        };
        let placed = self
            .place_guarded(guarded, new_order, respond, request_id)
            .await;
        if placed.is_err()
            && let Some(claim) = &claim
            && let Err(error) = self.ports.idempotency.abandon(claim).await
        {
            warn!(error = %error, "could not free the idempotency key; it frees itself once the claim counts as abandoned");
        }
        placed.map(|order| Placement::Created(Box::new(order)))
    }

    /// The placement once its guard is recorded: every way out either stores the order
    /// (forgetting the guard) or settles the guard.
    async fn place_guarded(
        &self,
        placement: Guarded<'_>,
        new_order: NewOrder,
        respond: impl FnOnce(&Order) -> StoredResponse + Send,
        request_id: &RequestId,
    ) -> Result<Order, PlaceOrderError> {
        let Guarded {
            order_id,
            actor,
            claim,
            guard,
        } = placement;
        let (order, mut placed) = match self.compose(order_id, new_order, request_id).await {
            Ok(composed) => composed,
            Err(error) => return Err(self.nothing_reserved(&guard, error).await),
        };
        placed.actor = actor;
        match self
            .ports
            .inventory
            .reserve(&reservation_of(&order), request_id)
            .await
        {
            Ok(()) => {}
            Err(ReservationError::UnknownProducts(products)) => {
                return Err(self
                    .nothing_reserved(&guard, PlaceOrderError::UnknownProducts(products))
                    .await);
            }
            Err(ReservationError::InsufficientStock(shortages)) => {
                return Err(self
                    .nothing_reserved(&guard, PlaceOrderError::InsufficientStock(shortages))
                    .await);
            }
            Err(ReservationError::Unavailable(unavailable)) => {
                // The reservation may have been made before the answer was lost, or may
                // still land. Calling the inventory that just failed again would keep
                // the client waiting for another failure, so the guard is brought
                // forward for the background retries instead, due a little later so
                // that a late reservation lands first (and it is released once more
                // after that, in case it lands later still).
                self.reschedule(guard, self.effect_policy.retry_in(1)).await;
                return Err(unavailable.into());
            }
        }
        let event = self.event_of(&order, &placed);
        let placed = PlacedOrder {
            order,
            entry: placed,
            event,
        };
        let completion = claim.map(|claim| IdempotencyCompletion {
            owner: claim.owner.clone(),
            key: claim.key.clone(),
            order_id,
            response: respond(&placed.order),
        });
        let guard_id = guard.effect.id();
        match self
            .ports
            .orders
            .insert_placed_order(&placed, completion, &guard_id)
            .await
        {
            Ok(InsertOutcome::Stored) => Ok(placed.order),
            Ok(InsertOutcome::GuardTaken) => {
                warn!(order_id = %order_id, "the placement counted as abandoned before it was stored; its stock is being given back");
                Err(PlaceOrderError::Abandoned)
            }
            Err(RepositoryError::Unavailable(cause)) => {
                // The commit may or may not have happened. The guard decides: taking it
                // succeeds only if the order was not stored, since storing it forgot the
                // guard in the same transaction.
                let failed = || Err(RepositoryError::Unavailable(cause).into());
                match self
                    .ports
                    .effects
                    .take_effect(&guard_id, self.effect_policy.lease)
                    .await
                {
                    Ok(true) => {
                        self.carry_out(guard).await;
                        failed()
                    }
                    // Gone: stored by this placement, or taken by a worker because the
                    // placement counted as abandoned (then it was not stored).
                    Ok(false) => match self.ports.orders.find_order(order_id).await {
                        Ok(Some(_)) => Ok(placed.order),
                        _ => failed(),
                    },
                    Err(error) => {
                        warn!(order_id = %order_id, error = %error, "cannot tell whether the order was stored; its guard gives the stock back when due unless it was");
                        failed()
                    }
                }
            }
            Err(error) => {
                // Nothing was stored: give the stock back now, unless a worker already is.
                if let Ok(true) = self
                    .ports
                    .effects
                    .take_effect(&guard_id, self.effect_policy.lease)
                    .await
                {
                    self.carry_out(guard).await;
                }
                Err(error.into())
            }
        }
    }

    /// A placement whose stock is kept in the order store (see
    /// [`crate::Inventory::shares_order_store`]): the key, the reservation and the order
    /// are stored in one transaction, so there is no claim to commit first and no guard
    /// to leave behind; cut off anywhere, the placement has stored all of it or nothing.
    async fn place_in_one_commit(
        &self,
        actor: Option<Actor>,
        new_order: NewOrder,
        key: Option<KeyRequest>,
        respond: impl FnOnce(&Order) -> StoredResponse + Send,
        request_id: &RequestId,
    ) -> Result<Placement, PlaceOrderError> {
        // A replay is answered before the customer and the quote are looked up, as on
        // the path with a claim: neither may have the answer it had the first time.
        if let Some(key) = &key
            && let Some(taken) = self.ports.idempotency.recall(key).await?
        {
            return key_taken(taken);
        }
        let order_id = self.ports.ids.next_order_id();
        let (order, mut placed) = self.compose(order_id, new_order, request_id).await?;
        placed.actor = actor;
        let event = self.event_of(&order, &placed);
        let key = key.map(|key| (key, respond(&order)));
        let reservation = reservation_of(&order);
        let placed = PlacedOrder {
            order,
            entry: placed,
            event,
        };
        match self
            .ports
            .orders
            .insert_reserving(&placed, &reservation, key)
            .await?
        {
            ReservingOutcome::Stored => Ok(Placement::Created(Box::new(placed.order))),
            ReservingOutcome::KeyTaken(taken) => key_taken(taken),
            ReservingOutcome::Refused(ReservationError::UnknownProducts(products)) => {
                Err(PlaceOrderError::UnknownProducts(products))
            }
            ReservingOutcome::Refused(ReservationError::InsufficientStock(shortages)) => {
                Err(PlaceOrderError::InsufficientStock(shortages))
            }
            ReservingOutcome::Refused(ReservationError::Unavailable(unavailable)) => {
                Err(unavailable.into())
            }
        }
    }

    /// The order `new_order` asks for, under `order_id`, with its first history entry:
    /// the customer's, shipped to the address given or else the one on file, at the
    /// cost given or else quoted.
    async fn compose(
        &self,
        order_id: OrderId,
        new_order: NewOrder,
        request_id: &RequestId,
    ) -> Result<(Order, HistoryEntry), PlaceOrderError> {
        let customer = self
            .ports
            .customers
            .find_customer(new_order.customer_id(), request_id)
            .await?
            .ok_or(PlaceOrderError::CustomerNotFound)?;
        let address = match (new_order.shipping_address(), customer.shipping_address) {
            (Some(address), _) => address.clone(),
            (None, Some(on_file)) => on_file,
            (None, None) => return Err(PlaceOrderError::ShippingAddressRequired),
        };
        let shipping_cost = match new_order.shipping_cost() {
            Some(given) => given,
            None => {
                self.quote_shipping(&new_order, &address, request_id)
                    .await?
            }
        };
        Ok(Order::place(
            order_id,
            new_order,
            address,
            shipping_cost,
            self.ports.clock.now(),
        )?)
    }

    /// What the shipping service charges to ship `new_order` to `destination`, in the
    /// order's currency.
    async fn quote_shipping(
        &self,
        new_order: &NewOrder,
        destination: &Address,
        request_id: &RequestId,
    ) -> Result<Money, UpstreamUnavailable> {
        let request = QuoteRequest {
            destination: destination.clone(),
            items: lines_of(new_order.lines()),
            currency: new_order.currency(),
        };
        let quote = self.ports.shipping.quote(&request, request_id).await?;
        if quote.currency != request.currency {
            return Err(UpstreamUnavailable {
                service: UpstreamService::Shipping,
                reason: format!(
                    "quoted in {}, not in the order's {}",
                    quote.currency, request.currency
                ),
                retry_after: None,
            });
        }
        Ok(quote.amount)
    }

    /// Ends a placement that reserved nothing: its guard has nothing to give back.
    async fn nothing_reserved(
        &self,
        guard: &PendingEffect,
        error: PlaceOrderError,
    ) -> PlaceOrderError {
        if let Err(forget) = self.ports.effects.complete_effect(&guard.effect.id()).await {
            // Harmless: when due, the guard releases a reservation the inventory never
            // had, which it takes as done.
            warn!(error = %forget, "could not forget the guard of a placement that reserved nothing");
        }
        error
    }

    /// Deletes the idempotency keys whose retention has ended, a batch per write until
    /// none is left, so that the keys kept are only those a retention window holds.
    /// Meant to be called periodically. Returns how many were deleted.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails; the batches before stay deleted.
    pub async fn forget_expired_keys(&self) -> Result<u64, RepositoryError> {
        let mut forgotten = 0;
        loop {
            let deleted = self
                .ports
                .idempotency
                .forget_expired(EXPIRED_KEYS_PER_WRITE)
                .await?;
            forgotten += u64::from(deleted);
            // Keys expiring while this runs are left for the next round, so it ends.
            if deleted < EXPIRED_KEYS_PER_WRITE {
                return Ok(forgotten);
            }
        }
    }
}

/// A placement whose guard is recorded: what it places, for whom, and what settles it.
struct Guarded<'a> {
    order_id: OrderId,
    actor: Option<Actor>,
    claim: Option<&'a IdempotencyClaim>,
    guard: PendingEffect,
}

/// How a placement ends whose key was not free.
fn key_taken(taken: KeyTaken) -> Result<Placement, PlaceOrderError> {
    match taken {
        KeyTaken::Replay(response) => Ok(Placement::Replayed(response)),
        KeyTaken::InProgress => Err(PlaceOrderError::IdempotencyRequestInProgress),
        KeyTaken::KeyReused => Err(PlaceOrderError::IdempotencyKeyReused),
    }
}

/// The stock an order holds: its lines, under the order's id.
fn reservation_of(order: &Order) -> Reservation {
    Reservation {
        id: order.id(),
        lines: lines_of(order.lines()),
    }
}

/// Each product of `lines`, and how many.
fn lines_of(lines: &OrderLines) -> Vec<ReservationLine> {
    lines
        .items()
        .iter()
        .map(|item| ReservationLine {
            product_id: item.product_id().clone(),
            quantity: item.quantity(),
        })
        .collect()
}
