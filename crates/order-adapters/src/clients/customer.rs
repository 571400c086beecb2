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
