//! The business actions on an order, soft deletion, and `If-Match`.

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{
    AppOptions, Backend, TestApp, TestResult, address_json, assert_problem, order_body, spawn_app,
};

/// An app whose upstreams accept everything, and one pending order on it.
async fn app_with_order(backend: Backend) -> anyhow::Result<(TestApp, String)> {
    let app = spawn_app(backend).await?;
    app.customer_exists("cust-1").await;
    app.stock_is_plentiful().await;
    let order = app.placed_order(&order_body()).await?;
    let id = order["id"].as_str().unwrap_or_default().to_owned();
    Ok((app, id))
}

impl TestApp {
    pub async fn act(
        &self,
        verb: Method,
        id: &str,
        action: &str,
        body: Value,
    ) -> reqwest::Result<Response> {
        self.client
            .request(verb, self.url(&format!("/v1/orders/{id}{action}")))
            .json(&body)
            .send()
            .await
    }

    async fn act_ok(
        &self,
        verb: Method,
        id: &str,
        action: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let response = self.act(verb, id, action, body).await?;
        anyhow::ensure!(
            response.status() == StatusCode::OK,
            "{action}: {}",
            response.text().await?
        );
        Ok(response.json().await?)
    }

    async fn history_events(&self, id: &str) -> anyhow::Result<Vec<(String, u64)>> {
        let history: Value = self
            .get(&format!("/v1/orders/{id}/history"))
            .await?
            .json()
            .await?;
        Ok(history["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|e| {
                        (
                            e["event"].as_str().unwrap_or_default().to_owned(),
                            e["version"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}

fn paid() -> Value {
    json!({"paymentReference": "pay_123", "amount": 3800})
}

async fn an_order_lives_from_placed_to_delivered_one_version_per_change(
    backend: Backend,
) -> TestResult {
    let (app, id) = app_with_order(backend).await?;

    let order = app
        .act_ok(
            Method::PUT,
            &id,
            "/payment",
            json!({"method": "card", "reference": "tok_visa"}),
        )
        .await?;
    assert_eq!(
        order["payment"],
        json!({"method": "card", "reference": "tok_visa", "confirmedAt": null, "paymentReference": null})
    );
    let order = app
        .act_ok(
            Method::PUT,
            &id,
            "/shipping",
            json!({"shippingAddress": address_json("Chicago")}),
        )
        .await?;
    assert_eq!(order["shippingAddress"]["city"], "Chicago");
    let order = app
        .act_ok(Method::POST, &id, "/confirm-payment", paid())
        .await?;
    assert_eq!(
        (order["status"].as_str(), order["version"].as_u64()),
        (Some("processing"), Some(4))
    );
    assert_eq!(
        order["allowedActions"],
        json!(["update-shipping", "set-tracking", "cancel"])
    );
    assert_eq!(order["payment"]["paymentReference"], "pay_123");
    let shipped = app
        .act_ok(
            Method::PUT,
            &id,
            "/shipment/tracking",
            json!({"carrier": "UPS", "trackingNumber": "1Z999"}),
        )
        .await?;
    assert_eq!(shipped["status"], "shipped");
    let corrected = app
        .act_ok(
            Method::PUT,
            &id,
            "/shipment/tracking",
            json!({"carrier": "UPS", "trackingNumber": "1Z998"}),
        )
        .await?;
    assert_eq!(corrected["shipment"]["trackingNumber"], "1Z998");
    assert_eq!(
        corrected["shipment"]["shippedAt"],
        shipped["shipment"]["shippedAt"]
    );
    assert_eq!(corrected["status"], "shipped");
    let response = app
        .act(Method::POST, &id, "/confirm-delivery", json!({}))
        .await?;
    assert_eq!(response.headers()["etag"], "\"7\"");
    let delivered: Value = response.json().await?;
    assert_eq!(delivered["status"], "delivered");
    assert!(delivered["shipment"]["deliveredAt"].is_string());
    assert_eq!(delivered["allowedActions"], json!([]));

    assert_eq!(
        app.history_events(&id).await?,
        [
            ("order_placed".into(), 1),
            ("payment_info_updated".into(), 2),
            ("shipping_address_updated".into(), 3),
            ("payment_confirmed".into(), 4),
            ("shipment_tracking_set".into(), 5),
            ("shipment_tracking_set".into(), 6),
            ("delivery_confirmed".into(), 7),
        ]
    );
    let history: Value = app
        .get(&format!("/v1/orders/{id}/history"))
        .await?
        .json()
        .await?;
    assert_eq!(
        history["items"][3]["data"],
        json!({"paymentReference": "pay_123", "amount": 3800})
    );
    assert_eq!(history["items"][3]["fromStatus"], "pending");
    assert_eq!(history["items"][3]["toStatus"], "processing");
    Ok(())
}

async fn an_action_the_status_does_not_allow_is_409_naming_both(backend: Backend) -> TestResult {
    let (app, id) = app_with_order(backend).await?;
    let cases = [
        (
            Method::POST,
            "/confirm-delivery",
            json!({}),
            "confirm-delivery",
        ),
        (
            Method::PUT,
            "/shipment/tracking",
            json!({"carrier": "UPS", "trackingNumber": "1"}),
            "set-tracking",
        ),
    ];
    for (verb, action, body, name) in cases {
        let problem = assert_problem(
            app.act(verb, &id, action, body).await?,
            409,
            "invalid_transition",
            &[],
        )
        .await?;
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("pending") && detail.contains(name),
            "{detail}"
        );
    }
    app.act_ok(Method::POST, &id, "/confirm-payment", paid())
        .await?;
    assert_problem(
        app.act(
            Method::PUT,
            &id,
            "/payment",
            json!({"method": "paypal", "reference": "tok_pp"}),
        )
        .await?,
        409,
        "invalid_transition",
        &[],
    )
    .await?;
    assert_problem(
        app.act(Method::DELETE, &id, "", json!(null)).await?,
        409,
        "invalid_transition",
        &[],
    )
    .await?;
    let order: Value = app.get(&format!("/v1/orders/{id}")).await?.json().await?;
    assert_eq!(order["version"], 2, "refusals change nothing");
    Ok(())
}

async fn every_action_body_is_checked_field_by_field(backend: Backend) -> TestResult {
    let (app, id) = app_with_order(backend).await?;
    let cases: Vec<(Method, &str, Value, Vec<&str>)> = vec![
        (
            Method::PUT,
            "/payment",
            json!({"method": "cash", "status": "paid"}),
            vec!["status", "method", "reference"],
        ),
        (
            Method::PUT,
            "/payment",
            json!({"method": "card", "reference": "4111 1111 1111 1111"}),
            vec!["reference"],
        ),
        (Method::PUT, "/shipping", json!({}), vec!["shippingAddress"]),
        (
            Method::PUT,
            "/shipping",
            json!({"shippingAddress": {"line1": "x", "city": "y", "postalCode": "1", "country": "us"}}),
            vec!["shippingAddress.country"],
        ),
        (
            // A field of the wrong type does not hide the problems of the others.
            Method::PUT,
            "/shipping",
            json!({"shippingAddress": {"line1": "x", "line2": 7, "city": "", "postalCode": "", "country": "xx"}}),
            vec![
                "shippingAddress.line2",
                "shippingAddress.city",
                "shippingAddress.postalCode",
                "shippingAddress.country",
            ],
        ),
        (
            Method::PUT,
            "/shipment/tracking",
            json!({"carrier": "", "trackingNumber": "x".repeat(65)}),
            vec!["carrier", "trackingNumber"],
        ),
        (
            Method::POST,
            "/confirm-payment",
            json!({"amount": 38.0}),
            vec!["paymentReference", "amount"],
        ),
        (
            Method::POST,
            "/confirm-delivery",
            json!({"deliveredAt": "yesterday"}),
            vec!["deliveredAt"],
        ),
        (
            Method::POST,
            "/cancel",
            json!({"reason": "x".repeat(501)}),
            vec!["reason"],
        ),
        (Method::POST, "/cancel", json!({}), vec!["reason"]),
    ];
    for (verb, action, body, fields) in cases {
        let problem = assert_problem(
            app.act(verb, &id, action, body).await?,
            422,
            "validation_failed",
            &fields,
        )
        .await?;
        assert!(
            !problem.to_string().contains("4111"),
            "a card number is never echoed: {problem}"
        );
    }
    let order: Value = app.get(&format!("/v1/orders/{id}")).await?.json().await?;
    assert_eq!(order["version"], 1);
    Ok(())
}

async fn a_confirmed_amount_must_equal_the_total(backend: Backend) -> TestResult {
    let (app, id) = app_with_order(backend).await?;
    let wrong = json!({"paymentReference": "pay_1", "amount": 3799});
    assert_problem(
        app.act(Method::POST, &id, "/confirm-payment", wrong)
            .await?,
        422,
        "amount_mismatch",
        &["amount"],
    )
    .await?;
    Ok(())
}

async fn delivery_may_not_be_in_the_future_or_before_shipping(backend: Backend) -> TestResult {
    let (app, id) = app_with_order(backend).await?;
    app.act_ok(Method::POST, &id, "/confirm-payment", paid())
        .await?;
    let shipped = app
        .act_ok(
            Method::PUT,
            &id,
            "/shipment/tracking",
            json!({"carrier": "DHL", "trackingNumber": "42"}),
        )
        .await?;
    for delivered_at in ["2999-01-01T00:00:00Z", "2000-01-01T00:00:00Z"] {
        let body = json!({"deliveredAt": delivered_at});
        assert_problem(
            app.act(Method::POST, &id, "/confirm-delivery", body)
                .await?,
            422,
            "validation_failed",
            &["deliveredAt"],
        )
        .await?;
    }
    let body = json!({"deliveredAt": shipped["shipment"]["shippedAt"]});
    let delivered = app
        .act_ok(Method::POST, &id, "/confirm-delivery", body)
        .await?;
    assert_eq!(
        delivered["shipment"]["deliveredAt"],
        shipped["shipment"]["shippedAt"]
    );
    Ok(())
}

async fn if_match_applies_a_change_only_to_that_version(backend: Backend) -> TestResult {
    let (app, id) = app_with_order(backend).await?;
    let cancel = |etag: &str| {
        app.client
            .post(app.url(&format!("/v1/orders/{id}/cancel")))
            .header("If-Match", etag)
            .json(&json!({"reason": "duplicate"}))
            .send()
    };
    let stale = cancel("\"2\"").await?;
    assert_eq!(
        stale.headers()["etag"],
        "\"1\"",
        "a 412 says which version the order is at"
    );
    assert_problem(stale, 412, "precondition_failed", &[]).await?;
    assert_problem(cancel("2").await?, 400, "invalid_parameter", &["If-Match"]).await?;
    let given_twice = app
        .client
        .post(app.url(&format!("/v1/orders/{id}/cancel")))
        .header("If-Match", "\"1\"")
        .header("If-Match", "\"7\"")
        .json(&json!({"reason": "duplicate"}))
        .send()
        .await?;
    assert_problem(given_twice, 400, "invalid_parameter", &["If-Match"]).await?;
    let order: Value = app.get(&format!("/v1/orders/{id}")).await?.json().await?;
    assert_eq!(
        (order["status"].as_str(), order["version"].as_u64()),
        (Some("pending"), Some(1))
    );

    let response = cancel("\"1\"").await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"2\"");
    Ok(())
}

async fn unknown_orders_are_404_for_every_action(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    let cases = [
        (Method::POST, "/cancel", json!({"reason": "x"})),
        (Method::DELETE, "", json!(null)),
        (
            Method::PUT,
            "/payment",
            json!({"method": "card", "reference": "tok"}),
        ),
        // No body would change an order that does not exist: that is said first.
        (Method::PUT, "/payment", json!({"method": "cash"})),
    ];
    for id in ["0192f7a0-6c1e-7cc3-9a52-3f5d2f0c7b11", "not-a-uuid"] {
        for (verb, action, body) in cases.clone() {
            assert_problem(
                app.act(verb, id, action, body).await?,
                404,
                "order_not_found",
                &[],
            )
            .await?;
        }
    }
    Ok(())
}

async fn canceling_gives_the_stock_back_and_records_why(backend: Backend) -> TestResult {
    let (app, id) = app_with_order(backend).await?;
    let order = app
        .act_ok(
            Method::POST,
            &id,
            "/cancel",
            json!({"reason": "ordered twice"}),
        )
        .await?;
    assert_eq!(order["status"], "canceled");
    assert_eq!(order["cancellation"]["reason"], "ordered twice");
    assert_eq!(order["allowedActions"], json!(["delete"]));
    assert_eq!(
        app.upstream_calls(&app.inventory, "DELETE", &format!("/reservations/{id}"))
            .await,
        1
    );
    assert_problem(
        app.act(Method::POST, &id, "/cancel", json!({"reason": "again"}))
            .await?,
        409,
        "invalid_transition",
        &[],
    )
    .await?;
    Ok(())
}

async fn a_soft_deleted_order_is_gone_for_reads_and_refuses_every_change(
    backend: Backend,
) -> TestResult {
    let (app, id) = app_with_order(backend).await?;
    let response = app
        .client
        .delete(app.url(&format!("/v1/orders/{id}")))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await?.is_empty());
    assert_eq!(
        app.upstream_calls(&app.inventory, "DELETE", "/reservations/")
            .await,
        1,
        "a pending order's stock is released"
    );

    assert_problem(
        app.get(&format!("/v1/orders/{id}")).await?,
        404,
        "order_not_found",
        &[],
    )
    .await?;
    assert!(app.listed_ids("").await?.is_empty());
    assert_problem(
        app.act(Method::DELETE, &id, "", json!(null)).await?,
        409,
        "order_deleted",
        &[],
    )
    .await?;
    for body in [
        json!({"reason": "x"}),
        json!({"reason": ""}),
        json!({"why": 1}),
    ] {
        assert_problem(
            app.act(Method::POST, &id, "/cancel", body).await?,
            409,
            "order_deleted",
            &[],
        )
        .await?;
    }
    assert_eq!(
        app.history_events(&id).await?.last(),
        Some(&("order_deleted".to_owned(), 2))
    );
    Ok(())
}

async fn deleting_a_canceled_order_does_not_release_twice(backend: Backend) -> TestResult {
    let (app, id) = app_with_order(backend).await?;
    app.act_ok(Method::POST, &id, "/cancel", json!({"reason": "x"}))
        .await?;
    let response = app
        .client
        .delete(app.url(&format!("/v1/orders/{id}")))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.upstream_calls(&app.inventory, "DELETE", "/reservations/")
            .await,
        1
    );
    Ok(())
}

async fn with_the_inventory_down_a_cancel_commits_and_the_release_happens_once_it_is_back(
    backend: Backend,
) -> TestResult {
    let app = spawn_app(backend).await?;
    app.customer_exists("cust-1").await;
    Mock::given(method("POST"))
        .and(path_regex("^/reservations$"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&app.inventory)
        .await;
    // The inventory fails every attempt of the first release, then recovers.
    let attempts = AppOptions::default().upstream.max_attempts as usize;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(attempts as u64)
        .mount(&app.inventory)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&app.inventory)
        .await;
    let order = app.placed_order(&order_body()).await?;
    let id = order["id"].as_str().unwrap_or_default();

    let canceled = app
        .act_ok(Method::POST, id, "/cancel", json!({"reason": "x"}))
        .await?;
    assert_eq!(canceled["status"], "canceled");

    // Retried in the background until the inventory confirms; then nothing is owed,
    // so nothing is sent again.
    app.until_no_release_is_owed(Duration::from_secs(10))
        .await?;
    assert_eq!(
        app.upstream_calls(&app.inventory, "DELETE", &format!("/reservations/{id}"))
            .await,
        attempts + 1
    );
    Ok(())
}

order_adapters::on_both_backends!(
    an_order_lives_from_placed_to_delivered_one_version_per_change,
    an_action_the_status_does_not_allow_is_409_naming_both,
    every_action_body_is_checked_field_by_field,
    a_confirmed_amount_must_equal_the_total,
    delivery_may_not_be_in_the_future_or_before_shipping,
    if_match_applies_a_change_only_to_that_version,
    unknown_orders_are_404_for_every_action,
    canceling_gives_the_stock_back_and_records_why,
    a_soft_deleted_order_is_gone_for_reads_and_refuses_every_change,
    deleting_a_canceled_order_does_not_release_twice,
    with_the_inventory_down_a_cancel_commits_and_the_release_happens_once_it_is_back,
);
