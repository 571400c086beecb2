//! Who may call, over HTTP: every endpoint against every kind of caller the spec's
//! table names and every kind of bad token, with nothing changed where a caller is
//! refused; lists narrowed to what each caller sees; idempotency keys per caller; the
//! identity provider's keys rotated without a restart; and each caller's rate limit.

use std::path::PathBuf;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use order_http::config::{AuthSettings, RateLimitSettings, Secret};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{AppOptions, Backend, TestApp, TestResult, eventually, order_body};

const ISSUER: &str = "https://id.example.test/";
const AUDIENCE: &str = "order-service";
const HS256_SECRET: &str = "a-development-secret-of-32-bytes-at-least";

fn fixture(name: &str) -> anyhow::Result<String> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "auth",
        name,
    ]
    .iter()
    .collect();
    Ok(std::fs::read_to_string(path)?)
}

/// A JWKS document of the fixtures' public keys `kids`.
fn jwks(kids: &[&str]) -> anyhow::Result<Value> {
    let keys = kids
        .iter()
        .map(|kid| Ok(serde_json::from_str(&fixture(&format!("{kid}.jwk.json"))?)?))
        .collect::<anyhow::Result<Vec<Value>>>()?;
    Ok(json!({ "keys": keys }))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The claims of a caller with `scopes`, valid for five minutes, for this service.
fn claims(sub: &str, scopes: &[&str], store: Option<&str>) -> Value {
    let mut claims = json!({
        "sub": sub,
        "scope": scopes.join(" "),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now(),
        "exp": now() + 300,
    });
    if let Some(store) = store {
        claims["store_id"] = json!(store);
    }
    claims
}

/// `claims` signed with the fixtures' private key `kid` (RS256 or ES256, by its kind).
fn signed_by(kid: &str, claims: &Value) -> anyhow::Result<String> {
    let pem = fixture(&format!("{kid}.pem"))?;
    let (algorithm, key) = if kid.starts_with("ec-") {
        (Algorithm::ES256, EncodingKey::from_ec_pem(pem.as_bytes())?)
    } else {
        (Algorithm::RS256, EncodingKey::from_rsa_pem(pem.as_bytes())?)
    };
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    Ok(jsonwebtoken::encode(&header, claims, &key)?)
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token of `header` and `claims` with `signature`, however (un)signed.
fn forged(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes()),
        base64url(signature)
    )
}

/// Every kind of caller: those the scope table names, and those it must refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Owner,
    AnotherCustomer,
    OwnStore,
    AnotherStore,
    Payments,
    Fulfillment,
    Admin,
    NoToken,
    Expired,
    WrongAudience,
    WrongIssuer,
    AlgNone,
    Hs256WithThePublicKey,
    BadSignature,
    FromTheFuture,
}

impl Who {
    /// Those a valid token names, in the order of [`ALLOWED`]'s columns.
    const PRINCIPALS: [Who; 7] = [
        Who::Owner,
        Who::AnotherCustomer,
        Who::OwnStore,
        Who::AnotherStore,
        Who::Payments,
        Who::Fulfillment,
        Who::Admin,
    ];
    /// Those refused before anything else: 401 on every endpoint.
    const UNAUTHENTICATED: [Who; 8] = [
        Who::NoToken,
        Who::Expired,
        Who::WrongAudience,
        Who::WrongIssuer,
        Who::AlgNone,
        Who::Hs256WithThePublicKey,
        Who::BadSignature,
        Who::FromTheFuture,
    ];

    /// The token the caller presents, if any. The order is `cust-1`'s at `store-1`.
    fn token(self) -> anyhow::Result<Option<String>> {
        let owner = || claims("cust-1", &["orders:customer"], None);
        let with = |change: &dyn Fn(&mut Value)| {
            let mut claims = owner();
            change(&mut claims);
            signed_by("rsa-1", &claims)
        };
        let token = match self {
            Who::Owner => signed_by("rsa-1", &owner())?,
            Who::AnotherCustomer => {
                signed_by("rsa-1", &claims("cust-2", &["orders:customer"], None))?
            }
            Who::OwnStore => signed_by(
                "ec-1",
                &claims("clerk-1", &["orders:store"], Some("store-1")),
            )?,
            Who::AnotherStore => signed_by(
                "rsa-1",
                &claims("clerk-2", &["orders:store"], Some("store-2")),
            )?,
            Who::Payments => signed_by(
                "rsa-1",
                &claims("payment-service", &["orders:payments"], None),
            )?,
            Who::Fulfillment => {
                signed_by("rsa-1", &claims("carrier", &["orders:fulfillment"], None))?
            }
            Who::Admin => signed_by("rsa-1", &claims("ops", &["orders:admin"], None))?,
            Who::NoToken => return Ok(None),
            // Past the minute of leeway.
            Who::Expired => with(&|c| c["exp"] = json!(now() - 120))?,
            Who::WrongAudience => with(&|c| c["aud"] = json!("another-service"))?,
            Who::WrongIssuer => with(&|c| c["iss"] = json!("https://evil.example.test/"))?,
            Who::AlgNone => forged(&json!({"alg": "none", "typ": "JWT"}), &owner(), b""),
            // The RSA public key is public: used as an HMAC secret, it would let anyone
            // sign, were the algorithm the token's choice.
            Who::Hs256WithThePublicKey => {
                let mut header = Header::new(Algorithm::HS256);
                header.kid = Some("rsa-1".into());
                let public = fixture("rsa-1.pub.pem")?;
                jsonwebtoken::encode(
                    &header,
                    &owner(),
                    &EncodingKey::from_secret(public.as_bytes())?,
                )?
            }
            Who::BadSignature => {
                let token = signed_by("rsa-1", &owner())?;
                let (signed, _) = token.rsplit_once('.').unwrap_or_default();
                let other = signed_by("rsa-2", &owner())?;
                let (_, signature) = other.rsplit_once('.').unwrap_or_default();
                format!("{signed}.{signature}")
            }
            Who::FromTheFuture => with(&|c| {
                c["nbf"] = json!(now() + 600);
                c["iat"] = json!(now() + 600);
            })?,
        };
        Ok(Some(token))
    }
}

/// A service that takes the tokens of an identity provider whose JWKS lists `kids`,
/// with no rate limit unless `rate_limit` says.
struct AuthApp {
    app: TestApp,
    identity_provider: MockServer,
}

async fn serve_jwks(server: &MockServer, kids: &[&str]) -> TestResult {
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/jwks.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(kids)?))
        .mount(server)
        .await;
    Ok(())
}

async fn spawn_with_jwks(
    backend: Backend,
    kids: &[&str],
    rate_limit: RateLimitSettings,
) -> anyhow::Result<AuthApp> {
    let identity_provider = MockServer::start().await;
    serve_jwks(&identity_provider, kids).await?;
    let app = crate::helpers::spawn_app_with(
        backend,
        AppOptions {
            auth: AuthSettings {
                jwks_url: Some(format!("{}/.well-known/jwks.json", identity_provider.uri())),
                issuer: Some(ISSUER.into()),
                audience: Some(AUDIENCE.into()),
                ..AuthSettings::default()
            },
            rate_limit,
            ..AppOptions::default()
        },
    )
    .await?;
    app.customer_exists("cust-1").await;
    app.customer_exists("cust-2").await;
    app.stock_is_plentiful().await;
    Ok(AuthApp {
        app,
        identity_provider,
    })
}

const NO_RATE_LIMIT: RateLimitSettings = RateLimitSettings {
    per_second: Some(0),
    burst: 1,
};

impl AuthApp {
    fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let request = self.app.client.request(method, self.app.url(path));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn as_admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let admin = Who::Admin.token()?;
        let mut request = self.request(method, path, admin.as_deref());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{path}: {}",
            response.text().await?
        );
        Ok(response.json().await.unwrap_or(Value::Null))
    }

    /// A new order of `cust-1` at `store-1`, brought to `state` by an operator.
    async fn order_in(&self, state: State) -> anyhow::Result<String> {
        let order = self
            .as_admin(Method::POST, "/v1/orders", Some(order_body()))
            .await?;
        let id = order["id"].as_str().unwrap_or_default().to_owned();
        if matches!(state, State::Paid | State::Shipped) {
            self.as_admin(
                Method::POST,
                &format!("/v1/orders/{id}/confirm-payment"),
                Some(json!({"paymentReference": "pay_1", "amount": 3800})),
            )
            .await?;
        }
        if state == State::Shipped {
            self.as_admin(
                Method::PUT,
                &format!("/v1/orders/{id}/shipment/tracking"),
                Some(json!({"carrier": "UPS", "trackingNumber": "1Z999"})),
            )
            .await?;
        }
        Ok(id)
    }

    /// What an operator sees of the order and its history, to tell whether it changed.
    async fn snapshot(&self, id: &str) -> anyhow::Result<Value> {
        Ok(json!({
            "order": self.as_admin(Method::GET, &format!("/v1/orders/{id}"), None).await?,
            "history": self.as_admin(Method::GET, &format!("/v1/orders/{id}/history"), None).await?,
        }))
    }

    /// Every order there is, as an operator lists them.
    async fn order_count(&self) -> anyhow::Result<usize> {
        let page = self
            .as_admin(Method::GET, "/v1/orders?limit=100", None)
            .await?;
        Ok(page["items"].as_array().map_or(0, Vec::len))
    }

    async fn call(&self, endpoint: &Endpoint, id: &str, who: Who) -> anyhow::Result<Response> {
        let token = who.token()?;
        let mut request = self.request(
            endpoint.method.clone(),
            &(endpoint.path)(id),
            token.as_deref(),
        );
        if let Some(body) = (endpoint.body)() {
            request = request.json(&body);
        }
        Ok(request.send().await?)
    }
}

/// What an endpoint needs of the order it acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No order (placing, listing, the feed).
    NoOrder,
    Pending,
    Paid,
    Shipped,
}

struct Endpoint {
    name: &'static str,
    method: Method,
    path: fn(&str) -> String,
    body: fn() -> Option<Value>,
    needs: State,
}

fn endpoints() -> Vec<Endpoint> {
    fn on(action: &'static str) -> fn(&str) -> String {
        match action {
            "" => |id| format!("/v1/orders/{id}"),
            "/history" => |id| format!("/v1/orders/{id}/history"),
            "/payment" => |id| format!("/v1/orders/{id}/payment"),
            "/shipping" => |id| format!("/v1/orders/{id}/shipping"),
            "/shipment/tracking" => |id| format!("/v1/orders/{id}/shipment/tracking"),
            "/confirm-payment" => |id| format!("/v1/orders/{id}/confirm-payment"),
            "/confirm-delivery" => |id| format!("/v1/orders/{id}/confirm-delivery"),
            _ => |id| format!("/v1/orders/{id}/cancel"),
        }
    }
    let none = || None;
    vec![
        Endpoint {
            name: "placeOrder",
            method: Method::POST,
            path: |_| "/v1/orders".into(),
            body: || Some(order_body()),
            needs: State::NoOrder,
        },
        Endpoint {
            name: "listOrders",
            method: Method::GET,
            path: |_| "/v1/orders".into(),
            body: none,
            needs: State::NoOrder,
        },
        Endpoint {
            name: "listOrders by customerId",
            method: Method::GET,
            path: |_| "/v1/orders?customerId=cust-1".into(),
            body: none,
            needs: State::NoOrder,
        },
        Endpoint {
            name: "getOrder",
            method: Method::GET,
            path: on(""),
            body: none,
            needs: State::Pending,
        },
        Endpoint {
            name: "getOrderHistory",
            method: Method::GET,
            path: on("/history"),
            body: none,
            needs: State::Pending,
        },
        Endpoint {
            name: "updatePayment",
            method: Method::PUT,
            path: on("/payment"),
            body: || Some(json!({"method": "card", "reference": "tok_visa"})),
            needs: State::Pending,
        },
        Endpoint {
            name: "updateShipping",
            method: Method::PUT,
            path: on("/shipping"),
            body: || Some(json!({"shippingAddress": crate::helpers::address_json("Chicago")})),
            needs: State::Pending,
        },
        Endpoint {
            name: "setTracking",
            method: Method::PUT,
            path: on("/shipment/tracking"),
            body: || Some(json!({"carrier": "UPS", "trackingNumber": "1Z111"})),
            needs: State::Paid,
        },
        Endpoint {
            name: "confirmPayment",
            method: Method::POST,
            path: on("/confirm-payment"),
            body: || Some(json!({"paymentReference": "pay_2", "amount": 3800})),
            needs: State::Pending,
        },
        Endpoint {
            name: "confirmDelivery",
            method: Method::POST,
            path: on("/confirm-delivery"),
            body: || Some(json!({})),
            needs: State::Shipped,
        },
        Endpoint {
            name: "cancelOrder",
            method: Method::POST,
            path: on("/cancel"),
            body: || Some(json!({"reason": "changed my mind"})),
            needs: State::Pending,
        },
        Endpoint {
            name: "deleteOrder",
            method: Method::DELETE,
            path: on(""),
            body: none,
            needs: State::Pending,
        },
        Endpoint {
            name: "listEvents",
            method: Method::GET,
            path: |_| "/v1/events".into(),
            body: none,
            needs: State::NoOrder,
        },
    ]
}

/// The spec's table: what each caller of [`Who::PRINCIPALS`] gets from each endpoint,
/// for an order of `cust-1` at `store-1` (owner, another customer, the order's store,
/// another store, payments, fulfillment, admin).
const ALLOWED: &[(&str, [u16; 7])] = &[
    ("placeOrder", [201, 403, 403, 403, 403, 403, 201]),
    ("listOrders", [200, 200, 200, 200, 200, 200, 200]),
    // Another store's staff gets its own store's orders of that customer: none.
    (
        "listOrders by customerId",
        [200, 403, 200, 200, 200, 200, 200],
    ),
    ("getOrder", [200, 404, 200, 404, 200, 200, 200]),
    ("getOrderHistory", [200, 404, 200, 404, 200, 200, 200]),
    ("updatePayment", [200, 404, 403, 404, 403, 403, 200]),
    ("updateShipping", [200, 404, 403, 404, 403, 403, 200]),
    ("setTracking", [403, 404, 200, 404, 403, 200, 200]),
    ("confirmPayment", [403, 404, 403, 404, 200, 403, 200]),
    ("confirmDelivery", [403, 404, 200, 404, 403, 200, 200]),
    ("cancelOrder", [200, 404, 200, 404, 403, 403, 200]),
    ("deleteOrder", [403, 404, 403, 404, 403, 403, 204]),
    ("listEvents", [403, 403, 403, 403, 403, 403, 200]),
];

fn expected(endpoint: &str, who: Who) -> u16 {
    let Some(column) = Who::PRINCIPALS.iter().position(|p| *p == who) else {
        return 401;
    };
    ALLOWED
        .iter()
        .find(|(name, _)| *name == endpoint)
        .map_or(0, |(_, statuses)| statuses[column])
}

/// Every endpoint × every caller: the status the spec gives, and where it refuses,
/// nothing changed — neither the order nor its history, nor the number of orders.
async fn every_endpoint_answers_each_caller_as_the_scope_table_says(
    backend: Backend,
) -> TestResult {
    let app = spawn_with_jwks(backend, &["rsa-1", "ec-1"], NO_RATE_LIMIT).await?;
    let callers = Who::PRINCIPALS.iter().chain(&Who::UNAUTHENTICATED);
    let endpoints = endpoints();
    assert_eq!(endpoints.len(), ALLOWED.len());
    let mut failures = Vec::new();
    for endpoint in &endpoints {
        // Refusals are all tried on one order, which must never change.
        let refused_on = match endpoint.needs {
            State::NoOrder => String::new(),
            state => app.order_in(state).await?,
        };
        for who in callers.clone().copied() {
            let want = expected(endpoint.name, who);
            let allowed = want < 300;
            let id = if allowed && endpoint.needs != State::NoOrder {
                app.order_in(endpoint.needs).await?
            } else {
                refused_on.clone()
            };
            let before = if id.is_empty() {
                json!(app.order_count().await?)
            } else {
                app.snapshot(&id).await?
            };
            let response = app.call(endpoint, &id, who).await?;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if status != want {
                failures.push(format!(
                    "{} as {who:?}: {status}, not {want}: {body}",
                    endpoint.name
                ));
                continue;
            }
            if !allowed {
                let code = match want {
                    401 => "unauthenticated",
                    403 => "forbidden",
                    _ => "order_not_found",
                };
                if body["code"] != code {
                    failures.push(format!("{} as {who:?}: {body}", endpoint.name));
                }
                let after = if id.is_empty() {
                    json!(app.order_count().await?)
                } else {
                    app.snapshot(&id).await?
                };
                if after != before {
                    failures.push(format!(
                        "{} as {who:?} changed {before} to {after}",
                        endpoint.name
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

/// A refused token says why, with the challenge RFC 6750 asks for, and never the token.
async fn a_refused_token_is_named_in_the_challenge_never_echoed(backend: Backend) -> TestResult {
    let app = spawn_with_jwks(backend, &["rsa-1"], NO_RATE_LIMIT).await?;
    let missing = app.request(Method::GET, "/v1/orders", None).send().await?;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    for (who, reason) in [
        (Who::Expired, "expired"),
        (Who::WrongAudience, "audience"),
        (Who::WrongIssuer, "issuer"),
        (Who::AlgNone, "algorithm"),
        (Who::Hs256WithThePublicKey, "algorithm"),
        (Who::BadSignature, "signature"),
        (Who::FromTheFuture, "not valid yet"),
    ] {
        let token = who.token()?.unwrap_or_default();
        let response = app
            .request(Method::GET, "/v1/orders", Some(&token))
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{who:?}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\"",
            "{who:?}"
        );
        let text = response.text().await?;
        let body: Value = serde_json::from_str(&text)?;
        assert!(
            body["detail"].as_str().unwrap_or_default().contains(reason),
            "{who:?}: {body}"
        );
        let signature = token.rsplit('.').next().unwrap_or_default();
        assert!(!text.contains(&token), "{who:?} echoed the token");
        assert!(
            signature.is_empty() || !text.contains(signature),
            "{who:?} echoed the signature"
        );
    }
    // The probes, metrics and documentation need no token.
    for open in [
        "/health/live",
        "/health/ready",
        "/metrics",
        "/openapi.json",
        "/",
    ] {
        let response = app.request(Method::GET, open, None).send().await?;
        assert_eq!(response.status(), StatusCode::OK, "{open}");
    }
    Ok(())
}

/// Each caller's list holds only what it may see, and asking for others' is refused.
async fn lists_show_each_caller_only_the_orders_it_may_see(backend: Backend) -> TestResult {
    let app = spawn_with_jwks(backend, &["rsa-1", "ec-1"], NO_RATE_LIMIT).await?;
    let mine = app.order_in(State::Pending).await?;
    let mut theirs_body = order_body();
    theirs_body["customerId"] = json!("cust-2");
    theirs_body["storeId"] = json!("store-2");
    let theirs = app
        .as_admin(Method::POST, "/v1/orders", Some(theirs_body))
        .await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let listed = |who: Who, query: &'static str| {
        let app = &app;
        async move {
            let token = who.token()?;
            let response = app
                .request(Method::GET, &format!("/v1/orders{query}"), token.as_deref())
                .send()
                .await?;
            let status = response.status();
            let page: Value = response.json().await?;
            let mut ids: Vec<String> = crate::helpers::ids_of(&page);
            ids.sort();
            anyhow::Ok((status, ids))
        }
    };
    let mut both = vec![mine.clone(), theirs.clone()];
    both.sort();
    let ok = StatusCode::OK;
    for (who, query, want) in [
        (Who::Owner, "", vec![mine.clone()]),
        (Who::Owner, "?customerId=cust-1", vec![mine.clone()]),
        (Who::AnotherCustomer, "", vec![theirs.clone()]),
        (Who::OwnStore, "", vec![mine.clone()]),
        (Who::OwnStore, "?storeId=store-1", vec![mine.clone()]),
        (Who::AnotherStore, "", vec![theirs.clone()]),
        (Who::Payments, "", both.clone()),
        (Who::Fulfillment, "", both.clone()),
        (Who::Admin, "", both.clone()),
        (Who::Admin, "?customerId=cust-2", vec![theirs.clone()]),
    ] {
        assert_eq!(listed(who, query).await?, (ok, want), "{who:?} {query}");
    }
    for (who, query) in [
        (Who::Owner, "?customerId=cust-2"),
        (Who::OwnStore, "?storeId=store-2"),
    ] {
        let (status, _) = listed(who, query).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who:?} {query}");
    }
    Ok(())
}

/// Changes record who made them: the caller and the scope that allowed the change.
async fn history_names_the_caller_and_the_scope_of_each_change(backend: Backend) -> TestResult {
    let app = spawn_with_jwks(backend, &["rsa-1", "ec-1"], NO_RATE_LIMIT).await?;
    let id = app.order_in(State::Paid).await?;
    let store = Who::OwnStore.token()?;
    let response = app
        .request(
            Method::PUT,
            &format!("/v1/orders/{id}/shipment/tracking"),
            store.as_deref(),
        )
        .json(&json!({"carrier": "UPS", "trackingNumber": "1Z555"}))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let history = app
        .as_admin(Method::GET, &format!("/v1/orders/{id}/history"), None)
        .await?;
    let actors: Vec<Value> = history["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| json!([entry["event"], entry["actor"]]))
        .collect();
    let admin = json!({"sub": "ops", "scope": "orders:admin"});
    assert_eq!(
        actors,
        vec![
            json!(["order_placed", admin]),
            json!(["payment_confirmed", admin]),
            json!(["shipment_tracking_set", {"sub": "clerk-1", "scope": "orders:store"}]),
        ]
    );
    Ok(())
}

async fn place_as(
    app: &AuthApp,
    who: Who,
    body: &Value,
    key: &str,
) -> anyhow::Result<(StatusCode, Value, bool)> {
    let token = who.token()?;
    let response = app
        .request(Method::POST, "/v1/orders", token.as_deref())
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await?;
    let status = response.status();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    Ok((status, response.json().await?, replayed))
}

/// The same key from two callers names two requests: two orders, and each caller's
/// replay is its own answer; nobody gets another's.
async fn idempotency_keys_belong_to_their_caller(backend: Backend) -> TestResult {
    let app = spawn_with_jwks(backend, &["rsa-1"], NO_RATE_LIMIT).await?;
    let key = "checkout-42";
    let mut theirs = order_body();
    theirs["customerId"] = json!("cust-2");
    let (status, first, replayed) = place_as(&app, Who::Owner, &order_body(), key).await?;
    assert_eq!((status, replayed), (StatusCode::CREATED, false));
    let (status, second, replayed) = place_as(&app, Who::AnotherCustomer, &theirs, key).await?;
    assert_eq!((status, replayed), (StatusCode::CREATED, false));
    assert_ne!(first["id"], second["id"]);
    assert_eq!(second["customerId"], "cust-2");
    // Each caller's replay is its own order.
    let (status, again, replayed) = place_as(&app, Who::Owner, &order_body(), key).await?;
    assert_eq!((status, replayed), (StatusCode::CREATED, true));
    assert_eq!(again["id"], first["id"]);
    let (status, again, replayed) = place_as(&app, Who::AnotherCustomer, &theirs, key).await?;
    assert_eq!((status, replayed), (StatusCode::CREATED, true));
    assert_eq!(again["id"], second["id"]);
    // The first caller's very request, under its key, from someone else: never its
    // answer. A customer may not place it; an operator places an order of its own.
    let (status, refused, _) = place_as(&app, Who::AnotherCustomer, &order_body(), key).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, operators, replayed) = place_as(&app, Who::Admin, &order_body(), key).await?;
    assert_eq!((status, replayed), (StatusCode::CREATED, false));
    assert_ne!(operators["id"], first["id"]);
    assert_eq!(app.order_count().await?, 3);
    Ok(())
}

/// The identity provider rotates its keys: a token of the new key is taken as soon as
/// the JWKS document lists it, without a restart; a flood of tokens naming keys nobody
/// knows makes no more fetches than the limit.
async fn keys_rotate_without_a_restart_and_unknown_keys_do_not_flood_the_provider(
    backend: Backend,
) -> TestResult {
    let app = spawn_with_jwks(backend, &["rsa-1"], NO_RATE_LIMIT).await?;
    let fetches = || async {
        app.identity_provider
            .received_requests()
            .await
            .map_or(0, |requests| requests.len())
    };
    let owner = claims("cust-1", &["orders:customer"], None);
    let list = |token: String| {
        let app = &app;
        async move {
            anyhow::Ok(
                app.request(Method::GET, "/v1/orders", Some(&token))
                    .send()
                    .await?
                    .status(),
            )
        }
    };
    assert_eq!(list(signed_by("rsa-1", &owner)?).await?, StatusCode::OK);
    assert_eq!(fetches().await, 1, "fetched once at start-up");
    // The provider starts signing with a new key, and lists it (the fake starts
    // counting afresh).
    serve_jwks(&app.identity_provider, &["rsa-1", "rsa-2"]).await?;
    assert_eq!(list(signed_by("rsa-2", &owner)?).await?, StatusCode::OK);
    assert_eq!(fetches().await, 1, "fetched again for the new key");
    assert_eq!(list(signed_by("rsa-1", &owner)?).await?, StatusCode::OK);
    // Tokens naming keys nobody knows, all at once: refused, and the provider is not
    // asked again within the refetch interval.
    let flood = (0..50).map(|n| {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(format!("unknown-{n}"));
        let key = EncodingKey::from_rsa_pem(fixture("rsa-2.pem")?.as_bytes())?;
        let token = jsonwebtoken::encode(&header, &owner, &key)?;
        anyhow::Ok(list(token))
    });
    let statuses =
        futures::future::try_join_all(flood.collect::<anyhow::Result<Vec<_>>>()?).await?;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(fetches().await, 1, "the flood made no fetch");
    Ok(())
}

/// A caller beyond its bucket is refused with 429 and told when to come back, nothing
/// it sent is processed, its bucket refills, and other callers never notice.
async fn a_caller_beyond_its_rate_limit_waits_and_others_do_not(backend: Backend) -> TestResult {
    let app = crate::helpers::spawn_app_with(
        backend,
        AppOptions {
            auth: AuthSettings {
                hs256_secret: Some(Secret::new(HS256_SECRET)),
                issuer: Some(ISSUER.into()),
                audience: Some(AUDIENCE.into()),
                ..AuthSettings::default()
            },
            rate_limit: RateLimitSettings {
                per_second: Some(1),
                burst: 3,
            },
            ..AppOptions::default()
        },
    )
    .await?;
    app.customer_exists("cust-1").await;
    app.stock_is_plentiful().await;
    let token = |sub: &str| {
        let key = EncodingKey::from_secret(HS256_SECRET.as_bytes())?;
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(sub, &["orders:customer"], None),
            &key,
        )
    };
    let (greedy, patient) = (token("cust-1")?, token("cust-2")?);
    let list = |token: &str| {
        app.client
            .get(app.url("/v1/orders?limit=100"))
            .bearer_auth(token)
            .send()
    };
    for remaining in (0..3).rev() {
        let response = list(&greedy).await?;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["ratelimit-policy"], "\"caller\";q=3;w=3");
        let state = response.headers()["ratelimit"].to_str()?.to_owned();
        assert!(
            state.starts_with(&format!("\"caller\";r={remaining};")),
            "{state}"
        );
    }
    let refused = app
        .client
        .post(app.url("/v1/orders"))
        .bearer_auth(&greedy)
        .json(&order_body())
        .send()
        .await?;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await?;
    assert_eq!(body["code"], "rate_limited");
    // Another caller has a bucket of its own.
    assert_eq!(list(&patient).await?.status(), StatusCode::OK);
    // The bucket refills: a request a second.
    eventually(Duration::from_secs(5), "the bucket refills", || async {
        Ok(list(&greedy).await?.status() == StatusCode::OK)
    })
    .await?;
    // The refused placement was not processed.
    assert!(app.all_order_ids().await?.is_empty());
    Ok(())
}

order_adapters::on_both_backends!(
    every_endpoint_answers_each_caller_as_the_scope_table_says,
    a_refused_token_is_named_in_the_challenge_never_echoed,
    lists_show_each_caller_only_the_orders_it_may_see,
    history_names_the_caller_and_the_scope_of_each_change,
    idempotency_keys_belong_to_their_caller,
    keys_rotate_without_a_restart_and_unknown_keys_do_not_flood_the_provider,
    a_caller_beyond_its_rate_limit_waits_and_others_do_not,
);
