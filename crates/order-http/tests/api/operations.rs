//! What operators probe and scrape: liveness, readiness and metrics.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{
    AppOptions, Backend, TestApp, TestResult, address_json, order_body, spawn_app, spawn_app_with,
    spawn_demo_app, test_client,
};

async fn scrape(app: &TestApp) -> anyhow::Result<String> {
    let response = app.get("/metrics").await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()?
            .starts_with("application/openmetrics-text"),
        "content type"
    );
    Ok(response.text().await?)
}

/// The value of the sample whose name and labels are exactly `sample`.
fn sample(metrics: &str, sample: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        line.strip_prefix(sample)
            .and_then(|value| value.trim().parse().ok())
    })
}

async fn liveness_answers_while_the_process_is_up(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    let response = app.get("/health/live").await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await?, json!({"status": "up"}));
    Ok(())
}

async fn readiness_reports_the_database_and_each_upstream_circuit(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    let response = app.get("/health/ready").await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await?,
        json!({
            "status": "ready",
            "database": {"status": "up", "migrations": "applied"},
            "upstreams": [
                {"service": "customer", "mode": "http", "circuit": "closed"},
                {"service": "inventory", "mode": "http", "circuit": "closed"},
                {"service": "payment", "mode": "demo"},
                {"service": "shipping", "mode": "demo"},
                {"service": "notification", "mode": "demo"}
            ]
        })
    );

    let (demo, _database) = spawn_demo_app(backend).await?;
    let ready: Value = test_client()?
        .get(format!("{demo}/health/ready"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        ready["upstreams"],
        json!([
            {"service": "customer", "mode": "demo"},
            {"service": "inventory", "mode": "demo"},
            {"service": "payment", "mode": "demo"},
            {"service": "shipping", "mode": "demo"},
            {"service": "notification", "mode": "demo"}
        ])
    );
    Ok(())
}

async fn an_open_circuit_shows_in_readiness_and_metrics_without_making_the_instance_unready(
    backend: Backend,
) -> TestResult {
    // A cool-down longer than the test, so the circuit is still open when looked at.
    let mut options = AppOptions::default();
    options.upstream.circuit.open_for = std::time::Duration::from_secs(60);
    let app = spawn_app_with(backend, options.clone()).await?;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&app.customers)
        .await;
    for _ in 0..options.upstream.circuit.failure_threshold {
        app.place(&order_body()).await?;
    }
    app.place(&order_body()).await?;

    let response = app.get("/health/ready").await?;
    assert_eq!(response.status(), StatusCode::OK);
    let ready: Value = response.json().await?;
    assert_eq!(ready["upstreams"][0]["circuit"], "open");
    assert_eq!(ready["upstreams"][1]["circuit"], "closed");

    let metrics = scrape(&app).await?;
    let circuit = |service: &str, state: &str| {
        sample(
            &metrics,
            &format!("orders_upstream_circuit_state{{service=\"{service}\",state=\"{state}\"}}"),
        )
    };
    assert_eq!(circuit("customer", "open"), Some(1.0));
    assert_eq!(circuit("customer", "closed"), Some(0.0));
    assert_eq!(circuit("inventory", "closed"), Some(1.0));
    let calls = |outcome: &str| {
        sample(
            &metrics,
            &format!("orders_upstream_calls_total{{service=\"customer\",outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(
        calls("failed"),
        Some(f64::from(options.upstream.circuit.failure_threshold))
    );
    assert_eq!(calls("refused"), Some(1.0));
    assert_eq!(
        sample(
            &metrics,
            "orders_placements_total{outcome=\"dependency_unavailable\"}"
        ),
        Some(f64::from(options.upstream.circuit.failure_threshold) + 1.0)
    );
    Ok(())
}

/// Every operation of the spec, called once: (method, route pattern, path, body).
async fn every_operation(app: &TestApp) -> anyhow::Result<Vec<(Method, &'static str, u16)>> {
    let first = app.placed_order(&order_body()).await?;
    let id = first["id"].as_str().unwrap_or_default().to_owned();
    let second = app.placed_order(&order_body()).await?;
    let other = second["id"].as_str().unwrap_or_default().to_owned();
    let calls: Vec<(Method, &str, String, Option<Value>, u16)> = vec![
        (Method::GET, "/v1/orders", "/v1/orders".into(), None, 200),
        (
            Method::GET,
            "/v1/orders/{id}",
            format!("/v1/orders/{id}"),
            None,
            200,
        ),
        (
            Method::GET,
            "/v1/orders/{id}/history",
            format!("/v1/orders/{id}/history"),
            None,
            200,
        ),
        (
            Method::PUT,
            "/v1/orders/{id}/payment",
            format!("/v1/orders/{id}/payment"),
            Some(json!({"method": "card", "reference": "tok_1"})),
            200,
        ),
        (
            Method::PUT,
            "/v1/orders/{id}/shipping",
            format!("/v1/orders/{id}/shipping"),
            Some(json!({"shippingAddress": address_json("Peoria")})),
            200,
        ),
        (
            Method::POST,
            "/v1/orders/{id}/confirm-payment",
            format!("/v1/orders/{id}/confirm-payment"),
            Some(json!({"paymentReference": "pay_1", "amount": 3800})),
            200,
        ),
        (
            Method::PUT,
            "/v1/orders/{id}/shipment/tracking",
            format!("/v1/orders/{id}/shipment/tracking"),
            Some(json!({"carrier": "UPS", "trackingNumber": "1Z"})),
            200,
        ),
        (
            Method::POST,
            "/v1/orders/{id}/confirm-delivery",
            format!("/v1/orders/{id}/confirm-delivery"),
            Some(json!({})),
            200,
        ),
        (
            Method::POST,
            "/v1/orders/{id}/cancel",
            format!("/v1/orders/{other}/cancel"),
            Some(json!({"reason": "changed my mind"})),
            200,
        ),
        (
            Method::DELETE,
            "/v1/orders/{id}",
            format!("/v1/orders/{other}"),
            None,
            204,
        ),
    ];
    let mut called = vec![(Method::POST, "/v1/orders", 201)];
    for (verb, route, path, body, status) in calls {
        let mut request = app.client.request(verb.clone(), app.url(&path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        assert_eq!(response.status().as_u16(), status, "{verb} {path}");
        called.push((verb, route, status));
    }
    Ok(called)
}

async fn every_operation_of_the_spec_is_counted_and_timed_by_route_and_status(
    backend: Backend,
) -> TestResult {
    let app = spawn_app(backend).await?;
    app.customer_exists("cust-1").await;
    app.stock_is_plentiful().await;

    let called = every_operation(&app).await?;
    let metrics = scrape(&app).await?;

    for (verb, route, status) in called {
        let labels = format!("{{method=\"{verb}\",route=\"{route}\",status=\"{status}\"}}");
        assert!(
            sample(&metrics, &format!("orders_http_requests_total{labels}")) >= Some(1.0),
            "no count for {verb} {route}"
        );
        assert!(
            sample(
                &metrics,
                &format!("orders_http_request_duration_seconds_count{labels}")
            ) >= Some(1.0),
            "no latency for {verb} {route}"
        );
    }
    assert_eq!(
        sample(&metrics, "orders_placements_total{outcome=\"created\"}"),
        Some(2.0)
    );
    assert!(
        sample(
            &metrics,
            "orders_upstream_calls_total{service=\"inventory\",outcome=\"succeeded\"}"
        ) >= Some(2.0)
    );
    assert!(
        metrics.contains("orders_database_pool_connections{pool="),
        "pool use: {metrics}"
    );
    if matches!(backend, Backend::Sqlite) {
        let writes = sample(&metrics, "orders_database_writes_total").unwrap_or(0.0);
        let commits = sample(&metrics, "orders_database_commits_total").unwrap_or(0.0);
        assert!(
            writes >= 10.0,
            "{writes} writes for two placements and eight changes"
        );
        assert!(commits >= 1.0 && commits <= writes, "{commits} commits");
        assert_eq!(
            sample(&metrics, "orders_database_batch_reruns_total"),
            Some(0.0),
            "none of these writes failed, so no batch ran twice"
        );
    }
    Ok(())
}

async fn unknown_paths_share_one_route_label(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    for path in ["/nowhere", "/v1/orders/x/y/z", "/admin"] {
        assert_eq!(app.get(path).await?.status(), StatusCode::NOT_FOUND);
    }
    let metrics = scrape(&app).await?;
    assert_eq!(
        sample(
            &metrics,
            "orders_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"
        ),
        Some(3.0)
    );
    assert!(!metrics.contains("/nowhere"));
    Ok(())
}

async fn made_up_methods_share_one_method_label(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    let client = test_client()?;
    let long = "X".repeat(256);
    let made_up = ["BREW", "PROPFIND", "get", long.as_str()];
    for verb in made_up {
        let response = client
            .request(Method::from_bytes(verb.as_bytes())?, app.url("/v1/orders"))
            .send()
            .await?;
        assert!(response.status().is_client_error(), "{verb}: {response:?}");
    }
    let metrics = scrape(&app).await?;
    let methods: std::collections::BTreeSet<&str> = metrics
        .lines()
        .filter(|line| line.starts_with("orders_http_requests_total{"))
        .filter_map(|line| line.split("method=\"").nth(1)?.split('"').next())
        .collect();
    assert!(methods.contains("other"), "method labels: {metrics}");
    assert!(
        methods.is_subset(&["GET", "POST", "other"].into_iter().collect()),
        "method labels: {methods:?}"
    );
    assert!(!metrics.contains("BREW") && !metrics.contains(&long));
    Ok(())
}

async fn the_api_page_and_its_assets_share_one_route_label(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    for asset in ["", "swagger-ui.css", "swagger-ui-bundle.js"] {
        assert_eq!(
            app.get(&format!("/docs/{asset}")).await?.status(),
            StatusCode::OK
        );
    }
    let metrics = scrape(&app).await?;
    assert_eq!(
        sample(
            &metrics,
            "orders_http_requests_total{method=\"GET\",route=\"/docs/{file}\",status=\"200\"}"
        ),
        Some(3.0),
        "{metrics}"
    );
    assert!(!metrics.contains("{_:"), "the routing pattern is no label");
    Ok(())
}

order_adapters::on_both_backends!(
    liveness_answers_while_the_process_is_up,
    readiness_reports_the_database_and_each_upstream_circuit,
    an_open_circuit_shows_in_readiness_and_metrics_without_making_the_instance_unready,
    every_operation_of_the_spec_is_counted_and_timed_by_route_and_status,
    made_up_methods_share_one_method_label,
    unknown_paths_share_one_route_label,
    the_api_page_and_its_assets_share_one_route_label,
);
