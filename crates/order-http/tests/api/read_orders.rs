//! `GET /v1/orders/{id}`, `GET /v1/orders` and `GET /v1/orders/{id}/history`.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, TestResult, assert_problem, ids_of, order_body, spawn_app, spawn_demo_app,
};

async fn app_with_upstreams(backend: Backend) -> anyhow::Result<TestApp> {
    let app = spawn_app(backend).await?;
    for customer in ["cust-1", "cust-2"] {
        app.customer_exists(customer).await;
    }
    app.stock_is_plentiful().await;
    Ok(app)
}

fn body_for(customer: &str, store: &str) -> Value {
    let mut body = order_body();
    body["customerId"] = json!(customer);
    body["storeId"] = json!(store);
    body
}

async fn an_order_reads_back_with_its_etag(backend: Backend) -> TestResult {
    let app = app_with_upstreams(backend).await?;
    let order = app.placed_order(&order_body()).await?;
    let response = app
        .get(&format!(
            "/v1/orders/{}",
            order["id"].as_str().unwrap_or_default()
        ))
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"1\"");
    assert_eq!(response.json::<Value>().await?, order);
    Ok(())
}

async fn an_unknown_or_malformed_order_id_is_404(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    for path in [
        "/v1/orders/0192f7a0-6c1e-7cc3-9a52-3f5d2f0c7b11",
        "/v1/orders/42",
        "/v1/orders/42/history",
    ] {
        assert_problem(app.get(path).await?, 404, "order_not_found", &[]).await?;
    }
    Ok(())
}

async fn an_order_answers_at_one_address_only(backend: Backend) -> TestResult {
    let app = app_with_upstreams(backend).await?;
    let order = app.placed_order(&order_body()).await?;
    let id = order["id"].as_str().unwrap_or_default();
    let uppercase = id.to_uppercase();
    assert_eq!(
        app.get(&format!("/v1/orders/{uppercase}")).await?.status(),
        200
    );
    for other_form in [
        id.replace('-', ""),
        format!("%7B{id}%7D"),
        format!("urn:uuid:{id}"),
    ] {
        let path = format!("/v1/orders/{other_form}");
        assert_problem(app.get(&path).await?, 404, "order_not_found", &[]).await?;
    }
    Ok(())
}

async fn history_starts_with_the_placement(backend: Backend) -> TestResult {
    let app = app_with_upstreams(backend).await?;
    let order = app.placed_order(&order_body()).await?;
    let id = order["id"].as_str().unwrap_or_default();
    let history: Value = app
        .get(&format!("/v1/orders/{id}/history"))
        .await?
        .json()
        .await?;
    assert_eq!(
        history,
        json!({"items": [{
            "event": "order_placed",
            "fromStatus": null,
            "toStatus": "pending",
            "at": order["createdAt"],
            "version": 1,
            "data": {"totalAmount": 3800, "currency": "USD", "itemCount": 2},
            "actor": null
        }]})
    );
    Ok(())
}

async fn listing_filters_by_customer_store_and_status(backend: Backend) -> TestResult {
    let app = app_with_upstreams(backend).await?;
    let a = app.placed_order(&body_for("cust-1", "store-1")).await?;
    let b = app.placed_order(&body_for("cust-2", "store-1")).await?;
    let c = app.placed_order(&body_for("cust-1", "store-2")).await?;
    let id = |order: &Value| order["id"].as_str().unwrap_or_default().to_owned();

    assert_eq!(
        app.listed_ids("").await?,
        [id(&c), id(&b), id(&a)],
        "newest first"
    );
    assert_eq!(app.listed_ids("customerId=cust-1").await?, [id(&c), id(&a)]);
    assert_eq!(app.listed_ids("storeId=store-1").await?, [id(&b), id(&a)]);
    assert_eq!(
        app.listed_ids("customerId=cust-1&storeId=store-1").await?,
        [id(&a)]
    );
    assert_eq!(
        app.listed_ids("status=pending&limit=2").await?,
        [id(&c), id(&b)]
    );
    assert!(app.listed_ids("status=shipped").await?.is_empty());
    Ok(())
}

async fn bad_query_parameters_are_400_naming_the_parameter(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    let cases = [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("status=lost", "status"),
        ("customerId=a%20b", "customerId"),
        ("cursor=garbage", "cursor"),
        (
            // Well-formed, but its time (`-300000000000000000` µs, 7537 BC) is before any
            // order, and before what PostgreSQL can compare.
            "cursor=LTMwMDAwMDAwMDAwMDAwMDAwMHwwMTkyZjdhMC02YzFlLTdjYzMtOWE1Mi0zZjVkMmYwYzdiMTE",
            "cursor",
        ),
        ("customer_id=cust-1", "customer_id"),
        ("limit=1&limit=2", "limit"),
    ];
    for (query, parameter) in cases {
        let response = app.get(&format!("/v1/orders?{query}")).await?;
        assert_problem(response, 400, "invalid_parameter", &[parameter]).await?;
    }
    Ok(())
}

async fn an_endpoint_without_parameters_refuses_one_and_changes_nothing(
    backend: Backend,
) -> TestResult {
    let app = app_with_upstreams(backend).await?;
    let order = app.placed_order(&order_body()).await?;
    let id = order["id"].as_str().unwrap_or_default();
    for (path, parameter) in [
        (format!("/v1/orders/{id}?fields=id"), "fields"),
        (format!("/v1/orders/{id}/history?limit=1"), "limit"),
    ] {
        assert_problem(
            app.get(&path).await?,
            400,
            "invalid_parameter",
            &[parameter],
        )
        .await?;
    }
    let dry_run = app
        .client
        .post(app.url("/v1/orders?dryRun=true"))
        .json(&order_body())
        .send()
        .await?;
    assert_problem(dry_run, 400, "invalid_parameter", &["dryRun"]).await?;
    let forced = app
        .client
        .post(app.url(&format!("/v1/orders/{id}/cancel?force=true")))
        .json(&json!({"reason": "changed my mind"}))
        .send()
        .await?;
    assert_problem(forced, 400, "invalid_parameter", &["force"]).await?;
    let deleted = app
        .client
        .delete(app.url(&format!("/v1/orders/{id}?hard=true")))
        .send()
        .await?;
    assert_problem(deleted, 400, "invalid_parameter", &["hard"]).await?;

    assert_eq!(app.listed_ids("").await?, [id]);
    let unchanged: Value = app.get(&format!("/v1/orders/{id}")).await?.json().await?;
    assert_eq!(unchanged["version"], 1);
    Ok(())
}

async fn paging_while_orders_arrive_returns_each_original_once_newest_first(
    backend: Backend,
) -> TestResult {
    let app = app_with_upstreams(backend).await?;
    let mut originals = Vec::new();
    for _ in 0..26 {
        originals.push(
            app.placed_order(&order_body()).await?["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    originals.reverse();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(cursor) => format!("/v1/orders?limit=5&cursor={cursor}"),
            None => "/v1/orders?limit=5".to_owned(),
        };
        let page: Value = app.get(&query).await?.json().await?;
        seen.extend(ids_of(&page));
        // A new order arrives between every two pages.
        app.placed_order(&order_body()).await?;
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, originals);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());
    Ok(())
}

async fn the_demo_directory_serves_a_fresh_install_end_to_end(backend: Backend) -> TestResult {
    let (address, _data) = spawn_demo_app(backend).await?;
    let client = crate::helpers::test_client()?;
    let placed = client
        .post(format!("{address}/v1/orders"))
        .json(&order_body())
        .send()
        .await?;
    assert_eq!(placed.status(), StatusCode::CREATED);
    let order: Value = placed.json().await?;
    assert_eq!(order["shippingAddress"]["city"], "Springfield");

    let mut unknown = order_body();
    unknown["customerId"] = json!("cust-999");
    let response = client
        .post(format!("{address}/v1/orders"))
        .json(&unknown)
        .send()
        .await?;
    assert_problem(response, 422, "customer_not_found", &["customerId"]).await?;

    let mut short = order_body();
    short["items"] = json!([{"productId": "prod-9", "quantity": 1, "unitPrice": 100}]);
    let response = client
        .post(format!("{address}/v1/orders"))
        .json(&short)
        .send()
        .await?;
    assert_problem(response, 409, "insufficient_stock", &["items[0].quantity"]).await?;
    Ok(())
}

order_adapters::on_both_backends!(
    an_order_reads_back_with_its_etag,
    an_unknown_or_malformed_order_id_is_404,
    an_order_answers_at_one_address_only,
    history_starts_with_the_placement,
    listing_filters_by_customer_store_and_status,
    bad_query_parameters_are_400_naming_the_parameter,
    an_endpoint_without_parameters_refuses_one_and_changes_nothing,
    paging_while_orders_arrive_returns_each_original_once_newest_first,
    the_demo_directory_serves_a_fresh_install_end_to_end,
);
