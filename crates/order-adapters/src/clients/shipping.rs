//! The shipping service: `POST {base}/quotes` → 200 with what shipping costs.

use std::sync::Arc;

use async_trait::async_trait;
use order_domain::{
    Currency, Money, Quote, QuoteRequest, RequestId, ShippingQuotes, UpstreamService,
    UpstreamUnavailable,
};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::{CircuitBreaker, Upstream, UpstreamSettings, json_body, unexpected};

/// The shipping service, over HTTP.
#[derive(Debug, Clone)]
pub struct HttpShipping {
    upstream: Upstream,
}

impl HttpShipping {
    /// A client of the shipping service at `settings.base_url`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(settings: &UpstreamSettings) -> anyhow::Result<Self> {
        Ok(Self {
            upstream: Upstream::new(UpstreamService::Shipping, settings)?,
        })
    }

    /// The circuit of the shipping service, to watch its state.
    pub fn circuit(&self) -> Arc<CircuitBreaker> {
        Arc::clone(&self.upstream.circuit)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QuoteBody {
    amount: i64,
    currency: String,
    service_level: String,
}

#[async_trait]
impl ShippingQuotes for HttpShipping {
    async fn quote(
        &self,
        request: &QuoteRequest,
        request_id: &RequestId,
    ) -> Result<Quote, UpstreamUnavailable> {
        let destination = &request.destination;
        let items: Vec<_> = request
            .items
            .iter()
            .map(|line| json!({"productId": line.product_id.as_str(), "quantity": line.quantity.get()}))
            .collect();
        // Asking for a quote changes nothing: retrying it is safe.
        let request = self
            .upstream
            .http
            .post(self.upstream.url("/quotes"))
            .json(&json!({
                "destination": {
                    "line1": destination.line1(), "line2": destination.line2(),
                    "city": destination.city(), "region": destination.region(),
                    "postalCode": destination.postal_code(), "country": destination.country(),
                },
                "items": items,
                "currency": request.currency.to_string(),
            }));
        self.upstream
            .call(request, request_id, |response| async move {
                match response.status() {
                    StatusCode::OK => {
                        let body: QuoteBody = json_body(response).await?;
                        Ok(Quote {
                            amount: Money::from_minor_units(body.amount)
                                .map_err(|error| format!("unusable amount: {error}"))?,
                            currency: Currency::parse(&body.currency)
                                .map_err(|error| format!("unusable currency: {error}"))?,
                            service_level: body.service_level,
                        })
                    }
                    status => Err(unexpected(status)),
                }
            })
            .await
    }
}
