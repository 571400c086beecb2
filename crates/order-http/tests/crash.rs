//! The service killed with SIGKILL amid placements, while a slow inventory holds many of
//! them between "stock reserved" and "order stored" (or, with the demo inventory, while
//! placements reserve and store in one transaction): every order it acknowledged is
//! there afterwards, and once the service has settled (restarted, or another instance
//! on the same PostgreSQL database carrying on) every reservation the inventory holds
//! belongs to a stored order and every stored order holds its reservation.

mod fakes;
mod process;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use fakes::FakeUpstream;
use order_adapters::testing::{
    PostgresSchema, demo_reservation_ids, owed_releases, postgres_server,
};
use order_adapters::{Database, DatabaseOptions, DatabaseUrl};
use process::start_instance;
use reqwest::StatusCode;
use serde_json::{Value, json};

type TestResult = anyhow::Result<()>;

/// How many placements must be acknowledged before the kill, so that it lands amid
/// placements under way.
const ACKNOWLEDGED_BEFORE_KILL: usize = 100;

/// Who carries on once the killed instance is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Survivor {
    /// The same service, started again on the same database.
    Restarted,
    /// A second instance on the same database, running all along.
    SecondInstance,
}

/// What the customers and the stock are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upstreams {
    /// A fake customer and inventory service that answers in 50 to 300 ms.
    SlowFake,
    /// The built-in demo directory, whose stock is in the service's own database.
    Demo,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_amid_placements_on_sqlite_loses_no_order_and_leaks_no_stock() -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("orders.db").display());
    kill_amid_placements(&url, Survivor::Restarted, Upstreams::SlowFake).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_amid_placements_reserving_demo_stock_loses_no_order_and_leaks_no_stock()
-> TestResult {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("orders.db").display());
    kill_amid_placements(&url, Survivor::Restarted, Upstreams::Demo).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_amid_placements_on_postgres_loses_no_order_and_leaks_no_stock() -> TestResult {
    let Some(server) = postgres_server() else {
        return Ok(());
    };
    let schema = PostgresSchema::create(&server)?;
    kill_amid_placements(
        &postgres_url(&schema)?,
        Survivor::Restarted,
        Upstreams::SlowFake,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_settles_the_placements_of_one_killed_beside_it() -> TestResult {
    let Some(server) = postgres_server() else {
        return Ok(());
    };
    let schema = PostgresSchema::create(&server)?;
    kill_amid_placements(
        &postgres_url(&schema)?,
        Survivor::SecondInstance,
        Upstreams::SlowFake,
    )
    .await
}

fn postgres_url(schema: &PostgresSchema) -> anyhow::Result<String> {
    match schema.url() {
        DatabaseUrl::Postgres(url) => Ok(url),
        DatabaseUrl::Sqlite(_) => anyhow::bail!("not a PostgreSQL URL"),
    }
}

async fn kill_amid_placements(
    database_url: &str,
    survivor: Survivor,
    upstreams: Upstreams,
) -> TestResult {
    let fake = FakeUpstream::start(Duration::from_millis(50)..Duration::from_millis(300))?;
    let mut env = vec![
        ("ORDERS_DATABASE_URL", database_url),
        // A placement cut off by the kill counts as abandoned soon, so the test
        // settles in seconds rather than a minute.
        ("ORDERS_ABANDON_AFTER_MS", "1500"),
    ];
    if upstreams == Upstreams::SlowFake {
        env.push(("ORDERS_CUSTOMER_SERVICE_URL", fake.url.as_str()));
        env.push(("ORDERS_INVENTORY_SERVICE_URL", fake.url.as_str()));
    }
    let instance = start_instance(&env)?;
    let beside = match survivor {
        Survivor::SecondInstance => Some(start_instance(&env)?),
        Survivor::Restarted => None,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));

    // Placers keep placing until the service dies under them.
    let placers: Vec<_> = (0..32)
        .map(|placer| {
            let (client, address, acknowledged) = (
                client.clone(),
                instance.address.clone(),
                Arc::clone(&acknowledged),
            );
            tokio::spawn(async move {
                for n in 0.. {
                    let body = json!({"storeId": "store-1", "customerId": "cust-1",
                        "shippingCost": 0, "taxAmount": 0,
                        "items": [{"productId": "prod-1", "quantity": 1, "unitPrice": 100}]});
                    let Ok(response) = client
                        .post(format!("{address}/v1/orders"))
                        .header("Idempotency-Key", format!("crash-{placer}-{n}"))
                        .json(&body)
                        .send()
                        .await
                    else {
                        return;
                    };
                    if response.status() != StatusCode::CREATED {
                        return;
                    }
                    let Ok(order) = response.json::<Value>().await else {
                        return;
                    };
                    if let Some(id) = order["id"].as_str() {
                        acknowledged
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(id.to_owned());
                    }
                }
            })
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .len()
        < ACKNOWLEDGED_BEFORE_KILL
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "too few placements before the kill"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    instance.signal("KILL")?;
    for placer in placers {
        placer.await?;
    }
    drop(instance);
    let acknowledged = acknowledged
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();

    let survivor = match beside {
        Some(running) => running,
        None => start_instance(&env)?,
    };
    for id in &acknowledged {
        let stored = client
            .get(format!("{}/v1/orders/{id}", survivor.address))
            .send()
            .await?;
        assert_eq!(
            stored.status(),
            StatusCode::OK,
            "acknowledged order {id} was lost"
        );
    }

    let database = Database::open(
        &DatabaseUrl::parse(database_url).map_err(anyhow::Error::msg)?,
        &DatabaseOptions::default(),
    )?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let settled = owed_releases(&database).await? == 0;
        let stored = stored_order_ids(&client, &survivor.address).await?;
        let reservations = match upstreams {
            Upstreams::SlowFake => fake.reservations(),
            Upstreams::Demo => demo_reservation_ids(&database).await?,
        };
        if settled && reservations == stored {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "not settled after 30 s: {} reservations without an order, {} orders without a reservation",
            reservations.difference(&stored).count(),
            stored.difference(&reservations).count(),
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The ids of every order the service lists.
async fn stored_order_ids(
    client: &reqwest::Client,
    address: &str,
) -> anyhow::Result<HashSet<String>> {
    let mut ids = HashSet::new();
    let mut url = format!("{address}/v1/orders?limit=100");
    loop {
        let page: Value = client.get(&url).send().await?.json().await?;
        for order in page["items"].as_array().into_iter().flatten() {
            if let Some(id) = order["id"].as_str() {
                ids.insert(id.to_owned());
            }
        }
        match page["nextCursor"].as_str() {
            Some(cursor) => url = format!("{address}/v1/orders?limit=100&cursor={cursor}"),
            None => return Ok(ids),
        }
    }
}
