//! The use cases against mocks of every port.

use std::sync::Arc;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::executor::block_on;
use mockall::Sequence;
use mockall::predicate::eq;

use crate::access::Caller;
use crate::command::{NewOrder, OrderCommand};
use crate::effect::{Effect, PendingEffect};
use crate::order::{CommandError, Order};
use crate::ports::{
    ClaimOutcome, Customer, DueEffect, EventBroker, InsertOutcome, KeyTaken, MockClock,
    MockCustomerDirectory, MockEffectObserver, MockEffectOutbox, MockEventBroker, MockEventFormat,
    MockEventLog, MockIdSource, MockIdempotencyStore, MockInventory, MockNotifier,
    MockOrderRepository, MockPayments, MockShippingQuotes, RepositoryError, ReservationError,
    ReservingOutcome, SaveOutcome, Shortage, StoredResponse, UpstreamService, UpstreamUnavailable,
};
use crate::service::{
    ChangeOrderError, IdempotentRequest, OrderService, PlaceOrderError, Placement, Policies, Ports,
};
use crate::test_support::{address, line, new_order, placed};
use crate::values::{
    CustomerId, IdempotencyKey, OrderId, ProductId, RequestFingerprint, RequestId,
};

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20_000)
}

fn order_id() -> OrderId {
    OrderId::from_uuid(uuid::Uuid::from_u128(7))
}

fn event_id() -> crate::event::EventId {
    crate::event::EventId::from_uuid(uuid::Uuid::from_u128(8))
}

/// Mocks with the expectations every test shares; each test adds its own.
struct Mocks {
    orders: MockOrderRepository,
    idempotency: MockIdempotencyStore,
    customers: MockCustomerDirectory,
    inventory: MockInventory,
    payments: MockPayments,
    shipping: MockShippingQuotes,
    effects: MockEffectOutbox,
    events: MockEventLog,
    broker: Option<MockEventBroker>,
    notifier: MockNotifier,
    effect_observer: MockEffectObserver,
    /// Whether the inventory keeps its stock in the order store.
    stock_in_order_store: bool,
}

impl Mocks {
    fn new() -> Self {
        Self {
            orders: MockOrderRepository::new(),
            idempotency: MockIdempotencyStore::new(),
            customers: MockCustomerDirectory::new(),
            inventory: MockInventory::new(),
            payments: MockPayments::new(),
            shipping: MockShippingQuotes::new(),
            effects: MockEffectOutbox::new(),
            events: MockEventLog::new(),
            broker: None,
            notifier: MockNotifier::new(),
            effect_observer: {
                let mut observer = MockEffectObserver::new();
                observer.expect_effect_tried().returning(|_, _| ());
                observer
            },
            stock_in_order_store: false,
        }
    }

    /// An unkeyed placement records its guard on its own, before anything else.
    fn recording_the_guard(mut self) -> Self {
        self.effects
            .expect_record_effect()
            .withf(|due| is_guard(due, Duration::from_secs(60)))
            .times(1)
            .returning(|_| Ok(()));
        self
    }

    fn with_known_customer(mut self) -> Self {
        self.customers.expect_find_customer().returning(|id, _| {
            Ok(Some(Customer {
                id: id.clone(),
                shipping_address: Some(address()),
            }))
        });
        self
    }

    fn service(mut self) -> OrderService {
        self.inventory
            .expect_shares_order_store()
            .return_const(self.stock_in_order_store);
        let mut clock = MockClock::new();
        clock.expect_now().returning(now);
        let mut ids = MockIdSource::new();
        ids.expect_next_order_id().returning(order_id);
        ids.expect_next_event_id().returning(event_id);
        // Each event rendered as its name and version, to check which one was stored.
        let mut event_format = MockEventFormat::new();
        event_format.expect_render().returning(|change| {
            format!("{} v{}", change.entry.event.name(), change.entry.version).into_bytes()
        });
        OrderService::new(
            Ports {
                orders: Arc::new(self.orders),
                idempotency: Arc::new(self.idempotency),
                customers: Arc::new(self.customers),
                inventory: Arc::new(self.inventory),
                payments: Arc::new(self.payments),
                shipping: Arc::new(self.shipping),
                clock: Arc::new(clock),
                ids: Arc::new(ids),
                effects: Arc::new(self.effects),
                event_format: Arc::new(event_format),
                events: Arc::new(self.events),
                broker: self
                    .broker
                    .map(|broker| Arc::new(broker) as Arc<dyn EventBroker>),
                notifier: Arc::new(self.notifier),
                effect_observer: Arc::new(self.effect_observer),
            },
            Policies::default(),
        )
    }
}

/// The release of this test's order as a placement's guard records it: the reservation
/// may land late.
fn guard() -> Effect {
    Effect::ReleaseReservation {
        reservation_id: order_id(),
        may_land_late: true,
    }
}

fn is_guard(due: &DueEffect, due_in: Duration) -> bool {
    due.effect.effect == guard() && due.effect.attempts == 0 && due.due_in == due_in
}

fn request_id() -> RequestId {
    RequestId::generate()
}

fn keyed_request() -> IdempotentRequest {
    IdempotentRequest {
        key: IdempotencyKey::parse("key-1").unwrap_or_else(|e| panic!("{e}")),
        fingerprint: RequestFingerprint::new("fp-1"),
    }
}

fn rendered(order: &Order) -> StoredResponse {
    StoredResponse(order.id().to_string().into_bytes())
}

fn unavailable(service: UpstreamService) -> UpstreamUnavailable {
    UpstreamUnavailable {
        service,
        reason: "timed out".into(),
        retry_after: None,
    }
}

fn place(
    service: &OrderService,
    idempotency: Option<IdempotentRequest>,
) -> Result<Placement, PlaceOrderError> {
    let order = new_order(vec![line("prod-1", 2, 1000)], None);
    block_on(service.place_order(&Caller::Anyone, order, idempotency, rendered, &request_id()))
}

#[test]
fn placing_records_its_guard_then_reserves_then_stores_the_order_forgetting_the_guard() {
    let mut mocks = Mocks::new().with_known_customer();
    let mut order_of_calls = Sequence::new();
    mocks
        .effects
        .expect_record_effect()
        .withf(|due| is_guard(due, Duration::from_secs(60)))
        .times(1)
        .in_sequence(&mut order_of_calls)
        .returning(|_| Ok(()));
    mocks
        .inventory
        .expect_reserve()
        .withf(|reservation, _| {
            reservation.id == order_id()
                && reservation.lines.len() == 1
                && reservation.lines[0].quantity.get() == 2
        })
        .times(1)
        .in_sequence(&mut order_of_calls)
        .returning(|_, _| Ok(()));
    mocks
        .orders
        .expect_insert_placed_order()
        .withf(|placed, completion, guard_id| {
            placed.order.id() == order_id()
                && placed.entry.version == 1
                && placed.event.id == event_id()
                && placed.event.name == "order_placed"
                && placed.event.body == b"order_placed v1"
                && completion.is_none()
                && *guard_id == guard().id()
        })
        .times(1)
        .in_sequence(&mut order_of_calls)
        .returning(|_, _, _| Ok(InsertOutcome::Stored));
    mocks.inventory.expect_release().never();
    let placed = place(&mocks.service(), None);
    match placed {
        Ok(Placement::Created(order)) => {
            assert_eq!(order.total_amount().minor_units(), 2800);
            assert_eq!(order.shipping_address(), &address());
        }
        other => panic!("expected a new order, got {other:?}"),
    }
}

#[test]
fn a_guard_that_cannot_be_recorded_stops_the_placement_before_anything_is_called() {
    let mut mocks = Mocks::new();
    mocks
        .effects
        .expect_record_effect()
        .returning(|_| Err(RepositoryError::Unreached(anyhow::anyhow!("writer busy"))));
    mocks.customers.expect_find_customer().never();
    mocks.inventory.expect_reserve().never();
    assert!(matches!(
        place(&mocks.service(), None),
        Err(PlaceOrderError::Repository(RepositoryError::Unreached(_)))
    ));
}

/// What a placement that reserved nothing does with its guard: forgets it.
fn forgetting_the_guard(mut mocks: Mocks) -> Mocks {
    mocks
        .effects
        .expect_complete_effect()
        .with(eq(guard().id()))
        .times(1)
        .returning(|_| Ok(()));
    mocks.inventory.expect_release().never();
    mocks.orders.expect_insert_placed_order().never();
    mocks
}

#[test]
fn an_unknown_customer_reserves_nothing_stores_nothing_and_forgets_the_guard() {
    let mut mocks = forgetting_the_guard(Mocks::new().recording_the_guard());
    mocks
        .customers
        .expect_find_customer()
        .with(
            eq(CustomerId::parse("cust-1").unwrap_or_else(|e| panic!("{e}"))),
            mockall::predicate::always(),
        )
        .returning(|_, _| Ok(None));
    mocks.inventory.expect_reserve().never();
    assert!(matches!(
        place(&mocks.service(), None),
        Err(PlaceOrderError::CustomerNotFound)
    ));
}

#[test]
fn a_customer_without_an_address_on_file_needs_one_in_the_request() {
    let mut mocks = forgetting_the_guard(Mocks::new().recording_the_guard());
    mocks.customers.expect_find_customer().returning(|id, _| {
        Ok(Some(Customer {
            id: id.clone(),
            shipping_address: None,
        }))
    });
    mocks.inventory.expect_reserve().never();
    assert!(matches!(
        place(&mocks.service(), None),
        Err(PlaceOrderError::ShippingAddressRequired)
    ));
}

#[test]
fn a_refused_reservation_stores_nothing_releases_nothing_and_forgets_the_guard() {
    let mut mocks = forgetting_the_guard(Mocks::new().recording_the_guard().with_known_customer());
    mocks
        .inventory
        .expect_reserve()
        .returning(|reservation, _| {
            Err(ReservationError::UnknownProducts(vec![
                reservation.lines[0].product_id.clone(),
            ]))
        });
    assert!(matches!(
        place(&mocks.service(), None),
        Err(PlaceOrderError::UnknownProducts(products)) if products.len() == 1
    ));
}

#[test]
fn a_reservation_without_an_answer_brings_the_guard_forward_instead_of_releasing_inline() {
    let mut mocks = Mocks::new().recording_the_guard().with_known_customer();
    mocks.inventory.expect_reserve().returning(|_, _| {
        Err(ReservationError::Unavailable(unavailable(
            UpstreamService::Inventory,
        )))
    });
    mocks.inventory.expect_release().never();
    // Due in a second, and still a guard: once released it is released again later, in
    // case the reservation lands after the release.
    mocks
        .effects
        .expect_record_effect()
        .withf(|due| is_guard(due, Duration::from_secs(1)))
        .times(1)
        .returning(|_| Ok(()));
    mocks.orders.expect_insert_placed_order().never();
    assert!(matches!(
        place(&mocks.service(), None),
        Err(PlaceOrderError::DependencyUnavailable(
            UpstreamUnavailable {
                service: UpstreamService::Inventory,
                ..
            }
        ))
    ));
}

/// Storing the order failed in a way that leaves no doubt it was not stored: a fault,
/// or no connection at all.
#[test]
fn when_storing_fails_after_the_reservation_the_guard_is_taken_and_the_stock_released() {
    let failures: [fn() -> RepositoryError; 2] = [
        || RepositoryError::Internal(anyhow::anyhow!("disk full")),
        || RepositoryError::Unreached(anyhow::anyhow!("no connection within the timeout")),
    ];
    for failure in failures {
        let mut mocks = Mocks::new().recording_the_guard().with_known_customer();
        mocks
            .inventory
            .expect_reserve()
            .times(1)
            .returning(|_, _| Ok(()));
        mocks
            .orders
            .expect_insert_placed_order()
            .returning(move |_, _, _| Err(failure()));
        mocks.orders.expect_find_order().never();
        released_once_more_later(&mut mocks, Ok(true));
        assert!(matches!(
            place(&mocks.service(), None),
            Err(PlaceOrderError::Repository(_))
        ));
    }
}

/// The guard is taken (`took`), and when it was, released at once and then recorded to
/// be released once more later, in case the reservation lands late.
fn released_once_more_later(mocks: &mut Mocks, took: Result<bool, ()>) {
    let released = usize::from(took == Ok(true));
    mocks
        .effects
        .expect_take_effect()
        .withf(|id, lease| *id == guard().id() && *lease == Duration::from_secs(30))
        .times(1)
        .returning(move |_, _| {
            took.map_err(|()| RepositoryError::Unavailable(anyhow::anyhow!("down")))
        });
    mocks
        .inventory
        .expect_release()
        .with(eq(order_id()), mockall::predicate::always())
        .times(released)
        .returning(|_, _| Ok(()));
    mocks
        .effects
        .expect_record_effect()
        .withf(|due| {
            due.effect.effect
                == Effect::ReleaseReservation {
                    reservation_id: order_id(),
                    may_land_late: false,
                }
                && due.due_in == Duration::from_secs(60)
        })
        .times(released)
        .returning(|_| Ok(()));
}

/// The database stopped answering while storing the order: the commit may or may not
/// have happened. `took` is whether the guard could then be taken (`Err`: no answer),
/// and `stored` what a look-up finds when it could not.
fn place_with_unknown_commit(
    took: Result<bool, ()>,
    stored: bool,
) -> Result<Placement, PlaceOrderError> {
    let mut mocks = Mocks::new().recording_the_guard().with_known_customer();
    mocks.inventory.expect_reserve().returning(|_, _| Ok(()));
    mocks
        .orders
        .expect_insert_placed_order()
        .returning(|_, _, _| {
            Err(RepositoryError::Unavailable(anyhow::anyhow!(
                "connection lost"
            )))
        });
    released_once_more_later(&mut mocks, took);
    mocks
        .orders
        .expect_find_order()
        .with(eq(order_id()))
        .times(usize::from(took == Ok(false)))
        .returning(move |_| Ok(stored.then(placed_order)));
    place(&mocks.service(), None)
}

#[test]
fn when_a_commit_s_outcome_is_unknown_the_guard_decides_whether_the_stock_goes_back() {
    // Taken: the order was not stored (storing forgets the guard); released now.
    assert!(matches!(
        place_with_unknown_commit(Ok(true), false),
        Err(PlaceOrderError::Repository(RepositoryError::Unavailable(_)))
    ));
    // Gone, and the order is there: the commit happened.
    assert!(matches!(
        place_with_unknown_commit(Ok(false), true),
        Ok(Placement::Created(_))
    ));
    // Gone, and no order: a worker took the guard and releases the stock.
    assert!(matches!(
        place_with_unknown_commit(Ok(false), false),
        Err(PlaceOrderError::Repository(RepositoryError::Unavailable(_)))
    ));
    // No answer at all: the guard stays, and releases the stock when due unless the
    // order was stored.
    assert!(matches!(
        place_with_unknown_commit(Err(()), false),
        Err(PlaceOrderError::Repository(RepositoryError::Unavailable(_)))
    ));
}

#[test]
fn a_placement_whose_guard_a_worker_took_stores_nothing_and_leaves_the_release_to_it() {
    let mut mocks = Mocks::new().recording_the_guard().with_known_customer();
    mocks.inventory.expect_reserve().returning(|_, _| Ok(()));
    mocks
        .orders
        .expect_insert_placed_order()
        .returning(|_, _, _| Ok(InsertOutcome::GuardTaken));
    mocks.inventory.expect_release().never();
    mocks.effects.expect_take_effect().never();
    assert!(matches!(
        place(&mocks.service(), None),
        Err(PlaceOrderError::Abandoned)
    ));
}

#[test]
fn expired_keys_are_forgotten_a_batch_at_a_time_until_none_is_left() {
    let mut mocks = Mocks::new();
    let mut batches = vec![500, 500, 12].into_iter();
    mocks
        .idempotency
        .expect_forget_expired()
        .with(eq(500))
        .times(3)
        .returning(move |_| Ok(batches.next().unwrap_or_default()));
    assert_eq!(
        block_on(mocks.service().forget_expired_keys()).ok(),
        Some(1012)
    );
}

#[test]
fn an_idempotent_placement_records_its_guard_with_the_claim_and_its_response_with_the_order() {
    let mut mocks = Mocks::new().with_known_customer();
    mocks
        .idempotency
        .expect_claim()
        .withf(|claim| {
            claim.key.as_str() == "key-1"
                && claim.order_id == order_id()
                && claim.retention == Duration::from_secs(24 * 60 * 60)
                && claim.abandon_after == Duration::from_secs(60)
                && claim.guard == PendingEffect::new(guard(), claim.guard.request_id.clone())
        })
        .times(1)
        .returning(|_| Ok(ClaimOutcome::Claimed));
    mocks.effects.expect_record_effect().never();
    mocks.inventory.expect_reserve().returning(|_, _| Ok(()));
    mocks
        .orders
        .expect_insert_placed_order()
        .withf(|placed, completion, _| {
            completion.as_ref().is_some_and(|c| {
                c.key.as_str() == "key-1"
                    && c.order_id == order_id()
                    && c.response == rendered(&placed.order)
            })
        })
        .times(1)
        .returning(|_, _, _| Ok(InsertOutcome::Stored));
    mocks.idempotency.expect_abandon().never();
    assert!(matches!(
        place(&mocks.service(), Some(keyed_request())),
        Ok(Placement::Created(_))
    ));
}

#[test]
fn a_completed_key_replays_without_calling_anything_else() {
    let mut mocks = Mocks::new();
    mocks
        .idempotency
        .expect_claim()
        .returning(|_| Ok(ClaimOutcome::Replay(StoredResponse(b"first".to_vec()))));
    mocks.customers.expect_find_customer().never();
    mocks.inventory.expect_reserve().never();
    mocks.orders.expect_insert_placed_order().never();
    mocks.effects.expect_record_effect().never();
    assert_eq!(
        place(&mocks.service(), Some(keyed_request())).ok(),
        Some(Placement::Replayed(StoredResponse(b"first".to_vec())))
    );
}

#[test]
fn a_key_in_progress_or_reused_is_refused_before_anything_is_called() {
    for (outcome, expected) in [
        (ClaimOutcome::InProgress, "in progress"),
        (ClaimOutcome::KeyReused, "different request"),
    ] {
        let mut mocks = Mocks::new();
        mocks
            .idempotency
            .expect_claim()
            .return_once(move |_| Ok(outcome));
        mocks.customers.expect_find_customer().never();
        mocks.idempotency.expect_abandon().never();
        let error = place(&mocks.service(), Some(keyed_request()))
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains(expected)));
    }
}

#[test]
fn a_failed_idempotent_placement_frees_its_key() {
    let mut mocks = forgetting_the_guard(Mocks::new());
    mocks
        .idempotency
        .expect_claim()
        .returning(|_| Ok(ClaimOutcome::Claimed));
    mocks
        .customers
        .expect_find_customer()
        .returning(|_, _| Err(unavailable(UpstreamService::Customer)));
    mocks.inventory.expect_reserve().never();
    mocks
        .idempotency
        .expect_abandon()
        .withf(|claim| claim.key.as_str() == "key-1" && claim.order_id == order_id())
        .times(1)
        .returning(|_| Ok(()));
    assert!(matches!(
        place(&mocks.service(), Some(keyed_request())),
        Err(PlaceOrderError::DependencyUnavailable(_))
    ));
}

#[test]
fn a_deleted_order_reads_as_not_found_but_its_history_stays_readable() {
    let mut mocks = Mocks::new();
    let (order, placed) = placed(
        order_id(),
        new_order(vec![line("prod-1", 1, 1)], None),
        now(),
    );
    let mut record = order.record().clone();
    record.deleted_at = Some(now());
    let deleted = crate::order::Order::restore(record);
    mocks
        .orders
        .expect_find_order()
        .returning(move |_| Ok(Some(deleted.clone())));
    mocks
        .orders
        .expect_order_history()
        .returning(move |_| Ok(vec![placed.clone()]));
    let service = mocks.service();
    assert!(matches!(
        block_on(service.get_order(&Caller::Anyone, order_id())),
        Err(crate::service::ReadOrderError::NotFound)
    ));
    assert_eq!(
        block_on(service.order_history(&Caller::Anyone, order_id()))
            .map(|h| h.len())
            .ok(),
        Some(1)
    );
}

#[test]
fn an_order_without_history_does_not_exist() {
    let mut mocks = Mocks::new();
    mocks
        .orders
        .expect_order_history()
        .returning(|_| Ok(vec![]));
    assert!(matches!(
        block_on(mocks.service().order_history(&Caller::Anyone, order_id())),
        Err(crate::service::ReadOrderError::NotFound)
    ));
}

fn placed_order() -> Order {
    placed(
        order_id(),
        new_order(vec![line("prod-1", 2, 1000)], None),
        now(),
    )
    .0
}

fn cancel() -> OrderCommand {
    OrderCommand::Cancel {
        reason: crate::values::CancellationReason::parse("no longer needed")
            .unwrap_or_else(|e| panic!("{e}")),
    }
}

fn change(
    service: &OrderService,
    command: OrderCommand,
    expected: Option<u32>,
) -> Result<Order, ChangeOrderError> {
    block_on(service.change_order(
        &Caller::Anyone,
        order_id(),
        command,
        expected,
        &request_id(),
    ))
}

#[test]
fn a_change_is_stored_against_the_version_it_was_decided_on() {
    let mut mocks = Mocks::new();
    mocks
        .orders
        .expect_find_order()
        .returning(|_| Ok(Some(placed_order())));
    mocks
        .orders
        .expect_save_change()
        .withf(|change| {
            change.previous_version == 1
                && change.order.version() == 2
                && change.entry.event.name() == "shipping_address_updated"
                && change.event.body == b"shipping_address_updated v2"
                && change.event.version == 2
                && change.effects.is_empty()
        })
        .times(1)
        .returning(|_| Ok(SaveOutcome::Saved));
    let changed = change(
        &mocks.service(),
        OrderCommand::UpdateShippingAddress(address()),
        Some(1),
    );
    assert_eq!(changed.map(|o| o.version()).ok(), Some(2));
}

#[test]
fn a_lost_race_is_decided_again_against_the_new_state() {
    let mut mocks = Mocks::new();
    let mut reads = 0;
    mocks
        .orders
        .expect_find_order()
        .times(2)
        .returning(move |_| {
            reads += 1;
            let mut order = placed_order();
            if reads == 2 {
                // Meanwhile another request canceled the order.
                order
                    .apply(cancel(), now())
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            Ok(Some(order))
        });
    mocks
        .orders
        .expect_save_change()
        .times(1)
        .returning(|_| Ok(SaveOutcome::VersionConflict));
    let refused = change(
        &mocks.service(),
        OrderCommand::UpdateShippingAddress(address()),
        None,
    );
    assert!(matches!(
        refused,
        Err(ChangeOrderError::Refused(CommandError::InvalidTransition(
            _
        )))
    ));
}

#[test]
fn with_if_match_a_stale_version_or_a_lost_race_is_a_failed_precondition() {
    let mut stale = Mocks::new();
    stale
        .orders
        .expect_find_order()
        .returning(|_| Ok(Some(placed_order())));
    stale.orders.expect_save_change().never();
    assert!(matches!(
        change(&stale.service(), cancel(), Some(7)),
        Err(ChangeOrderError::PreconditionFailed)
    ));

    let mut raced = Mocks::new();
    raced
        .orders
        .expect_find_order()
        .times(1)
        .returning(|_| Ok(Some(placed_order())));
    raced
        .orders
        .expect_save_change()
        .returning(|_| Ok(SaveOutcome::VersionConflict));
    assert!(matches!(
        change(
            &raced.service(),
            OrderCommand::UpdateShippingAddress(address()),
            Some(1)
        ),
        Err(ChangeOrderError::PreconditionFailed)
    ));
}

#[test]
fn a_deleted_order_refuses_every_change_before_if_match_is_looked_at() {
    let mut mocks = Mocks::new();
    mocks.orders.expect_find_order().returning(|_| {
        let mut order = placed_order();
        order
            .apply(OrderCommand::Delete, now())
            .unwrap_or_else(|e| panic!("{e}"));
        Ok(Some(order))
    });
    mocks.orders.expect_save_change().never();
    assert!(matches!(
        change(&mocks.service(), OrderCommand::Delete, Some(1)),
        Err(ChangeOrderError::Refused(CommandError::Deleted))
    ));
}

#[test]
fn canceling_records_the_release_with_the_change_then_releases_and_forgets_it() {
    let mut mocks = Mocks::new();
    mocks
        .orders
        .expect_find_order()
        .returning(|_| Ok(Some(placed_order())));
    let release = Effect::ReleaseReservation {
        reservation_id: order_id(),
        may_land_late: false,
    };
    let recorded = release.clone();
    mocks
        .orders
        .expect_save_change()
        .withf(move |change| {
            change.effects.len() == 1
                && change.effects[0].effect.effect == recorded
                && change.effects[0].effect.attempts == 0
                && change.effects[0].due_in == Duration::from_secs(1)
        })
        .times(1)
        .returning(|_| Ok(SaveOutcome::Saved));
    mocks
        .inventory
        .expect_release()
        .times(1)
        .returning(|_, _| Ok(()));
    mocks
        .effects
        .expect_complete_effect()
        .with(eq(release.id()))
        .times(1)
        .returning(|_| Ok(()));
    assert_eq!(
        change(&mocks.service(), cancel(), None)
            .map(|o| o.status().as_str())
            .ok(),
        Some("canceled")
    );
}

#[test]
fn with_the_inventory_down_a_cancel_still_commits_and_the_release_waits_for_a_retry() {
    let mut mocks = Mocks::new();
    mocks
        .orders
        .expect_find_order()
        .returning(|_| Ok(Some(placed_order())));
    mocks
        .orders
        .expect_save_change()
        .returning(|_| Ok(SaveOutcome::Saved));
    mocks
        .inventory
        .expect_release()
        .returning(|_, _| Err(unavailable(UpstreamService::Inventory)));
    mocks.effects.expect_complete_effect().never();
    mocks
        .effects
        .expect_record_effect()
        .withf(|due| due.effect.attempts == 1 && due.due_in == Duration::from_secs(1))
        .times(1)
        .returning(|_| Ok(()));
    assert!(change(&mocks.service(), cancel(), None).is_ok());
}

#[test]
fn due_effects_are_retried_with_a_doubling_wait_until_done() {
    let pending = |id: u128, attempts: u32, may_land_late: bool| PendingEffect {
        effect: Effect::ReleaseReservation {
            reservation_id: OrderId::from_uuid(uuid::Uuid::from_u128(id)),
            may_land_late,
        },
        request_id: request_id(),
        attempts,
    };
    let mut mocks = Mocks::new();
    mocks
        .effects
        .expect_take_due_effects()
        .with(eq(Duration::from_secs(30)), eq(100))
        .times(1)
        .returning(move |_, _| {
            Ok(vec![
                pending(3, 3, false),
                pending(4, 0, false),
                pending(5, 0, true),
            ])
        });
    mocks.inventory.expect_release().returning(|id, _| {
        if id.as_uuid().as_u128() == 3 {
            Err(unavailable(UpstreamService::Inventory))
        } else {
            Ok(())
        }
    });
    // The fourth failure waits 8 s.
    mocks
        .effects
        .expect_record_effect()
        .withf(move |due| {
            due.effect.effect == pending(3, 0, false).effect
                && due.effect.attempts == 4
                && due.due_in == Duration::from_secs(8)
        })
        .times(1)
        .returning(|_| Ok(()));
    mocks
        .effects
        .expect_complete_effect()
        .with(eq(pending(4, 0, false).effect.id()))
        .times(1)
        .returning(|_| Ok(()));
    // A reservation that may land late is released once more, a minute later.
    mocks
        .effects
        .expect_record_effect()
        .withf(move |due| {
            due.effect.effect == pending(5, 0, false).effect
                && due.effect.attempts == 0
                && due.due_in == Duration::from_secs(60)
        })
        .times(1)
        .returning(|_| Ok(()));
    assert_eq!(block_on(mocks.service().run_due_effects()).ok(), Some(3));
}

fn customer_caller(id: &str) -> Caller {
    let subject = crate::access::Subject::parse(id).unwrap_or_else(|e| panic!("{e}"));
    Caller::Principal(crate::access::Principal::new(
        subject,
        [crate::access::Scope::Customer],
        None,
    ))
}

#[test]
fn a_change_records_who_made_it_and_the_scope_that_allowed_it() {
    let mut mocks = Mocks::new();
    mocks
        .orders
        .expect_find_order()
        .returning(|_| Ok(Some(placed_order())));
    mocks
        .orders
        .expect_save_change()
        .withf(|change| {
            change.entry.actor.as_ref().is_some_and(|actor| {
                actor.sub.as_str() == "cust-1" && actor.scope == crate::access::Scope::Customer
            })
        })
        .times(1)
        .returning(|_| Ok(SaveOutcome::Saved));
    let service = mocks.service();
    let changed = block_on(service.change_order(
        &customer_caller("cust-1"),
        order_id(),
        OrderCommand::UpdateShippingAddress(address()),
        None,
        &request_id(),
    ));
    assert!(changed.is_ok());
}

#[test]
fn another_customer_s_order_is_not_found_and_an_action_beyond_the_scopes_is_forbidden() {
    let mut mocks = Mocks::new();
    mocks
        .orders
        .expect_find_order()
        .returning(|_| Ok(Some(placed_order())));
    mocks.orders.expect_save_change().never();
    let service = mocks.service();
    let attempt = |caller: Caller, command: OrderCommand| {
        block_on(service.change_order(&caller, order_id(), command, None, &request_id()))
    };
    assert!(matches!(
        attempt(customer_caller("cust-2"), cancel()),
        Err(ChangeOrderError::NotFound)
    ));
    assert!(matches!(
        attempt(customer_caller("cust-1"), OrderCommand::Delete),
        Err(ChangeOrderError::Forbidden)
    ));
    assert!(matches!(
        block_on(service.get_order(&customer_caller("cust-2"), order_id())),
        Err(crate::service::ReadOrderError::NotFound)
    ));
}

#[test]
fn placing_for_another_customer_is_forbidden_before_anything_is_called() {
    let mut mocks = Mocks::new();
    mocks.effects.expect_record_effect().never();
    mocks.idempotency.expect_claim().never();
    mocks.customers.expect_find_customer().never();
    let order = new_order(vec![line("prod-1", 2, 1000)], None);
    let placed = block_on(mocks.service().place_order(
        &customer_caller("cust-2"),
        order,
        Some(keyed_request()),
        rendered,
        &request_id(),
    ));
    assert!(matches!(placed, Err(PlaceOrderError::Forbidden)));
}

#[test]
fn an_idempotency_key_belongs_to_the_caller_that_sent_it() {
    let mut mocks = Mocks::new();
    mocks
        .idempotency
        .expect_claim()
        .withf(|claim| claim.owner.as_ref().map(|o| o.as_str()) == Some("cust-1"))
        .times(1)
        .returning(|_| Ok(ClaimOutcome::Replay(StoredResponse(b"first".to_vec()))));
    let order = new_order(vec![line("prod-1", 2, 1000)], None);
    let placed = block_on(mocks.service().place_order(
        &customer_caller("cust-1"),
        order,
        Some(keyed_request()),
        rendered,
        &request_id(),
    ));
    assert!(matches!(placed, Ok(Placement::Replayed(_))));
}

/// An event of order `order` at `position`, version `version`, named `name`.
fn feed_event(
    position: u64,
    order: u128,
    version: u32,
    name: &'static str,
) -> crate::ports::FeedEvent {
    crate::ports::FeedEvent {
        position,
        event: crate::event::RecordedEvent {
            id: crate::event::EventId::from_uuid(uuid::Uuid::from_u128(
                1000 + u128::from(position),
            )),
            order_id: OrderId::from_uuid(uuid::Uuid::from_u128(order)),
            version,
            name,
            at: now(),
            body: format!("{position}").into_bytes(),
        },
    }
}

/// The relay's lease is granted at `position`, and the page after it is `events`.
fn leased_with(
    mocks: &mut Mocks,
    consumer: &'static str,
    position: u64,
    events: Vec<crate::ports::FeedEvent>,
) {
    mocks
        .events
        .expect_lease_consumer()
        .withf(move |name, holder, _, _| name == consumer && holder == "me")
        .returning(move |_, _, _, _| Ok(Some(position)));
    mocks
        .events
        .expect_read_events()
        .with(eq(crate::ports::FeedStart::After(position)), eq(256))
        .returning(move |_, _| {
            Ok(crate::ports::FeedPage {
                events: events.clone(),
                next_after: events.last().map_or(position, |e| e.position),
            })
        });
}

#[test]
fn the_broker_gets_each_order_s_events_in_order_and_the_position_stops_at_the_first_not_taken() {
    let mut mocks = Mocks::new();
    // Order 1: positions 11, 13, 14; order 2: 12, 15. The broker refuses 13.
    leased_with(
        &mut mocks,
        crate::service::BROKER_RELAY,
        10,
        vec![
            feed_event(11, 1, 1, "order_placed"),
            feed_event(12, 2, 1, "order_placed"),
            feed_event(13, 1, 2, "order_canceled"),
            feed_event(14, 1, 3, "order_deleted"),
            feed_event(15, 2, 2, "payment_info_updated"),
        ],
    );
    let published = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut broker = MockEventBroker::new();
    let seen = Arc::clone(&published);
    broker.expect_publish().returning(move |event| {
        let position: u64 = String::from_utf8_lossy(&event.body)
            .parse()
            .unwrap_or_default();
        seen.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(position);
        if position == 13 {
            Err(crate::ports::BrokerUnavailable("no ack".into()))
        } else {
            Ok(())
        }
    });
    mocks.broker = Some(broker);
    mocks
        .events
        .expect_advance_consumer()
        .with(eq(crate::service::BROKER_RELAY), eq("me"), eq(12))
        .times(1)
        .returning(|_, _, _| Ok(true));
    let round = block_on(mocks.service().relay_to_broker("me"));
    assert!(matches!(round, Err(crate::service::RelayError::Broker(_))));
    let published = published
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    assert!(
        !published.contains(&14),
        "nothing of order 1 after the event it refused"
    );
    for position in [11, 12, 13, 15] {
        assert!(published.contains(&position), "{position} of {published:?}");
    }
}

#[test]
fn without_a_broker_or_without_the_lease_the_broker_relay_does_nothing() {
    let mocks = Mocks::new();
    assert_eq!(
        block_on(mocks.service().relay_to_broker("me")).ok(),
        Some(crate::service::RelayRound::Off)
    );
    let mut mocks = Mocks::new();
    mocks.broker = Some(MockEventBroker::new());
    mocks
        .events
        .expect_lease_consumer()
        .returning(|_, _, _, _| Ok(None));
    mocks.events.expect_read_events().never();
    assert_eq!(
        block_on(mocks.service().relay_to_broker("me")).ok(),
        Some(crate::service::RelayRound::Standby)
    );
}

#[test]
fn customers_are_told_of_their_events_once_and_a_failed_notification_waits_for_a_retry() {
    let mut mocks = Mocks::new();
    leased_with(
        &mut mocks,
        crate::service::NOTIFICATION_RELAY,
        0,
        vec![
            feed_event(1, 1, 1, "order_placed"),
            feed_event(2, 1, 2, "payment_info_updated"),
            feed_event(3, 2, 1, "order_placed"),
            feed_event(4, 3, 1, "order_placed"),
        ],
    );
    mocks
        .notifier
        .expect_notify()
        .times(3)
        .returning(|event, _| match event.body.as_slice() {
            b"1" => Ok(()),
            b"3" => Err(crate::ports::NotifyError::Refused("400 bad address".into())),
            _ => Err(crate::ports::NotifyError::Unavailable(unavailable(
                UpstreamService::Customer,
            ))),
        });
    mocks
        .effects
        .expect_record_effect()
        .withf(|due| {
            matches!(&due.effect.effect, Effect::Notify { event } if event.body == b"4")
                && due.effect.attempts == 1
                && due.due_in == Duration::from_secs(1)
        })
        .times(1)
        .returning(|_| Ok(()));
    mocks
        .events
        .expect_advance_consumer()
        .with(eq(crate::service::NOTIFICATION_RELAY), eq("me"), eq(4))
        .times(1)
        .returning(|_, _, _| Ok(true));
    let mut observer = MockEffectObserver::new();
    for outcome in [
        crate::ports::EffectOutcome::Done,
        crate::ports::EffectOutcome::GivenUp,
        crate::ports::EffectOutcome::Retried,
    ] {
        observer
            .expect_effect_tried()
            .with(eq("notify"), eq(outcome))
            .times(1)
            .returning(|_, _| ());
    }
    mocks.effect_observer = observer;
    assert_eq!(
        block_on(mocks.service().relay_notifications("me")).ok(),
        Some(crate::service::RelayRound::Relayed {
            relayed: 4,
            more: false
        })
    );
}

fn paid_order() -> Order {
    let mut order = placed_order();
    order
        .apply(confirm_command(), now())
        .unwrap_or_else(|e| panic!("{e}"));
    order
}

fn confirm_command() -> OrderCommand {
    OrderCommand::ConfirmPayment {
        payment_reference: crate::values::PaymentReference::parse("pay_1")
            .unwrap_or_else(|e| panic!("{e}")),
        amount: crate::values::Money::from_minor_units(2800).unwrap_or_default(),
    }
}

fn captured() -> crate::ports::PaymentRecord {
    crate::ports::PaymentRecord {
        order_id: order_id().to_string(),
        status: crate::ports::PaymentStatus::Captured,
        amount: 2800,
        currency: "USD".into(),
    }
}

#[test]
fn a_payment_is_confirmed_only_when_the_payment_service_vouches_for_it() {
    let confirming = |payment: Result<Option<crate::ports::PaymentRecord>, ()>, saves: usize| {
        let mut mocks = Mocks::new();
        mocks
            .orders
            .expect_find_order()
            .returning(|_| Ok(Some(placed_order())));
        mocks
            .payments
            .expect_find_payment()
            .withf(|check, _| {
                check.reference.as_str() == "pay_1"
                    && check.order_id == order_id()
                    && check.amount.minor_units() == 2800
            })
            .times(1)
            .return_once(move |_, _| payment.map_err(|()| unavailable(UpstreamService::Payment)));
        mocks
            .orders
            .expect_save_change()
            .times(saves)
            .returning(|_| Ok(SaveOutcome::Saved));
        change(&mocks.service(), confirm_command(), None)
    };
    assert!(confirming(Ok(Some(captured())), 1).is_ok());
    let differing = crate::ports::PaymentRecord {
        status: crate::ports::PaymentStatus::Authorized,
        amount: 2700,
        currency: "EUR".into(),
        order_id: "another".into(),
    };
    match confirming(Ok(Some(differing)), 0) {
        Err(ChangeOrderError::PaymentNotVerified(mismatches)) => assert_eq!(
            mismatches,
            [
                crate::service::PaymentMismatch::Status(crate::ports::PaymentStatus::Authorized),
                crate::service::PaymentMismatch::OrderId("another".into()),
                crate::service::PaymentMismatch::Amount(2700),
                crate::service::PaymentMismatch::Currency("EUR".into()),
            ]
        ),
        other => panic!("expected a payment not verified, got {other:?}"),
    }
    assert!(matches!(
        confirming(Ok(None), 0),
        Err(ChangeOrderError::PaymentNotVerified(m)) if m == [crate::service::PaymentMismatch::Unknown]
    ));
    assert!(matches!(
        confirming(Err(()), 0),
        Err(ChangeOrderError::DependencyUnavailable(_))
    ));
}

#[test]
fn a_paid_order_canceled_records_its_refund_then_makes_it_and_records_it_made() {
    let mut mocks = Mocks::new();
    let mut reads = 0;
    mocks
        .orders
        .expect_find_order()
        .times(2)
        .returning(move |_| {
            reads += 1;
            let mut order = paid_order();
            if reads == 2 {
                // The refund's completion reads the order as the cancel left it.
                order
                    .apply(cancel(), now())
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            Ok(Some(order))
        });
    let mut saves = Sequence::new();
    mocks
        .orders
        .expect_save_change()
        .withf(|change| {
            change.order.refund().map(|r| r.status) == Some(crate::details::RefundStatus::Pending)
                && change.effects.iter().any(|due| {
                    matches!(&due.effect.effect, Effect::Refund { order_id: id, amount, .. }
                        if *id == order_id() && amount.minor_units() == 2800)
                })
        })
        .times(1)
        .in_sequence(&mut saves)
        .returning(|_| Ok(SaveOutcome::Saved));
    mocks
        .orders
        .expect_save_change()
        .withf(|change| {
            change.entry.event.name() == "refund_completed"
                && change.entry.actor.is_none()
                && change.previous_version == 3
                && change.order.refund().map(|r| r.status)
                    == Some(crate::details::RefundStatus::Completed)
        })
        .times(1)
        .in_sequence(&mut saves)
        .returning(|_| Ok(SaveOutcome::Saved));
    mocks.inventory.expect_release().returning(|_, _| Ok(()));
    mocks
        .payments
        .expect_refund()
        .withf(|refund, _| {
            refund.refund_id == order_id() && refund.payment_reference.as_str() == "pay_1"
        })
        .times(1)
        .returning(|_, _| Ok(()));
    mocks
        .effects
        .expect_complete_effect()
        .times(2)
        .returning(|_| Ok(()));
    assert!(change(&mocks.service(), cancel(), None).is_ok());
}

#[test]
fn shipping_is_quoted_in_the_order_s_currency_when_the_client_names_no_cost() {
    let unpriced = || {
        NewOrder::new(
            crate::values::StoreId::parse("store-1").unwrap_or_else(|e| panic!("{e}")),
            CustomerId::parse("cust-1").unwrap_or_else(|e| panic!("{e}")),
            crate::values::Currency::USD,
            crate::lines::OrderLines::new(vec![line("prod-1", 2, 1000)])
                .unwrap_or_else(|e| panic!("{e:?}")),
            crate::lines::Charges {
                shipping_cost: None,
                tax_amount: crate::values::Money::ZERO,
            },
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let quoting = |currency: crate::values::Currency| {
        let mut mocks = Mocks::new().recording_the_guard().with_known_customer();
        mocks
            .shipping
            .expect_quote()
            .withf(|request, _| request.destination == address() && request.items.len() == 1)
            .times(1)
            .returning(move |_, _| {
                Ok(crate::ports::Quote {
                    amount: crate::values::Money::from_minor_units(650).unwrap_or_default(),
                    currency,
                    service_level: "standard".into(),
                })
            });
        mocks
    };
    let mut quoted = quoting(crate::values::Currency::USD);
    quoted.inventory.expect_reserve().returning(|_, _| Ok(()));
    quoted
        .orders
        .expect_insert_placed_order()
        .withf(|placed, _, _| {
            placed.order.shipping_cost().minor_units() == 650
                && placed.order.total_amount().minor_units() == 2650
        })
        .times(1)
        .returning(|_, _, _| Ok(InsertOutcome::Stored));
    let placed = block_on(quoted.service().place_order(
        &Caller::Anyone,
        unpriced(),
        None,
        rendered,
        &request_id(),
    ));
    assert!(matches!(placed, Ok(Placement::Created(_))));

    let mut elsewhere = forgetting_the_guard(quoting(
        crate::values::Currency::parse("EUR").unwrap_or_else(|e| panic!("{e}")),
    ));
    elsewhere.inventory.expect_reserve().never();
    let placed = block_on(elsewhere.service().place_order(
        &Caller::Anyone,
        unpriced(),
        None,
        rendered,
        &request_id(),
    ));
    assert!(matches!(
        placed,
        Err(PlaceOrderError::DependencyUnavailable(_))
    ));
}

/// Mocks of a service whose inventory keeps its stock in the order store: nothing of
/// the path with a guard may be used.
fn with_stock_in_the_order_store() -> Mocks {
    let mut mocks = Mocks::new();
    mocks.stock_in_order_store = true;
    mocks.effects.expect_record_effect().never();
    mocks.effects.expect_take_effect().never();
    mocks.idempotency.expect_claim().never();
    mocks.idempotency.expect_abandon().never();
    mocks.inventory.expect_reserve().never();
    mocks.inventory.expect_release().never();
    mocks.orders.expect_insert_placed_order().never();
    mocks
}

#[test]
fn with_the_stock_in_the_order_store_the_key_the_reservation_and_the_order_are_one_write() {
    let mut mocks = with_stock_in_the_order_store().with_known_customer();
    mocks
        .idempotency
        .expect_recall()
        .withf(|request| request.key.as_str() == "key-1" && request.fingerprint.as_str() == "fp-1")
        .times(1)
        .returning(|_| Ok(None));
    mocks
        .orders
        .expect_insert_reserving()
        .withf(|placed, reservation, key| {
            let Some((request, response)) = key else {
                return false;
            };
            placed.order.id() == order_id()
                && placed.event.name == "order_placed"
                && reservation.id == order_id()
                && reservation.lines.len() == 1
                && reservation.lines[0].quantity.get() == 2
                && request.key.as_str() == "key-1"
                && request.retention == Duration::from_secs(24 * 60 * 60)
                && request.abandon_after == Duration::from_secs(60)
                && *response == rendered(&placed.order)
        })
        .times(1)
        .returning(|_, _, _| Ok(ReservingOutcome::Stored));
    match place(&mocks.service(), Some(keyed_request())) {
        Ok(Placement::Created(order)) => assert_eq!(order.id(), order_id()),
        other => panic!("expected a new order, got {other:?}"),
    }
}

#[test]
fn with_the_stock_in_the_order_store_a_replay_asks_nothing_of_anyone() {
    let mut mocks = with_stock_in_the_order_store();
    mocks
        .idempotency
        .expect_recall()
        .returning(|_| Ok(Some(KeyTaken::Replay(StoredResponse(b"first".to_vec())))));
    mocks.customers.expect_find_customer().never();
    mocks.shipping.expect_quote().never();
    mocks.orders.expect_insert_reserving().never();
    assert_eq!(
        place(&mocks.service(), Some(keyed_request())).ok(),
        Some(Placement::Replayed(StoredResponse(b"first".to_vec())))
    );
}

/// Whether a placement came to what a case expects.
type Expected = fn(&Result<Placement, PlaceOrderError>) -> bool;

#[test]
fn with_the_stock_in_the_order_store_what_the_write_finds_decides() {
    let refused = || {
        ReservationError::InsufficientStock(vec![Shortage {
            product_id: ProductId::parse("prod-1").unwrap_or_else(|e| panic!("{e}")),
            requested: 2,
            available: 1,
        }])
    };
    let cases: [(ReservingOutcome, Expected); 3] = [
        // Another request with the key stored its order since the key was recalled.
        (ReservingOutcome::KeyTaken(KeyTaken::KeyReused), |placed| {
            matches!(placed, Err(PlaceOrderError::IdempotencyKeyReused))
        }),
        (ReservingOutcome::KeyTaken(KeyTaken::InProgress), |placed| {
            matches!(placed, Err(PlaceOrderError::IdempotencyRequestInProgress))
        }),
        (
            ReservingOutcome::Refused(refused()),
            |placed| matches!(placed, Err(PlaceOrderError::InsufficientStock(shortages)) if shortages[0].available == 1),
        ),
    ];
    for (outcome, expected) in cases {
        let mut mocks = with_stock_in_the_order_store().with_known_customer();
        mocks.idempotency.expect_recall().returning(|_| Ok(None));
        mocks
            .orders
            .expect_insert_reserving()
            .times(1)
            .return_once(move |_, _, _| Ok(outcome));
        let placed = place(&mocks.service(), Some(keyed_request()));
        assert!(expected(&placed), "got {placed:?}");
    }
}

#[test]
fn with_the_stock_in_the_order_store_a_failed_write_leaves_nothing_to_undo() {
    let mut mocks = with_stock_in_the_order_store().with_known_customer();
    mocks.idempotency.expect_recall().never();
    mocks
        .orders
        .expect_insert_reserving()
        .withf(|_, _, key| key.is_none())
        .returning(|_, _, _| Err(RepositoryError::Unavailable(anyhow::anyhow!("disk full"))));
    assert!(matches!(
        place(&mocks.service(), None),
        Err(PlaceOrderError::Repository(RepositoryError::Unavailable(_)))
    ));
}

#[test]
fn with_the_stock_in_the_order_store_an_unknown_customer_stores_nothing() {
    let mut mocks = with_stock_in_the_order_store();
    mocks
        .customers
        .expect_find_customer()
        .returning(|_, _| Ok(None));
    mocks.orders.expect_insert_reserving().never();
    assert!(matches!(
        place(&mocks.service(), None),
        Err(PlaceOrderError::CustomerNotFound)
    ));
}
