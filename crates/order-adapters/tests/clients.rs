//! The HTTP clients of the upstream services against wiremock fakes of them: each
//! turns the answers the spec names into the ports' terms (a 404 is "unknown", a 409
//! the inventory's shortages), anything unusable into `UpstreamUnavailable`, and keeps
//! calls within their policy: retried when safe and failing, never when answered.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use order_adapters::testing::eventually;
use order_adapters::{
    CallObserver, CallOutcome, CallPolicy, CircuitSettings, HttpCustomerDirectory, HttpInventory,
    HttpNotifier, HttpPayments, HttpShipping, UpstreamSettings,
};
use order_domain::{
    Address, Currency, CustomerDirectory, CustomerId, EventId, Inventory, Money, Notifier,
    NotifyError, OrderId, PaymentCheck, PaymentRecord, PaymentReference, PaymentStatus, Payments,
    ProductId, Quantity, QuoteRequest, RecordedEvent, RefundError, RefundRequest, RequestId,
    Reservation, ReservationError, ReservationLine, ShippingQuotes, Shortage, UncheckedAddress,
    UpstreamService, UpstreamUnavailable,
};
use serde_json::json;
use uuid::Uuid;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate, Times};

type TestResult = anyhow::Result<()>;

/// Remembers how each call ended and whether each look-up among remembered answers
/// found one, as the service's metrics are told.
#[derive(Debug, Default)]
struct Outcomes {
    calls: Mutex<Vec<CallOutcome>>,
    cache_hits: Mutex<Vec<bool>>,
}

impl CallObserver for Outcomes {
    fn call_ended(&self, _: UpstreamService, outcome: CallOutcome, _: Duration) {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(outcome);
    }

    fn cache_lookup(&self, _: UpstreamService, hit: bool) {
        self.cache_hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(hit);
    }
}

impl Outcomes {
    fn seen(&self) -> Vec<CallOutcome> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn cache_hits(&self) -> Vec<bool> {
        self.cache_hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The default policy with waits short enough for tests: 3 attempts per call, and a
/// circuit that opens after 5 failed calls.
fn policy() -> CallPolicy {
    CallPolicy {
        attempt_timeout: Duration::from_millis(500),
        call_timeout: Duration::from_secs(2),
        first_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..CallPolicy::default()
    }
}

/// A client made by `new` of the fake at `server`, with `policy`, and what it tells
/// its observer.
fn client_with<T>(
    server: &MockServer,
    policy: CallPolicy,
    new: impl FnOnce(&UpstreamSettings) -> anyhow::Result<T>,
) -> anyhow::Result<(T, Arc<Outcomes>)> {
    let outcomes = Arc::new(Outcomes::default());
    let settings = UpstreamSettings {
        base_url: server.uri(),
        policy,
        observer: Arc::clone(&outcomes) as Arc<dyn CallObserver>,
    };
    Ok((new(&settings)?, outcomes))
}

fn client<T>(
    server: &MockServer,
    new: impl FnOnce(&UpstreamSettings) -> anyhow::Result<T>,
) -> anyhow::Result<(T, Arc<Outcomes>)> {
    client_with(server, policy(), new)
}

/// Answers `response` to `verb` on `route`, expecting `calls` such requests.
async fn answer(
    server: &MockServer,
    verb: &str,
    route: &str,
    response: ResponseTemplate,
    calls: impl Into<Times>,
) {
    Mock::given(method(verb))
        .and(path(route))
        .respond_with(response)
        .expect(calls)
        .mount(server)
        .await;
}

/// A fake of its own answering as [`answer`] does.
async fn serving(
    verb: &str,
    route: &str,
    response: ResponseTemplate,
    calls: impl Into<Times>,
) -> MockServer {
    let server = MockServer::start().await;
    answer(&server, verb, route, response, calls).await;
    server
}

fn json_answer(status: u16, body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

fn malformed(status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("Content-Type", "application/json")
        .set_body_string("{\"not\": json")
}

fn unavailable_from<T: std::fmt::Debug>(
    result: Result<T, UpstreamUnavailable>,
    service: UpstreamService,
) -> anyhow::Result<UpstreamUnavailable> {
    match result {
        Err(unavailable) if unavailable.service == service => Ok(unavailable),
        other => anyhow::bail!("expected the {service} service to be unavailable, got {other:?}"),
    }
}

fn address() -> anyhow::Result<Address> {
    Address::parse(UncheckedAddress {
        line1: "1 Main St".into(),
        city: "Springfield".into(),
        region: Some("IL".into()),
        postal_code: "62701".into(),
        country: "US".into(),
        ..UncheckedAddress::default()
    })
    .map_err(|errors| anyhow::anyhow!("{errors:?}"))
}

fn order_id() -> OrderId {
    OrderId::from_uuid(Uuid::from_u128(42))
}

fn lines(items: &[(&str, i64)]) -> anyhow::Result<Vec<ReservationLine>> {
    items
        .iter()
        .map(|(product, quantity)| {
            Ok(ReservationLine {
                product_id: ProductId::parse(*product)?,
                quantity: Quantity::new(*quantity)?,
            })
        })
        .collect()
}

fn reservation() -> anyhow::Result<Reservation> {
    Ok(Reservation {
        id: order_id(),
        lines: lines(&[("prod-1", 2), ("prod-2", 1)])?,
    })
}

// The customer service.

async fn find_customer(
    customers: &HttpCustomerDirectory,
    id: &str,
) -> anyhow::Result<Result<Option<order_domain::Customer>, UpstreamUnavailable>> {
    Ok(customers
        .find_customer(&CustomerId::parse(id)?, &RequestId::generate())
        .await)
}

/// A client of the customer service that remembers customers found for `keep`.
fn remembering(
    server: &MockServer,
    keep: Duration,
) -> anyhow::Result<(HttpCustomerDirectory, Arc<Outcomes>)> {
    client(server, |settings| {
        Ok(HttpCustomerDirectory::new(settings)?.remembering_found(keep, 100))
    })
}

#[tokio::test]
async fn a_customer_found_is_looked_up_once_while_remembered() -> TestResult {
    let found = json_answer(200, json!({"id": "cust-1"}));
    let server = serving("GET", "/customers/cust-1", found, 1).await;
    let (customers, outcomes) = remembering(&server, Duration::from_secs(60))?;
    for _ in 0..3 {
        let customer = find_customer(&customers, "cust-1").await??;
        assert_eq!(
            customer.map(|c| c.id.to_string()),
            Some("cust-1".to_owned())
        );
    }
    assert_eq!(outcomes.cache_hits(), [false, true, true]);
    Ok(())
}

#[tokio::test]
async fn an_unknown_customer_is_asked_for_every_time() -> TestResult {
    let unknown = ResponseTemplate::new(404);
    let server = serving("GET", "/customers/cust-9", unknown, 2).await;
    let (customers, outcomes) = remembering(&server, Duration::from_secs(60))?;
    for _ in 0..2 {
        assert_eq!(find_customer(&customers, "cust-9").await??, None);
    }
    assert_eq!(outcomes.cache_hits(), [false, false]);
    Ok(())
}

#[tokio::test]
async fn a_remembered_customer_is_asked_for_again_once_expired() -> TestResult {
    let found = json_answer(200, json!({"id": "cust-1"}));
    let server = serving("GET", "/customers/cust-1", found, 2..).await;
    let (customers, outcomes) = remembering(&server, Duration::from_millis(20))?;
    eventually(Duration::from_secs(5), "the entry expired", async || {
        find_customer(&customers, "cust-1").await??;
        Ok(outcomes.seen().len() == 2)
    })
    .await
}

#[tokio::test]
async fn a_zero_keep_remembers_nothing() -> TestResult {
    let found = json_answer(200, json!({"id": "cust-1"}));
    let server = serving("GET", "/customers/cust-1", found, 2).await;
    let (customers, outcomes) = remembering(&server, Duration::ZERO)?;
    for _ in 0..2 {
        find_customer(&customers, "cust-1").await??;
    }
    assert!(outcomes.cache_hits().is_empty());
    Ok(())
}

#[tokio::test]
async fn a_known_customer_is_found_with_the_address_on_file_and_the_request_id_passed_on()
-> TestResult {
    let server = MockServer::start().await;
    let request_id = RequestId::generate();
    Mock::given(method("GET"))
        .and(path("/customers/cust-1"))
        .and(header("X-Request-Id", request_id.as_str()))
        .respond_with(json_answer(
            200,
            json!({"id": "cust-1", "name": "Ada", "email": "ada@example.com",
                   "shippingAddress": {"line1": "1 Main St", "city": "Springfield",
                                       "region": "IL", "postalCode": "62701", "country": "US"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let (customers, outcomes) = client(&server, HttpCustomerDirectory::new)?;
    let customer = customers
        .find_customer(&CustomerId::parse("cust-1")?, &request_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the customer was not found"))?;
    assert_eq!(customer.id.as_str(), "cust-1");
    assert_eq!(customer.shipping_address, Some(address()?));
    assert_eq!(outcomes.seen(), [CallOutcome::Succeeded]);
    Ok(())
}

#[tokio::test]
async fn an_unknown_customer_is_none_asked_once_and_not_a_failure() -> TestResult {
    let server = serving("GET", "/customers/cust-9", ResponseTemplate::new(404), 1).await;
    let (customers, outcomes) = client(&server, HttpCustomerDirectory::new)?;
    assert_eq!(find_customer(&customers, "cust-9").await?, Ok(None));
    assert_eq!(outcomes.seen(), [CallOutcome::Succeeded]);
    Ok(())
}

#[tokio::test]
async fn a_malformed_or_unusable_customer_is_unavailable_not_retried() -> TestResult {
    let server = serving("GET", "/customers/cust-1", malformed(200), 1).await;
    // Well-formed JSON, but an address the order could not ship to.
    answer(
        &server,
        "GET",
        "/customers/cust-2",
        json_answer(
            200,
            json!({"id": "cust-2", "shippingAddress": {"line1": "", "city": "",
                   "postalCode": "", "country": "Narnia"}}),
        ),
        1,
    )
    .await;
    let (customers, outcomes) = client(&server, HttpCustomerDirectory::new)?;
    for id in ["cust-1", "cust-2"] {
        let unavailable = unavailable_from(
            find_customer(&customers, id).await?,
            UpstreamService::Customer,
        )?;
        assert_eq!(unavailable.retry_after, None);
    }
    assert_eq!(outcomes.seen(), [CallOutcome::Failed, CallOutcome::Failed]);
    Ok(())
}

#[tokio::test]
async fn a_failing_customer_service_is_tried_three_times_then_unavailable() -> TestResult {
    let server = serving("GET", "/customers/cust-1", ResponseTemplate::new(500), 3).await;
    let (customers, outcomes) = client(&server, HttpCustomerDirectory::new)?;
    unavailable_from(
        find_customer(&customers, "cust-1").await?,
        UpstreamService::Customer,
    )?;
    assert_eq!(outcomes.seen(), [CallOutcome::Failed]);
    Ok(())
}

#[tokio::test]
async fn a_failed_attempt_is_retried_and_the_next_answer_counts() -> TestResult {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/customers/cust-1"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    answer(
        &server,
        "GET",
        "/customers/cust-1",
        json_answer(200, json!({"id": "cust-1", "shippingAddress": null})),
        1,
    )
    .await;
    let (customers, outcomes) = client(&server, HttpCustomerDirectory::new)?;
    let customer = find_customer(&customers, "cust-1").await??;
    assert_eq!(customer.map(|c| c.shipping_address), Some(None));
    assert_eq!(outcomes.seen(), [CallOutcome::Succeeded]);
    Ok(())
}

#[tokio::test]
async fn a_slow_service_is_given_up_within_the_call_budget() -> TestResult {
    let server = serving(
        "GET",
        "/customers/cust-1",
        ResponseTemplate::new(200).set_delay(Duration::from_secs(5)),
        1..=3,
    )
    .await;
    let policy = CallPolicy {
        attempt_timeout: Duration::from_millis(100),
        call_timeout: Duration::from_millis(250),
        ..policy()
    };
    let (customers, outcomes) = client_with(&server, policy, HttpCustomerDirectory::new)?;
    let started = std::time::Instant::now();
    unavailable_from(
        find_customer(&customers, "cust-1").await?,
        UpstreamService::Customer,
    )?;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(outcomes.seen(), [CallOutcome::Failed]);
    Ok(())
}

#[tokio::test]
async fn after_consecutive_failed_calls_the_circuit_refuses_at_once_without_asking() -> TestResult {
    // One attempt per call: five calls, five requests, then none.
    let server = serving("GET", "/customers/cust-1", ResponseTemplate::new(500), 5).await;
    let policy = CallPolicy {
        max_attempts: 1,
        circuit: CircuitSettings {
            failure_threshold: 5,
            open_for: Duration::from_secs(60),
        },
        ..policy()
    };
    let (customers, outcomes) = client_with(&server, policy, HttpCustomerDirectory::new)?;
    for _ in 0..5 {
        assert!(find_customer(&customers, "cust-1").await?.is_err());
    }
    let refused = unavailable_from(
        find_customer(&customers, "cust-1").await?,
        UpstreamService::Customer,
    )?;
    assert!(
        refused
            .retry_after
            .is_some_and(|wait| wait <= Duration::from_secs(60)),
        "{refused:?}"
    );
    assert_eq!(
        outcomes.seen(),
        [[CallOutcome::Failed; 5].as_slice(), &[CallOutcome::Refused]].concat()
    );
    Ok(())
}

// The inventory service.

/// The reservation of [`reservation`] as the inventory receives it: the order's id, so
/// that a repeat is the same reservation, and its items.
fn the_reservation_of_the_order() -> MockBuilder {
    Mock::given(method("POST"))
        .and(path("/reservations"))
        .and(body_json(json!({
            "reservationId": order_id().to_string(),
            "items": [{"productId": "prod-1", "quantity": 2}, {"productId": "prod-2", "quantity": 1}],
        })))
}

#[tokio::test]
async fn a_reservation_sends_the_order_s_id_and_items_and_201_is_reserved() -> TestResult {
    let server = MockServer::start().await;
    the_reservation_of_the_order()
        .respond_with(json_answer(
            201,
            json!({"reservationId": order_id().to_string()}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let (inventory, _) = client(&server, HttpInventory::new)?;
    assert_eq!(
        inventory
            .reserve(&reservation()?, &RequestId::generate())
            .await,
        Ok(())
    );
    Ok(())
}

#[tokio::test]
async fn a_409_is_insufficient_stock_with_each_shortage_asked_once() -> TestResult {
    let server = serving(
        "POST",
        "/reservations",
        json_answer(
            409,
            json!({"insufficient": [{"productId": "prod-1", "requested": 2, "available": 1}]}),
        ),
        1,
    )
    .await;
    let (inventory, outcomes) = client(&server, HttpInventory::new)?;
    assert_eq!(
        inventory
            .reserve(&reservation()?, &RequestId::generate())
            .await,
        Err(ReservationError::InsufficientStock(vec![Shortage {
            product_id: ProductId::parse("prod-1")?,
            requested: 2,
            available: 1,
        }]))
    );
    // The inventory's refusal is an answer: it does not count against its circuit.
    assert_eq!(outcomes.seen(), [CallOutcome::Succeeded]);
    Ok(())
}

#[tokio::test]
async fn a_404_names_the_products_the_inventory_does_not_know() -> TestResult {
    let server = serving(
        "POST",
        "/reservations",
        json_answer(404, json!({"missing": ["prod-2"]})),
        1,
    )
    .await;
    let (inventory, _) = client(&server, HttpInventory::new)?;
    assert_eq!(
        inventory
            .reserve(&reservation()?, &RequestId::generate())
            .await,
        Err(ReservationError::UnknownProducts(vec![ProductId::parse(
            "prod-2"
        )?]))
    );
    Ok(())
}

#[tokio::test]
async fn an_inventory_refusal_it_cannot_read_is_unavailable() -> TestResult {
    for refusal in [
        malformed(409),
        malformed(404),
        // A product id the order service could never have sent.
        json_answer(404, json!({"missing": ["not a product id"]})),
        json_answer(
            409,
            json!({"insufficient": [{"productId": "prod-1", "requested": -2, "available": 1}]}),
        ),
    ] {
        let server = serving("POST", "/reservations", refusal, 1).await;
        let (inventory, outcomes) = client(&server, HttpInventory::new)?;
        match inventory
            .reserve(&reservation()?, &RequestId::generate())
            .await
        {
            Err(ReservationError::Unavailable(unavailable)) => {
                assert_eq!(unavailable.service, UpstreamService::Inventory);
            }
            other => anyhow::bail!("expected the inventory to be unavailable, got {other:?}"),
        }
        assert_eq!(outcomes.seen(), [CallOutcome::Failed]);
    }
    Ok(())
}

#[tokio::test]
async fn a_failing_inventory_is_retried_as_the_same_reservation_then_unavailable() -> TestResult {
    let server = MockServer::start().await;
    the_reservation_of_the_order()
        .respond_with(ResponseTemplate::new(502))
        .expect(3)
        .mount(&server)
        .await;
    let (inventory, _) = client(&server, HttpInventory::new)?;
    assert!(matches!(
        inventory
            .reserve(&reservation()?, &RequestId::generate())
            .await,
        Err(ReservationError::Unavailable(_))
    ));
    Ok(())
}

#[tokio::test]
async fn releasing_is_done_on_204_and_on_404_already_released() -> TestResult {
    for status in [204, 404] {
        let server = MockServer::start().await;
        let route = format!("/reservations/{}", order_id());
        answer(&server, "DELETE", &route, ResponseTemplate::new(status), 1).await;
        let (inventory, _) = client(&server, HttpInventory::new)?;
        assert_eq!(
            inventory.release(order_id(), &RequestId::generate()).await,
            Ok(()),
            "answered {status}"
        );
    }
    let server = MockServer::start().await;
    let route = format!("/reservations/{}", order_id());
    answer(&server, "DELETE", &route, ResponseTemplate::new(500), 3).await;
    let (inventory, _) = client(&server, HttpInventory::new)?;
    unavailable_from(
        inventory.release(order_id(), &RequestId::generate()).await,
        UpstreamService::Inventory,
    )?;
    Ok(())
}

// The payment service.

fn check(reference: &str) -> anyhow::Result<PaymentCheck> {
    Ok(PaymentCheck {
        reference: PaymentReference::parse(reference)?,
        order_id: order_id(),
        amount: Money::from_minor_units(2800)?,
        currency: Currency::USD,
    })
}

#[tokio::test]
async fn a_payment_is_read_as_the_payment_service_describes_it() -> TestResult {
    let server = serving(
        "GET",
        "/payments/pay_123",
        json_answer(
            200,
            json!({"paymentReference": "pay_123", "orderId": "another-order",
                   "status": "authorized", "amount": 2700, "currency": "EUR"}),
        ),
        1,
    )
    .await;
    let (payments, _) = client(&server, HttpPayments::new)?;
    // Taken as it comes: checking it against the order is the domain's business.
    assert_eq!(
        payments
            .find_payment(&check("pay_123")?, &RequestId::generate())
            .await,
        Ok(Some(PaymentRecord {
            order_id: "another-order".into(),
            status: PaymentStatus::Authorized,
            amount: 2700,
            currency: "EUR".into(),
        }))
    );
    Ok(())
}

#[tokio::test]
async fn an_unknown_payment_is_none_and_a_reference_is_one_path_segment() -> TestResult {
    // A reference with a slash and dots names one payment; it cannot reach another path.
    let server = serving(
        "GET",
        "/payments/tok%2F%2E%2E%2Fx%3Fy",
        ResponseTemplate::new(404),
        1,
    )
    .await;
    let (payments, outcomes) = client(&server, HttpPayments::new)?;
    assert_eq!(
        payments
            .find_payment(&check("tok/../x?y")?, &RequestId::generate())
            .await,
        Ok(None)
    );
    assert_eq!(outcomes.seen(), [CallOutcome::Succeeded]);
    Ok(())
}

#[tokio::test]
async fn a_payment_in_an_unknown_status_or_unreadable_is_unavailable() -> TestResult {
    let server = serving(
        "GET",
        "/payments/pay_1",
        json_answer(
            200,
            json!({"paymentReference": "pay_1", "orderId": "o", "status": "pending",
                   "amount": 2800, "currency": "USD"}),
        ),
        1,
    )
    .await;
    answer(&server, "GET", "/payments/pay_2", malformed(200), 1).await;
    let (payments, _) = client(&server, HttpPayments::new)?;
    for reference in ["pay_1", "pay_2"] {
        unavailable_from(
            payments
                .find_payment(&check(reference)?, &RequestId::generate())
                .await,
            UpstreamService::Payment,
        )?;
    }
    Ok(())
}

fn refund() -> anyhow::Result<RefundRequest> {
    Ok(RefundRequest {
        refund_id: order_id(),
        payment_reference: PaymentReference::parse("pay_123")?,
        amount: Money::from_minor_units(2800)?,
        currency: Currency::USD,
    })
}

#[tokio::test]
async fn a_refund_is_asked_by_the_order_s_id_and_done_on_201_or_409_already_refunded() -> TestResult
{
    for status in [201, 409] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/refunds"))
            .and(body_json(json!({
                "refundId": order_id().to_string(),
                "paymentReference": "pay_123",
                "amount": 2800,
                "currency": "USD",
            })))
            .respond_with(ResponseTemplate::new(status))
            .expect(1)
            .mount(&server)
            .await;
        let (payments, _) = client(&server, HttpPayments::new)?;
        assert_eq!(
            payments.refund(&refund()?, &RequestId::generate()).await,
            Ok(()),
            "answered {status}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_refund_refused_with_a_4xx_is_refused_for_good_and_asked_once() -> TestResult {
    let server = serving("POST", "/refunds", ResponseTemplate::new(422), 1).await;
    let (payments, outcomes) = client(&server, HttpPayments::new)?;
    assert!(matches!(
        payments.refund(&refund()?, &RequestId::generate()).await,
        Err(RefundError::Refused(_))
    ));
    assert_eq!(outcomes.seen(), [CallOutcome::Succeeded]);
    Ok(())
}

#[tokio::test]
async fn a_refund_answered_429_or_5xx_is_retried_then_unavailable() -> TestResult {
    for status in [429, 503] {
        let server = serving("POST", "/refunds", ResponseTemplate::new(status), 3).await;
        let (payments, _) = client(&server, HttpPayments::new)?;
        assert!(
            matches!(
                payments.refund(&refund()?, &RequestId::generate()).await,
                Err(RefundError::Unavailable(_))
            ),
            "answered {status}"
        );
    }
    Ok(())
}

// The shipping service.

fn quote_request() -> anyhow::Result<QuoteRequest> {
    Ok(QuoteRequest {
        destination: address()?,
        items: lines(&[("prod-1", 2)])?,
        currency: Currency::USD,
    })
}

#[tokio::test]
async fn a_quote_is_asked_for_the_destination_and_items_and_read_in_its_currency() -> TestResult {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/quotes"))
        .and(body_json(json!({
            "destination": {"line1": "1 Main St", "line2": null, "city": "Springfield",
                            "region": "IL", "postalCode": "62701", "country": "US"},
            "items": [{"productId": "prod-1", "quantity": 2}],
            "currency": "USD",
        })))
        .respond_with(json_answer(
            200,
            json!({"amount": 750, "currency": "EUR", "serviceLevel": "express"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let (shipping, _) = client(&server, HttpShipping::new)?;
    let quote = shipping
        .quote(&quote_request()?, &RequestId::generate())
        .await?;
    // The quote's currency as quoted: refusing one in another currency is the domain's.
    assert_eq!(quote.amount, Money::from_minor_units(750)?);
    assert_eq!(quote.currency, Currency::parse("EUR")?);
    assert_eq!(quote.service_level, "express");
    Ok(())
}

#[tokio::test]
async fn a_quote_that_is_no_amount_of_money_or_currency_is_unavailable() -> TestResult {
    for quote in [
        json_answer(
            200,
            json!({"amount": -1, "currency": "USD", "serviceLevel": "standard"}),
        ),
        json_answer(
            200,
            json!({"amount": 500, "currency": "dollars", "serviceLevel": "standard"}),
        ),
        malformed(200),
        // The spec names no other answer.
        json_answer(404, json!({})),
    ] {
        let server = serving("POST", "/quotes", quote, 1).await;
        let (shipping, _) = client(&server, HttpShipping::new)?;
        unavailable_from(
            shipping
                .quote(&quote_request()?, &RequestId::generate())
                .await,
            UpstreamService::Shipping,
        )?;
    }
    Ok(())
}

// The notification service.

fn event() -> RecordedEvent {
    RecordedEvent {
        id: EventId::from_uuid(Uuid::from_u128(7)),
        order_id: order_id(),
        version: 1,
        name: "order_placed",
        at: Utc::now(),
        body: json!({"type": "order_placed", "data": {"order": {"id": order_id().to_string(),
                     "customerId": "cust-1", "status": "pending"}}})
        .to_string()
        .into_bytes(),
    }
}

#[tokio::test]
async fn a_notification_carries_the_event_s_id_as_its_idempotency_key() -> TestResult {
    let server = MockServer::start().await;
    let event_id = EventId::from_uuid(Uuid::from_u128(7)).to_string();
    Mock::given(method("POST"))
        .and(path("/notifications"))
        .and(header("Idempotency-Key", event_id.as_str()))
        .and(body_json(json!({
            "notificationId": event_id,
            "customerId": "cust-1",
            "orderId": order_id().to_string(),
            "event": "order_placed",
            "order": {"id": order_id().to_string(), "customerId": "cust-1", "status": "pending"},
        })))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;
    let (notifier, _) = client(&server, HttpNotifier::new)?;
    assert_eq!(
        notifier.notify(&event(), &RequestId::generate()).await,
        Ok(())
    );
    Ok(())
}

#[tokio::test]
async fn a_notification_is_retried_with_the_same_key_on_408_429_and_5xx_and_refused_on_other_4xx()
-> TestResult {
    for (status, attempts, refused) in [
        (400, 1, true),
        (408, 3, false),
        (429, 3, false),
        (500, 3, false),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/notifications"))
            .and(header(
                "Idempotency-Key",
                EventId::from_uuid(Uuid::from_u128(7)).to_string().as_str(),
            ))
            .respond_with(ResponseTemplate::new(status))
            .expect(attempts)
            .mount(&server)
            .await;
        let (notifier, _) = client(&server, HttpNotifier::new)?;
        let sent = notifier.notify(&event(), &RequestId::generate()).await;
        if refused {
            assert!(
                matches!(sent, Err(NotifyError::Refused(_))),
                "{status}: {sent:?}"
            );
        } else {
            assert!(
                matches!(sent, Err(NotifyError::Unavailable(_))),
                "{status}: {sent:?}"
            );
        }
    }
    Ok(())
}
