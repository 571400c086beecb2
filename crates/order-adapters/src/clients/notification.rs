//! The notification service: `POST {base}/notifications` with the notification of a
//! customer-facing event, idempotent by the event's id (`Idempotency-Key`), so that a
//! notification repeated after a failure or a restart is sent once.

use std::sync::Arc;

use async_trait::async_trait;
use order_domain::{Notifier, NotifyError, RecordedEvent, RequestId, UpstreamService};
use reqwest::StatusCode;
use serde::Serialize;
use serde_json::Value;

use super::{CircuitBreaker, Upstream, UpstreamSettings, unexpected};

/// The notification service, over HTTP.
#[derive(Debug, Clone)]
pub struct HttpNotifier {
    upstream: Upstream,
}

impl HttpNotifier {
    /// A client of the notification service at `settings.base_url`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(settings: &UpstreamSettings) -> anyhow::Result<Self> {
        Ok(Self {
            upstream: Upstream::new(UpstreamService::Notification, settings)?,
        })
    }

    /// The circuit of the notification service, to watch its state.
    pub fn circuit(&self) -> Arc<CircuitBreaker> {
        Arc::clone(&self.upstream.circuit)
    }
}

/// The service's answer to a notification: taken, or refused for good.
type Answer = Result<(), String>;

#[async_trait]
impl Notifier for HttpNotifier {
    async fn notify(
        &self,
        event: &RecordedEvent,
        request_id: &RequestId,
    ) -> Result<(), NotifyError> {
        let notification = Notification::of(event).map_err(NotifyError::Refused)?;
        // Safe to repeat: the service deduplicates by the key, so failed attempts are
        // retried within the call too.
        let request = self
            .upstream
            .http
            .post(self.upstream.url("/notifications"))
            .header("Idempotency-Key", notification.notification_id.as_str())
            .json(&notification);
        let answer: Answer = self
            .upstream
            .call(request, request_id, |response| async move {
                let status = response.status();
                match status {
                    status if status.is_success() => Ok(Ok(())),
                    // Asked again, the same answer: not worth another try.
                    StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => {
                        Err(unexpected(status))
                    }
                    status if status.is_client_error() => Ok(Err(unexpected(status))),
                    status => Err(unexpected(status)),
                }
            })
            .await?;
        answer.map_err(NotifyError::Refused)
    }
}

/// What the notification service is sent for one event.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Notification {
    /// The event's id: the notification service deduplicates by it.
    pub notification_id: String,
    pub customer_id: String,
    pub order_id: String,
    /// What happened (`order_placed`, …).
    pub event: &'static str,
    /// The order after the change, as the API shows it.
    pub order: Value,
}

impl Notification {
    /// The notification of `event`, made from the order its body carries.
    ///
    /// # Errors
    /// When the body is not an event this service wrote (it always is).
    pub(crate) fn of(event: &RecordedEvent) -> Result<Self, String> {
        let mut body: Value = serde_json::from_slice(&event.body)
            .map_err(|error| format!("event {} is not JSON: {error}", event.id))?;
        let order = body["data"]["order"].take();
        let customer_id = order["customerId"]
            .as_str()
            .ok_or_else(|| format!("event {} names no customer", event.id))?
            .to_owned();
        Ok(Self {
            notification_id: event.id.to_string(),
            customer_id,
            order_id: event.order_id.to_string(),
            event: event.name,
            order,
        })
    }
}
