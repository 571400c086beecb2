//! How orders and their histories look on the wire.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use chrono::{DateTime, SecondsFormat, Utc};
use order_domain::{Actor, Address, HistoryEntry, Order};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::json_schema;

/// RFC 3339, UTC, to the microsecond (as stored).
pub fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A postal address.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Address)]
pub struct AddressView<'a> {
    line1: &'a str,
    #[schema(required = true)]
    line2: Option<&'a str>,
    city: &'a str,
    #[schema(required = true)]
    region: Option<&'a str>,
    postal_code: &'a str,
    country: &'a str,
}

impl<'a> From<&'a Address> for AddressView<'a> {
    fn from(address: &'a Address) -> Self {
        Self {
            line1: address.line1(),
            line2: address.line2(),
            city: address.city(),
            region: address.region(),
            postal_code: address.postal_code(),
            country: address.country(),
        }
    }
}

/// One line of an order.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = OrderItem)]
pub struct ItemView<'a> {
    #[schema(value_type = json_schema::ProductId)]
    product_id: &'a str,
    #[schema(value_type = json_schema::Quantity)]
    quantity: u32,
    /// The price of one unit.
    #[schema(value_type = json_schema::Money)]
    unit_price: i64,
    /// `quantity × unitPrice`.
    #[schema(value_type = json_schema::Money)]
    line_total: i64,
}

/// The payment: the details given, and the confirmation once it went through.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Payment)]
pub struct PaymentView<'a> {
    /// `null` when the payment was confirmed without details given first.
    #[schema(schema_with = json_schema::nullable_payment_method, required = true)]
    method: Option<&'static str>,
    #[schema(required = true)]
    reference: Option<&'a str>,
    #[schema(required = true)]
    confirmed_at: Option<String>,
    #[schema(required = true)]
    payment_reference: Option<&'a str>,
}

/// How the order travels.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Shipment)]
pub struct ShipmentView<'a> {
    carrier: &'a str,
    tracking_number: &'a str,
    shipped_at: String,
    #[schema(required = true)]
    delivered_at: Option<String>,
}

/// Why and when the order was canceled.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Cancellation)]
pub struct CancellationView<'a> {
    reason: &'a str,
    canceled_at: String,
}

/// The payment of a paid order that was canceled, going back to the customer.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Refund)]
pub struct RefundView {
    /// `pending` until the payment service confirms it (`completed`); `failed` when it
    /// refused it for good, for an operator to settle.
    #[schema(example = "pending")]
    status: &'static str,
    /// The order's total, in minor units.
    #[schema(minimum = 0, maximum = 9007199254740991_i64)]
    amount: i64,
    /// When the cancellation asked for it.
    requested_at: String,
    #[schema(required = true)]
    completed_at: Option<String>,
}

/// An order. Amounts are integers in minor units of `currency`; the server computes
/// every total.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Order, example = order_example)]
pub struct OrderView<'a> {
    #[schema(format = Uuid)]
    id: String,
    #[schema(value_type = json_schema::StoreId)]
    store_id: &'a str,
    #[schema(value_type = json_schema::CustomerId)]
    customer_id: &'a str,
    /// Changed only by business events.
    #[schema(schema_with = json_schema::status)]
    status: &'static str,
    /// ISO 4217.
    #[schema(pattern = "^[A-Z]{3}$")]
    currency: String,
    items: Vec<ItemView<'a>>,
    /// Σ `lineTotal`.
    #[schema(value_type = json_schema::Money)]
    items_total: i64,
    #[schema(value_type = json_schema::Money)]
    shipping_cost: i64,
    #[schema(value_type = json_schema::Money)]
    tax_amount: i64,
    /// `itemsTotal + shippingCost + taxAmount`.
    #[schema(value_type = json_schema::Money)]
    total_amount: i64,
    shipping_address: AddressView<'a>,
    #[schema(required = true)]
    payment: Option<PaymentView<'a>>,
    #[schema(required = true)]
    shipment: Option<ShipmentView<'a>>,
    #[schema(required = true)]
    cancellation: Option<CancellationView<'a>>,
    /// `null` unless a paid order was canceled.
    #[schema(required = true)]
    refund: Option<RefundView>,
    /// What the order's status allows next, in this order: exactly the actions the
    /// endpoints accept now.
    #[schema(schema_with = json_schema::allowed_actions)]
    allowed_actions: Vec<&'static str>,
    /// Starts at 1 and grows by exactly 1 with every change; the `ETag`.
    #[schema(minimum = 1)]
    version: u32,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// The spec's example order.
fn order_example() -> Value {
    json!({
        "id": "0192f7a0-6c1e-7cc3-9a52-3f5d2f0c7b11",
        "storeId": "store-1",
        "customerId": "cust-1",
        "status": "pending",
        "currency": "USD",
        "items": [
            {"productId": "prod-1", "quantity": 1, "unitPrice": 1000, "lineTotal": 1000},
            {"productId": "prod-2", "quantity": 2, "unitPrice": 1000, "lineTotal": 2000}
        ],
        "itemsTotal": 3000,
        "shippingCost": 500,
        "taxAmount": 300,
        "totalAmount": 3800,
        "shippingAddress": {"line1": "1234 Elm St", "line2": "Suite 100", "city": "Springfield",
                            "region": "IL", "postalCode": "62701", "country": "US"},
        "payment": null,
        "shipment": null,
        "cancellation": null,
        "refund": null,
        "allowedActions": ["update-payment", "update-shipping", "confirm-payment", "cancel", "delete"],
        "version": 1,
        "createdAt": "2026-11-24T04:00:00.000000Z",
        "updatedAt": "2026-11-24T04:00:00.000000Z"
    })
}

impl<'a> From<&'a Order> for OrderView<'a> {
    fn from(order: &'a Order) -> Self {
        Self {
            id: order.id().to_string(),
            store_id: order.store_id().as_str(),
            customer_id: order.customer_id().as_str(),
            status: order.status().as_str(),
            currency: order.currency().to_string(),
            items: order
                .lines()
                .items()
                .iter()
                .map(|item| ItemView {
                    product_id: item.product_id().as_str(),
                    quantity: item.quantity().get(),
                    unit_price: item.unit_price().minor_units(),
                    line_total: item.line_total().minor_units(),
                })
                .collect(),
            items_total: order.lines().items_total().minor_units(),
            shipping_cost: order.shipping_cost().minor_units(),
            tax_amount: order.tax_amount().minor_units(),
            total_amount: order.total_amount().minor_units(),
            shipping_address: order.shipping_address().into(),
            payment: order.payment().map(|p| PaymentView {
                method: p.details.as_ref().map(|d| d.method.as_str()),
                reference: p.details.as_ref().map(|d| d.reference.as_str()),
                confirmed_at: p.confirmed_at.map(timestamp),
                payment_reference: p.payment_reference.as_ref().map(|r| r.as_str()),
            }),
            shipment: order.shipment().map(|s| ShipmentView {
                carrier: s.carrier.as_str(),
                tracking_number: s.tracking_number.as_str(),
                shipped_at: timestamp(s.shipped_at),
                delivered_at: s.delivered_at.map(timestamp),
            }),
            cancellation: order.cancellation().map(|c| CancellationView {
                reason: c.reason.as_str(),
                canceled_at: timestamp(c.canceled_at),
            }),
            refund: order.refund().map(|r| RefundView {
                status: r.status.as_str(),
                amount: r.amount.minor_units(),
                requested_at: timestamp(r.requested_at),
                completed_at: r.completed_at.map(timestamp),
            }),
            allowed_actions: order
                .allowed_actions()
                .into_iter()
                .map(|a| a.as_str())
                .collect(),
            version: order.version(),
            created_at: timestamp(order.created_at()),
            updated_at: timestamp(order.updated_at()),
        }
    }
}

/// The `ETag` of an order: its version, quoted.
pub fn etag(order: &Order) -> String {
    format!("\"{}\"", order.version())
}

/// The path of an order.
pub fn location(order: &Order) -> String {
    format!("/v1/orders/{}", order.id())
}

/// An answer carrying one order, with its `ETag`.
pub fn order_response(status: StatusCode, order: &Order) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(order)))
        .json(OrderView::from(order))
}

/// One change of an order.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = HistoryEntry)]
pub struct HistoryEntryView {
    /// What happened: `order_placed`, `payment_info_updated`, `payment_confirmed`,
    /// `shipping_address_updated`, `shipment_tracking_set`, `delivery_confirmed`,
    /// `order_canceled` or `order_deleted`.
    event: &'static str,
    /// `null` for the order's first entry.
    #[schema(schema_with = json_schema::nullable_status, required = true)]
    from_status: Option<&'static str>,
    #[schema(schema_with = json_schema::status)]
    to_status: &'static str,
    #[schema(format = DateTime)]
    at: String,
    /// The order's version after the change.
    #[schema(minimum = 1)]
    version: u32,
    /// The event's details; see `docs/api.md` for each event's fields.
    data: Value,
    /// Who made the change: the caller and the scope that allowed it; `null` in open
    /// mode and for changes the service makes by itself.
    #[schema(required = true)]
    actor: Option<ActorView>,
}

/// Who made a change.
#[derive(Serialize, ToSchema)]
pub struct ActorView {
    /// The caller's subject (its token's `sub`).
    sub: String,
    /// The one of the caller's scopes that allowed the change.
    #[schema(example = "orders:customer")]
    scope: &'static str,
}

impl From<&Actor> for ActorView {
    fn from(actor: &Actor) -> Self {
        Self {
            sub: actor.sub.as_str().to_owned(),
            scope: actor.scope.as_str(),
        }
    }
}

impl From<&HistoryEntry> for HistoryEntryView {
    fn from(entry: &HistoryEntry) -> Self {
        // The event's published form is `{"event", "data"}`; the history shows its data.
        let data = serde_json::to_value(&entry.event)
            .map(|mut event| event["data"].take())
            .unwrap_or_default();
        Self {
            event: entry.event.name(),
            from_status: entry.from_status.map(|s| s.as_str()),
            to_status: entry.to_status.as_str(),
            at: timestamp(entry.at),
            version: entry.version,
            data,
            actor: entry.actor.as_ref().map(ActorView::from),
        }
    }
}

/// `application/json`, for bodies rendered ahead of time.
pub fn json_content_type() -> HeaderValue {
    HeaderValue::from_static("application/json")
}
