//! `POST /v1/orders`.

use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{Backend, TestResult, address_json, assert_problem, order_body, spawn_app};

async fn placing_an_order_returns_201_with_server_computed_totals_location_and_etag(
    backend: Backend,
) -> TestResult {
    let app = spawn_app(backend).await?;
    app.customer_exists("cust-1").await;
    app.stock_is_plentiful().await;

    let response = app.place(&order_body()).await?;

    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str()?.to_owned();
    assert_eq!(response.headers()["etag"], "\"1\"");
    let order: Value = response.json().await?;
    assert_eq!(
        location,
        format!("/v1/orders/{}", order["id"].as_str().unwrap_or_default())
    );
    assert_eq!(order["status"], "pending");
    assert_eq!(order["currency"], "USD");
    assert_eq!(order["items"][1]["lineTotal"], 2000);
    assert_eq!(order["itemsTotal"], 3000);
    assert_eq!(order["totalAmount"], 3800);
    assert_eq!(order["version"], 1);
    assert_eq!(
        order["shippingAddress"],
        address_json("Springfield"),
        "the customer's address on file"
    );
    assert_eq!(order["payment"], Value::Null);
    assert_eq!(
        order["allowedActions"],
        json!([
            "update-payment",
            "update-shipping",
            "confirm-payment",
            "cancel",
            "delete"
        ])
    );
    assert_eq!(order["createdAt"], order["updatedAt"]);

    let stored: Value = app.get(&location).await?.json().await?;
    assert_eq!(stored, order);
    Ok(())
}

async fn a_given_address_and_currency_and_matching_totals_are_taken(
    backend: Backend,
) -> TestResult {
    let app = spawn_app(backend).await?;
    app.customer_exists("cust-1").await;
    app.stock_is_plentiful().await;
    let mut body = order_body();
    body["shippingAddress"] = address_json("Chicago");
    body["currency"] = json!("EUR");
    body["itemsTotal"] = json!(3000);
    body["totalAmount"] = json!(3800);

    let order = app.placed_order(&body).await?;

    assert_eq!(order["shippingAddress"]["city"], "Chicago");
    assert_eq!(order["currency"], "EUR");
    Ok(())
}

/// The error text promises ISO 4217: three upper-case letters that name no currency, or
/// one ISO has withdrawn, are refused.
async fn a_currency_that_is_not_an_active_iso_4217_code_is_refused(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    for code in ["XYZ", "HRK"] {
        let mut body = order_body();
        body["currency"] = json!(code);
        let problem = assert_problem(
            app.place(&body).await?,
            422,
            "validation_failed",
            &["currency"],
        )
        .await?;
        assert_eq!(
            problem["errors"][0]["message"],
            "must be an active ISO 4217 code, such as USD or EUR"
        );
    }
    assert_eq!(app.upstream_calls(&app.customers, "GET", "/").await, 0);
    Ok(())
}

async fn the_reservation_names_the_order_and_carries_the_request_id(
    backend: Backend,
) -> TestResult {
    let app = spawn_app(backend).await?;
    app.customer_exists("cust-1").await;
    Mock::given(method("POST"))
        .and(path("/reservations"))
        .and(header("x-request-id", "trace-42"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"reservationId": "r"})))
        .expect(1)
        .mount(&app.inventory)
        .await;

    let response = app
        .client
        .post(app.url("/v1/orders"))
        .header("X-Request-Id", "trace-42")
        .json(&order_body())
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    let order: Value = response.json().await?;

    let requests = app.inventory.received_requests().await.unwrap_or_default();
    let reservation: Value = serde_json::from_slice(&requests[0].body)?;
    assert_eq!(reservation["reservationId"], order["id"]);
    assert_eq!(
        reservation["items"],
        json!([{"productId": "prod-1", "quantity": 1}, {"productId": "prod-2", "quantity": 2}])
    );
    let customer_lookups = app.customers.received_requests().await.unwrap_or_default();
    assert_eq!(
        customer_lookups[0]
            .headers
            .get("x-request-id")
            .map(|v| v.as_bytes()),
        Some(&b"trace-42"[..])
    );
    Ok(())
}

async fn every_invalid_field_is_named_in_one_422(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    let body = json!({
        "storeId": "",
        "customerId": "cust 1",
        "status": "shipped",
        "id": "mine",
        "items": [
            {"productId": "prod-1", "quantity": 1.5, "unitPrice": 10},
            {"productId": "prod-2", "quantity": 0, "unitPrice": "10", "color": "red"},
            "not an item"
        ],
        "shippingCost": -1,
        "currency": "usd",
        "shippingAddress": {"line1": "1 Elm", "city": "X", "postalCode": "1", "country": "USA"}
    });

    let response = app.place(&body).await?;

    assert_problem(
        response,
        422,
        "validation_failed",
        &[
            "id",
            "status",
            "storeId",
            "customerId",
            "items[0].quantity",
            "items[1].color",
            "items[1].quantity",
            "items[1].unitPrice",
            "items[2]",
            "shippingCost",
            "taxAmount",
            "currency",
            "shippingAddress.country",
        ],
    )
    .await?;
    assert_eq!(
        app.upstream_calls(&app.customers, "GET", "/").await,
        0,
        "nothing is called"
    );
    Ok(())
}

async fn a_wrong_total_is_named_beside_the_problems_of_unrelated_fields(
    backend: Backend,
) -> TestResult {
    let app = spawn_app(backend).await?;
    let mut body = order_body();
    body["storeId"] = json!("");
    body["itemsTotal"] = json!(1);
    body["totalAmount"] = json!(1);
    body["shippingAddress"] =
        json!({"line1": "", "city": "Springfield", "postalCode": 62701, "country": "usa"});

    let response = app.place(&body).await?;

    assert_problem(
        response,
        422,
        "validation_failed",
        &[
            "storeId",
            "shippingAddress.postalCode",
            "shippingAddress.line1",
            "shippingAddress.country",
            "itemsTotal",
            "totalAmount",
        ],
    )
    .await?;
    Ok(())
}

async fn composite_rules_are_422_naming_the_field(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"items": []}), "items"),
        (
            json!({"items": [{"productId": "p", "quantity": 1, "unitPrice": 1}, {"productId": "p", "quantity": 2, "unitPrice": 1}]}),
            "items[1].productId",
        ),
        (json!({"itemsTotal": 2999}), "itemsTotal"),
        (json!({"totalAmount": 1}), "totalAmount"),
        (json!({"totalAmount": "3800"}), "totalAmount"),
        (
            json!({"items": [{"productId": "p", "quantity": 1000, "unitPrice": 9_007_199_254_740_991_i64}]}),
            "items[0].unitPrice",
        ),
        (
            json!({"shippingCost": 9_007_199_254_740_991_i64}),
            "totalAmount",
        ),
        (json!({"taxAmount": 1e3}), "taxAmount"),
        (
            // Each line fits; their sum, 2^53, does not.
            json!({"items": [{"productId": "p", "quantity": 1, "unitPrice": 4_503_599_627_370_496_i64},
                             {"productId": "q", "quantity": 1, "unitPrice": 4_503_599_627_370_496_i64}]}),
            "itemsTotal",
        ),
        (
            json!({"items": (0..101).map(|i| json!({"productId": format!("p{i}"), "quantity": 1, "unitPrice": 1})).collect::<Vec<_>>()}),
            "items",
        ),
    ];
    for (change, field) in cases {
        let mut body = order_body();
        for (key, value) in change.as_object().cloned().unwrap_or_default() {
            body[key] = value;
        }
        assert_problem(app.place(&body).await?, 422, "validation_failed", &[field]).await?;
    }
    Ok(())
}

async fn a_whole_number_beyond_64_bits_is_out_of_range_not_fractional(
    backend: Backend,
) -> TestResult {
    let app = spawn_app(backend).await?;
    let body = order_body()
        .to_string()
        .replace("\"taxAmount\":300", "\"taxAmount\":100000000000000000000");
    let response = app.place_text(body).await?;
    let problem = assert_problem(response, 422, "validation_failed", &["taxAmount"]).await?;
    assert_eq!(problem["errors"][0]["message"], "is out of range");
    Ok(())
}

async fn a_body_that_is_not_a_json_object_is_400(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    for body in ["{\"storeId\": ", "[1, 2]", "", "\"text\""] {
        let response = app.place_text(body).await?;
        assert_problem(response, 400, "malformed_request", &[]).await?;
    }
    Ok(())
}

async fn a_body_over_64_kib_is_413(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    let mut body = order_body();
    body["storeId"] = json!("x".repeat(65 * 1024));
    assert_problem(app.place(&body).await?, 413, "payload_too_large", &[]).await?;
    Ok(())
}

async fn thousands_of_unknown_fields_are_answered_by_100_named_and_a_count(
    backend: Backend,
) -> TestResult {
    let app = spawn_app(backend).await?;
    let mut body = order_body();
    for n in 0..5_000 {
        body[format!("f{n}")] = json!(0);
    }
    let request = body.to_string();
    let response = app.place_text(request.clone()).await?;
    let answer = response.text().await?;
    let problem: Value = serde_json::from_str(&answer)?;
    assert_eq!(problem["code"], "validation_failed");
    let listed = problem["errors"].as_array().map_or(0, Vec::len);
    assert_eq!(listed, 100, "errors listed in {problem}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("4900 more"), "detail: {detail}");
    // An answer never outgrows the request that caused it.
    assert!(
        answer.len() < request.len(),
        "{} bytes answered",
        answer.len()
    );
    Ok(())
}

async fn an_unknown_customer_is_422_and_nothing_is_reserved(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    Mock::given(method("GET"))
        .and(path("/customers/cust-1"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&app.customers)
        .await;
    assert_problem(
        app.place(&order_body()).await?,
        422,
        "customer_not_found",
        &["customerId"],
    )
    .await?;
    assert_eq!(
        app.upstream_calls(&app.inventory, "POST", "/reservations")
            .await,
        0
    );
    Ok(())
}

async fn unknown_products_are_422_naming_each_item(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    app.customer_exists("cust-1").await;
    Mock::given(method("POST"))
        .and(path("/reservations"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"missing": ["prod-2"]})))
        .mount(&app.inventory)
        .await;
    assert_problem(
        app.place(&order_body()).await?,
        422,
        "product_not_found",
        &["items[1].productId"],
    )
    .await?;
    assert!(app.listed_ids("").await?.is_empty());
    Ok(())
}

async fn short_stock_is_409_naming_each_short_item(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    app.customer_exists("cust-1").await;
    Mock::given(method("POST"))
        .and(path("/reservations"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!({
            "insufficient": [{"productId": "prod-1", "requested": 1, "available": 0},
                             {"productId": "prod-2", "requested": 2, "available": 1}]
        })))
        .mount(&app.inventory)
        .await;
    let problem = assert_problem(
        app.place(&order_body()).await?,
        409,
        "insufficient_stock",
        &["items[0].quantity", "items[1].quantity"],
    )
    .await?;
    assert_eq!(problem["errors"][1]["message"], "2 requested, 1 available");
    assert!(app.listed_ids("").await?.is_empty());
    Ok(())
}

async fn a_failing_customer_service_is_503_with_retry_after_and_nothing_stored(
    backend: Backend,
) -> TestResult {
    let app = spawn_app(backend).await?;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&app.customers)
        .await;
    let response = app.place(&order_body()).await?;
    assert!(response.headers().contains_key("retry-after"));
    let problem = assert_problem(response, 503, "dependency_unavailable", &[]).await?;
    assert!(
        !problem.to_string().contains("500"),
        "no upstream details leak: {problem}"
    );
    assert!(app.listed_ids("").await?.is_empty());
    Ok(())
}

async fn a_customer_without_an_address_needs_one_in_the_request(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    Mock::given(method("GET"))
        .and(path("/customers/cust-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": "cust-1", "name": "A", "email": "a@b.c", "shippingAddress": null}),
        ))
        .mount(&app.customers)
        .await;
    app.stock_is_plentiful().await;
    assert_problem(
        app.place(&order_body()).await?,
        422,
        "validation_failed",
        &["shippingAddress"],
    )
    .await?;
    let mut body = order_body();
    body["shippingAddress"] = address_json("Peoria");
    assert_eq!(app.place(&body).await?.status(), StatusCode::CREATED);
    Ok(())
}

order_adapters::on_both_backends!(
    placing_an_order_returns_201_with_server_computed_totals_location_and_etag,
    a_given_address_and_currency_and_matching_totals_are_taken,
    a_currency_that_is_not_an_active_iso_4217_code_is_refused,
    the_reservation_names_the_order_and_carries_the_request_id,
    every_invalid_field_is_named_in_one_422,
    a_wrong_total_is_named_beside_the_problems_of_unrelated_fields,
    composite_rules_are_422_naming_the_field,
    a_whole_number_beyond_64_bits_is_out_of_range_not_fractional,
    a_body_that_is_not_a_json_object_is_400,
    a_body_over_64_kib_is_413,
    thousands_of_unknown_fields_are_answered_by_100_named_and_a_count,
    an_unknown_customer_is_422_and_nothing_is_reserved,
    unknown_products_are_422_naming_each_item,
    short_stock_is_409_naming_each_short_item,
    a_failing_customer_service_is_503_with_retry_after_and_nothing_stored,
    a_customer_without_an_address_needs_one_in_the_request,
);
