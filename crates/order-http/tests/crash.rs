//! A 201 is never lost: the service is killed with SIGKILL while orders are being
//! placed; after a restart every order it acknowledged is there.

mod process;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use process::start_instance;
use reqwest::StatusCode;
use serde_json::{Value, json};

type TestResult = anyhow::Result<()>;

/// How many placements must be acknowledged before the kill, so that it lands amid
/// batches of writes being committed.
const ACKNOWLEDGED_BEFORE_KILL: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_order_survives_a_kill_during_load() -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("orders.db").display());
    let env = [("ORDERS_DATABASE_URL", url.as_str())];
    let instance = start_instance(&env)?;
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
                    if let (Some(id), Ok(mut ids)) = (order["id"].as_str(), acknowledged.lock()) {
                        ids.push(id.to_owned());
                    }
                }
            })
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().map(|ids| ids.len()).unwrap_or(0) < ACKNOWLEDGED_BEFORE_KILL {
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
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();

    let restarted = start_instance(&env)?;
    for id in &acknowledged {
        let stored = client
            .get(format!("{}/v1/orders/{id}", restarted.address))
            .send()
            .await?;
        assert_eq!(
            stored.status(),
            StatusCode::OK,
            "acknowledged order {id} was lost"
        );
    }
    Ok(())
}
