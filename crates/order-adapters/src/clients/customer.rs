//! The customer service: `GET {base}/customers/{id}` → 200 with the customer, or 404.

use std::sync::Arc;

use async_trait::async_trait;
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
}

impl HttpCustomerDirectory {
    /// A client of the customer service at `settings.base_url`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no TLS roots, say).
    pub fn new(settings: &UpstreamSettings) -> anyhow::Result<Self> {
        Ok(Self {
            upstream: Upstream::new(UpstreamService::Customer, settings)?,
        })
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
