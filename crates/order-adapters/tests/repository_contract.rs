//! The store's contract, on a real SQLite file and on a real PostgreSQL database.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use order_adapters::testing::{Backend, TestDatabase, eventually};
use order_adapters::{Database, DatabaseOptions, DemoDirectory, OrderStore};
use order_domain::{
    Actor, Address, CancellationReason, Charges, ClaimOutcome, Currency, CustomerDirectory,
    CustomerId, DueEffect, Effect, EffectOutbox, EventId, EventLog, FeedError, FeedStart,
    HistoryEntry, IdempotencyClaim, IdempotencyCompletion, IdempotencyKey, IdempotencyStore,
    InsertOutcome, Inventory, KeyRequest, KeyTaken, Money, NewOrder, Order, OrderChange,
    OrderCommand, OrderId, OrderLines, OrderQuery, OrderRepository, OrderStatus, PageSize,
    PendingEffect, PlacedOrder, ProductId, Quantity, RecordedEvent, RequestFingerprint, RequestId,
    Reservation, ReservationError, ReservationLine, ReservingOutcome, SaveOutcome, Scope, StoreId,
    StoredResponse, Subject, UncheckedAddress,
};
use uuid::Uuid;

type TestResult = anyhow::Result<()>;

/// A database of the test's own, and the way to open it again as a restarted service
/// would.
struct TestDb {
    db: Database,
    database: TestDatabase,
}

impl TestDb {
    fn new(backend: Backend) -> anyhow::Result<Self> {
        let database = TestDatabase::create(backend)?;
        let db = Database::open(database.url(), &DatabaseOptions::default())?;
        Ok(Self { db, database })
    }

    /// The same database, opened afresh as a restarted service would.
    fn reopen(&self) -> anyhow::Result<Database> {
        Database::open(self.database.url(), &DatabaseOptions::default())
    }

    fn store(&self) -> OrderStore {
        OrderStore::new(self.db.clone())
    }
}

order_adapters::on_both_backends!(
    a_stored_order_reads_back_exactly_as_it_was_even_after_reopening,
    listing_pages_newest_first_with_filters_and_never_repeats_an_order,
    an_idempotency_key_is_claimed_once_then_replays_or_refuses,
    an_abandoned_claim_frees_the_key_but_only_its_own_claim,
    expired_keys_are_deleted_in_batches_and_only_they,
    an_order_whose_claim_was_taken_over_is_not_stored,
    of_concurrent_claims_of_one_key_exactly_one_wins,
    the_demo_inventory_reserves_all_or_nothing_and_remembers_across_restarts,
    concurrent_demo_reservations_never_oversell,
    an_order_stored_with_its_reservation_is_stored_whole_or_not_at_all,
    the_demo_customers_come_from_the_data_file,
    a_change_is_stored_with_its_history_and_release_only_on_the_version_it_was_decided_on,
    a_recorded_effect_can_be_postponed_and_survives_a_restart,
    a_taken_effect_stays_taken_when_recorded_again,
    a_placement_s_guard_decides_between_storing_the_order_and_releasing_its_stock,
    a_claim_records_the_placement_s_guard_with_it,
    each_caller_s_idempotency_keys_are_its_own,
    claims_racing_abandons_of_one_key_never_fail,
    concurrent_takers_never_take_one_effect_twice,
    concurrent_releases_of_one_demo_reservation_give_its_stock_back_once,
    every_change_s_event_is_in_the_feed_in_commit_order,
    forgotten_events_make_a_reader_that_missed_them_fail_and_positions_go_on,
    concurrent_writers_never_make_a_reader_skip_or_repeat_an_event,
    one_holder_at_a_time_relays_for_a_consumer_and_its_position_holds_events_back,
);

/// A SQLite database whose writer has stopped can write nothing more until restarted:
/// it must say so, so that liveness fails and an orchestrator restarts the process.
#[tokio::test]
async fn a_stopped_sqlite_writer_is_reported_as_unable_to_write() -> TestResult {
    let test = TestDb::new(Backend::Sqlite)?;
    assert!(test.db.can_write());
    test.db.close().await?;
    // `close` answers just before the writer's thread has ended.
    eventually(Duration::from_secs(5), "stopped writing", async || {
        Ok(!test.db.can_write())
    })
    .await?;
    assert!(test.db.readiness().await.is_err(), "not ready either");
    Ok(())
}

fn base_time() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20_000) + TimeDelta::microseconds(123_456)
}

fn address() -> anyhow::Result<Address> {
    Address::parse(UncheckedAddress {
        line1: "1 Main St".into(),
        line2: Some("Flat 2".into()),
        city: "Springfield".into(),
        region: None,
        postal_code: "62701".into(),
        country: "US".into(),
    })
    .map_err(|e| anyhow::anyhow!("{e:?}"))
}

fn order(
    customer: &str,
    store: &str,
    at: DateTime<Utc>,
) -> anyhow::Result<(Order, order_domain::HistoryEntry)> {
    order_of_quantity(customer, store, at, 1)
}

/// An order whose first line has `quantity` units, so that orders can be told apart by
/// their lines.
fn order_of_quantity(
    customer: &str,
    store: &str,
    at: DateTime<Utc>,
    quantity: i64,
) -> anyhow::Result<(Order, order_domain::HistoryEntry)> {
    let lines = OrderLines::new(vec![
        (
            ProductId::parse("prod-1")?,
            Quantity::new(quantity)?,
            Money::from_minor_units(1000)?,
        ),
        (
            ProductId::parse("prod-2")?,
            Quantity::new(2)?,
            Money::from_minor_units(1000)?,
        ),
    ])
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let new_order = NewOrder::new(
        StoreId::parse(store)?,
        CustomerId::parse(customer)?,
        Currency::parse("EUR")?,
        lines,
        Charges {
            shipping_cost: Some(Money::from_minor_units(500)?),
            tax_amount: Money::from_minor_units(300)?,
        },
        None,
    )?;
    Ok(Order::place(
        OrderId::from_uuid(Uuid::now_v7()),
        new_order,
        address()?,
        Money::from_minor_units(500)?,
        at,
    )?)
}

fn query() -> OrderQuery {
    OrderQuery {
        customer_id: None,
        store_id: None,
        status: None,
        limit: PageSize::DEFAULT,
        after: None,
    }
}

/// The guard a placement of `order` records before it reserves stock.
fn guard(order: OrderId) -> PendingEffect {
    PendingEffect::new(
        Effect::ReleaseReservation {
            reservation_id: order,
            may_land_late: true,
        },
        RequestId::generate(),
    )
}

/// A claim of `key` by a request placing `order`, with the service's default windows:
/// 24 h of retention, abandoned after 60 s.
fn claim(key: &str, fingerprint: &str, order: OrderId) -> anyhow::Result<IdempotencyClaim> {
    Ok(IdempotencyClaim {
        owner: None,
        key: IdempotencyKey::parse(key)?,
        fingerprint: RequestFingerprint::new(fingerprint),
        order_id: order,
        retention: Duration::from_secs(24 * 60 * 60),
        abandon_after: Duration::from_secs(60),
        guard: guard(order),
    })
}

fn new_id() -> OrderId {
    OrderId::from_uuid(Uuid::now_v7())
}

/// The event of a change: its body names the order, the event and the version, so
/// that a test can tell which it got back.
fn event_of(order: &Order, entry: &HistoryEntry) -> RecordedEvent {
    RecordedEvent {
        id: EventId::from_uuid(Uuid::now_v7()),
        order_id: order.id(),
        version: entry.version,
        name: entry.event.name(),
        at: entry.at,
        body: format!("{} {} v{}", order.id(), entry.event.name(), entry.version).into_bytes(),
    }
}

fn placed_order(order: &Order, entry: &HistoryEntry) -> PlacedOrder {
    PlacedOrder {
        order: order.clone(),
        entry: entry.clone(),
        event: event_of(order, entry),
    }
}

/// Stores a placed order as an unkeyed placement does: its guard first, then the order.
async fn store_placed(store: &OrderStore, order: &Order, placed: &HistoryEntry) -> TestResult {
    let guard = guard(order.id());
    store
        .record_effect(&DueEffect {
            effect: guard.clone(),
            due_in: Duration::from_secs(60),
        })
        .await?;
    let stored = store
        .insert_placed_order(&placed_order(order, placed), None, &guard.effect.id())
        .await?;
    anyhow::ensure!(stored == InsertOutcome::Stored, "not stored: {stored:?}");
    Ok(())
}

/// Completes `claim` with `order` (whose id must be the claim's) and `response`.
async fn complete(
    store: &OrderStore,
    claim: &IdempotencyClaim,
    order: &Order,
    placed: &HistoryEntry,
    response: StoredResponse,
) -> Result<InsertOutcome, order_domain::RepositoryError> {
    let completion = IdempotencyCompletion {
        owner: claim.owner.clone(),
        key: claim.key.clone(),
        order_id: claim.order_id,
        response,
    };
    store
        .insert_placed_order(
            &placed_order(order, placed),
            Some(completion),
            &claim.guard.effect.id(),
        )
        .await
}

/// Claims until the claim succeeds, within a deadline: for claims that may take over
/// another only once the database's clock has moved past it.
async fn claimed_eventually(store: &OrderStore, claim: &IdempotencyClaim) -> TestResult {
    eventually(Duration::from_secs(5), "claimed", async || {
        Ok(store.claim(claim).await? == ClaimOutcome::Claimed)
    })
    .await
}

async fn a_stored_order_reads_back_exactly_as_it_was_even_after_reopening(
    backend: Backend,
) -> TestResult {
    let test = TestDb::new(backend)?;
    let (order, placed) = order("cust-1", "store-1", base_time())?;
    store_placed(&test.store(), &order, &placed).await?;

    let reopened = OrderStore::new(test.reopen()?);
    assert_eq!(reopened.find_order(order.id()).await?, Some(order.clone()));
    assert_eq!(reopened.order_history(order.id()).await?, vec![placed]);
    assert_eq!(
        reopened
            .find_order(OrderId::from_uuid(Uuid::now_v7()))
            .await?,
        None
    );
    Ok(())
}

async fn listing_pages_newest_first_with_filters_and_never_repeats_an_order(
    backend: Backend,
) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = test.store();
    let mut placed_ids = Vec::new();
    let mut lines_placed = HashMap::new();
    for i in 0..7 {
        // Pairs share a creation time, so the id must break the tie.
        let at = base_time() + TimeDelta::seconds(i / 2);
        let customer = if i % 3 == 0 { "cust-a" } else { "cust-b" };
        let (order, placed) = order_of_quantity(customer, "store-1", at, i + 1)?;
        store_placed(&store, &order, &placed).await?;
        placed_ids.push((order.created_at(), order.id()));
        lines_placed.insert(order.id(), order.lines().clone());
    }
    placed_ids.sort();
    placed_ids.reverse();

    let mut seen = Vec::new();
    let mut page_query = OrderQuery {
        limit: PageSize::new(3)?,
        ..query()
    };
    loop {
        let page = store.list_orders(&page_query).await?;
        // The page's lines are read for all its orders at once: each must get its own.
        for listed in &page.orders {
            assert_eq!(Some(listed.lines()), lines_placed.get(&listed.id()));
        }
        seen.extend(page.orders.iter().map(|o| (o.created_at(), o.id())));
        match page.next {
            Some(next) => page_query.after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, placed_ids);

    let only_a = store
        .list_orders(&OrderQuery {
            customer_id: Some(CustomerId::parse("cust-a")?),
            ..query()
        })
        .await?;
    assert_eq!(only_a.orders.len(), 3);
    assert!(
        only_a
            .orders
            .iter()
            .all(|o| o.customer_id().as_str() == "cust-a")
    );
    assert_eq!(only_a.next, None);

    let none = store
        .list_orders(&OrderQuery {
            status: Some(OrderStatus::Shipped),
            store_id: Some(StoreId::parse("store-1")?),
            ..query()
        })
        .await?;
    assert!(none.orders.is_empty());
    Ok(())
}

async fn an_idempotency_key_is_claimed_once_then_replays_or_refuses(
    backend: Backend,
) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = test.store();
    let (order, placed) = order("cust-1", "store-1", base_time())?;
    let first = claim("key-1", "fp-1", order.id())?;
    assert_eq!(store.claim(&first).await?, ClaimOutcome::Claimed);
    assert_eq!(
        store.claim(&claim("key-1", "fp-1", new_id())?).await?,
        ClaimOutcome::InProgress
    );
    assert_eq!(
        store.claim(&claim("key-1", "fp-2", new_id())?).await?,
        ClaimOutcome::KeyReused
    );

    let response = StoredResponse(b"{\"id\":1}".to_vec());
    let stored = complete(&store, &first, &order, &placed, response.clone()).await?;
    assert_eq!(stored, InsertOutcome::Stored);
    assert_eq!(
        store.claim(&claim("key-1", "fp-1", new_id())?).await?,
        ClaimOutcome::Replay(response)
    );
    assert_eq!(
        store.claim(&claim("key-1", "fp-2", new_id())?).await?,
        ClaimOutcome::KeyReused
    );
    Ok(())
}

async fn expired_keys_are_deleted_in_batches_and_only_they(backend: Backend) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = test.store();
    // Kept for no time at all: expired as soon as claimed.
    let expiring = |key: &str| -> anyhow::Result<IdempotencyClaim> {
        Ok(IdempotencyClaim {
            retention: Duration::ZERO,
            ..claim(key, "fp-1", new_id())?
        })
    };
    let (order, placed) = order("cust-1", "store-1", base_time())?;
    let completed = IdempotencyClaim {
        order_id: order.id(),
        guard: guard(order.id()),
        ..expiring("old-completed")?
    };
    store.claim(&completed).await?;
    complete(
        &store,
        &completed,
        &order,
        &placed,
        StoredResponse(b"{}".to_vec()),
    )
    .await?;
    for key in ["old-unfinished-1", "old-unfinished-2"] {
        store.claim(&expiring(key)?).await?;
    }
    store.claim(&claim("recent", "fp-1", new_id())?).await?;

    assert_eq!(store.forget_expired(2).await?, 2);
    assert_eq!(store.forget_expired(2).await?, 1);
    assert_eq!(store.forget_expired(2).await?, 0);

    // A key still held answers another body as reused; a deleted one is free.
    for key in ["old-completed", "old-unfinished-1", "old-unfinished-2"] {
        let other_body = claim(key, "fp-2", new_id())?;
        assert_eq!(
            store.claim(&other_body).await?,
            ClaimOutcome::Claimed,
            "{key}"
        );
    }
    let other_body = claim("recent", "fp-2", new_id())?;
    assert_eq!(store.claim(&other_body).await?, ClaimOutcome::KeyReused);
    assert!(
        store.find_order(order.id()).await?.is_some(),
        "the order outlives its key"
    );
    Ok(())
}

async fn an_abandoned_claim_frees_the_key_but_only_its_own_claim(backend: Backend) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = test.store();
    let first = claim("key-1", "fp-1", new_id())?;
    assert_eq!(store.claim(&first).await?, ClaimOutcome::Claimed);
    store.abandon(&first).await?;
    let second = claim("key-1", "fp-1", new_id())?;
    assert_eq!(store.claim(&second).await?, ClaimOutcome::Claimed);

    // A process that died holds the key until its claim counts as abandoned; then
    // another request takes over, and the dead claim can no longer free it.
    let impatient = IdempotencyClaim {
        abandon_after: Duration::ZERO,
        ..claim("key-1", "fp-1", new_id())?
    };
    claimed_eventually(&store, &impatient).await?;
    store.abandon(&second).await?;
    assert_eq!(
        store.claim(&claim("key-1", "fp-1", new_id())?).await?,
        ClaimOutcome::InProgress
    );
    Ok(())
}

async fn an_order_whose_claim_was_taken_over_is_not_stored(backend: Backend) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = test.store();
    let (order, placed) = order("cust-1", "store-1", base_time())?;
    let first = claim("key-1", "fp-1", order.id())?;
    store.claim(&first).await?;
    let takeover = IdempotencyClaim {
        abandon_after: Duration::ZERO,
        ..claim("key-1", "fp-1", new_id())?
    };
    claimed_eventually(&store, &takeover).await?;

    assert!(
        complete(&store, &first, &order, &placed, StoredResponse(vec![]))
            .await
            .is_err()
    );
    assert_eq!(store.find_order(order.id()).await?, None);
    assert!(store.order_history(order.id()).await?.is_empty());
    // Nothing of the failed transaction stands: the guard is still there to give the
    // stock back.
    assert!(
        store
            .take_effect(&first.guard.effect.id(), Duration::from_secs(30))
            .await?
    );
    Ok(())
}

async fn each_caller_s_idempotency_keys_are_its_own(backend: Backend) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = test.store();
    let owned_by = |owner: Option<&str>, order: OrderId| -> anyhow::Result<IdempotencyClaim> {
        Ok(IdempotencyClaim {
            owner: owner.map(Subject::parse).transpose()?,
            ..claim("shared-key", "fp-1", order)?
        })
    };
    let (order, placed) = order("cust-1", "store-1", base_time())?;
    let ada = owned_by(Some("ada"), order.id())?;
    assert_eq!(store.claim(&ada).await?, ClaimOutcome::Claimed);
    let response = StoredResponse(b"ada's".to_vec());
    complete(&store, &ada, &order, &placed, response.clone()).await?;

    // The same key and body from another caller, or from open mode, is a request of
    // its own: never a replay of Ada's answer.
    for other in [Some("bob"), None] {
        assert_eq!(
            store.claim(&owned_by(other, new_id())?).await?,
            ClaimOutcome::Claimed,
            "{other:?}"
        );
    }
    assert_eq!(
        store.claim(&owned_by(Some("ada"), new_id())?).await?,
        ClaimOutcome::Replay(response)
    );
    Ok(())
}

async fn a_claim_records_the_placement_s_guard_with_it(backend: Backend) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = test.store();
    let claimed = claim("key-1", "fp-1", new_id())?;
    assert_eq!(store.claim(&claimed).await?, ClaimOutcome::Claimed);
    // Not due before the claim counts as abandoned.
    assert!(
        store
            .take_due_effects(Duration::from_secs(30), 10)
            .await?
            .is_empty()
    );
    let refused = claim("key-1", "fp-1", new_id())?;
    assert_eq!(store.claim(&refused).await?, ClaimOutcome::InProgress);
    assert!(
        !store
            .take_effect(&refused.guard.effect.id(), Duration::from_secs(30))
            .await?,
        "a claim refused records no guard"
    );
    assert!(
        store
            .take_effect(&claimed.guard.effect.id(), Duration::from_secs(30))
            .await?
    );

    // A guard due at once, as when the claim is abandoned after no time at all.
    let abandoned = IdempotencyClaim {
        abandon_after: Duration::ZERO,
        ..claim("key-2", "fp-1", new_id())?
    };
    store.claim(&abandoned).await?;
    let due = store.take_due_effects(Duration::from_secs(30), 10).await?;
    assert_eq!(
        due.iter().map(|e| &e.effect).collect::<Vec<_>>(),
        vec![&abandoned.guard.effect]
    );
    Ok(())
}

async fn of_concurrent_claims_of_one_key_exactly_one_wins(backend: Backend) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = Arc::new(test.store());
    let claims = (0..16).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .claim(&claim("race", "fp", new_id())?)
                .await
                .map_err(anyhow::Error::from)
        })
    });
    let mut claimed = 0;
    for outcome in await_all(claims).await {
        match outcome?? {
            ClaimOutcome::Claimed => claimed += 1,
            ClaimOutcome::InProgress => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(claimed, 1);
    Ok(())
}

async fn await_all<T>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut results = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        results.push(handle.await);
    }
    results
}

fn reservation(id: OrderId, lines: &[(&str, i64)]) -> anyhow::Result<Reservation> {
    Ok(Reservation {
        id,
        lines: lines
            .iter()
            .map(|(product, quantity)| {
                Ok(ReservationLine {
                    product_id: ProductId::parse(*product)?,
                    quantity: Quantity::new(*quantity)?,
                })
            })
            .collect::<anyhow::Result<_>>()?,
    })
}

async fn the_demo_inventory_reserves_all_or_nothing_and_remembers_across_restarts(
    backend: Backend,
) -> TestResult {
    let test = TestDb::new(backend)?;
    let demo = DemoDirectory::open(test.db.clone()).await?;
    let rid = RequestId::generate();
    let first = OrderId::from_uuid(Uuid::now_v7());

    // prod-7 has 10 in stock.
    demo.reserve(&reservation(first, &[("prod-1", 5), ("prod-7", 8)])?, &rid)
        .await?;
    demo.reserve(&reservation(first, &[("prod-1", 5), ("prod-7", 8)])?, &rid)
        .await?;
    let second = OrderId::from_uuid(Uuid::now_v7());
    let short = demo
        .reserve(&reservation(second, &[("prod-1", 1), ("prod-7", 3)])?, &rid)
        .await;
    match short {
        Err(ReservationError::InsufficientStock(shortages)) => {
            assert_eq!(shortages.len(), 1);
            assert_eq!(shortages[0].product_id.as_str(), "prod-7");
            assert_eq!((shortages[0].requested, shortages[0].available), (3, 2));
        }
        other => panic!("expected a shortage, got {other:?}"),
    }
    let unknown = demo
        .reserve(&reservation(second, &[("nope", 1), ("prod-1", 1)])?, &rid)
        .await;
    assert!(
        matches!(unknown, Err(ReservationError::UnknownProducts(p)) if p.len() == 1 && p[0].as_str() == "nope")
    );

    // A restart reseeds nothing: the 8 held units stay held until released.
    let restarted = DemoDirectory::open(test.reopen()?).await?;
    assert!(
        restarted
            .reserve(&reservation(second, &[("prod-7", 3)])?, &rid)
            .await
            .is_err()
    );
    restarted.release(first, &rid).await?;
    restarted.release(first, &rid).await?;
    restarted
        .reserve(&reservation(second, &[("prod-7", 10)])?, &rid)
        .await?;
    Ok(())
}

/// A request's use of `key`, with the service's default windows.
fn key_request(key: &str, fingerprint: &str) -> anyhow::Result<KeyRequest> {
    Ok(KeyRequest {
        owner: None,
        key: IdempotencyKey::parse(key)?,
        fingerprint: RequestFingerprint::new(fingerprint),
        retention: Duration::from_secs(24 * 60 * 60),
        abandon_after: Duration::from_secs(60),
    })
}

async fn an_order_stored_with_its_reservation_is_stored_whole_or_not_at_all(
    backend: Backend,
) -> TestResult {
    let test = TestDb::new(backend)?;
    let demo = DemoDirectory::open(test.db.clone()).await?;
    let store = test.store();
    let rid = RequestId::generate();
    let response = StoredResponse(b"{\"id\":1}".to_vec());
    let keyed = |key: &str, fingerprint: &str| -> anyhow::Result<_> {
        Ok(Some((key_request(key, fingerprint)?, response.clone())))
    };

    // prod-7 has 10 in stock.
    let (first, placed) = order("cust-1", "store-1", base_time())?;
    let stored = store
        .insert_reserving(
            &placed_order(&first, &placed),
            &reservation(first.id(), &[("prod-1", 1), ("prod-7", 8)])?,
            keyed("key-1", "fp-1")?,
        )
        .await?;
    assert_eq!(stored, ReservingOutcome::Stored);
    assert_eq!(store.find_order(first.id()).await?, Some(first.clone()));
    assert_eq!(
        store.recall(&key_request("key-1", "fp-1")?).await?,
        Some(KeyTaken::Replay(response.clone()))
    );
    assert_eq!(
        store.recall(&key_request("key-1", "fp-2")?).await?,
        Some(KeyTaken::KeyReused)
    );
    assert_eq!(store.recall(&key_request("key-2", "fp-1")?).await?, None);

    // Short of stock: neither the order nor its key is kept.
    let (short, placed) = order("cust-1", "store-1", base_time())?;
    let refused = store
        .insert_reserving(
            &placed_order(&short, &placed),
            &reservation(short.id(), &[("prod-1", 1), ("prod-7", 3)])?,
            keyed("key-2", "fp-1")?,
        )
        .await?;
    match refused {
        ReservingOutcome::Refused(ReservationError::InsufficientStock(shortages)) => {
            assert_eq!(shortages.len(), 1);
            assert_eq!((shortages[0].requested, shortages[0].available), (3, 2));
        }
        other => panic!("expected a shortage, got {other:?}"),
    }
    assert_eq!(store.find_order(short.id()).await?, None);
    assert_eq!(store.recall(&key_request("key-2", "fp-1")?).await?, None);

    // A key already used takes no stock and stores nothing.
    let (again, placed) = order("cust-1", "store-1", base_time())?;
    let replayed = store
        .insert_reserving(
            &placed_order(&again, &placed),
            &reservation(again.id(), &[("prod-7", 2)])?,
            keyed("key-1", "fp-1")?,
        )
        .await?;
    assert_eq!(
        replayed,
        ReservingOutcome::KeyTaken(KeyTaken::Replay(response.clone()))
    );
    assert_eq!(store.find_order(again.id()).await?, None);

    // A key claimed on the path with a guard, not yet completed, is in progress.
    assert_eq!(
        store.claim(&claim("key-3", "fp-1", new_id())?).await?,
        ClaimOutcome::Claimed
    );
    assert_eq!(
        store.recall(&key_request("key-3", "fp-1")?).await?,
        Some(KeyTaken::InProgress)
    );
    let (waiting, placed) = order("cust-1", "store-1", base_time())?;
    let in_progress = store
        .insert_reserving(
            &placed_order(&waiting, &placed),
            &reservation(waiting.id(), &[("prod-7", 2)])?,
            keyed("key-3", "fp-1")?,
        )
        .await?;
    assert_eq!(
        in_progress,
        ReservingOutcome::KeyTaken(KeyTaken::InProgress)
    );

    // None of the refused placements took stock: the 2 left are there, and the first
    // order's 8 come back when it releases them.
    let (unkeyed, placed) = order("cust-1", "store-1", base_time())?;
    let stored = store
        .insert_reserving(
            &placed_order(&unkeyed, &placed),
            &reservation(unkeyed.id(), &[("prod-7", 2)])?,
            None,
        )
        .await?;
    assert_eq!(stored, ReservingOutcome::Stored);
    demo.release(first.id(), &rid).await?;
    demo.reserve(&reservation(new_id(), &[("prod-7", 8)])?, &rid)
        .await?;
    assert!(
        demo.reserve(&reservation(new_id(), &[("prod-7", 1)])?, &rid)
            .await
            .is_err()
    );
    Ok(())
}

async fn the_demo_customers_come_from_the_data_file(backend: Backend) -> TestResult {
    let test = TestDb::new(backend)?;
    let demo = DemoDirectory::open(test.db.clone()).await?;
    let rid = RequestId::generate();
    let ada = demo
        .find_customer(&CustomerId::parse("cust-1")?, &rid)
        .await?;
    assert_eq!(
        ada.and_then(|c| c.shipping_address)
            .map(|a| a.city().to_owned()),
        Some("Springfield".into())
    );
    assert_eq!(
        demo.find_customer(&CustomerId::parse("cust-404")?, &rid)
            .await?,
        None
    );
    Ok(())
}

fn release_of(order: &Order) -> anyhow::Result<PendingEffect> {
    Ok(PendingEffect::new(
        Effect::ReleaseReservation {
            reservation_id: order.id(),
            may_land_late: false,
        },
        RequestId::parse("req-1")?,
    ))
}

fn cancel(order: &Order, at: DateTime<Utc>, due_in: Duration) -> anyhow::Result<OrderChange> {
    let mut changed = order.clone();
    let (entry, _) = changed.apply(
        OrderCommand::Cancel {
            reason: CancellationReason::parse("out of budget")?,
        },
        at,
    )?;
    Ok(OrderChange {
        event: event_of(&changed, &entry),
        order: changed,
        entry,
        previous_version: order.version(),
        effects: vec![DueEffect {
            effect: release_of(order)?,
            due_in,
        }],
    })
}

async fn a_change_is_stored_with_its_history_and_release_only_on_the_version_it_was_decided_on(
    backend: Backend,
) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = test.store();
    let (order, placed) = order("cust-1", "store-1", base_time())?;
    store_placed(&store, &order, &placed).await?;

    let later = base_time() + TimeDelta::seconds(5);
    let mut change = cancel(&order, later, Duration::ZERO)?;
    change.entry.actor = Some(Actor {
        sub: Subject::parse("ada@example.com")?,
        scope: Scope::Customer,
    });
    assert_eq!(store.save_change(&change).await?, SaveOutcome::Saved);
    // A second change decided on version 1 lost the race: nothing of it is stored.
    let mut stale = cancel(&order, later, Duration::ZERO)?;
    stale.effects[0].effect.attempts = 7;
    assert_eq!(
        store.save_change(&stale).await?,
        SaveOutcome::VersionConflict
    );

    let stored = store.find_order(order.id()).await?;
    assert_eq!(stored.as_ref(), Some(&change.order));
    assert_eq!(stored.map(|o| o.version()), Some(2));
    let history = store.order_history(order.id()).await?;
    assert_eq!(history, vec![placed, change.entry.clone()]);

    let lease = Duration::from_secs(30);
    let taken = store.take_due_effects(lease, 10).await?;
    assert_eq!(
        taken,
        vec![release_of(&order)?],
        "the winner's release only"
    );
    assert!(
        store.take_due_effects(lease, 10).await?.is_empty(),
        "hidden while tried"
    );
    store
        .complete_effect(&release_of(&order)?.effect.id())
        .await?;
    assert!(
        !store
            .take_effect(&release_of(&order)?.effect.id(), lease)
            .await?
    );
    Ok(())
}

async fn a_recorded_effect_can_be_postponed_and_survives_a_restart(backend: Backend) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = test.store();
    let effect = PendingEffect {
        attempts: 1,
        ..guard(new_id())
    };
    store
        .record_effect(&DueEffect {
            effect: effect.clone(),
            due_in: Duration::ZERO,
        })
        .await?;
    let postponed = PendingEffect {
        attempts: 2,
        ..effect
    };
    store
        .record_effect(&DueEffect {
            effect: postponed.clone(),
            due_in: Duration::from_secs(3600),
        })
        .await?;

    let reopened = OrderStore::new(test.reopen()?);
    let lease = Duration::from_secs(30);
    assert!(
        reopened.take_due_effects(lease, 10).await?.is_empty(),
        "postponed"
    );
    store
        .record_effect(&DueEffect {
            effect: postponed.clone(),
            due_in: Duration::ZERO,
        })
        .await?;
    assert_eq!(reopened.take_due_effects(lease, 10).await?, vec![postponed]);
    Ok(())
}

async fn a_taken_effect_stays_taken_when_recorded_again(backend: Backend) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = test.store();
    let effect = guard(new_id());
    let id = effect.effect.id();
    let due_now = DueEffect {
        effect: effect.clone(),
        due_in: Duration::ZERO,
    };
    store.record_effect(&due_now).await?;
    assert_eq!(store.take_due_effects(Duration::ZERO, 10).await?.len(), 1);
    // Recorded again (a failed try's retry): due again, but still taken, so a
    // placement can no longer forget it as its own.
    store.record_effect(&due_now).await?;
    assert!(!store.take_effect(&id, Duration::from_secs(30)).await?);
    assert_eq!(
        store.take_due_effects(Duration::from_secs(30), 10).await?,
        vec![effect]
    );
    Ok(())
}

async fn a_placement_s_guard_decides_between_storing_the_order_and_releasing_its_stock(
    backend: Backend,
) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = test.store();
    let lease = Duration::from_secs(30);

    // Stored first: the guard is forgotten with it, and can no longer be taken.
    let (kept, placed) = order("cust-1", "store-1", base_time())?;
    store_placed(&store, &kept, &placed).await?;
    assert!(
        !store
            .take_effect(&guard(kept.id()).effect.id(), lease)
            .await?
    );

    // Taken first (the placement counted as abandoned): the order is not stored.
    let (dropped, placed) = order("cust-1", "store-1", base_time())?;
    let dropped_guard = guard(dropped.id());
    store
        .record_effect(&DueEffect {
            effect: dropped_guard.clone(),
            due_in: Duration::from_secs(60),
        })
        .await?;
    assert!(store.take_effect(&dropped_guard.effect.id(), lease).await?);
    assert!(
        !store.take_effect(&dropped_guard.effect.id(), lease).await?,
        "taken once"
    );
    assert_eq!(
        store
            .insert_placed_order(
                &placed_order(&dropped, &placed),
                None,
                &dropped_guard.effect.id(),
            )
            .await?,
        InsertOutcome::GuardTaken
    );
    assert_eq!(store.find_order(dropped.id()).await?, None);
    assert!(store.order_history(dropped.id()).await?.is_empty());
    Ok(())
}

async fn concurrent_demo_reservations_never_oversell(backend: Backend) -> TestResult {
    let test = TestDb::new(backend)?;
    let demo = Arc::new(DemoDirectory::open(test.db.clone()).await?);
    // prod-6 has 100 in stock: of 30 reservations of 4, exactly 25 fit.
    let attempts = (0..30).map(|_| {
        let demo = Arc::clone(&demo);
        tokio::spawn(async move {
            let wanted = reservation(OrderId::from_uuid(Uuid::now_v7()), &[("prod-6", 4)])?;
            anyhow::Ok(demo.reserve(&wanted, &RequestId::generate()).await.is_ok())
        })
    });
    let mut reserved = 0;
    for outcome in await_all(attempts).await {
        if outcome?? {
            reserved += 1;
        }
    }
    assert_eq!(reserved, 25);
    Ok(())
}

async fn claims_racing_abandons_of_one_key_never_fail(backend: Backend) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = Arc::new(test.store());
    // Each task claims the key and, when it gets it, gives it up again at once, so that
    // claims keep finding the key taken, then gone, then taken by someone else.
    let racers = (0..8).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for _ in 0..25 {
                let attempt = claim("contested", "fp", new_id())?;
                if store.claim(&attempt).await? == ClaimOutcome::Claimed {
                    store.abandon(&attempt).await?;
                }
            }
            anyhow::Ok(())
        })
    });
    for outcome in await_all(racers).await {
        outcome??;
    }
    Ok(())
}

async fn concurrent_takers_never_take_one_effect_twice(backend: Backend) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = Arc::new(test.store());
    for _ in 0..40 {
        store
            .record_effect(&DueEffect {
                effect: guard(new_id()),
                due_in: Duration::ZERO,
            })
            .await?;
    }
    let takers = (0..4).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .take_due_effects(Duration::from_secs(30), 100)
                .await
                .map_err(anyhow::Error::from)
        })
    });
    let mut taken = Vec::new();
    for outcome in await_all(takers).await {
        taken.extend(outcome??.into_iter().map(|e| e.effect.id()));
    }
    let distinct: std::collections::HashSet<_> = taken.iter().collect();
    assert_eq!(taken.len(), 40, "every due effect taken");
    assert_eq!(distinct.len(), 40, "none taken twice");
    Ok(())
}

async fn concurrent_releases_of_one_demo_reservation_give_its_stock_back_once(
    backend: Backend,
) -> TestResult {
    let test = TestDb::new(backend)?;
    let demo = Arc::new(DemoDirectory::open(test.db.clone()).await?);
    let held = OrderId::from_uuid(Uuid::now_v7());
    // prod-7 has 10 in stock.
    demo.reserve(
        &reservation(held, &[("prod-7", 8)])?,
        &RequestId::generate(),
    )
    .await?;
    let releases = (0..8).map(|_| {
        let demo = Arc::clone(&demo);
        tokio::spawn(async move { demo.release(held, &RequestId::generate()).await })
    });
    for outcome in await_all(releases).await {
        outcome??;
    }
    let rid = RequestId::generate();
    let all = OrderId::from_uuid(Uuid::now_v7());
    demo.reserve(&reservation(all, &[("prod-7", 10)])?, &rid)
        .await?;
    let more = OrderId::from_uuid(Uuid::now_v7());
    assert!(
        matches!(
            demo.reserve(&reservation(more, &[("prod-7", 1)])?, &rid)
                .await,
            Err(ReservationError::InsufficientStock(_))
        ),
        "the 8 units came back once, not more"
    );
    Ok(())
}

/// Every event of the feed from `start`, page by page, with the position the last page
/// ended at.
async fn read_all(store: &OrderStore, start: FeedStart) -> anyhow::Result<(Vec<String>, u64)> {
    let mut bodies = Vec::new();
    let mut start = start;
    loop {
        let page = store.read_events(start, 3).await?;
        if page.events.is_empty() {
            return Ok((bodies, page.next_after));
        }
        let positions: Vec<u64> = page.events.iter().map(|e| e.position).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        bodies.extend(
            page.events
                .iter()
                .map(|e| String::from_utf8_lossy(&e.event.body).into_owned()),
        );
        start = FeedStart::After(page.next_after);
    }
}

async fn every_change_s_event_is_in_the_feed_in_commit_order(backend: Backend) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = test.store();
    let (first, placed_first) = order("cust-1", "store-1", base_time())?;
    let (second, placed_second) = order("cust-2", "store-1", base_time())?;
    store_placed(&store, &first, &placed_first).await?;
    store_placed(&store, &second, &placed_second).await?;
    let change = cancel(&first, base_time(), Duration::from_secs(60))?;
    store.save_change(&change).await?;
    // A change that lost its race records no event.
    let stale = cancel(&first, base_time(), Duration::from_secs(60))?;
    assert_eq!(
        store.save_change(&stale).await?,
        SaveOutcome::VersionConflict
    );

    let (bodies, end) = read_all(&store, FeedStart::Oldest).await?;
    assert_eq!(
        bodies,
        [
            format!("{} order_placed v1", first.id()),
            format!("{} order_placed v1", second.id()),
            format!("{} order_canceled v2", first.id()),
        ]
    );
    let page = store.read_events(FeedStart::Oldest, 10).await?;
    let last = &page.events[2];
    assert_eq!(last.event, change.event, "read back as recorded");
    assert_eq!(end, last.position);

    let now = store.read_events(FeedStart::End, 10).await?;
    assert!(now.events.is_empty());
    assert_eq!(now.next_after, end, "the end is the last position");
    let (third, placed_third) = order("cust-3", "store-1", base_time())?;
    store_placed(&store, &third, &placed_third).await?;
    let (after_end, _) = read_all(&store, FeedStart::After(end)).await?;
    assert_eq!(after_end, [format!("{} order_placed v1", third.id())]);
    Ok(())
}

async fn forgotten_events_make_a_reader_that_missed_them_fail_and_positions_go_on(
    backend: Backend,
) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = test.store();
    for customer in ["cust-1", "cust-2", "cust-3"] {
        let (order, placed) = order(customer, "store-1", base_time())?;
        store_placed(&store, &order, &placed).await?;
    }
    let (_, end) = read_all(&store, FeedStart::Oldest).await?;
    assert_eq!(
        store.forget_events(Duration::from_secs(3600), 10).await?,
        0,
        "within their retention"
    );
    assert_eq!(store.forget_events(Duration::ZERO, 2).await?, 2);
    // Positions end - 2 and end - 1 are forgotten: a reader after end - 2 missed one.
    assert!(matches!(
        store.read_events(FeedStart::After(end - 2), 10).await,
        Err(FeedError::Expired)
    ));
    let kept = store.read_events(FeedStart::After(end - 1), 10).await?;
    assert_eq!(
        kept.events.len(),
        1,
        "a reader that saw the forgotten ones misses nothing"
    );
    assert_eq!(
        store.read_events(FeedStart::Oldest, 10).await?.events.len(),
        1
    );

    assert_eq!(store.forget_events(Duration::ZERO, 10).await?, 1);
    let (order, placed) = order("cust-4", "store-1", base_time())?;
    store_placed(&store, &order, &placed).await?;
    let page = store.read_events(FeedStart::After(end), 10).await?;
    assert_eq!(page.events.len(), 1);
    assert!(page.events[0].position > end, "positions never go back");
    Ok(())
}

async fn concurrent_writers_never_make_a_reader_skip_or_repeat_an_event(
    backend: Backend,
) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = Arc::new(test.store());
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for n in 0..15 {
                    let (order, placed) =
                        order(&format!("cust-{writer}-{n}"), "store-1", base_time())?;
                    store_placed(&store, &order, &placed).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    // The reader pages while the writers commit, as a consumer of the feed does.
    let mut seen = Vec::new();
    let mut after = 0;
    eventually(Duration::from_secs(30), "read all 120 events", async || {
        let page = store.read_events(FeedStart::After(after), 7).await?;
        seen.extend(page.events.iter().map(|e| e.event.id));
        after = page.next_after;
        Ok(seen.len() >= 120)
    })
    .await?;
    for writer in await_all(writers.into_iter()).await {
        writer??;
    }
    let page = store.read_events(FeedStart::After(after), 10).await?;
    assert!(page.events.is_empty(), "nothing more");
    let distinct: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), 120, "each event once");
    Ok(())
}

/// On PostgreSQL a transaction may commit after one that began after it: the event it
/// holds must come after every position a reader has already passed, never before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_late_comes_after_what_a_reader_has_passed() -> TestResult {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;

    let Some(server) = order_adapters::testing::postgres_server() else {
        return Ok(());
    };
    let test = TestDb::new(Backend::Postgres)?;
    let store = test.store();
    let order_adapters::DatabaseUrl::Postgres(url) = test.database.url().clone() else {
        anyhow::bail!("not PostgreSQL: {server}");
    };
    // A transaction that records an event and holds off its commit until told.
    let (begun, has_begun) = std::sync::mpsc::channel();
    let (commit, may_commit) = std::sync::mpsc::channel::<()>();
    let late_id = Uuid::now_v7();
    let late = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut conn = diesel::PgConnection::establish(&url)?;
        conn.batch_execute(&format!(
            "BEGIN; INSERT INTO order_events (id, order_id, version, name, at, body, recorded_at) \
             VALUES ('{late_id}', '{}', 1, 'order_placed', now(), 'late', now())",
            Uuid::now_v7()
        ))?;
        begun.send(())?;
        may_commit.recv()?;
        conn.batch_execute("COMMIT")?;
        Ok(())
    });
    tokio::task::spawn_blocking(move || has_begun.recv()).await??;

    let (order, placed) = order("cust-1", "store-1", base_time())?;
    store_placed(&store, &order, &placed).await?;
    let page = store.read_events(FeedStart::Oldest, 10).await?;
    assert_eq!(
        page.events.len(),
        1,
        "the uncommitted event is not there yet"
    );
    let passed = page.next_after;

    commit.send(())?;
    tokio::task::spawn_blocking(move || late.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the late transaction panicked"))??;
    let page = store.read_events(FeedStart::After(passed), 10).await?;
    assert_eq!(
        page.events
            .iter()
            .map(|e| e.event.id.as_uuid())
            .collect::<Vec<_>>(),
        [late_id],
        "the late event comes after the position the reader passed"
    );
    Ok(())
}

async fn one_holder_at_a_time_relays_for_a_consumer_and_its_position_holds_events_back(
    backend: Backend,
) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = test.store();
    for customer in ["cust-1", "cust-2"] {
        let (order, placed) = order(customer, "store-1", base_time())?;
        store_placed(&store, &order, &placed).await?;
    }
    let (_, end) = read_all(&store, FeedStart::Oldest).await?;
    let lease = Duration::from_secs(30);
    // The broker starts with every event kept, the notifications with what comes next.
    assert_eq!(
        store
            .lease_consumer("broker", "a", lease, FeedStart::Oldest)
            .await?,
        Some(0)
    );
    assert_eq!(
        store
            .lease_consumer("notifications", "a", lease, FeedStart::End)
            .await?,
        Some(end)
    );
    assert_eq!(
        store
            .lease_consumer("broker", "b", lease, FeedStart::Oldest)
            .await?,
        None,
        "a running lease is not taken over"
    );
    assert_eq!(store.consumer_backlog("broker").await?.waiting, 2);
    assert!(store.advance_consumer("broker", "a", end - 1).await?);
    assert!(
        !store.advance_consumer("broker", "b", end).await?,
        "only the holder moves it"
    );
    let backlog = store.consumer_backlog("broker").await?;
    assert_eq!(backlog.waiting, 1);
    assert!(backlog.oldest.is_some());
    assert_eq!(
        store.consumer_backlog("never-leased").await?,
        order_domain::Backlog::default()
    );

    // Retention never forgets what an active consumer has not been sent.
    assert_eq!(store.forget_events(Duration::ZERO, 10).await?, 1);
    assert_eq!(
        store.read_events(FeedStart::Oldest, 10).await?.events.len(),
        1
    );

    // A lease that ran out is taken over, at the position its holder reached.
    assert_eq!(
        store
            .lease_consumer("broker", "a", Duration::ZERO, FeedStart::Oldest)
            .await?,
        Some(end - 1)
    );
    let mut position = None;
    eventually(
        Duration::from_secs(5),
        "taken over once the lease ran out",
        async || {
            position = store
                .lease_consumer("broker", "b", lease, FeedStart::Oldest)
                .await?;
            Ok(position.is_some())
        },
    )
    .await?;
    assert_eq!(position, Some(end - 1));
    Ok(())
}
