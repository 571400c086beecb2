//! An event committed but not yet published when the service is killed is published
//! after it restarts: the event waits in the database, not in the process.

mod fakes;
mod process;

use std::time::Duration;

use fakes::nats::{NatsServer, StreamReader};
use process::start_instance;
use reqwest::StatusCode;
use serde_json::{Value, json};

type TestResult = anyhow::Result<()>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_committed_before_a_kill_are_published_after_the_restart() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut broker = NatsServer::start(&dir.path().join("nats"))?;
    // The broker is down: placements commit their events, which cannot be published.
    broker.stop();
    let database = format!("sqlite://{}", dir.path().join("orders.db").display());
    let nats = broker.url();
    let env = [
        ("ORDERS_DATABASE_URL", database.as_str()),
        ("ORDERS_NATS_URL", nats.as_str()),
    ];
    let instance = start_instance(&env)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut placed = Vec::new();
    for n in 0..3 {
        let response = client
            .post(format!("{}/v1/orders", instance.address))
            .json(&json!({"storeId": "store-1", "customerId": "cust-1",
                "shippingCost": 0, "taxAmount": 0,
                "items": [{"productId": format!("prod-{}", n + 1), "quantity": 1, "unitPrice": 100}]}))
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::CREATED);
        let order: Value = response.json().await?;
        placed.push(order["id"].as_str().unwrap_or_default().to_owned());
    }
    instance.signal("KILL")?;
    drop(instance);

    broker.restart()?;
    let mut reader = StreamReader::from_now(&nats).await?;
    let _restarted = start_instance(&env)?;
    let published = reader
        .read_until(Duration::from_secs(30), |read| read.len() >= placed.len())
        .await?;
    let subjects: Vec<&str> = published
        .iter()
        .filter_map(|message| message.event["subject"].as_str())
        .collect();
    assert_eq!(
        subjects, placed,
        "each placement's event, once, in commit order"
    );
    Ok(())
}
