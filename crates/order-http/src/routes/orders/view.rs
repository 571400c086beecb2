//! How orders and their histories look on the wire.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use chrono::{DateTime, SecondsFormat, Utc};
use order_domain::{Address, HistoryEntry, Order};
use serde::Serialize;
use serde_json::Value;

/// RFC 3339, UTC, to the microsecond (as stored).
pub fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AddressView<'a> {
    line1: &'a str,
    line2: Option<&'a str>,
    city: &'a str,
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ItemView<'a> {
    product_id: &'a str,
    quantity: u32,
    unit_price: i64,
    line_total: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentView<'a> {
    method: Option<&'static str>,
    reference: Option<&'a str>,
    confirmed_at: Option<String>,
    payment_reference: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ShipmentView<'a> {
    carrier: &'a str,
    tracking_number: &'a str,
    shipped_at: String,
    delivered_at: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CancellationView<'a> {
    reason: &'a str,
    canceled_at: String,
}

/// An order as the API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView<'a> {
    id: String,
    store_id: &'a str,
    customer_id: &'a str,
    status: &'static str,
    currency: String,
    items: Vec<ItemView<'a>>,
    items_total: i64,
    shipping_cost: i64,
    tax_amount: i64,
    total_amount: i64,
    shipping_address: AddressView<'a>,
    payment: Option<PaymentView<'a>>,
    shipment: Option<ShipmentView<'a>>,
    cancellation: Option<CancellationView<'a>>,
    allowed_actions: Vec<&'static str>,
    version: u32,
    created_at: String,
    updated_at: String,
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

/// One history entry as the API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntryView {
    event: &'static str,
    from_status: Option<&'static str>,
    to_status: &'static str,
    at: String,
    version: u32,
    data: Value,
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
        }
    }
}

/// `application/json`, for bodies rendered ahead of time.
pub fn json_content_type() -> HeaderValue {
    HeaderValue::from_static("application/json")
}
