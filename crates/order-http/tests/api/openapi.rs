//! The OpenAPI document at `/openapi.json` and the page at `/docs`: the document lists
//! every operation of the spec with its headers and problems, its examples fit its
//! schemas, the service's real answers fit them too, and the request examples are
//! accepted; the page is served, assets and all, by the service itself.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestResult, spawn_app};

async fn document(app: &TestApp) -> anyhow::Result<Value> {
    let response = app.get("/openapi.json").await?;
    assert_eq!(response.status(), StatusCode::OK);
    Ok(response.json().await?)
}

/// A validator of the document's schema `name`, resolving its `$ref`s in the document.
fn validator(document: &Value, name: &str) -> anyhow::Result<jsonschema::Validator> {
    let mut root = document.clone();
    root["$ref"] = json!(format!("#/components/schemas/{name}"));
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .map_err(|error| anyhow::anyhow!("schema {name}: {error}"))
}

fn assert_fits(document: &Value, name: &str, instance: &Value) -> TestResult {
    let validator = validator(document, name)?;
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{name} does not fit {instance}: {errors:?}"
    );
    Ok(())
}

/// The name of the schema the document gives for `status` of `method path`.
fn response_schema(document: &Value, method: &str, path: &str, status: u16) -> String {
    let content = &document["paths"][path][method]["responses"][status.to_string()]["content"];
    let schema = content
        .as_object()
        .and_then(|types| types.values().next())
        .map(|media| media["schema"]["$ref"].clone())
        .unwrap_or_default();
    let name = schema
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or_default()
        .to_owned();
    assert!(
        !name.is_empty(),
        "{method} {path} {status} documents no body"
    );
    name
}

/// Every operation of the spec: its method, path, `operationId` (what a generated
/// client names its method) and the statuses its answers may have.
const OPERATIONS: &[(&str, &str, &str, &[u16])] = &[
    (
        "post",
        "/v1/orders",
        "placeOrder",
        &[201, 400, 409, 413, 422, 503],
    ),
    ("get", "/v1/orders", "listOrders", &[200, 400, 503]),
    ("get", "/v1/events", "listEvents", &[200, 400, 410, 503]),
    ("get", "/v1/orders/{id}", "getOrder", &[200, 400, 404, 503]),
    (
        "get",
        "/v1/orders/{id}/history",
        "getOrderHistory",
        &[200, 400, 404, 503],
    ),
    (
        "put",
        "/v1/orders/{id}/payment",
        "updatePayment",
        &[200, 400, 404, 409, 412, 413, 422, 503],
    ),
    (
        "put",
        "/v1/orders/{id}/shipping",
        "updateShipping",
        &[200, 400, 404, 409, 412, 413, 422, 503],
    ),
    (
        "put",
        "/v1/orders/{id}/shipment/tracking",
        "setTracking",
        &[200, 400, 404, 409, 412, 413, 422, 503],
    ),
    (
        "post",
        "/v1/orders/{id}/confirm-payment",
        "confirmPayment",
        &[200, 400, 404, 409, 412, 413, 422, 503],
    ),
    (
        "post",
        "/v1/orders/{id}/confirm-delivery",
        "confirmDelivery",
        &[200, 400, 404, 409, 412, 413, 422, 503],
    ),
    (
        "post",
        "/v1/orders/{id}/cancel",
        "cancelOrder",
        &[200, 400, 404, 409, 412, 413, 422, 503],
    ),
    (
        "delete",
        "/v1/orders/{id}",
        "deleteOrder",
        &[204, 400, 404, 409, 412, 503],
    ),
    ("get", "/health/live", "getLiveness", &[200]),
    ("get", "/health/ready", "getReadiness", &[200, 503]),
    ("get", "/metrics", "getMetrics", &[200]),
    ("get", "/", "getIndex", &[200]),
];

fn parameter_names(operation: &Value) -> Vec<String> {
    operation["parameters"]
        .as_array()
        .map(|parameters| {
            parameters
                .iter()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn the_document_lists_every_operation_with_its_headers_and_problems(
    backend: Backend,
) -> TestResult {
    let app = spawn_app(backend).await?;
    let document = document(&app).await?;
    assert!(
        document["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1"),
        "OpenAPI 3.1"
    );
    for (method, path, operation_id, statuses) in OPERATIONS {
        let operation = &document["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is missing");
        assert_eq!(
            operation["operationId"], *operation_id,
            "{method} {path}: operationId"
        );
        let responses = &operation["responses"];
        for status in statuses.iter().chain(&[500]) {
            let response = &responses[status.to_string()];
            assert!(response.is_object(), "{method} {path}: no {status}");
            assert!(
                response["headers"]["X-Request-Id"].is_object(),
                "{method} {path} {status}: X-Request-Id"
            );
            if *status >= 400 && path.starts_with("/v1/") {
                assert!(
                    response["content"]["application/problem+json"].is_object(),
                    "{method} {path} {status}: not problem+json"
                );
            }
        }
        let parameters = parameter_names(operation);
        assert!(parameters.contains(&"X-Request-Id".to_owned()));
        // OpenAPI allows one declaration of a parameter per name and place.
        let mut declared: Vec<(&Value, &Value)> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|parameter| (&parameter["name"], &parameter["in"]))
            .collect();
        let count = declared.len();
        declared.sort_by_key(|(name, place)| (name.to_string(), place.to_string()));
        declared.dedup();
        assert_eq!(
            declared.len(),
            count,
            "{method} {path}: a parameter declared twice"
        );
        if *method != "get" && path.starts_with("/v1/orders/") {
            assert!(
                parameters.contains(&"If-Match".to_owned()),
                "{method} {path}: If-Match"
            );
        }
        // Every answer that carries one order carries its version as ETag.
        for (status, response) in responses.as_object().cloned().unwrap_or_default() {
            let body = &response["content"]["application/json"]["schema"]["$ref"];
            if body == "#/components/schemas/Order" {
                assert!(
                    response["headers"]["ETag"].is_object(),
                    "{method} {path} {status}: ETag"
                );
            }
        }
    }
    let place = &document["paths"]["/v1/orders"]["post"];
    assert!(parameter_names(place).contains(&"Idempotency-Key".to_owned()));
    for header in ["Location", "ETag", "Idempotent-Replayed"] {
        assert!(
            place["responses"]["201"]["headers"][header].is_object(),
            "{header}"
        );
    }
    assert!(place["responses"]["503"]["headers"]["Retry-After"].is_object());
    // The document has no operation besides these: each is listed, named, once.
    let documented: Vec<String> = document["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|operations| operations.values())
        .filter_map(|operation| operation["operationId"].as_str().map(str::to_owned))
        .collect();
    let mut expected: Vec<&str> = OPERATIONS.iter().map(|(.., id, _)| *id).collect();
    let mut documented: Vec<&str> = documented.iter().map(String::as_str).collect();
    expected.sort_unstable();
    documented.sort_unstable();
    assert_eq!(documented, expected);
    Ok(())
}

async fn every_example_fits_its_schema(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    let document = document(&app).await?;
    let schemas = document["components"]["schemas"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut checked = 0;
    for (name, schema) in &schemas {
        if let Some(example) = schema.get("example") {
            assert_fits(&document, name, example)?;
            checked += 1;
        }
    }
    assert!(checked >= 9, "only {checked} examples");
    // The validator refuses what does not fit, or the checks above prove nothing.
    let order = validator(&document, "Order")?;
    let mut wrong = document["components"]["schemas"]["Order"]["example"].clone();
    wrong["status"] = json!("lost");
    assert!(!order.is_valid(&wrong));
    wrong["status"] = json!("pending");
    wrong["payment"] = json!({"method": "cash"});
    assert!(!order.is_valid(&wrong));
    Ok(())
}

/// Each problem answer of each operation shows an example of every code it may carry,
/// with its own status: the page does not show one 422 for every error.
async fn every_problem_answer_shows_examples_of_its_own_status(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    let document = document(&app).await?;
    let mut checked = 0;
    for (path, operations) in document["paths"].as_object().cloned().unwrap_or_default() {
        for (method, operation) in operations.as_object().cloned().unwrap_or_default() {
            let responses = operation["responses"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for (status, response) in responses {
                let problem = &response["content"]["application/problem+json"];
                if !problem.is_object() {
                    continue;
                }
                let examples = problem["examples"].as_object().cloned().unwrap_or_default();
                assert!(!examples.is_empty(), "{method} {path} {status}: no example");
                for (code, example) in examples {
                    let value = &example["value"];
                    assert_fits(&document, "Problem", value)?;
                    assert_eq!(
                        value["status"].to_string(),
                        status,
                        "{method} {path} {code}"
                    );
                    assert_eq!(value["code"], code.as_str(), "{method} {path} {status}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} problem examples");
    Ok(())
}

async fn the_service_answers_as_its_document_says(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    app.customer_exists("cust-1").await;
    app.stock_is_plentiful().await;
    let document = document(&app).await?;

    let placed = app
        .client
        .post(app.url("/v1/orders"))
        .json(&document["components"]["schemas"]["PlaceOrder"]["example"])
        .send()
        .await?;
    assert_eq!(
        placed.status(),
        StatusCode::CREATED,
        "the PlaceOrder example"
    );
    let order: Value = placed.json().await?;
    let schema = response_schema(&document, "post", "/v1/orders", 201);
    assert_fits(&document, &schema, &order)?;
    let id = order["id"].as_str().unwrap_or_default().to_owned();

    // Every action's example, in an order the status rules allow, on the placed order.
    let actions = [
        (Method::PUT, "payment", "UpdatePayment"),
        (Method::PUT, "shipping", "UpdateShipping"),
        (Method::POST, "confirm-payment", "ConfirmPayment"),
        (Method::PUT, "shipment/tracking", "SetTracking"),
        (Method::POST, "confirm-delivery", "ConfirmDelivery"),
    ];
    for (verb, action, example) in actions {
        let path = format!("/v1/orders/{{id}}/{action}");
        let response = app
            .client
            .request(verb.clone(), app.url(&format!("/v1/orders/{id}/{action}")))
            .json(&document["components"]["schemas"][example]["example"])
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::OK, "the {example} example");
        let method = verb.as_str().to_lowercase();
        let schema = response_schema(&document, &method, &path, 200);
        assert_fits(&document, &schema, &response.json().await?)?;
    }
    let other = app
        .placed_order(&json!({
            "storeId": "store-1", "customerId": "cust-1", "shippingCost": 0, "taxAmount": 0,
            "items": [{"productId": "prod-1", "quantity": 1, "unitPrice": 1}]
        }))
        .await?;
    let canceled = app
        .client
        .post(app.url(&format!(
            "/v1/orders/{}/cancel",
            other["id"].as_str().unwrap_or_default()
        )))
        .json(&document["components"]["schemas"]["Cancel"]["example"])
        .send()
        .await?;
    assert_eq!(canceled.status(), StatusCode::OK, "the Cancel example");

    let answers = [
        ("get", "/v1/orders", "/v1/orders?limit=1".to_owned(), 200),
        ("get", "/v1/orders/{id}", format!("/v1/orders/{id}"), 200),
        (
            "get",
            "/v1/orders/{id}/history",
            format!("/v1/orders/{id}/history"),
            200,
        ),
        ("get", "/v1/orders", "/v1/orders?limit=0".to_owned(), 400),
        ("get", "/v1/orders/{id}", "/v1/orders/nope".to_owned(), 404),
        ("get", "/health/live", "/health/live".to_owned(), 200),
        ("get", "/health/ready", "/health/ready".to_owned(), 200),
    ];
    for (method, path, url, status) in answers {
        let response = app.get(&url).await?;
        assert_eq!(response.status().as_u16(), status, "{url}");
        let schema = response_schema(&document, method, path, status);
        assert_fits(&document, &schema, &response.json().await?)?;
    }
    let invalid = app.place(&json!({"status": "shipped"})).await?;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let schema = response_schema(&document, "post", "/v1/orders", 422);
    assert_fits(&document, &schema, &invalid.json().await?)?;
    Ok(())
}

async fn the_api_page_is_served_with_its_assets_by_the_service_itself(
    backend: Backend,
) -> TestResult {
    let app = spawn_app(backend).await?;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let bare = no_redirects.get(app.url("/docs")).send().await?;
    assert!(bare.status().is_redirection());
    assert_eq!(bare.headers()["location"], "/docs/");

    let page = app.get("/docs/").await?;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await?;
    assert!(
        !html.contains("//"),
        "no asset from elsewhere (CDN): {html}"
    );
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ] {
        assert!(html.contains(asset), "{asset} not referenced");
        let served = app.get(&format!("/docs/{asset}")).await?;
        assert_eq!(served.status(), StatusCode::OK, "{asset}");
        let body = served.text().await?;
        assert!(!body.is_empty(), "{asset} is empty");
        if asset == "swagger-initializer.js" {
            assert!(
                body.contains("/openapi.json"),
                "the page reads our document"
            );
        }
    }
    Ok(())
}

/// Who may call each operation, as the spec's table says: a bearer token with any one
/// of the listed scopes; the probes, metrics and documentation need none.
async fn every_operation_of_the_api_names_the_scopes_that_allow_it(backend: Backend) -> TestResult {
    const EVERY_SCOPE: &[&str] = &[
        "orders:admin",
        "orders:customer",
        "orders:fulfillment",
        "orders:payments",
        "orders:store",
    ];
    let allowed: &[(&str, &[&str])] = &[
        ("placeOrder", &["orders:admin", "orders:customer"]),
        ("listOrders", EVERY_SCOPE),
        ("getOrder", EVERY_SCOPE),
        ("getOrderHistory", EVERY_SCOPE),
        ("updatePayment", &["orders:admin", "orders:customer"]),
        ("updateShipping", &["orders:admin", "orders:customer"]),
        (
            "setTracking",
            &["orders:admin", "orders:fulfillment", "orders:store"],
        ),
        ("confirmPayment", &["orders:admin", "orders:payments"]),
        (
            "confirmDelivery",
            &["orders:admin", "orders:fulfillment", "orders:store"],
        ),
        (
            "cancelOrder",
            &["orders:admin", "orders:customer", "orders:store"],
        ),
        ("deleteOrder", &["orders:admin"]),
        ("listEvents", &["orders:admin"]),
    ];
    let app = spawn_app(backend).await?;
    let document = document(&app).await?;
    let scheme = &document["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    assert_eq!(scheme["bearerFormat"], "JWT");
    let mut seen = Vec::new();
    for (path, operations) in document["paths"].as_object().cloned().unwrap_or_default() {
        for (method, operation) in operations.as_object().cloned().unwrap_or_default() {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let responses = &operation["responses"];
            if !path.starts_with("/v1/") {
                assert!(operation["security"].is_null(), "{id} needs no token");
                assert!(responses["401"].is_null(), "{id}");
                continue;
            }
            let mut scopes: Vec<&str> = operation["security"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|requirement| requirement["bearer"].as_array().into_iter().flatten())
                .filter_map(Value::as_str)
                .collect();
            scopes.sort_unstable();
            let expected = allowed
                .iter()
                .find(|(operation, _)| *operation == id)
                .map(|(_, scopes)| scopes.to_vec());
            assert_eq!(Some(scopes), expected, "{method} {path}");
            assert!(
                responses["401"]["headers"]["WWW-Authenticate"].is_object(),
                "{id}: 401"
            );
            assert!(
                responses["429"]["headers"]["Retry-After"].is_object(),
                "{id}: 429"
            );
            // A caller not known is refused before its limit is taken from; a failure
            // of the service is documented alike for every operation.
            for (status, response) in responses.as_object().cloned().unwrap_or_default() {
                if status == "401" || status == "500" {
                    continue;
                }
                assert!(
                    response["headers"]["RateLimit"].is_object(),
                    "{id} {status}: RateLimit"
                );
            }
            // Reading an order another caller owns is 404, never 403.
            let reads_one_order = matches!(id.as_str(), "getOrder" | "getOrderHistory");
            assert_eq!(responses["403"].is_null(), reads_one_order, "{id}: 403");
            seen.push(id);
        }
    }
    assert_eq!(seen.len(), allowed.len(), "{seen:?}");
    Ok(())
}

/// A person who opens the service's address is pointed to the API page.
async fn the_root_points_to_the_api_page_and_the_document(backend: Backend) -> TestResult {
    let app = spawn_app(backend).await?;
    let root = app.get("/").await?;
    assert_eq!(root.status(), StatusCode::OK);
    let index: Value = root.json().await?;
    assert_eq!(index, json!({"docs": "/docs/", "openapi": "/openapi.json"}));
    for link in ["docs", "openapi"] {
        let linked = app.get(index[link].as_str().unwrap_or_default()).await?;
        assert_eq!(linked.status(), StatusCode::OK, "{link}");
    }
    let document = document(&app).await?;
    assert_fits(&document, "ServiceIndex", &index)?;
    let posted = app.client.post(app.url("/")).send().await?;
    assert_eq!(posted.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(posted.headers()["allow"], "GET");
    Ok(())
}

// What is checked is the HTTP layer against its document and conventions, the same on
// every database: one backend suffices.
order_adapters::on_one_backend!(
    the_document_lists_every_operation_with_its_headers_and_problems,
    every_example_fits_its_schema,
    every_problem_answer_shows_examples_of_its_own_status,
    every_operation_of_the_api_names_the_scopes_that_allow_it,
    the_service_answers_as_its_document_says,
    the_api_page_is_served_with_its_assets_by_the_service_itself,
    the_root_points_to_the_api_page_and_the_document,
);
