//! The events the service tells the rest of the marketplace, as CloudEvents 1.0 JSON:
//! each is a change's history entry, as `GET /v1/orders/{id}/history` shows it, with
//! the order as `GET /v1/orders/{id}` shows it after the change. Rendered here because
//! the wire shapes are the API's; the domain decides which events there are.

use order_domain::{EventFormat, OrderChanged};
use serde::Serialize;
use utoipa::ToSchema;

use crate::routes::orders::view::{HistoryEntryView, OrderView, timestamp};

/// The `source` of every event.
const SOURCE: &str = "/orders";

/// Renders events as CloudEvents.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloudEvents;

/// A change of an order, as a CloudEvent (version 1.0, structured JSON).
#[derive(Serialize, ToSchema)]
pub struct CloudEvent<'a> {
    /// `1.0`.
    #[schema(example = "1.0")]
    specversion: &'static str,
    /// Unique per event: consumers deduplicate by it.
    #[schema(format = Uuid)]
    id: String,
    /// `/orders`.
    #[schema(example = "/orders")]
    source: &'static str,
    /// `orders.v1.` and the history's event name.
    #[serde(rename = "type")]
    #[schema(example = "orders.v1.payment_confirmed")]
    kind: String,
    /// The order's id.
    #[schema(format = Uuid)]
    subject: String,
    /// When the change happened.
    #[schema(format = DateTime)]
    time: String,
    /// `application/json`.
    #[schema(example = "application/json")]
    datacontenttype: &'static str,
    data: EventData<'a>,
}

/// What happened: the history entry, and the order after it.
#[derive(Serialize, ToSchema)]
pub struct EventData<'a> {
    #[serde(flatten)]
    entry: HistoryEntryView,
    /// The order as it stood right after the change (after a deletion too).
    order: OrderView<'a>,
}

impl EventFormat for CloudEvents {
    fn render<'a>(&self, change: &OrderChanged<'a>) -> Vec<u8> {
        let event = CloudEvent {
            specversion: "1.0",
            id: change.id.to_string(),
            source: SOURCE,
            kind: format!("orders.v1.{}", change.entry.event.name()),
            subject: change.order.id().to_string(),
            time: timestamp(change.entry.at),
            datacontenttype: "application/json",
            data: EventData {
                entry: HistoryEntryView::from(change.entry),
                order: OrderView::from(change.order),
            },
        };
        // Serialising plain data to memory cannot fail.
        serde_json::to_vec(&event).unwrap_or_default()
    }
}
