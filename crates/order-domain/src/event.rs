//! What happened to an order: the event each change records, the history entry that
//! carries it, and the event as the rest of the marketplace is told of it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use std::fmt;

use uuid::Uuid;

use crate::access::Actor;
use crate::address::Address;
use crate::details::PaymentMethod;
use crate::lifecycle::OrderStatus;
use crate::order::Order;
use crate::values::{
    CancellationReason, Carrier, Currency, Money, OrderId, PaymentReference, TrackingNumber,
};

/// A change to an order, recorded in its history. Each change bumps the version.
///
/// Its serde form, `{"event": "<name>", "data": {…}}` with camelCase data fields, is
/// the published shape of the event: the history shows it and stores keep it.
/// Exhaustive on purpose: every adapter that stores or shows events must handle a new
/// one, so adding a variant is a breaking change of this crate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum OrderEvent {
    /// The order was placed.
    #[serde(rename_all = "camelCase")]
    OrderPlaced {
        /// What it costs in all.
        total_amount: Money,
        /// In which currency.
        currency: Currency,
        /// How many lines it has.
        item_count: usize,
    },
    /// Payment details were given or replaced.
    #[serde(rename_all = "camelCase")]
    PaymentInfoUpdated {
        /// The means of payment (the provider's token is kept off the history).
        method: PaymentMethod,
    },
    /// The payment went through.
    #[serde(rename_all = "camelCase")]
    PaymentConfirmed {
        /// The provider's reference of the payment.
        payment_reference: PaymentReference,
        /// The amount paid.
        amount: Money,
    },
    /// The shipping address changed.
    #[serde(rename_all = "camelCase")]
    ShippingAddressUpdated {
        /// The new address.
        shipping_address: Address,
    },
    /// Tracking was set (shipping the order) or corrected.
    #[serde(rename_all = "camelCase")]
    ShipmentTrackingSet {
        /// The carrier.
        carrier: Carrier,
        /// The tracking number.
        tracking_number: TrackingNumber,
    },
    /// The customer received the order.
    #[serde(rename_all = "camelCase")]
    DeliveryConfirmed {
        /// When.
        delivered_at: DateTime<Utc>,
    },
    /// The order was canceled.
    #[serde(rename_all = "camelCase")]
    OrderCanceled {
        /// Why.
        reason: CancellationReason,
    },
    /// The order was soft-deleted.
    OrderDeleted {},
    /// The payment of the canceled order was refunded (a change the service makes by
    /// itself).
    #[serde(rename_all = "camelCase")]
    RefundCompleted {
        /// How much went back.
        amount: Money,
    },
}

impl OrderEvent {
    /// Every event's name, in the order of an order's life.
    pub const NAMES: [&'static str; 9] = [
        "order_placed",
        "payment_info_updated",
        "payment_confirmed",
        "shipping_address_updated",
        "shipment_tracking_set",
        "delivery_confirmed",
        "order_canceled",
        "order_deleted",
        "refund_completed",
    ];

    /// Whether the customer is told of events of this name: a placement, a payment
    /// confirmed, a shipment, a delivery, a cancellation.
    pub fn notifies_customer(name: &str) -> bool {
        matches!(
            name,
            "order_placed"
                | "payment_confirmed"
                | "shipment_tracking_set"
                | "delivery_confirmed"
                | "order_canceled"
        )
    }

    /// The event's name in the API and in storage (`order_placed`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Self::OrderPlaced { .. } => "order_placed",
            Self::PaymentInfoUpdated { .. } => "payment_info_updated",
            Self::PaymentConfirmed { .. } => "payment_confirmed",
            Self::ShippingAddressUpdated { .. } => "shipping_address_updated",
            Self::ShipmentTrackingSet { .. } => "shipment_tracking_set",
            Self::DeliveryConfirmed { .. } => "delivery_confirmed",
            Self::OrderCanceled { .. } => "order_canceled",
            Self::OrderDeleted {} => "order_deleted",
            Self::RefundCompleted { .. } => "refund_completed",
        }
    }
}

/// One entry of an order's history: what happened, how the status moved, when, and
/// which version of the order it produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// What happened.
    pub event: OrderEvent,
    /// The status before; `None` for the order's first entry.
    pub from_status: Option<OrderStatus>,
    /// The status after.
    pub to_status: OrderStatus,
    /// When.
    pub at: DateTime<Utc>,
    /// The version of the order this change produced.
    pub version: u32,
    /// Who made the change; `None` in open mode and for changes the service makes by
    /// itself.
    pub actor: Option<Actor>,
}

/// Identifier of a published event: a UUID, unique per event, that consumers
/// deduplicate on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(Uuid);

impl EventId {
    /// Wraps a UUID that names an event.
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The UUID itself.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A change of an order as the rest of the marketplace is told of it: the change's
/// history entry, the order as it stood right after it, and the event's own id.
#[derive(Debug, Clone, Copy)]
pub struct OrderChanged<'a> {
    /// The event's id.
    pub id: EventId,
    /// The order after the change (after a deletion too, though reads no longer show it).
    pub order: &'a Order,
    /// The change.
    pub entry: &'a HistoryEntry,
}

/// An event written down, in the same transaction as its change, to be published: its
/// identity and place in the order's life, and its body as
/// [`crate::EventFormat`] rendered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// The event's id.
    pub id: EventId,
    /// The order it is about.
    pub order_id: OrderId,
    /// The version of the order the change produced: events of one order are
    /// published in this order.
    pub version: u32,
    /// What happened (`order_placed`, …).
    pub name: &'static str,
    /// When.
    pub at: DateTime<Utc>,
    /// The event as consumers receive it.
    pub body: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::test_support::address;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::TimeDelta::seconds(seconds)
    }

    /// Every variant with the JSON it is stored as. The stored history of every order
    /// ever placed is in this form, so a change here is a migration, not a refactor.
    fn every_event() -> Vec<(OrderEvent, Value)> {
        let parsed = (|| -> Result<_, crate::InvalidValue> {
            Ok(vec![
                (
                    OrderEvent::OrderPlaced {
                        total_amount: Money::from_minor_units(3800)?,
                        currency: Currency::USD,
                        item_count: 2,
                    },
                    json!({"event": "order_placed",
                           "data": {"totalAmount": 3800, "currency": "USD", "itemCount": 2}}),
                ),
                (
                    OrderEvent::PaymentInfoUpdated {
                        method: PaymentMethod::BankTransfer,
                    },
                    json!({"event": "payment_info_updated", "data": {"method": "bank_transfer"}}),
                ),
                (
                    OrderEvent::PaymentConfirmed {
                        payment_reference: PaymentReference::parse("pay_1")?,
                        amount: Money::from_minor_units(3800)?,
                    },
                    json!({"event": "payment_confirmed",
                           "data": {"paymentReference": "pay_1", "amount": 3800}}),
                ),
                (
                    OrderEvent::ShippingAddressUpdated {
                        shipping_address: address(),
                    },
                    json!({"event": "shipping_address_updated",
                           "data": {"shippingAddress": {"line1": "1 Main St", "line2": null,
                                    "city": "Springfield", "region": null,
                                    "postalCode": "62701", "country": "US"}}}),
                ),
                (
                    OrderEvent::ShipmentTrackingSet {
                        carrier: Carrier::parse("UPS")?,
                        tracking_number: TrackingNumber::parse("1Z9")?,
                    },
                    json!({"event": "shipment_tracking_set",
                           "data": {"carrier": "UPS", "trackingNumber": "1Z9"}}),
                ),
                (
                    OrderEvent::DeliveryConfirmed {
                        delivered_at: at(1_700_000_000),
                    },
                    json!({"event": "delivery_confirmed",
                           "data": {"deliveredAt": "2023-11-14T22:13:20Z"}}),
                ),
                (
                    OrderEvent::OrderCanceled {
                        reason: CancellationReason::parse("changed my mind")?,
                    },
                    json!({"event": "order_canceled", "data": {"reason": "changed my mind"}}),
                ),
                (
                    OrderEvent::OrderDeleted {},
                    json!({"event": "order_deleted", "data": {}}),
                ),
                (
                    OrderEvent::RefundCompleted {
                        amount: Money::from_minor_units(3800)?,
                    },
                    json!({"event": "refund_completed", "data": {"amount": 3800}}),
                ),
            ])
        })();
        parsed.unwrap_or_else(|e| panic!("bad test event: {e}"))
    }

    #[test]
    fn every_event_is_stored_in_its_pinned_shape_and_read_back() -> Result<(), serde_json::Error> {
        for (event, stored) in every_event() {
            assert_eq!(serde_json::to_value(&event)?, stored, "{}", event.name());
            assert_eq!(stored["event"], event.name());
            assert!(OrderEvent::NAMES.contains(&event.name()));
            let back: OrderEvent = serde_json::from_value(stored)?;
            assert_eq!(back, event);
        }
        Ok(())
    }
}
