//! The use cases against mocks of every port.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use futures::executor::block_on;
use mockall::predicate::eq;

use crate::order::tests::{address, line, new_order};
use crate::ports::{
    ClaimOutcome, Customer, MockClock, MockCustomerDirectory, MockIdempotencyStore, MockInventory,
    MockOrderIdSource, MockOrderRepository, RepositoryError, ReservationError, StoredResponse,
    UpstreamService, UpstreamUnavailable,
};
use crate::service::{
    IdempotencyPolicy, IdempotentRequest, OrderService, PlaceOrderError, Placement, Ports,
};
use crate::values::{CustomerId, IdempotencyKey, OrderId, RequestFingerprint, RequestId};

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20_000)
}

fn order_id() -> OrderId {
    OrderId::from_uuid(uuid::Uuid::from_u128(7))
}

/// Mocks with the expectations every test shares; each test adds its own.
struct Mocks {
    orders: MockOrderRepository,
    idempotency: MockIdempotencyStore,
    customers: MockCustomerDirectory,
    inventory: MockInventory,
}

impl Mocks {
    fn new() -> Self {
        Self {
            orders: MockOrderRepository::new(),
            idempotency: MockIdempotencyStore::new(),
            customers: MockCustomerDirectory::new(),
            inventory: MockInventory::new(),
        }
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

    fn service(self) -> OrderService {
        let mut clock = MockClock::new();
        clock.expect_now().returning(now);
        let mut ids = MockOrderIdSource::new();
        ids.expect_next_order_id().returning(order_id);
        OrderService::new(
            Ports {
                orders: Arc::new(self.orders),
                idempotency: Arc::new(self.idempotency),
                customers: Arc::new(self.customers),
                inventory: Arc::new(self.inventory),
                clock: Arc::new(clock),
                ids: Arc::new(ids),
            },
            IdempotencyPolicy::default(),
        )
    }
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

fn rendered(order: &crate::order::Order) -> StoredResponse {
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
    block_on(service.place_order(order, idempotency, rendered, &request_id()))
}

#[test]
fn placing_reserves_the_stock_then_stores_the_order_and_its_first_entry() {
    let mut mocks = Mocks::new().with_known_customer();
    mocks
        .inventory
        .expect_reserve()
        .withf(|reservation, _| {
            reservation.id == order_id()
                && reservation.lines.len() == 1
                && reservation.lines[0].quantity.get() == 2
        })
        .times(1)
        .returning(|_, _| Ok(()));
    mocks
        .orders
        .expect_insert_placed_order()
        .withf(|order, placed, completion| {
            order.id() == order_id() && placed.version == 1 && completion.is_none()
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
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
fn an_unknown_customer_reserves_nothing_and_stores_nothing() {
    let mut mocks = Mocks::new();
    mocks
        .customers
        .expect_find_customer()
        .with(
            eq(CustomerId::parse("cust-1").unwrap_or_else(|e| panic!("{e}"))),
            mockall::predicate::always(),
        )
        .returning(|_, _| Ok(None));
    mocks.inventory.expect_reserve().never();
    mocks.orders.expect_insert_placed_order().never();
    assert!(matches!(
        place(&mocks.service(), None),
        Err(PlaceOrderError::CustomerNotFound)
    ));
}

#[test]
fn a_customer_without_an_address_on_file_needs_one_in_the_request() {
    let mut mocks = Mocks::new();
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
fn when_storing_fails_after_the_reservation_the_reservation_is_released() {
    let mut mocks = Mocks::new().with_known_customer();
    mocks
        .inventory
        .expect_reserve()
        .times(1)
        .returning(|_, _| Ok(()));
    mocks
        .orders
        .expect_insert_placed_order()
        .returning(|_, _, _| Err(RepositoryError::Unavailable(anyhow::anyhow!("disk full"))));
    mocks
        .inventory
        .expect_release()
        .with(eq(order_id()), mockall::predicate::always())
        .times(1)
        .returning(|_, _| Ok(()));
    assert!(matches!(
        place(&mocks.service(), None),
        Err(PlaceOrderError::Repository(_))
    ));
}

#[test]
fn a_reservation_without_an_answer_is_released_in_case_it_was_made() {
    let mut mocks = Mocks::new().with_known_customer();
    mocks.inventory.expect_reserve().returning(|_, _| {
        Err(ReservationError::Unavailable(unavailable(
            UpstreamService::Inventory,
        )))
    });
    mocks
        .inventory
        .expect_release()
        .times(1)
        .returning(|_, _| Ok(()));
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

#[test]
fn a_refused_reservation_stores_nothing_and_releases_nothing() {
    let mut mocks = Mocks::new().with_known_customer();
    mocks
        .inventory
        .expect_reserve()
        .returning(|reservation, _| {
            Err(ReservationError::UnknownProducts(vec![
                reservation.lines[0].product_id.clone(),
            ]))
        });
    mocks.inventory.expect_release().never();
    mocks.orders.expect_insert_placed_order().never();
    assert!(matches!(
        place(&mocks.service(), None),
        Err(PlaceOrderError::UnknownProducts(products)) if products.len() == 1
    ));
}

#[test]
fn an_idempotent_placement_stores_its_response_with_the_order() {
    let mut mocks = Mocks::new().with_known_customer();
    mocks
        .idempotency
        .expect_claim()
        .withf(|claim| {
            claim.key.as_str() == "key-1"
                && claim.expires_at == now() + TimeDelta::hours(24)
                && claim.abandoned_before == now() - TimeDelta::seconds(60)
        })
        .times(1)
        .returning(|_| Ok(ClaimOutcome::Claimed));
    mocks.inventory.expect_reserve().returning(|_, _| Ok(()));
    mocks
        .orders
        .expect_insert_placed_order()
        .withf(|order, _, completion| {
            completion
                .as_ref()
                .is_some_and(|c| c.key.as_str() == "key-1" && c.response == rendered(order))
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
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
    let mut mocks = Mocks::new();
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
        .withf(|claim| claim.key.as_str() == "key-1" && claim.now == now())
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
    let (order, placed) = crate::order::Order::place(
        order_id(),
        new_order(vec![line("prod-1", 1, 1)], None),
        address(),
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
        block_on(service.get_order(order_id())),
        Err(crate::service::ReadOrderError::NotFound)
    ));
    assert_eq!(
        block_on(service.order_history(order_id()))
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
        block_on(mocks.service().order_history(order_id())),
        Err(crate::service::ReadOrderError::NotFound)
    ));
}
