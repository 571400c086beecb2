//! The payment service: `GET {base}/payments/{paymentReference}` (200 with the payment,
//! or 404) and `POST {base}/refunds` (201 | 409 already refunded | another 4xx refused).

use std::sync::Arc;

use async_trait::async_trait;
use order_domain::{
    PaymentCheck, PaymentRecord, PaymentStatus, Payments, RefundError, RefundRequest, RequestId,
    UpstreamService, UpstreamUnavailable,
};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::{CircuitBreaker, Upstream, UpstreamSettings, json_body, unexpected};

/// The payment service, over HTTP.
#[derive(Debug, Clone)]
pub struct HttpPayments {
    upstream: Upstream,
}

impl HttpPayments {
    /// A client of the payment service at `settings.base_url`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(settings: &UpstreamSettings) -> anyhow::Result<Self> {
        Ok(Self {
            upstream: Upstream::new(UpstreamService::Payment, settings)?,
        })
    }

    /// The circuit of the payment service, to watch its state.
    pub fn circuit(&self) -> Arc<CircuitBreaker> {
        Arc::clone(&self.upstream.circuit)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PaymentBody {
    order_id: String,
    status: String,
    amount: i64,
    currency: String,
}

fn status_of(name: &str) -> Option<PaymentStatus> {
    [
        PaymentStatus::Captured,
        PaymentStatus::Authorized,
        PaymentStatus::Failed,
        PaymentStatus::Refunded,
    ]
    .into_iter()
    .find(|status| status.as_str() == name)
}

/// The service's answer to a refund: done, or refused for good.
type Answer = Result<(), String>;

#[async_trait]
impl Payments for HttpPayments {
    async fn find_payment(
        &self,
        check: &PaymentCheck,
        request_id: &RequestId,
    ) -> Result<Option<PaymentRecord>, UpstreamUnavailable> {
        let url = self
            .upstream
            .url_with_segment("/payments/", check.reference.as_str());
        let request = self.upstream.http.get(url);
        self.upstream
            .call(request, request_id, |response| async move {
                match response.status() {
                    StatusCode::OK => {
                        let body: PaymentBody = json_body(response).await?;
                        let status = status_of(&body.status)
                            .ok_or_else(|| format!("unknown payment status {:?}", body.status))?;
                        Ok(Some(PaymentRecord {
                            order_id: body.order_id,
                            status,
                            amount: body.amount,
                            currency: body.currency,
                        }))
                    }
                    StatusCode::NOT_FOUND => Ok(None),
                    status => Err(unexpected(status)),
                }
            })
            .await
    }

    async fn refund(
        &self,
        refund: &RefundRequest,
        request_id: &RequestId,
    ) -> Result<(), RefundError> {
        // The refund's id is the order's, so a repeated attempt is the same refund to
        // the payment service: retrying it is safe.
        let request = self
            .upstream
            .http
            .post(self.upstream.url("/refunds"))
            .json(&json!({
                "refundId": refund.refund_id.to_string(),
                "paymentReference": refund.payment_reference.as_str(),
                "amount": refund.amount.minor_units(),
                "currency": refund.currency.to_string(),
            }));
        let answer: Answer = self
            .upstream
            .call(request, request_id, |response| async move {
                let status = response.status();
                match status {
                    // 409: refunded before, which is what was asked.
                    status if status.is_success() || status == StatusCode::CONFLICT => Ok(Ok(())),
                    StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => {
                        Err(unexpected(status))
                    }
                    status if status.is_client_error() => Ok(Err(unexpected(status))),
                    status => Err(unexpected(status)),
                }
            })
            .await?;
        answer.map_err(RefundError::Refused)
    }
}
