//! A refund owed when the service is killed is made after the restart: it waits in the
//! database, not in the process.

mod process;

use std::time::Duration;

use order_adapters::testing::eventually;
use process::start_instance;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

type TestResult = anyhow::Result<()>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_owed_at_a_kill_is_made_after_the_restart() -> TestResult {
    let dir = tempfile::tempdir()?;
    let database = format!("sqlite://{}", dir.path().join("orders.db").display());
    let payments = MockServer::start().await;
    let payments_url = payments.uri();
    let env = [
        ("ORDERS_DATABASE_URL", database.as_str()),
        ("ORDERS_PAYMENT_SERVICE_URL", payments_url.as_str()),
    ];
    let instance = start_instance(&env)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let order: Value = client
        .post(format!("{}/v1/orders", instance.address))
        .json(
            &json!({"storeId": "store-1", "customerId": "cust-1", "shippingCost": 0,
            "taxAmount": 0, "items": [{"productId": "prod-1", "quantity": 1, "unitPrice": 1000}]}),
        )
        .send()
        .await?
        .json()
        .await?;
    let id = order["id"].as_str().unwrap_or_default().to_owned();
    Mock::given(method("GET"))
        .and(path("/payments/pay_1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "paymentReference": "pay_1", "orderId": id, "status": "captured",
            "amount": 1000, "currency": "USD"})))
        .mount(&payments)
        .await;
    // The payment service takes no refund before the kill.
    Mock::given(method("POST"))
        .and(path("/refunds"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&payments)
        .await;
    let act = |action: &str, body: Value| {
        client
            .post(format!("{}/v1/orders/{id}/{action}", instance.address))
            .json(&body)
            .send()
    };
    let confirmed = act(
        "confirm-payment",
        json!({"paymentReference": "pay_1", "amount": 1000}),
    )
    .await?;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let canceled: Value = act("cancel", json!({"reason": "too slow"}))
        .await?
        .json()
        .await?;
    assert_eq!(canceled["refund"]["status"], "pending");
    instance.signal("KILL")?;
    drop(instance);

    payments.reset().await;
    Mock::given(method("POST"))
        .and(path("/refunds"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&payments)
        .await;
    let restarted = start_instance(&env)?;
    eventually(Duration::from_secs(30), "refunded", async || {
        let order: Value = client
            .get(format!("{}/v1/orders/{id}", restarted.address))
            .send()
            .await?
            .json()
            .await?;
        Ok(order["refund"]["status"] == "completed")
    })
    .await?;
    let refunds = payments
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|request| request.url.path() == "/refunds")
        .count();
    assert_eq!(refunds, 1, "made once after the restart");
    Ok(())
}
