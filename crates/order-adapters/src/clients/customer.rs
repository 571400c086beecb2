//! The customer service: `GET {base}/customers/{id}` → 200 with the customer, or 404.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use moka::sync::Cache;
use order_domain::{
    Address, Customer, CustomerDirectory, CustomerId, RequestId, UncheckedAddress, UpstreamService,
    UpstreamUnavailable,
};
use reqwest::StatusCode;
use serde::Deserialize;

use super::{CircuitBreaker, Upstream, UpstreamSettings, json_body, unexpected};

/// An address as upstream services and the demo directory's file write it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddressBody {
    line1: String,
    line2: Option<String>,
    city: String,
    region: Option<String>,
    postal_code: String,
    country: String,
}

/// A customer as the customer service (and the demo directory's file) describes them.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CustomerBody {
    id: String,
    shipping_address: Option<AddressBody>,
}

impl CustomerBody {
    pub(crate) fn into_customer(self) -> anyhow::Result<Customer> {
        let shipping_address = self
            .shipping_address
            .map(|a| {
                Address::parse(UncheckedAddress {
                    line1: a.line1,
                    line2: a.line2,
                    city: a.city,
                    region: a.region,
                    postal_code: a.postal_code,
                    country: a.country,
                })
                .map_err(|errors| anyhow::anyhow!("invalid shipping address: {errors:?}"))
            })
            .transpose()?;
        Ok(Customer {
            id: CustomerId::parse(self.id)?,
            shipping_address,
        })
    }
}

/// The customer service, over HTTP.
#[derive(Debug, Clone)]
pub struct HttpCustomerDirectory {
    upstream: Upstream,
    /// Customers found lately, when remembered at all (see
    /// [`HttpCustomerDirectory::remembering_found`]).
    found: Option<Cache<CustomerId, Customer>>,
}

impl HttpCustomerDirectory {
    /// A client of the customer service at `settings.base_url`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no TLS roots, say).
    pub fn new(settings: &UpstreamSettings) -> anyhow::Result<Self> {
        Ok(Self {
            upstream: Upstream::new(UpstreamService::Customer, settings)?,
            found: None,
        })
    }

    /// Remembers each customer found for `keep`, up to `capacity` of them (the least
    /// used go first), so that a customer placing one order after another is looked up
    /// once in a while rather than once an order. A change the customer service makes
    /// (an address on file) is seen once the entry expires. Unknown customers are not
    /// remembered: they may be created at any moment. A `keep` of zero remembers nothing.
    #[must_use]
    pub fn remembering_found(mut self, keep: Duration, capacity: u64) -> Self {
        self.found = (!keep.is_zero()).then(|| {
            Cache::builder()
                .time_to_live(keep)
                .max_capacity(capacity)
                .build()
        });
        self
    }

    /// The circuit of the customer service, to watch its state.
    pub fn circuit(&self) -> Arc<CircuitBreaker> {
        Arc::clone(&self.upstream.circuit)
    }
}

#[async_trait]
impl CustomerDirectory for HttpCustomerDirectory {
    async fn find_customer(
        &self,
        id: &CustomerId,
        request_id: &RequestId,
    ) -> Result<Option<Customer>, UpstreamUnavailable> {
        if let Some(found) = &self.found {
            let remembered = found.get(id);
            self.upstream
                .observer
                .cache_lookup(UpstreamService::Customer, remembered.is_some());
            if remembered.is_some() {
                return Ok(remembered);
            }
        }
        let answer = self.look_up(id, request_id).await?;
        if let (Some(found), Some(customer)) = (&self.found, &answer) {
            found.insert(id.clone(), customer.clone());
        }
        Ok(answer)
    }
}

impl HttpCustomerDirectory {
    async fn look_up(
        &self,
        id: &CustomerId,
        request_id: &RequestId,
    ) -> Result<Option<Customer>, UpstreamUnavailable> {
        // Customer ids are URL-safe by construction, so the path needs no escaping.
        let request = self
            .upstream
            .http
            .get(self.upstream.url(&format!("/customers/{id}")));
        self.upstream
            .call(request, request_id, |response| async move {
                match response.status() {
                    StatusCode::OK => json_body::<CustomerBody>(response)
                        .await?
                        .into_customer()
                        .map(Some)
                        .map_err(|error| format!("unusable customer: {error:#}")),
                    StatusCode::NOT_FOUND => Ok(None),
                    status => Err(unexpected(status)),
                }
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Instant;

    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::clients::{CallObserver, CallOutcome, CallPolicy};

    /// Counts the cache's hits and misses.
    #[derive(Debug, Default)]
    struct Lookups(Mutex<Vec<bool>>);

    impl CallObserver for Lookups {
        fn call_ended(&self, _: UpstreamService, _: CallOutcome, _: Duration) {}

        fn cache_lookup(&self, _: UpstreamService, hit: bool) {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(hit);
        }
    }

    impl Lookups {
        fn seen(&self) -> Vec<bool> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
        }
    }

    async fn customer_service() -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/customers/cust-1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "cust-1"})))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/customers/cust-9"))
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
        server
    }

    fn directory(
        server: &MockServer,
        lookups: &Arc<Lookups>,
    ) -> anyhow::Result<HttpCustomerDirectory> {
        let observer: Arc<dyn CallObserver> = Arc::clone(lookups) as Arc<dyn CallObserver>;
        HttpCustomerDirectory::new(&UpstreamSettings {
            base_url: server.uri(),
            policy: CallPolicy::default(),
            observer,
        })
    }

    async fn calls_to(server: &MockServer, customer: &str) -> usize {
        let wanted = format!("/customers/{customer}");
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|request| request.url.path() == wanted)
            .count()
    }

    #[tokio::test]
    async fn a_customer_found_is_looked_up_once_while_remembered() -> anyhow::Result<()> {
        let server = customer_service().await;
        let lookups = Arc::new(Lookups::default());
        let customers =
            directory(&server, &lookups)?.remembering_found(Duration::from_secs(60), 100);
        let id = CustomerId::parse("cust-1")?;
        for _ in 0..3 {
            let found = customers.find_customer(&id, &RequestId::generate()).await?;
            assert_eq!(found.map(|customer| customer.id), Some(id.clone()));
        }
        assert_eq!(calls_to(&server, "cust-1").await, 1);
        assert_eq!(lookups.seen(), [false, true, true]);
        Ok(())
    }

    #[tokio::test]
    async fn an_unknown_customer_is_asked_for_every_time() -> anyhow::Result<()> {
        let server = customer_service().await;
        let lookups = Arc::new(Lookups::default());
        let customers =
            directory(&server, &lookups)?.remembering_found(Duration::from_secs(60), 100);
        let id = CustomerId::parse("cust-9")?;
        for _ in 0..2 {
            assert_eq!(
                customers.find_customer(&id, &RequestId::generate()).await?,
                None
            );
        }
        assert_eq!(calls_to(&server, "cust-9").await, 2);
        assert_eq!(lookups.seen(), [false, false]);
        Ok(())
    }

    #[tokio::test]
    async fn a_remembered_customer_is_asked_for_again_once_expired() -> anyhow::Result<()> {
        let server = customer_service().await;
        let lookups = Arc::new(Lookups::default());
        let customers =
            directory(&server, &lookups)?.remembering_found(Duration::from_millis(20), 100);
        let id = CustomerId::parse("cust-1")?;
        customers.find_customer(&id, &RequestId::generate()).await?;
        // Asked until the entry has expired and the service is called a second time.
        let deadline = Instant::now() + Duration::from_secs(5);
        while calls_to(&server, "cust-1").await < 2 {
            assert!(Instant::now() < deadline, "the entry never expired");
            customers.find_customer(&id, &RequestId::generate()).await?;
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_zero_keep_remembers_nothing() -> anyhow::Result<()> {
        let server = customer_service().await;
        let lookups = Arc::new(Lookups::default());
        let customers = directory(&server, &lookups)?.remembering_found(Duration::ZERO, 100);
        let id = CustomerId::parse("cust-1")?;
        for _ in 0..2 {
            customers.find_customer(&id, &RequestId::generate()).await?;
        }
        assert_eq!(calls_to(&server, "cust-1").await, 2);
        assert!(lookups.seen().is_empty());
        Ok(())
    }
}
