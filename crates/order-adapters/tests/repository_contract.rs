//! The store's contract, on a real SQLite file and on a real PostgreSQL database.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use order_adapters::testing::{Backend, TestDatabase};
use order_adapters::{Database, DatabaseOptions, DemoDirectory, OrderStore};
use order_domain::{
    Address, CancellationReason, Charges, ClaimOutcome, Currency, CustomerDirectory, CustomerId,
    IdempotencyClaim, IdempotencyCompletion, IdempotencyKey, IdempotencyStore, Inventory, Money,
    NewOrder, Order, OrderChange, OrderCommand, OrderId, OrderLines, OrderQuery, OrderRepository,
    OrderStatus, PageSize, PendingRelease, ProductId, Quantity, ReleaseOutbox, RequestFingerprint,
    RequestId, Reservation, ReservationError, ReservationLine, SaveOutcome, StoreId,
    StoredResponse, UncheckedAddress,
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
    the_demo_customers_come_from_the_data_file,
    a_change_is_stored_with_its_history_and_release_only_on_the_version_it_was_decided_on,
    a_recorded_release_can_be_postponed_and_survives_a_restart,
    claims_racing_abandons_of_one_key_never_fail,
    concurrent_takers_never_take_one_release_twice,
    concurrent_releases_of_one_demo_reservation_give_its_stock_back_once,
);

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
    let lines = OrderLines::new(vec![
        (
            ProductId::parse("prod-1")?,
            Quantity::new(1)?,
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
            shipping_cost: Money::from_minor_units(500)?,
            tax_amount: Money::from_minor_units(300)?,
        },
        None,
    )?;
    Ok(Order::place(
        OrderId::from_uuid(Uuid::now_v7()),
        new_order,
        address()?,
        at,
    ))
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

fn claim(key: &str, fingerprint: &str, now: DateTime<Utc>) -> anyhow::Result<IdempotencyClaim> {
    Ok(IdempotencyClaim {
        key: IdempotencyKey::parse(key)?,
        fingerprint: RequestFingerprint::new(fingerprint),
        now,
        expires_at: now + TimeDelta::hours(24),
        abandoned_before: now - TimeDelta::seconds(60),
    })
}

async fn a_stored_order_reads_back_exactly_as_it_was_even_after_reopening(
    backend: Backend,
) -> TestResult {
    let test = TestDb::new(backend)?;
    let (order, placed) = order("cust-1", "store-1", base_time())?;
    test.store()
        .insert_placed_order(&order, &placed, None)
        .await?;

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
    for i in 0..7 {
        // Pairs share a creation time, so the id must break the tie.
        let at = base_time() + TimeDelta::seconds(i / 2);
        let customer = if i % 3 == 0 { "cust-a" } else { "cust-b" };
        let (order, placed) = order(customer, "store-1", at)?;
        store.insert_placed_order(&order, &placed, None).await?;
        placed_ids.push((order.created_at(), order.id()));
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
    let now = base_time();
    let first = claim("key-1", "fp-1", now)?;
    assert_eq!(store.claim(&first).await?, ClaimOutcome::Claimed);
    assert_eq!(
        store.claim(&claim("key-1", "fp-1", now)?).await?,
        ClaimOutcome::InProgress
    );
    assert_eq!(
        store.claim(&claim("key-1", "fp-2", now)?).await?,
        ClaimOutcome::KeyReused
    );

    let (order, placed) = order("cust-1", "store-1", now)?;
    let response = StoredResponse(b"{\"id\":1}".to_vec());
    let completion = IdempotencyCompletion {
        key: first.key.clone(),
        claimed_at: first.now,
        response: response.clone(),
    };
    store
        .insert_placed_order(&order, &placed, Some(completion))
        .await?;
    assert_eq!(
        store.claim(&claim("key-1", "fp-1", now)?).await?,
        ClaimOutcome::Replay(response)
    );
    assert_eq!(
        store.claim(&claim("key-1", "fp-2", now)?).await?,
        ClaimOutcome::KeyReused
    );

    let a_day_later = now + TimeDelta::hours(24);
    assert_eq!(
        store.claim(&claim("key-1", "fp-2", a_day_later)?).await?,
        ClaimOutcome::Claimed,
        "past the retention window the key is free again"
    );
    Ok(())
}

async fn expired_keys_are_deleted_in_batches_and_only_they(backend: Backend) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = test.store();
    let t0 = base_time();
    let completed = claim("old-completed", "fp-1", t0)?;
    store.claim(&completed).await?;
    let (order, placed) = order("cust-1", "store-1", t0)?;
    let completion = IdempotencyCompletion {
        key: completed.key.clone(),
        claimed_at: t0,
        response: StoredResponse(b"{}".to_vec()),
    };
    store
        .insert_placed_order(&order, &placed, Some(completion))
        .await?;
    for key in ["old-unfinished-1", "old-unfinished-2"] {
        store.claim(&claim(key, "fp-1", t0)?).await?;
    }
    let recent = claim("recent", "fp-1", t0 + TimeDelta::hours(2))?;
    store.claim(&recent).await?;

    let end_of_t0_retention = t0 + TimeDelta::hours(24);
    assert_eq!(store.forget_expired(end_of_t0_retention, 2).await?, 2);
    assert_eq!(store.forget_expired(end_of_t0_retention, 2).await?, 1);
    assert_eq!(store.forget_expired(end_of_t0_retention, 2).await?, 0);

    // A key still held answers another body as reused; a deleted one is free.
    for key in ["old-completed", "old-unfinished-1", "old-unfinished-2"] {
        let other_body = claim(key, "fp-2", t0 + TimeDelta::seconds(1))?;
        assert_eq!(
            store.claim(&other_body).await?,
            ClaimOutcome::Claimed,
            "{key}"
        );
    }
    let other_body = claim("recent", "fp-2", t0 + TimeDelta::hours(2))?;
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
    let first = claim("key-1", "fp-1", base_time())?;
    assert_eq!(store.claim(&first).await?, ClaimOutcome::Claimed);
    store.abandon(&first).await?;
    assert_eq!(store.claim(&first).await?, ClaimOutcome::Claimed);

    // A process that died holds the key until its claim counts as abandoned; then
    // another request takes over, and the dead claim can no longer free it.
    let later = claim("key-1", "fp-1", base_time() + TimeDelta::seconds(61))?;
    assert_eq!(store.claim(&later).await?, ClaimOutcome::Claimed);
    store.abandon(&first).await?;
    assert_eq!(store.claim(&later).await?, ClaimOutcome::InProgress);
    Ok(())
}

async fn an_order_whose_claim_was_taken_over_is_not_stored(backend: Backend) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = test.store();
    let first = claim("key-1", "fp-1", base_time())?;
    store.claim(&first).await?;
    let takeover = claim("key-1", "fp-1", base_time() + TimeDelta::seconds(61))?;
    assert_eq!(store.claim(&takeover).await?, ClaimOutcome::Claimed);

    let (order, placed) = order("cust-1", "store-1", base_time())?;
    let completion = IdempotencyCompletion {
        key: first.key.clone(),
        claimed_at: first.now,
        response: StoredResponse(vec![]),
    };
    assert!(
        store
            .insert_placed_order(&order, &placed, Some(completion))
            .await
            .is_err()
    );
    assert_eq!(store.find_order(order.id()).await?, None);
    assert!(store.order_history(order.id()).await?.is_empty());
    Ok(())
}

async fn of_concurrent_claims_of_one_key_exactly_one_wins(backend: Backend) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = Arc::new(test.store());
    let claims = (0..16).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .claim(&claim("race", "fp", base_time())?)
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

fn cancel(order: &Order, at: DateTime<Utc>) -> anyhow::Result<OrderChange> {
    let mut changed = order.clone();
    let (entry, _) = changed.apply(
        OrderCommand::Cancel {
            reason: CancellationReason::parse("out of budget")?,
        },
        at,
    )?;
    Ok(OrderChange {
        order: changed,
        entry,
        previous_version: order.version(),
        release: Some(PendingRelease {
            reservation_id: order.id(),
            request_id: RequestId::parse("req-1")?,
            attempts: 0,
            due_at: at + TimeDelta::seconds(1),
        }),
    })
}

async fn a_change_is_stored_with_its_history_and_release_only_on_the_version_it_was_decided_on(
    backend: Backend,
) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = test.store();
    let (order, placed) = order("cust-1", "store-1", base_time())?;
    store.insert_placed_order(&order, &placed, None).await?;

    let later = base_time() + TimeDelta::seconds(5);
    let change = cancel(&order, later)?;
    assert_eq!(store.save_change(&change).await?, SaveOutcome::Saved);
    // A second change decided on version 1 lost the race: nothing of it is stored.
    let mut stale = cancel(&order, later)?;
    stale.release = None;
    assert_eq!(
        store.save_change(&stale).await?,
        SaveOutcome::VersionConflict
    );

    let stored = store.find_order(order.id()).await?;
    assert_eq!(stored.as_ref(), Some(&change.order));
    assert_eq!(stored.map(|o| o.version()), Some(2));
    let history = store.order_history(order.id()).await?;
    assert_eq!(history, vec![placed, change.entry.clone()]);

    assert!(
        store.take_due_releases(later, later, 10).await?.is_empty(),
        "not due yet"
    );
    let due_at = later + TimeDelta::seconds(1);
    let taken = store
        .take_due_releases(due_at, due_at + TimeDelta::seconds(30), 10)
        .await?;
    assert_eq!(
        taken,
        vec![
            change
                .release
                .clone()
                .ok_or_else(|| anyhow::anyhow!("no release"))?
        ]
    );
    assert!(
        store
            .take_due_releases(due_at, due_at, 10)
            .await?
            .is_empty(),
        "hidden while tried"
    );
    store.complete_release(order.id()).await?;
    assert!(
        store
            .take_due_releases(due_at + TimeDelta::hours(1), due_at, 10)
            .await?
            .is_empty()
    );
    Ok(())
}

async fn a_recorded_release_can_be_postponed_and_survives_a_restart(
    backend: Backend,
) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = test.store();
    let release = PendingRelease {
        reservation_id: OrderId::from_uuid(Uuid::now_v7()),
        request_id: RequestId::parse("req-9")?,
        attempts: 1,
        due_at: base_time(),
    };
    store.record_release(&release).await?;
    let postponed = PendingRelease {
        attempts: 2,
        due_at: base_time() + TimeDelta::seconds(4),
        ..release
    };
    store.record_release(&postponed).await?;

    let reopened = OrderStore::new(test.reopen()?);
    assert!(
        reopened
            .take_due_releases(base_time(), base_time(), 10)
            .await?
            .is_empty()
    );
    let later = base_time() + TimeDelta::seconds(4);
    assert_eq!(
        reopened.take_due_releases(later, later, 10).await?,
        vec![postponed]
    );
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
    let racers = (0..8).map(|task| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for round in 0..25 {
                let at = base_time() + TimeDelta::microseconds(task * 1000 + round);
                let attempt = claim("contested", "fp", at)?;
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

async fn concurrent_takers_never_take_one_release_twice(backend: Backend) -> TestResult {
    let test = TestDb::new(backend)?;
    let store = Arc::new(test.store());
    for i in 0..40 {
        store
            .record_release(&PendingRelease {
                reservation_id: OrderId::from_uuid(Uuid::now_v7()),
                request_id: RequestId::parse("req-1")?,
                attempts: 1,
                due_at: base_time() + TimeDelta::microseconds(i),
            })
            .await?;
    }
    let due = base_time() + TimeDelta::seconds(1);
    let takers = (0..4).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .take_due_releases(due, due + TimeDelta::seconds(30), 100)
                .await
                .map_err(anyhow::Error::from)
        })
    });
    let mut taken = Vec::new();
    for outcome in await_all(takers).await {
        taken.extend(outcome??.into_iter().map(|r| r.reservation_id));
    }
    let distinct: std::collections::HashSet<_> = taken.iter().collect();
    assert_eq!(taken.len(), 40, "every due release taken");
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
