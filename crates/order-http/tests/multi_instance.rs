//! Two service processes sharing one PostgreSQL database, as behind a load balancer:
//! idempotency and concurrency control hold across them because they live in the
//! database, not in either process.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use order_adapters::DatabaseUrl;
use order_adapters::testing::{PostgresSchema, postgres_server};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

type TestResult = anyhow::Result<()>;

/// A running `order-service` process, killed when dropped.
struct Instance {
    process: Child,
    address: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Starts the binary on a free port and waits for its "listening" log line.
fn start_instance(database: &str, customers: &str, inventory: &str) -> anyhow::Result<Instance> {
    let mut process = Command::new(env!("CARGO_BIN_EXE_order-service"))
        .env("ORDERS_LISTEN_ADDR", "127.0.0.1:0")
        .env("ORDERS_DATABASE_URL", database)
        .env("ORDERS_CUSTOMER_SERVICE_URL", customers)
        .env("ORDERS_INVENTORY_SERVICE_URL", inventory)
        .env("ORDERS_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = process
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut instance = Instance {
        process,
        address: String::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the instance did not start in time"
        );
        let event: Value = serde_json::from_str(&line?).unwrap_or_default();
        if event["fields"]["message"] == "listening" {
            let port = event["fields"]["port"]
                .as_u64()
                .ok_or_else(|| anyhow::anyhow!("no port in {event}"))?;
            instance.address = format!("http://127.0.0.1:{port}");
            // Keep reading the log, or the instance blocks once the pipe is full.
            std::thread::spawn(move || lines.for_each(drop));
            return Ok(instance);
        }
    }
    anyhow::bail!("the instance exited before listening")
}

fn order_body() -> Value {
    json!({
        "storeId": "store-1",
        "customerId": "cust-1",
        "items": [{"productId": "prod-1", "quantity": 1, "unitPrice": 1000}],
        "shippingCost": 0,
        "taxAmount": 0
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
    let customers = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/customers/cust-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "cust-1", "name": "Ada", "email": "ada@example.com",
            "shippingAddress": {"line1": "1 Elm St", "city": "Springfield", "postalCode": "62701", "country": "US"}
        })))
        .mount(&customers)
        .await;
    let inventory = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/reservations"))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_millis(50)))
        .mount(&inventory)
        .await;

    // Both start at once: the migrations are applied once, under an advisory lock.
    let (first, second) = std::thread::scope(|scope| {
        let a = scope.spawn(|| start_instance(&database, &customers.uri(), &inventory.uri()));
        let b = scope.spawn(|| start_instance(&database, &customers.uri(), &inventory.uri()));
        (a.join(), b.join())
    });
    let first = first.map_err(|_| anyhow::anyhow!("start panicked"))??;
    let second = second.map_err(|_| anyhow::anyhow!("start panicked"))??;
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
            StatusCode::CONFLICT => {}
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
    let reservations = inventory.received_requests().await.unwrap_or_default();
    assert_eq!(
        reservations
            .iter()
            .filter(|r| r.method.as_str() == "POST")
            .count(),
        1
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
