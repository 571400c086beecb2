//! The notification service: `POST {base}/notifications` with the notification of a
//! customer-facing event, idempotent by the event's id.

use order_domain::RecordedEvent;
use serde::Serialize;
use serde_json::Value;

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
