//! Calls to the customer and inventory services kept in bounds when those services
//! fail, hang or are gone: attempts per call, the call's budget, the circuit, and a
//! reservation that must be given back.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{
    AppOptions, Backend, TestApp, TestResult, assert_problem, eventually, order_body,
    spawn_app_with,
};

fn options() -> AppOptions {
    AppOptions::default()
}

fn attempts() -> usize {
    options().upstream.max_attempts as usize
}

fn failure_threshold() -> usize {
    options().upstream.circuit.failure_threshold as usize
}

/// Places the standard order and checks it was refused for an unavailable dependency,
/// with a `Retry-After`; returns how long the answer took.
async fn placement_is_503(app: &TestApp) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let response = app.place(&order_body()).await?;
    let took = started.elapsed();
    assert!(
        response.headers().contains_key("retry-after"),
        "503 without Retry-After"
    );
    assert_problem(response, 503, "dependency_unavailable", &[]).await?;
    Ok(took)
}

async fn customer_service_fails(app: &TestApp) {
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&app.customers)
        .await;
}

async fn a_failing_service_gets_every_attempt_of_a_call_each_with_the_request_id(
    backend: Backend,
) -> TestResult {
    let app = spawn_app_with(backend, options()).await?;
    customer_service_fails(&app).await;

    let response = app
        .client
        .post(app.url("/v1/orders"))
        .header("X-Request-Id", "trace-7")
        .json(&order_body())
        .send()
        .await?;

    assert_eq!(response.headers()["retry-after"], "1");
    assert_problem(response, 503, "dependency_unavailable", &[]).await?;
    let received = app.customers.received_requests().await.unwrap_or_default();
    assert_eq!(received.len(), attempts(), "one call, every attempt");
    for request in &received {
        assert_eq!(request.headers["x-request-id"], "trace-7");
    }
    assert_eq!(app.upstream_calls(&app.inventory, "POST", "/").await, 0);
    assert!(app.listed_ids("").await?.is_empty(), "nothing stored");
    Ok(())
}

async fn a_hanging_service_is_given_up_on_within_the_call_budget_and_its_reservation_released(
    backend: Backend,
) -> TestResult {
    // More attempts than the budget holds: the budget, not the count, ends the call.
    let mut options = options();
    options.upstream.max_attempts = 10;
    options.upstream.call_timeout = Duration::from_millis(1000);
    let app = spawn_app_with(backend, options.clone()).await?;
    app.customer_exists("cust-1").await;
    Mock::given(method("POST"))
        .and(path("/reservations"))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(10)))
        .mount(&app.inventory)
        .await;
    app.releases_succeed().await;

    let took = placement_is_503(&app).await?;

    assert!(
        took >= options.upstream.call_timeout && took < Duration::from_millis(1600),
        "answered after {took:?}"
    );
    let tried = app
        .upstream_calls(&app.inventory, "POST", "/reservations")
        .await;
    assert!((2..10).contains(&tried), "{tried} attempts");
    assert!(app.listed_ids("").await?.is_empty(), "nothing stored");

    // The reservation may have been made before the answer was lost: it is released in
    // the background, and once more a little later in case it lands after the first
    // release; then nothing more is owed.
    let reserved: Value = app
        .inventory
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .map(|r| r.body_json())
        .transpose()?
        .unwrap_or_default();
    let reservation_id = reserved["reservationId"].as_str().unwrap_or_default();
    app.until_no_release_is_owed(Duration::from_secs(10))
        .await?;
    let releases = app
        .upstream_calls(
            &app.inventory,
            "DELETE",
            &format!("/reservations/{reservation_id}"),
        )
        .await;
    assert_eq!(releases, 2);
    Ok(())
}

async fn a_service_that_refuses_connections_is_503_within_the_budget(
    backend: Backend,
) -> TestResult {
    // A port that was free a moment ago: nothing listens there now.
    let closed = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let options = AppOptions {
        customer_service_url: Some(format!("http://{closed}")),
        ..options()
    };
    let app = spawn_app_with(backend, options.clone()).await?;

    let took = placement_is_503(&app).await?;

    assert!(
        took < options.upstream.call_timeout,
        "answered after {took:?}"
    );
    assert_eq!(app.upstream_calls(&app.inventory, "POST", "/").await, 0);
    Ok(())
}

/// Waits, up to 10 s, until readiness shows the customer service's circuit in `state`.
async fn until_customer_circuit(app: &TestApp, state: &str) -> TestResult {
    let what = format!("showing the circuit {state}");
    eventually(Duration::from_secs(10), &what, async || {
        let ready: Value = app.get("/health/ready").await?.json().await?;
        Ok(ready["upstreams"][0]["circuit"] == state)
    })
    .await
}

async fn the_circuit_opens_after_consecutive_failures_fails_fast_and_closes_after_a_good_trial(
    backend: Backend,
) -> TestResult {
    // A cool-down long enough that the checks made while the circuit is open never
    // race its end; its end is waited for, not slept through.
    let mut options = options();
    options.upstream.circuit.open_for = Duration::from_millis(1500);
    let app = spawn_app_with(backend, options).await?;
    customer_service_fails(&app).await;
    app.stock_is_plentiful().await;

    for _ in 0..failure_threshold() {
        placement_is_503(&app).await?;
    }
    let tried = failure_threshold() * attempts();
    assert_eq!(app.upstream_calls(&app.customers, "GET", "/").await, tried);

    // Open: refused at once, without a request reaching the service.
    let took = placement_is_503(&app).await?;
    assert!(took < Duration::from_millis(250), "answered after {took:?}");
    assert_eq!(app.upstream_calls(&app.customers, "GET", "/").await, tried);

    // After the cool-down one trial call goes through; it fails, so the circuit opens
    // for another cool-down.
    until_customer_circuit(&app, "half_open").await?;
    placement_is_503(&app).await?;
    let tried = tried + attempts();
    assert_eq!(app.upstream_calls(&app.customers, "GET", "/").await, tried);
    placement_is_503(&app).await?;
    assert_eq!(app.upstream_calls(&app.customers, "GET", "/").await, tried);

    // The service recovers; after the next cool-down the trial succeeds and closes the
    // circuit, and the service works again by itself.
    app.customers.reset().await;
    app.customer_exists("cust-1").await;
    placement_is_503(&app).await?;
    assert_eq!(
        app.upstream_calls(&app.customers, "GET", "/").await,
        0,
        "still open: nothing reaches the recovered service"
    );
    until_customer_circuit(&app, "half_open").await?;
    for _ in 0..3 {
        assert_eq!(
            app.place(&order_body()).await?.status(),
            StatusCode::CREATED
        );
    }
    assert_eq!(app.listed_ids("").await?.len(), 3);
    until_customer_circuit(&app, "closed").await?;
    Ok(())
}

order_adapters::on_both_backends!(
    a_failing_service_gets_every_attempt_of_a_call_each_with_the_request_id,
    a_hanging_service_is_given_up_on_within_the_call_budget_and_its_reservation_released,
    a_service_that_refuses_connections_is_503_within_the_budget,
    the_circuit_opens_after_consecutive_failures_fails_fast_and_closes_after_a_good_trial,
);
