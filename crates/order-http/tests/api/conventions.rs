//! What every endpoint shares: request ids, unknown routes, wrong methods.

use reqwest::StatusCode;

use crate::helpers::{Backend, TestResult, assert_problem, spawn_app};

async fn a_safe_client_request_id_is_echoed_and_others_are_replaced(
    backend: Backend,
) -> TestResult {
    let app = spawn_app(backend).await?;
    let echoed = app
        .client
        .get(app.url("/v1/orders"))
        .header("X-Request-Id", "abc-123")
        .send()
        .await?;
    assert_eq!(echoed.headers()["x-request-id"], "abc-123");

    let too_long = "x".repeat(129);
    for unsafe_id in [too_long.as_str(), "has space", "semi;colon"] {
        let replaced = app
            .client
            .get(app.url("/v1/orders"))
            .header("X-Request-Id", unsafe_id)
            .send()
            .await?;
        let id = replaced.headers()["x-request-id"].to_str()?.to_owned();
        assert_ne!(id, unsafe_id);
        assert!(!id.is_empty());
    }
    let generated = app.get("/nowhere").await?;
    assert!(
        generated.headers().contains_key("x-request-id"),
        "errors carry one too"
    );
    Ok(())
}

async fn an_unknown_route_is_a_404_problem(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    assert_problem(app.get("/v2/orders").await?, 404, "not_found", &[]).await?;
    Ok(())
}

async fn a_wrong_method_is_a_405_problem_listing_the_allowed_ones(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    let cases = [
        (reqwest::Method::DELETE, "/v1/orders", "GET, POST"),
        (
            reqwest::Method::PATCH,
            "/v1/orders/0192f7a0-6c1e-7cc3-9a52-3f5d2f0c7b11",
            "GET, DELETE",
        ),
        (
            reqwest::Method::GET,
            "/v1/orders/0192f7a0-6c1e-7cc3-9a52-3f5d2f0c7b11/cancel",
            "POST",
        ),
        (
            reqwest::Method::POST,
            "/v1/orders/0192f7a0-6c1e-7cc3-9a52-3f5d2f0c7b11/shipment/tracking",
            "PUT",
        ),
        (
            reqwest::Method::POST,
            "/v1/orders/0192f7a0-6c1e-7cc3-9a52-3f5d2f0c7b11/history",
            "GET",
        ),
    ];
    for (verb, path, allow) in cases {
        let response = app.client.request(verb, app.url(path)).send().await?;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()["allow"], allow);
        assert_problem(response, 405, "method_not_allowed", &[]).await?;
    }
    Ok(())
}

// What is checked is the HTTP layer against its document and conventions, the same on
// every database: one backend suffices.
order_adapters::on_one_backend!(
    a_safe_client_request_id_is_echoed_and_others_are_replaced,
    an_unknown_route_is_a_404_problem,
    a_wrong_method_is_a_405_problem_listing_the_allowed_ones,
);
