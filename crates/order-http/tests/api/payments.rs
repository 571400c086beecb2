//! The payment and shipping services: a payment changes an order only once the payment
//! service vouches for it, a paid order canceled is refunded, and shipping is quoted
//! when the client names no cost.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    AppOptions, Backend, TestApp, TestResult, assert_problem, eventually, order_body,
    spawn_app_with,
};

order_adapters::on_both_backends!(
    a_captured_payment_that_matches_the_order_confirms_it,
    a_payment_that_differs_is_not_verified_naming_what_differs_and_changes_nothing,
    with_the_payment_service_unreachable_a_confirmation_is_503_and_changes_nothing,
    a_paid_order_canceled_is_refunded_once_through_failures,
    a_refund_refused_for_good_is_failed_for_an_operator,
    shipping_is_quoted_when_the_placement_names_no_cost_and_never_when_it_does,
);

/// An app whose payment and shipping services are wiremock fakes, and one pending order
/// on it (3800 USD).
async fn app_with_order(
    backend: Backend,
    payments: &MockServer,
    shipping: &MockServer,
) -> anyhow::Result<(TestApp, String)> {
    let app = spawn_app_with(
        backend,
        AppOptions {
            payment_service_url: Some(payments.uri()),
            shipping_service_url: Some(shipping.uri()),
            ..AppOptions::default()
        },
    )
    .await?;
    app.customer_exists("cust-1").await;
    app.stock_is_plentiful().await;
    let order = app.placed_order(&order_body()).await?;
    let id = order["id"].as_str().unwrap_or_default().to_owned();
    Ok((app, id))
}

/// The payment service knows `reference` as this payment.
async fn payment_is(payments: &MockServer, reference: &str, payment: Value) {
    Mock::given(method("GET"))
        .and(path(format!("/payments/{reference}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(payment))
        .mount(payments)
        .await;
}

fn captured(order: &str) -> Value {
    json!({"paymentReference": "pay_1", "orderId": order, "status": "captured",
           "amount": 3800, "currency": "USD"})
}

async fn confirm(app: &TestApp, id: &str, reference: &str) -> reqwest::Result<reqwest::Response> {
    app.act(
        Method::POST,
        id,
        "/confirm-payment",
        json!({"paymentReference": reference, "amount": 3800}),
    )
    .await
}

async fn version_of(app: &TestApp, id: &str) -> anyhow::Result<Value> {
    let order: Value = app.get(&format!("/v1/orders/{id}")).await?.json().await?;
    Ok(order["version"].clone())
}

async fn a_captured_payment_that_matches_the_order_confirms_it(backend: Backend) -> TestResult {
    let (payments, shipping) = (MockServer::start().await, MockServer::start().await);
    let (app, id) = app_with_order(backend, &payments, &shipping).await?;
    payment_is(&payments, "pay_1", captured(&id)).await;
    let response = confirm(&app, &id, "pay_1").await?;
    assert_eq!(response.status(), 200);
    let order: Value = response.json().await?;
    assert_eq!(order["status"], "processing");
    assert_eq!(order["payment"]["paymentReference"], "pay_1");
    Ok(())
}

async fn a_payment_that_differs_is_not_verified_naming_what_differs_and_changes_nothing(
    backend: Backend,
) -> TestResult {
    let (payments, shipping) = (MockServer::start().await, MockServer::start().await);
    let (app, id) = app_with_order(backend, &payments, &shipping).await?;
    let cases = [
        ("pay_amount", json!({"amount": 3700}), "amount"),
        ("pay_currency", json!({"currency": "EUR"}), "currency"),
        (
            "pay_other_order",
            json!({"orderId": "0192f7a0-6c1e-7cc3-9a52-3f5d2f0c7b11"}),
            "orderId",
        ),
        ("pay_failed", json!({"status": "failed"}), "status"),
        ("pay_authorized", json!({"status": "authorized"}), "status"),
    ];
    for (reference, differs, field) in cases {
        let mut payment = captured(&id);
        if let (Some(payment), Some(differs)) = (payment.as_object_mut(), differs.as_object()) {
            payment.extend(differs.clone());
        }
        payment_is(&payments, reference, payment).await;
        let response = confirm(&app, &id, reference).await?;
        assert_problem(response, 422, "payment_not_verified", &[field]).await?;
    }
    // Unknown to the payment service.
    let response = confirm(&app, &id, "pay_unknown").await?;
    assert_problem(response, 422, "payment_not_verified", &["paymentReference"]).await?;
    // The request's own amount is checked first, and the payment service not asked.
    let asked = payments.received_requests().await.unwrap_or_default().len();
    let response = app
        .act(
            Method::POST,
            &id,
            "/confirm-payment",
            json!({"paymentReference": "pay_1", "amount": 1}),
        )
        .await?;
    assert_problem(response, 422, "amount_mismatch", &["amount"]).await?;
    assert_eq!(
        payments.received_requests().await.unwrap_or_default().len(),
        asked
    );
    assert_eq!(version_of(&app, &id).await?, 1, "nothing changed");
    Ok(())
}

async fn with_the_payment_service_unreachable_a_confirmation_is_503_and_changes_nothing(
    backend: Backend,
) -> TestResult {
    let (payments, shipping) = (MockServer::start().await, MockServer::start().await);
    let (app, id) = app_with_order(backend, &payments, &shipping).await?;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&payments)
        .await;
    let response = confirm(&app, &id, "pay_1").await?;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, 503, "dependency_unavailable", &[]).await?;
    assert_eq!(version_of(&app, &id).await?, 1, "nothing changed");
    Ok(())
}

/// The refund requests the payment service received.
async fn refunds(payments: &MockServer) -> Vec<Value> {
    payments
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|request| request.url.path() == "/refunds")
        .map(|request| request.body_json().unwrap_or_default())
        .collect()
}

async fn a_paid_order_canceled_is_refunded_once_through_failures(backend: Backend) -> TestResult {
    let (payments, shipping) = (MockServer::start().await, MockServer::start().await);
    let (app, id) = app_with_order(backend, &payments, &shipping).await?;
    payment_is(&payments, "pay_1", captured(&id)).await;
    assert_eq!(confirm(&app, &id, "pay_1").await?.status(), 200);
    // The first call fails on all its attempts: the refund waits for a retry.
    Mock::given(method("POST"))
        .and(path("/refunds"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(3)
        .mount(&payments)
        .await;
    Mock::given(method("POST"))
        .and(path("/refunds"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&payments)
        .await;

    let canceled = app
        .act(
            Method::POST,
            &id,
            "/cancel",
            json!({"reason": "changed my mind"}),
        )
        .await?;
    assert_eq!(canceled.status(), 200);
    let canceled: Value = canceled.json().await?;
    assert_eq!(canceled["refund"]["status"], "pending");
    assert_eq!(canceled["refund"]["amount"], 3800);
    assert_eq!(canceled["refund"]["completedAt"], Value::Null);

    eventually(Duration::from_secs(20), "the refund completed", || async {
        let order: Value = app.get(&format!("/v1/orders/{id}")).await?.json().await?;
        Ok(order["refund"]["status"] == "completed")
    })
    .await?;
    let requests = refunds(&payments).await;
    assert_eq!(
        requests.len(),
        4,
        "three failed attempts, then the one taken"
    );
    for request in &requests {
        assert_eq!(
            *request,
            json!({"refundId": id, "paymentReference": "pay_1", "amount": 3800, "currency": "USD"}),
            "the same refund each time"
        );
    }
    let history: Value = app
        .get(&format!("/v1/orders/{id}/history"))
        .await?
        .json()
        .await?;
    let last = &history["items"][3];
    assert_eq!(last["event"], "refund_completed");
    assert_eq!(last["data"], json!({"amount": 3800}));
    assert_eq!(last["actor"], Value::Null, "made by the service itself");
    app.until_no_release_is_owed(Duration::from_secs(10)).await
}

async fn a_refund_refused_for_good_is_failed_for_an_operator(backend: Backend) -> TestResult {
    let (payments, shipping) = (MockServer::start().await, MockServer::start().await);
    let (app, id) = app_with_order(backend, &payments, &shipping).await?;
    payment_is(&payments, "pay_1", captured(&id)).await;
    assert_eq!(confirm(&app, &id, "pay_1").await?.status(), 200);
    Mock::given(method("POST"))
        .and(path("/refunds"))
        .respond_with(ResponseTemplate::new(422))
        .mount(&payments)
        .await;
    let canceled = app
        .act(
            Method::POST,
            &id,
            "/cancel",
            json!({"reason": "changed my mind"}),
        )
        .await?;
    assert_eq!(canceled.status(), 200);
    let order: Value = app.get(&format!("/v1/orders/{id}")).await?.json().await?;
    assert_eq!(order["refund"]["status"], "failed");
    assert_eq!(
        order["version"], 3,
        "the payment service's word is no change of the order"
    );
    let metrics = app.get("/metrics").await?.text().await?;
    assert!(metrics.contains("orders_effects_total{kind=\"refund\",outcome=\"given_up\"} 1"));
    assert_eq!(refunds(&payments).await.len(), 1, "asked once, not again");
    Ok(())
}

async fn shipping_is_quoted_when_the_placement_names_no_cost_and_never_when_it_does(
    backend: Backend,
) -> TestResult {
    let (payments, shipping) = (MockServer::start().await, MockServer::start().await);
    let (app, _) = app_with_order(backend, &payments, &shipping).await?;
    assert!(
        shipping
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty(),
        "given: never asked"
    );
    Mock::given(method("POST"))
        .and(path("/quotes"))
        .and(body_partial_json(json!({
            "destination": {"city": "Springfield", "country": "US"},
            "items": [{"productId": "prod-1", "quantity": 1}, {"productId": "prod-2", "quantity": 2}],
            "currency": "USD"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"amount": 725, "currency": "USD", "serviceLevel": "standard"}),
        ))
        .mount(&shipping)
        .await;
    let mut body = order_body();
    if let Some(body) = body.as_object_mut() {
        body.remove("shippingCost");
    }
    let placed = app.placed_order(&body).await?;
    assert_eq!(placed["shippingCost"], 725);
    assert_eq!(placed["totalAmount"], 3000 + 725 + 300);

    // A claimed total is checked against the quote.
    if let Some(body) = body.as_object_mut() {
        body.insert("totalAmount".into(), json!(3800));
    }
    let response = app.place(&body).await?;
    assert_problem(response, 422, "validation_failed", &["totalAmount"]).await?;

    // A quote in another currency is no quote for this order.
    if let Some(body) = body.as_object_mut() {
        body.remove("totalAmount");
        body.insert("currency".into(), json!("EUR"));
    }
    Mock::given(method("POST"))
        .and(path("/quotes"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"amount": 700, "currency": "USD", "serviceLevel": "standard"}),
            ),
        )
        .mount(&shipping)
        .await;
    let response = app.place(&body).await?;
    assert_problem(response, 503, "dependency_unavailable", &[]).await?;
    Ok(())
}
