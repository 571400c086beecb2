//! Starting the app for a test, and typed helpers for its requests.

use std::time::Duration;

use order_adapters::testing::TestDatabase;
use order_adapters::testing::owed_releases;
pub use order_adapters::testing::{Backend, eventually};
use order_adapters::{CallPolicy, CircuitSettings, Database, DatabaseOptions, DatabaseUrl};
use order_domain::{EffectPolicy, PlacementPolicy};
use order_http::config::{AuthSettings, Config, LogFormat, RateLimitSettings};
use order_http::startup::Application;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub type TestResult = anyhow::Result<()>;

/// A running service and the fakes of the services it calls.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub customers: MockServer,
    pub inventory: MockServer,
    /// The test's own database, when the test did not bring one.
    pub database: Option<TestDatabase>,
}

/// What a test's service runs with.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub database: DatabaseOptions,
    pub upstream: CallPolicy,
    /// Where the customer service is, when not at the test's wiremock fake.
    pub customer_service_url: Option<String>,
    /// Where the inventory service is, when not at the test's wiremock fake.
    pub inventory_service_url: Option<String>,
    pub placement: PlacementPolicy,
    pub effects: EffectPolicy,
    /// Where the events are published, if anywhere.
    pub nats_url: Option<String>,
    /// Where notifications go; `None`: to the log.
    pub notification_service_url: Option<String>,
    /// Where the payment service is; `None`: the demo directory.
    pub payment_service_url: Option<String>,
    /// Where the shipping service is; `None`: the demo directory.
    pub shipping_service_url: Option<String>,
    /// How callers prove who they are; by default, not at all (open mode).
    pub auth: AuthSettings,
    pub rate_limit: RateLimitSettings,
    /// How long a body may take to arrive after its head.
    pub request_body_timeout: Duration,
}

/// How long one upstream attempt may take in tests: short, so timeouts are quick.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_millis(300);

impl Default for AppOptions {
    /// The spec's shape of upstream bounds, scaled down so that timeouts, backoffs and
    /// cool-downs pass quickly.
    fn default() -> Self {
        Self {
            database: DatabaseOptions::default(),
            upstream: CallPolicy {
                attempt_timeout: UPSTREAM_TIMEOUT,
                max_attempts: 3,
                call_timeout: Duration::from_millis(1500),
                first_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(40),
                circuit: CircuitSettings {
                    failure_threshold: 5,
                    open_for: Duration::from_millis(500),
                },
            },
            customer_service_url: None,
            inventory_service_url: None,
            // The second release of a reservation that may land late comes as soon as
            // the placement would count as abandoned: soon, so that tests waiting for
            // every release to be done wait briefly; later than any placement here.
            placement: PlacementPolicy {
                abandon_after: Duration::from_secs(2),
                ..PlacementPolicy::default()
            },
            // Retries come soon, for the same reason.
            effects: EffectPolicy {
                first_retry: Duration::from_millis(100),
                max_retry: Duration::from_secs(1),
                ..EffectPolicy::default()
            },
            nats_url: None,
            notification_service_url: None,
            payment_service_url: None,
            shipping_service_url: None,
            auth: AuthSettings::default(),
            rate_limit: RateLimitSettings::default(),
            request_body_timeout: Duration::from_secs(10),
        }
    }
}

/// Starts the service against wiremock fakes of both upstream services.
pub async fn spawn_app(backend: Backend) -> anyhow::Result<TestApp> {
    spawn_app_with(backend, AppOptions::default()).await
}

/// Starts the service with `options` against wiremock fakes of both upstream services.
pub async fn spawn_app_with(backend: Backend, options: AppOptions) -> anyhow::Result<TestApp> {
    let database = TestDatabase::create(backend)?;
    let app = start_with(database.url().clone(), options).await?;
    Ok(TestApp {
        database: Some(database),
        ..app
    })
}

/// Starts the service on a database the caller provides and keeps.
pub async fn start_with(database: DatabaseUrl, options: AppOptions) -> anyhow::Result<TestApp> {
    let customers = MockServer::start().await;
    let inventory = MockServer::start().await;
    let urls = (
        options
            .customer_service_url
            .clone()
            .or(Some(customers.uri())),
        options
            .inventory_service_url
            .clone()
            .or(Some(inventory.uri())),
    );
    let address = start(database, options, urls).await?;
    Ok(TestApp {
        address,
        client: test_client()?,
        customers,
        inventory,
        database: None,
    })
}

/// Starts the service on its built-in demo directory; returns its base URL.
pub async fn spawn_demo_app(backend: Backend) -> anyhow::Result<(String, TestDatabase)> {
    let database = TestDatabase::create(backend)?;
    let address = start(database.url().clone(), AppOptions::default(), (None, None)).await?;
    Ok((address, database))
}

async fn start(
    database: DatabaseUrl,
    options: AppOptions,
    urls: (Option<String>, Option<String>),
) -> anyhow::Result<String> {
    if std::env::var_os("TEST_LOG").is_some() {
        order_http::telemetry::init(Some(LogFormat::Text), "info");
    }
    let config = Config {
        listen_addr: "127.0.0.1:0".parse()?,
        database,
        database_options: options.database,
        customer_service_url: urls.0,
        inventory_service_url: urls.1,
        notification_service_url: options.notification_service_url,
        payment_service_url: options.payment_service_url,
        shipping_service_url: options.shipping_service_url,
        nats_url: options.nats_url,
        upstream_policy: options.upstream,
        shutdown_timeout: Duration::from_secs(1),
        release_retry_interval: Duration::from_millis(50),
        placement_policy: options.placement,
        effect_policy: options.effects,
        auth: options.auth,
        rate_limit: options.rate_limit,
        request_body_timeout: options.request_body_timeout,
        ..Config::default()
    };
    let app = Application::build(&config).await?;
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    Ok(address)
}

/// An HTTP client for tests: a request that gets no answer fails the test, naming it,
/// instead of hanging the run.
pub fn test_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
}

/// A valid placement body: 1×1000 + 2×1000, shipping 500, tax 300.
pub fn order_body() -> Value {
    json!({
        "storeId": "store-1",
        "customerId": "cust-1",
        "items": [
            {"productId": "prod-1", "quantity": 1, "unitPrice": 1000},
            {"productId": "prod-2", "quantity": 2, "unitPrice": 1000}
        ],
        "shippingCost": 500,
        "taxAmount": 300
    })
}

pub fn address_json(city: &str) -> Value {
    json!({"line1": "1234 Elm St", "line2": "Suite 100", "city": city, "region": "IL",
           "postalCode": "62701", "country": "US"})
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn place(&self, body: &Value) -> reqwest::Result<Response> {
        self.client
            .post(self.url("/v1/orders"))
            .json(body)
            .send()
            .await
    }

    pub async fn place_with_key(&self, body: &Value, key: &str) -> reqwest::Result<Response> {
        self.client
            .post(self.url("/v1/orders"))
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
    }

    /// Places with a body sent as written: JSON a `Value` cannot hold, or no JSON at all.
    pub async fn place_text(&self, body: impl Into<String>) -> reqwest::Result<Response> {
        self.client
            .post(self.url("/v1/orders"))
            .header("content-type", "application/json")
            .body(body.into())
            .send()
            .await
    }

    pub async fn get(&self, path: &str) -> reqwest::Result<Response> {
        self.client.get(self.url(path)).send().await
    }

    /// The customer service knows `id`, with an address in Springfield.
    pub async fn customer_exists(&self, id: &str) {
        Mock::given(method("GET"))
            .and(path(format!("/customers/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": id, "name": "Ada", "email": "ada@example.com",
                "shippingAddress": address_json("Springfield")
            })))
            .mount(&self.customers)
            .await;
    }

    /// The inventory service reserves whatever it is asked to, and releases too.
    pub async fn stock_is_plentiful(&self) {
        Mock::given(method("POST"))
            .and(path("/reservations"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"reservationId": "r"})))
            .mount(&self.inventory)
            .await;
        self.releases_succeed().await;
    }

    pub async fn releases_succeed(&self) {
        Mock::given(method("DELETE"))
            .and(path_regex("^/reservations/.+$"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&self.inventory)
            .await;
    }

    /// Places the standard order and returns its body.
    pub async fn placed_order(&self, body: &Value) -> anyhow::Result<Value> {
        let response = self.place(body).await?;
        anyhow::ensure!(
            response.status() == StatusCode::CREATED,
            "placing failed: {}",
            response.status()
        );
        Ok(response.json().await?)
    }

    /// How many requests the fakes received for `method` on paths starting with `prefix`.
    pub async fn upstream_calls(&self, server: &MockServer, verb: &str, prefix: &str) -> usize {
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.method.as_str() == verb && r.url.path().starts_with(prefix))
            .count()
    }

    /// Waits, up to `within`, until no stock release is owed to the inventory any
    /// more: none is recorded for a retry, so none will be sent again.
    pub async fn until_no_release_is_owed(&self, within: Duration) -> anyhow::Result<()> {
        let db = self.open_database()?;
        eventually(within, "every release made", || async {
            Ok(owed_releases(&db).await? == 0)
        })
        .await
    }

    /// The service's database, opened beside it, to look at what it keeps.
    pub fn open_database(&self) -> anyhow::Result<Database> {
        let database = self
            .database
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the test brought its own database"))?;
        Database::open(database.url(), &DatabaseOptions::default())
    }

    /// The ids of every order stored and not deleted, paging through the listing.
    pub async fn all_order_ids(&self) -> anyhow::Result<std::collections::HashSet<String>> {
        let mut ids = std::collections::HashSet::new();
        let mut query = "limit=100".to_owned();
        loop {
            let page: Value = self
                .get(&format!("/v1/orders?{query}"))
                .await?
                .json()
                .await?;
            ids.extend(ids_of(&page));
            match page["nextCursor"].as_str() {
                Some(cursor) => query = format!("limit=100&cursor={cursor}"),
                None => return Ok(ids),
            }
        }
    }

    /// The ids of the orders on the first page of the listing `query` asks for.
    pub async fn listed_ids(&self, query: &str) -> anyhow::Result<Vec<String>> {
        let page: Value = self
            .get(&format!("/v1/orders?{query}"))
            .await?
            .json()
            .await?;
        Ok(ids_of(&page))
    }
}

pub fn ids_of(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|o| o["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks a problem+json answer: its status, its code, and the fields it names.
pub async fn assert_problem(
    response: Response,
    status: u16,
    code: &str,
    fields: &[&str],
) -> anyhow::Result<Value> {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let problem: Value = response.json().await?;
    assert_eq!(problem["code"], code, "code of {problem}");
    assert_eq!(problem["status"], status);
    for key in ["type", "title", "detail"] {
        assert!(problem[key].is_string(), "{key} missing in {problem}");
    }
    let named: Vec<&str> = problem["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(named, fields, "fields named by {problem}");
    Ok(problem)
}
