//! The inventory service: `POST {base}/reservations` (201 | 404 missing | 409
//! insufficient) and `DELETE {base}/reservations/{id}` (204 | 404 already released).

use std::sync::Arc;

use async_trait::async_trait;
use order_domain::{
    InvalidValue, Inventory, OrderId, ProductId, RequestId, Reservation, ReservationError,
    Shortage, UpstreamService, UpstreamUnavailable,
};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::{CircuitBreaker, Upstream, UpstreamSettings, json_body, unexpected};

/// The inventory service, over HTTP.
#[derive(Debug, Clone)]
pub struct HttpInventory {
    upstream: Upstream,
}

impl HttpInventory {
    /// A client of the inventory service at `settings.base_url`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(settings: &UpstreamSettings) -> anyhow::Result<Self> {
        Ok(Self {
            upstream: Upstream::new(UpstreamService::Inventory, settings)?,
        })
    }

    /// The circuit of the inventory service, to watch its state.
    pub fn circuit(&self) -> Arc<CircuitBreaker> {
        Arc::clone(&self.upstream.circuit)
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

/// The inventory's refusal of a reservation: its answer, not a failure.
type Refusal = Result<(), ReservationError>;

#[async_trait]
impl Inventory for HttpInventory {
    async fn reserve(
        &self,
        reservation: &Reservation,
        request_id: &RequestId,
    ) -> Result<(), ReservationError> {
        let items: Vec<_> = reservation
            .lines
            .iter()
            .map(|line| json!({"productId": line.product_id.as_str(), "quantity": line.quantity.get()}))
            .collect();
        // The reservation's id is the order's, so a repeated attempt is the same
        // reservation to the inventory: retrying it is safe.
        let request = self
            .upstream
            .http
            .post(self.upstream.url("/reservations"))
            .json(&json!({"reservationId": reservation.id.to_string(), "items": items}));
        let answer: Refusal = self
            .upstream
            .call(request, request_id, |response| async move {
                match response.status() {
                    StatusCode::CREATED | StatusCode::OK => Ok(Ok(())),
                    StatusCode::NOT_FOUND => {
                        let body: MissingBody = json_body(response).await?;
                        let products = body
                            .missing
                            .into_iter()
                            .map(ProductId::parse)
                            .collect::<Result<_, _>>()
                            .map_err(|error| format!("unusable product id: {error}"))?;
                        Ok(Err(ReservationError::UnknownProducts(products)))
                    }
                    StatusCode::CONFLICT => {
                        let body: InsufficientBody = json_body(response).await?;
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
                            .collect::<Result<_, InvalidValue>>()
                            .map_err(|error| format!("unusable product id: {error}"))?;
                        Ok(Err(ReservationError::InsufficientStock(shortages)))
                    }
                    status => Err(unexpected(status)),
                }
            })
            .await?;
        answer
    }

    async fn release(
        &self,
        reservation_id: OrderId,
        request_id: &RequestId,
    ) -> Result<(), UpstreamUnavailable> {
        let request = self.upstream.http.delete(
            self.upstream
                .url(&format!("/reservations/{reservation_id}")),
        );
        self.upstream
            .call(request, request_id, |response| async move {
                match response.status() {
                    // 404: already released, which is what was asked.
                    StatusCode::NO_CONTENT | StatusCode::OK | StatusCode::NOT_FOUND => Ok(()),
                    status => Err(unexpected(status)),
                }
            })
            .await
    }
}
