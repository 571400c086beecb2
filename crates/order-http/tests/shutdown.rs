//! Graceful shutdown: on SIGTERM or SIGINT the service stops accepting connections,
//! finishes the requests in flight, closes the database, and exits 0; what it
//! acknowledged is there when it starts again.

mod fakes;
mod process;

use std::time::Duration;

use fakes::FakeUpstream;
use order_adapters::testing::eventually;
use process::start_instance;
use reqwest::StatusCode;
use serde_json::{Value, json};

type TestResult = anyhow::Result<()>;

async fn a_signal_lets_the_request_in_flight_finish_then_exits_cleanly(signal: &str) -> TestResult {
    let dir = tempfile::tempdir()?;
    let database = dir.path().join("orders.db");
    let url = format!("sqlite://{}", database.display());
    // A slow reservation keeps the placement in flight while the signal arrives.
    let upstream = FakeUpstream::start(Duration::from_millis(700)..Duration::from_millis(700))?;
    let env = [
        ("ORDERS_DATABASE_URL", url.as_str()),
        ("ORDERS_CUSTOMER_SERVICE_URL", upstream.url.as_str()),
        ("ORDERS_INVENTORY_SERVICE_URL", upstream.url.as_str()),
    ];
    let mut instance = start_instance(&env)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let body = json!({"storeId": "store-1", "customerId": "cust-1", "shippingCost": 0,
                      "taxAmount": 0, "items": [{"productId": "prod-1", "quantity": 1, "unitPrice": 5}]});
    let in_flight = tokio::spawn(
        client
            .post(format!("{}/v1/orders", instance.address))
            .json(&body)
            .send(),
    );
    eventually(
        Duration::from_secs(10),
        "reached by the placement",
        async || Ok(upstream.reservation_requests() > 0),
    )
    .await?;

    instance.signal(signal)?;

    let refused = async {
        loop {
            if client
                .get(format!("{}/health/live", instance.address))
                .send()
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), refused).await?;
    let answered = in_flight.await??;
    assert_eq!(
        answered.status(),
        StatusCode::CREATED,
        "the request in flight finished"
    );
    let order: Value = answered.json().await?;
    instance.until_logged("stopped", Duration::from_secs(10))?;
    let status = instance.until_exited(Duration::from_secs(10))?;
    assert!(status.success(), "exited with {status}");
    assert!(
        !dir.path().join("orders.db-wal").exists()
            || dir.path().join("orders.db-wal").metadata()?.len() == 0,
        "the write-ahead log was folded into the database"
    );

    let restarted = start_instance(&env)?;
    let stored = client
        .get(format!(
            "{}/v1/orders/{}",
            restarted.address,
            order["id"].as_str().unwrap_or_default()
        ))
        .send()
        .await?;
    assert_eq!(stored.status(), StatusCode::OK);
    assert_eq!(stored.json::<Value>().await?, order);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish_then_exits_cleanly() -> TestResult {
    a_signal_lets_the_request_in_flight_finish_then_exits_cleanly("TERM").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_lets_the_request_in_flight_finish_then_exits_cleanly() -> TestResult {
    a_signal_lets_the_request_in_flight_finish_then_exits_cleanly("INT").await
}
