//! Two service processes sharing one PostgreSQL database, as behind a load balancer:
//! idempotency and concurrency control hold across them because they live in the
//! database, not in either process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use order_adapters::DatabaseUrl;
use order_adapters::testing::{PostgresSchema, postgres_server};
use reqwest::StatusCode;
use serde_json::{Value, json};
mod fakes;
mod process;

use fakes::FakeUpstream;
use process::{Instance, start_instance};

type TestResult = anyhow::Result<()>;

fn order_body() -> Value {
    json!({
        "storeId": "store-1",
        "customerId": "cust-1",
        "items": [{"productId": "prod-1", "quantity": 1, "unitPrice": 1000}],
        "shippingCost": 0,
        "taxAmount": 0
    })
}

/// Two instances on one database, and the fakes of the services they call (kept alive
/// as long as the instances need them). Reservations take `reservation_delay`.
struct TwoInstances {
    first: Instance,
    second: Instance,
    upstream: FakeUpstream,
}

async fn two_instances(
    database: &str,
    reservation_delay: Duration,
) -> anyhow::Result<TwoInstances> {
    let upstream = FakeUpstream::start(reservation_delay..reservation_delay)?;

    // Both start at once: the migrations are applied once, under an advisory lock.
    let env = [
        ("ORDERS_DATABASE_URL", database),
        ("ORDERS_CUSTOMER_SERVICE_URL", upstream.url.as_str()),
        ("ORDERS_INVENTORY_SERVICE_URL", upstream.url.as_str()),
    ];
    let (first, second) = std::thread::scope(|scope| {
        let a = scope.spawn(|| start_instance(&env));
        let b = scope.spawn(|| start_instance(&env));
        (a.join(), b.join())
    });
    Ok(TwoInstances {
        first: first.map_err(|_| anyhow::anyhow!("start panicked"))??,
        second: second.map_err(|_| anyhow::anyhow!("start panicked"))??,
        upstream,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_share_idempotency_and_lose_no_update() -> TestResult {
    let Some(server) = postgres_server() else {
        return Ok(());
    };
    let schema = PostgresSchema::create(&server)?;
    let DatabaseUrl::Postgres(database) = schema.url() else {
        anyhow::bail!("not a PostgreSQL URL");
    };
    let TwoInstances {
        first,
        second,
        upstream,
    } = two_instances(&database, Duration::from_millis(50)).await?;
    let instances = [&first.address, &second.address];
    // A request that gets no answer fails the test instead of hanging the run.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;

    let body = order_body();
    let creates = (0..32).map(|i| {
        client
            .post(format!("{}/v1/orders", instances[i % 2]))
            .header("Idempotency-Key", "shared-key")
            .json(&body)
            .send()
    });
    let mut created = Vec::new();
    for response in futures::future::join_all(creates).await {
        let response = response?;
        match response.status() {
            StatusCode::CREATED => created.push(response.json::<Value>().await?["id"].clone()),
            StatusCode::CONFLICT => {
                let problem: Value = response.json().await?;
                assert_eq!(problem["code"], "idempotency_request_in_progress");
            }
            other => anyhow::bail!("unexpected {other}"),
        }
    }
    anyhow::ensure!(!created.is_empty());
    assert!(
        created.iter().all(|id| *id == created[0]),
        "every 201 names the one order"
    );
    let listed: Value = client
        .get(format!("{}/v1/orders", second.address))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        upstream.reservation_requests(),
        1,
        "one reservation asked for"
    );

    let id = created[0].as_str().unwrap_or_default().to_owned();
    let updates = (0..20).map(|i| {
        client
            .put(format!("{}/v1/orders/{id}/shipping", instances[i % 2]))
            .json(
                &json!({"shippingAddress": {"line1": format!("{i} Main St"), "city": "Peoria",
                                               "postalCode": "61602", "country": "US"}}),
            )
            .send()
    });
    for response in futures::future::join_all(updates).await {
        assert_eq!(response?.status(), StatusCode::OK);
    }
    let order: Value = client
        .get(format!("{}/v1/orders/{id}", first.address))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(order["version"], 21, "twenty updates, none lost");
    let history: Value = client
        .get(format!("{}/v1/orders/{id}/history", second.address))
        .send()
        .await?
        .json()
        .await?;
    let versions: Vec<u64> = history["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|e| e["version"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(versions, (1..=21).collect::<Vec<u64>>());
    Ok(())
}

/// A consumer pages the feed with `after` while two instances place and change orders
/// at once: it sees every committed event exactly once, in commit order, none skipped
/// (on PostgreSQL a transaction may take its position before another that commits
/// first; the feed must not run past it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_paging_the_feed_sees_every_event_of_two_busy_instances_once() -> TestResult {
    let Some(server) = postgres_server() else {
        return Ok(());
    };
    let schema = PostgresSchema::create(&server)?;
    let DatabaseUrl::Postgres(database) = schema.url() else {
        anyhow::bail!("not a PostgreSQL URL");
    };
    let both = two_instances(&database, Duration::ZERO).await?;
    let instances = [both.first.address.clone(), both.second.address.clone()];
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let writing_done = AtomicBool::new(false);

    let writers = (0..8).map(|writer| {
        let (client, instances) = (&client, &instances);
        async move {
            let mut placed = Vec::new();
            for round in 0..5 {
                let on = |n: usize| &instances[(writer + round + n) % 2];
                let order: Value = client
                    .post(format!("{}/v1/orders", on(0)))
                    .json(&order_body())
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                let id = order["id"].as_str().unwrap_or_default().to_owned();
                for change in 1..=2 {
                    client
                        .put(format!("{}/v1/orders/{id}/shipping", on(change)))
                        .json(
                            &json!({"shippingAddress": {"line1": format!("{change} Main St"),
                            "city": "Peoria", "postalCode": "61602", "country": "US"}}),
                        )
                        .send()
                        .await?
                        .error_for_status()?;
                }
                placed.push(id);
            }
            anyhow::Ok(placed)
        }
    });
    let writing = async {
        let placed = futures::future::try_join_all(writers).await;
        writing_done.store(true, Ordering::SeqCst);
        placed
    };
    let consuming = async {
        let mut seen: Vec<(u64, String, u64)> = Vec::new();
        let mut after = 0;
        loop {
            // An empty page asked for after the writers finished has seen everything.
            let finished = writing_done.load(Ordering::SeqCst);
            let page: Value = client
                .get(format!(
                    "{}/v1/events?after={after}&limit=7",
                    instances[seen.len() % 2]
                ))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() && finished {
                return anyhow::Ok(seen);
            }
            for item in items {
                let event = &item["event"];
                seen.push((
                    item["position"].as_u64().unwrap_or_default(),
                    event["subject"].as_str().unwrap_or_default().to_owned(),
                    event["data"]["version"].as_u64().unwrap_or_default(),
                ));
            }
            after = page["nextAfter"].as_u64().unwrap_or_default();
        }
    };
    let (placed, seen) = tokio::time::timeout(Duration::from_secs(120), async {
        tokio::join!(writing, consuming)
    })
    .await?;
    let (placed, seen) = (placed?, seen?);

    let positions: Vec<u64> = seen.iter().map(|(position, ..)| *position).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "commit order: {positions:?}"
    );
    let mut by_order: HashMap<&str, Vec<u64>> = HashMap::new();
    for (_, order, version) in &seen {
        by_order.entry(order).or_default().push(*version);
    }
    let orders: Vec<&String> = placed.iter().flatten().collect();
    assert_eq!(orders.len(), 40);
    assert_eq!(by_order.len(), orders.len(), "events of no other order");
    for order in orders {
        assert_eq!(
            by_order.get(order.as_str()),
            Some(&vec![1, 2, 3]),
            "{order}: each event once, in version order"
        );
    }
    Ok(())
}
