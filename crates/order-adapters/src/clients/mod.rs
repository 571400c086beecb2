//! HTTP clients of the customer and inventory services, per the upstream contracts of
//! the order API spec. Each translates the remote answers into the ports' terms: a
//! remote 404 is "unknown", anything unusable is [`UpstreamUnavailable`].

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use order_domain::{
    Address, Customer, CustomerDirectory, CustomerId, Inventory, OrderId, ProductId, RequestId,
    Reservation, ReservationError, Shortage, UncheckedAddress, UpstreamService,
    UpstreamUnavailable,
};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

/// Where an upstream service is and how long one attempt may take.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// Base URL, such as `http://customers.internal:8080`.
    pub base_url: String,
    /// The longest one HTTP attempt may take, connection included.
    pub attempt_timeout: Duration,
}

/// An address as upstream services and the demo directory's file write it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AddressBody {
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

fn client(settings: &UpstreamSettings) -> anyhow::Result<(reqwest::Client, String)> {
    let http = reqwest::Client::builder()
        .timeout(settings.attempt_timeout)
        .connect_timeout(settings.attempt_timeout)
        .build()
        .context("cannot build an HTTP client")?;
    Ok((http, settings.base_url.trim_end_matches('/').to_owned()))
}

fn unavailable(service: UpstreamService, reason: impl std::fmt::Display) -> UpstreamUnavailable {
    UpstreamUnavailable {
        service,
        reason: reason.to_string(),
        retry_after: None,
    }
}

/// The customer service, over HTTP.
#[derive(Debug, Clone)]
pub struct HttpCustomerDirectory {
    http: reqwest::Client,
    base_url: String,
}

impl HttpCustomerDirectory {
    /// A client of the customer service at `settings.base_url`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no TLS roots, say).
    pub fn new(settings: &UpstreamSettings) -> anyhow::Result<Self> {
        let (http, base_url) = client(settings)?;
        Ok(Self { http, base_url })
    }
}

#[async_trait]
impl CustomerDirectory for HttpCustomerDirectory {
    async fn find_customer(
        &self,
        id: &CustomerId,
        request_id: &RequestId,
    ) -> Result<Option<Customer>, UpstreamUnavailable> {
        let failed =
            |reason: &dyn std::fmt::Display| unavailable(UpstreamService::Customer, reason);
        // Customer ids are URL-safe by construction, so the path needs no escaping.
        let response = self
            .http
            .get(format!("{}/customers/{}", self.base_url, id))
            .header("X-Request-Id", request_id.as_str())
            .send()
            .await
            .map_err(|e| failed(&e))?;
        match response.status() {
            StatusCode::OK => {
                let body: CustomerBody = response.json().await.map_err(|e| failed(&e))?;
                body.into_customer().map(Some).map_err(|e| failed(&e))
            }
            StatusCode::NOT_FOUND => Ok(None),
            status => Err(failed(&format!("answered {status}"))),
        }
    }
}

/// The inventory service, over HTTP.
#[derive(Debug, Clone)]
pub struct HttpInventory {
    http: reqwest::Client,
    base_url: String,
}

impl HttpInventory {
    /// A client of the inventory service at `settings.base_url`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(settings: &UpstreamSettings) -> anyhow::Result<Self> {
        let (http, base_url) = client(settings)?;
        Ok(Self { http, base_url })
    }
}

#[derive(Debug, Deserialize)]
struct MissingBody {
    missing: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShortageBody {
    product_id: String,
    requested: u32,
    available: u64,
}

#[derive(Debug, Deserialize)]
struct InsufficientBody {
    insufficient: Vec<ShortageBody>,
}

#[async_trait]
impl Inventory for HttpInventory {
    async fn reserve(
        &self,
        reservation: &Reservation,
        request_id: &RequestId,
    ) -> Result<(), ReservationError> {
        let failed =
            |reason: &dyn std::fmt::Display| unavailable(UpstreamService::Inventory, reason);
        let items: Vec<_> = reservation
            .lines
            .iter()
            .map(|line| json!({"productId": line.product_id.as_str(), "quantity": line.quantity.get()}))
            .collect();
        let response = self
            .http
            .post(format!("{}/reservations", self.base_url))
            .header("X-Request-Id", request_id.as_str())
            .json(&json!({"reservationId": reservation.id.to_string(), "items": items}))
            .send()
            .await
            .map_err(|e| failed(&e))?;
        match response.status() {
            StatusCode::CREATED | StatusCode::OK => Ok(()),
            StatusCode::NOT_FOUND => {
                let body: MissingBody = response.json().await.map_err(|e| failed(&e))?;
                let products = body
                    .missing
                    .into_iter()
                    .map(ProductId::parse)
                    .collect::<Result<_, _>>()
                    .map_err(|e| failed(&e))?;
                Err(ReservationError::UnknownProducts(products))
            }
            StatusCode::CONFLICT => {
                let body: InsufficientBody = response.json().await.map_err(|e| failed(&e))?;
                let shortages = body
                    .insufficient
                    .into_iter()
                    .map(|s| {
                        Ok(Shortage {
                            product_id: ProductId::parse(s.product_id)?,
                            requested: s.requested,
                            available: s.available,
                        })
                    })
                    .collect::<Result<_, order_domain::InvalidValue>>()
                    .map_err(|e| failed(&e))?;
                Err(ReservationError::InsufficientStock(shortages))
            }
            status => Err(failed(&format!("answered {status}")).into()),
        }
    }

    async fn release(
        &self,
        reservation_id: OrderId,
        request_id: &RequestId,
    ) -> Result<(), UpstreamUnavailable> {
        let failed =
            |reason: &dyn std::fmt::Display| unavailable(UpstreamService::Inventory, reason);
        let response = self
            .http
            .delete(format!("{}/reservations/{}", self.base_url, reservation_id))
            .header("X-Request-Id", request_id.as_str())
            .send()
            .await
            .map_err(|e| failed(&e))?;
        match response.status() {
            // 404: already released, which is what was asked.
            StatusCode::NO_CONTENT | StatusCode::OK | StatusCode::NOT_FOUND => Ok(()),
            status => Err(failed(&format!("answered {status}"))),
        }
    }
}
