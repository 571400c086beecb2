//! Two service processes sharing one PostgreSQL database, as behind a load balancer:
//! idempotency and concurrency control hold across them because they live in the
//! database, not in either process.

use std::time::Duration;

use order_adapters::DatabaseUrl;
use order_adapters::testing::{PostgresSchema, postgres_server};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod process;

use process::start_instance;

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
    let (customers_url, inventory_url) = (customers.uri(), inventory.uri());
    let env = [
        ("ORDERS_DATABASE_URL", database.as_str()),
        ("ORDERS_CUSTOMER_SERVICE_URL", customers_url.as_str()),
        ("ORDERS_INVENTORY_SERVICE_URL", inventory_url.as_str()),
    ];
    let (first, second) = std::thread::scope(|scope| {
        let a = scope.spawn(|| start_instance(&env));
        let b = scope.spawn(|| start_instance(&env));
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
