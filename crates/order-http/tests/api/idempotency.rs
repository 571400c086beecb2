//! `Idempotency-Key` on `POST /v1/orders`: retries and races never double-order.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{
    AppOptions, Backend, TestResult, assert_problem, order_body, spawn_app, spawn_demo_app,
};

async fn a_replay_returns_the_first_response_and_calls_nothing(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    app.customer_exists("cust-1").await;
    app.stock_is_plentiful().await;

    let first = app.place_with_key(&order_body(), "key-1").await?;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(!first.headers().contains_key("idempotent-replayed"));
    let (first_location, first_etag) = (
        first.headers()["location"].clone(),
        first.headers()["etag"].clone(),
    );
    let first_body = first.bytes().await?;

    // The same request, its keys in another order and spaced differently.
    let reordered = r#"{ "taxAmount": 300, "shippingCost": 500, "customerId": "cust-1",
        "items": [{"unitPrice": 1000, "quantity": 1, "productId": "prod-1"},
                  {"productId": "prod-2", "unitPrice": 1000, "quantity": 2}], "storeId": "store-1" }"#;
    let replay = app
        .client
        .post(app.url("/v1/orders"))
        .header("Idempotency-Key", "key-1")
        .header("content-type", "application/json")
        .body(reordered)
        .send()
        .await?;

    assert_eq!(replay.status(), StatusCode::CREATED);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.headers()["location"], first_location);
    assert_eq!(replay.headers()["etag"], first_etag);
    assert_eq!(replay.bytes().await?, first_body);
    assert_eq!(
        app.upstream_calls(&app.customers, "GET", "/customers/")
            .await,
        1
    );
    assert_eq!(
        app.upstream_calls(&app.inventory, "POST", "/reservations")
            .await,
        1
    );
    assert_eq!(app.listed_ids("").await?.len(), 1);
    Ok(())
}

async fn a_key_reused_with_another_body_is_422(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    app.customer_exists("cust-1").await;
    app.stock_is_plentiful().await;
    assert_eq!(
        app.place_with_key(&order_body(), "key-1").await?.status(),
        StatusCode::CREATED
    );

    let mut other = order_body();
    other["taxAmount"] = json!(301);
    assert_problem(
        app.place_with_key(&other, "key-1").await?,
        422,
        "idempotency_key_reused",
        &[],
    )
    .await?;
    assert_eq!(app.listed_ids("").await?.len(), 1);
    Ok(())
}

async fn a_key_that_is_not_1_to_255_visible_ascii_is_400_naming_the_header(
    backend: Backend,
) -> TestResult {
    let app = spawn_app(backend).await?;
    for key in ["", "has space", &"k".repeat(256)] {
        let response = app.place_with_key(&order_body(), key).await?;
        assert_problem(response, 400, "invalid_parameter", &["Idempotency-Key"]).await?;
    }
    Ok(())
}

async fn two_keys_on_one_request_are_400_and_store_nothing(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    let response = app
        .client
        .post(app.url("/v1/orders"))
        .header("Idempotency-Key", "key-x")
        .header("Idempotency-Key", "key-y")
        .json(&order_body())
        .send()
        .await?;
    assert_problem(response, 400, "invalid_parameter", &["Idempotency-Key"]).await?;
    assert!(app.listed_ids("").await?.is_empty());
    Ok(())
}

async fn a_failed_request_stores_no_outcome_and_its_key_can_be_used_again(
    backend: Backend,
) -> TestResult {
    let app = spawn_app(backend).await?;
    app.customer_exists("cust-1").await;
    Mock::given(method("POST"))
        .and(path("/reservations"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(AppOptions::default().upstream.max_attempts as u64)
        .mount(&app.inventory)
        .await;
    app.stock_is_plentiful().await;

    let failed = app.place_with_key(&order_body(), "key-1").await?;
    assert_problem(failed, 503, "dependency_unavailable", &[]).await?;
    assert!(app.listed_ids("").await?.is_empty());

    let retried = app.place_with_key(&order_body(), "key-1").await?;
    assert_eq!(retried.status(), StatusCode::CREATED);
    assert!(!retried.headers().contains_key("idempotent-replayed"));
    assert_eq!(app.listed_ids("").await?.len(), 1);
    Ok(())
}

async fn thirty_two_concurrent_requests_with_one_key_make_one_order_and_one_reservation(
    backend: Backend,
) -> TestResult {
    let app = spawn_app(backend).await?;
    app.customer_exists("cust-1").await;
    // A slow reservation keeps the first request in progress while the others arrive.
    Mock::given(method("POST"))
        .and(path("/reservations"))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_millis(100)))
        .mount(&app.inventory)
        .await;

    let body = order_body();
    let requests = (0..32).map(|_| app.place_with_key(&body, "race-key"));
    let responses = futures::future::join_all(requests).await;

    let mut created_bodies = HashSet::new();
    let mut first_answers = 0;
    for response in responses {
        let response = response?;
        match response.status() {
            StatusCode::CREATED => {
                // Every 201 but the one that made the order is a replay, and says so.
                if !response.headers().contains_key("idempotent-replayed") {
                    first_answers += 1;
                }
                created_bodies.insert(response.text().await?);
            }
            StatusCode::CONFLICT => {
                let problem: Value = response.json().await?;
                assert_eq!(problem["code"], "idempotency_request_in_progress");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(created_bodies.len(), 1, "every 201 carries the same order");
    assert_eq!(first_answers, 1, "one request made the order");
    // Once the race is over the key replays that one answer, byte for byte.
    let replay = app.place_with_key(&body, "race-key").await?;
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert!(created_bodies.contains(&replay.text().await?));
    assert_eq!(
        app.upstream_calls(&app.inventory, "POST", "/reservations")
            .await,
        1
    );
    assert_eq!(app.listed_ids("").await?.len(), 1);
    Ok(())
}

/// The demo inventory's stock is in the service's own database, so a keyed placement is
/// one transaction there: it must keep every promise of the key all the same.
async fn with_the_demo_inventory_a_key_replays_refuses_reuse_and_races_make_one_order(
    backend: Backend,
) -> TestResult {
    let (address, _data) = spawn_demo_app(backend).await?;
    let client = crate::helpers::test_client()?;
    let place = |body: Value, key: &'static str| {
        client
            .post(format!("{address}/v1/orders"))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };

    let first = place(order_body(), "key-1").await?;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first_body = first.bytes().await?;
    let replay = place(order_body(), "key-1").await?;
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.bytes().await?, first_body);
    let mut other = order_body();
    other["taxAmount"] = json!(301);
    assert_problem(
        place(other, "key-1").await?,
        422,
        "idempotency_key_reused",
        &[],
    )
    .await?;

    // A refused placement keeps nothing, its key included: the key can be used again.
    let mut short = order_body();
    short["items"] = json!([{"productId": "prod-9", "quantity": 1, "unitPrice": 100}]);
    let refused = place(short, "key-2").await?;
    assert_problem(refused, 409, "insufficient_stock", &["items[0].quantity"]).await?;
    let retried = place(order_body(), "key-2").await?;
    assert_eq!(retried.status(), StatusCode::CREATED);
    assert!(!retried.headers().contains_key("idempotent-replayed"));

    let racing = (0..32).map(|_| place(order_body(), "race-key"));
    let mut bodies = HashSet::new();
    let mut first_answers = 0;
    for response in futures::future::join_all(racing).await {
        let response = response?;
        assert_eq!(response.status(), StatusCode::CREATED);
        if !response.headers().contains_key("idempotent-replayed") {
            first_answers += 1;
        }
        bodies.insert(response.bytes().await?);
    }
    assert_eq!(bodies.len(), 1, "every 201 carries the same order");
    assert_eq!(first_answers, 1, "one request made the order");

    let listed: Value = client
        .get(format!("{address}/v1/orders?limit=100"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(3));
    Ok(())
}

async fn requests_without_a_key_are_never_deduplicated(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    app.customer_exists("cust-1").await;
    app.stock_is_plentiful().await;
    app.placed_order(&order_body()).await?;
    app.placed_order(&order_body()).await?;
    assert_eq!(app.listed_ids("").await?.len(), 2);
    Ok(())
}

order_adapters::on_both_backends!(
    a_replay_returns_the_first_response_and_calls_nothing,
    a_key_reused_with_another_body_is_422,
    a_key_that_is_not_1_to_255_visible_ascii_is_400_naming_the_header,
    two_keys_on_one_request_are_400_and_store_nothing,
    a_failed_request_stores_no_outcome_and_its_key_can_be_used_again,
    thirty_two_concurrent_requests_with_one_key_make_one_order_and_one_reservation,
    requests_without_a_key_are_never_deduplicated,
    with_the_demo_inventory_a_key_replays_refuses_reuse_and_races_make_one_order,
);
