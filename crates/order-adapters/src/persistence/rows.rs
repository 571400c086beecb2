//! Rows of the order tables and their translation to and from the domain's types.
//! Whatever a row holds is parsed back through the domain's constructors, so a
//! corrupt row is an error, never an invalid value.

use anyhow::{Context, anyhow};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use order_domain::{
    Actor, Address, Cancellation, CancellationReason, Carrier, Currency, CustomerId, HistoryEntry,
    Money, Order, OrderEvent, OrderId, OrderLines, OrderRecord, OrderStatus, Payment,
    PaymentDetails, PaymentMethod, PaymentReference, ProductId, Quantity, Refund, RefundStatus,
    Scope, Shipment, StoreId, Subject, TrackingNumber, UncheckedAddress,
};
use serde_json::json;

use super::schema::{order_history, order_items, orders};
use super::time::DbTime;

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = orders, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg), treat_none_as_null = true, treat_none_as_default_value = false)]
pub(crate) struct OrderRow {
    pub id: String,
    pub store_id: String,
    pub customer_id: String,
    pub status: String,
    pub currency: String,
    pub items_total: i64,
    pub shipping_cost: i64,
    pub tax_amount: i64,
    pub total_amount: i64,
    pub ship_line1: String,
    pub ship_line2: Option<String>,
    pub ship_city: String,
    pub ship_region: Option<String>,
    pub ship_postal_code: String,
    pub ship_country: String,
    pub payment_method: Option<String>,
    pub payment_reference: Option<String>,
    pub payment_confirmed_at: Option<DbTime>,
    pub payment_confirmation_reference: Option<String>,
    pub shipment_carrier: Option<String>,
    pub shipment_tracking_number: Option<String>,
    pub shipped_at: Option<DbTime>,
    pub delivered_at: Option<DbTime>,
    pub cancel_reason: Option<String>,
    pub canceled_at: Option<DbTime>,
    pub refund_status: Option<String>,
    pub refund_completed_at: Option<DbTime>,
    pub version: i64,
    pub created_at: DbTime,
    pub updated_at: DbTime,
    pub deleted_at: Option<DbTime>,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = order_items, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub(crate) struct ItemRow {
    pub order_id: String,
    pub line_no: i32,
    pub product_id: String,
    pub quantity: i32,
    pub unit_price: i64,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = order_history, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg), treat_none_as_default_value = false)]
pub(crate) struct HistoryRow {
    pub order_id: String,
    pub version: i64,
    pub event: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub at: DbTime,
    pub data: String,
    pub actor_sub: Option<String>,
    pub actor_scope: Option<String>,
}

fn naive(time: DateTime<Utc>) -> DbTime {
    DbTime(time.naive_utc())
}

fn utc(time: DbTime) -> DateTime<Utc> {
    time.0.and_utc()
}

/// The rows that store `order`.
pub(crate) fn order_rows(order: &Order) -> (OrderRow, Vec<ItemRow>) {
    let record = order.record();
    let id = record.id.to_string();
    let address = &record.shipping_address;
    let payment = record.payment.as_ref();
    let details = payment.and_then(|p| p.details.as_ref());
    let shipment = record.shipment.as_ref();
    let items = record
        .lines
        .items()
        .iter()
        .zip(0..)
        .map(|(item, line_no)| ItemRow {
            order_id: id.clone(),
            line_no,
            product_id: item.product_id().to_string(),
            quantity: i32::try_from(item.quantity().get()).unwrap_or(i32::MAX),
            unit_price: item.unit_price().minor_units(),
        })
        .collect();
    let row = OrderRow {
        id,
        store_id: record.store_id.to_string(),
        customer_id: record.customer_id.to_string(),
        status: record.status.as_str().to_owned(),
        currency: record.currency.to_string(),
        items_total: record.lines.items_total().minor_units(),
        shipping_cost: record.shipping_cost.minor_units(),
        tax_amount: record.tax_amount.minor_units(),
        total_amount: record.total_amount.minor_units(),
        ship_line1: address.line1().to_owned(),
        ship_line2: address.line2().map(str::to_owned),
        ship_city: address.city().to_owned(),
        ship_region: address.region().map(str::to_owned),
        ship_postal_code: address.postal_code().to_owned(),
        ship_country: address.country().to_owned(),
        payment_method: details.map(|d| d.method.as_str().to_owned()),
        payment_reference: details.map(|d| d.reference.as_str().to_owned()),
        payment_confirmed_at: payment.and_then(|p| p.confirmed_at).map(naive),
        payment_confirmation_reference: payment
            .and_then(|p| p.payment_reference.as_ref())
            .map(|r| r.as_str().to_owned()),
        shipment_carrier: shipment.map(|s| s.carrier.as_str().to_owned()),
        shipment_tracking_number: shipment.map(|s| s.tracking_number.as_str().to_owned()),
        shipped_at: shipment.map(|s| naive(s.shipped_at)),
        delivered_at: shipment.and_then(|s| s.delivered_at).map(naive),
        cancel_reason: record
            .cancellation
            .as_ref()
            .map(|c| c.reason.as_str().to_owned()),
        canceled_at: record.cancellation.as_ref().map(|c| naive(c.canceled_at)),
        refund_status: record.refund.as_ref().map(|r| r.status.as_str().to_owned()),
        refund_completed_at: record
            .refund
            .as_ref()
            .and_then(|r| r.completed_at)
            .map(naive),
        version: i64::from(record.version),
        created_at: naive(record.created_at),
        updated_at: naive(record.updated_at),
        deleted_at: record.deleted_at.map(naive),
    };
    (row, items)
}

/// Rebuilds an order from its row and its item rows (in line order).
pub(crate) fn order_from_rows(row: OrderRow, items: Vec<ItemRow>) -> anyhow::Result<Order> {
    let context = || format!("order {} is stored in an invalid form", row.id);
    let lines = items
        .into_iter()
        .map(|item| {
            Ok((
                ProductId::parse(item.product_id)?,
                Quantity::new(i64::from(item.quantity))?,
                Money::from_minor_units(item.unit_price)?,
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .with_context(context)?;
    let lines = OrderLines::new(lines)
        .map_err(|errors| anyhow!("{errors:?}"))
        .with_context(context)?;
    let shipping_address = Address::parse(UncheckedAddress {
        line1: row.ship_line1,
        line2: row.ship_line2,
        city: row.ship_city,
        region: row.ship_region,
        postal_code: row.ship_postal_code,
        country: row.ship_country,
    })
    .map_err(|errors| anyhow!("{errors:?}"))
    .with_context(context)?;
    let details = match (row.payment_method, row.payment_reference) {
        (Some(method), Some(reference)) => Some(PaymentDetails {
            method: PaymentMethod::parse(&method)
                .ok_or_else(|| anyhow!("payment method {method}"))?,
            reference: PaymentReference::parse(reference)?,
        }),
        _ => None,
    };
    let confirmed_at = row.payment_confirmed_at.map(utc);
    let payment_reference = row
        .payment_confirmation_reference
        .map(PaymentReference::parse)
        .transpose()?;
    let payment = (details.is_some() || confirmed_at.is_some()).then_some(Payment {
        details,
        confirmed_at,
        payment_reference,
    });
    let shipment = match (
        row.shipment_carrier,
        row.shipment_tracking_number,
        row.shipped_at,
    ) {
        (Some(carrier), Some(tracking_number), Some(shipped_at)) => Some(Shipment {
            carrier: Carrier::parse(carrier)?,
            tracking_number: TrackingNumber::parse(tracking_number)?,
            shipped_at: utc(shipped_at),
            delivered_at: row.delivered_at.map(utc),
        }),
        _ => None,
    };
    let cancellation = match (row.cancel_reason, row.canceled_at) {
        (Some(reason), Some(canceled_at)) => Some(Cancellation {
            reason: CancellationReason::parse(reason)?,
            canceled_at: utc(canceled_at),
        }),
        _ => None,
    };
    // A refund is of the order's total, asked for when the order was canceled.
    let total_amount = Money::from_minor_units(row.total_amount)?;
    let refund = match (row.refund_status, &cancellation) {
        (Some(status), Some(cancellation)) => Some(Refund {
            status: RefundStatus::parse(&status)
                .ok_or_else(|| anyhow!("refund status {status}"))?,
            amount: total_amount,
            requested_at: cancellation.canceled_at,
            completed_at: row.refund_completed_at.map(utc),
        }),
        (Some(_), None) => anyhow::bail!("order {} has a refund but no cancellation", row.id),
        (None, _) => None,
    };
    let record = OrderRecord {
        id: OrderId::parse(&row.id)?,
        store_id: StoreId::parse(row.store_id)?,
        customer_id: CustomerId::parse(row.customer_id)?,
        status: OrderStatus::parse(&row.status)?,
        currency: Currency::parse_stored(&row.currency)?,
        lines,
        shipping_cost: Money::from_minor_units(row.shipping_cost)?,
        tax_amount: Money::from_minor_units(row.tax_amount)?,
        total_amount,
        shipping_address,
        payment,
        shipment,
        cancellation,
        refund,
        version: u32::try_from(row.version)?,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
        deleted_at: row.deleted_at.map(utc),
    };
    Ok(Order::restore(record))
}

/// The row that stores one history entry of `order_id`; `data` is the event's
/// published form (see [`OrderEvent`]).
pub(crate) fn history_row(order_id: OrderId, entry: &HistoryEntry) -> anyhow::Result<HistoryRow> {
    let mut event = serde_json::to_value(&entry.event)?;
    Ok(HistoryRow {
        order_id: order_id.to_string(),
        version: i64::from(entry.version),
        event: entry.event.name().to_owned(),
        from_status: entry.from_status.map(|s| s.as_str().to_owned()),
        to_status: entry.to_status.as_str().to_owned(),
        at: naive(entry.at),
        data: event["data"].take().to_string(),
        actor_sub: entry.actor.as_ref().map(|a| a.sub.as_str().to_owned()),
        actor_scope: entry.actor.as_ref().map(|a| a.scope.as_str().to_owned()),
    })
}

/// Rebuilds a history entry from its row.
pub(crate) fn history_from_row(row: HistoryRow) -> anyhow::Result<HistoryEntry> {
    let data: serde_json::Value = serde_json::from_str(&row.data)?;
    let event: OrderEvent = serde_json::from_value(json!({"event": row.event, "data": data}))
        .with_context(|| {
            format!(
                "history entry {} of order {} is invalid",
                row.version, row.order_id
            )
        })?;
    Ok(HistoryEntry {
        event,
        from_status: row
            .from_status
            .as_deref()
            .map(OrderStatus::parse)
            .transpose()?,
        to_status: OrderStatus::parse(&row.to_status)?,
        at: utc(row.at),
        version: u32::try_from(row.version)?,
        actor: match (row.actor_sub, row.actor_scope) {
            (Some(sub), Some(scope)) => Some(Actor {
                sub: Subject::parse(sub)?,
                scope: Scope::parse(&scope)
                    .ok_or_else(|| anyhow!("history entry {} has an unknown scope", row.version))?,
            }),
            _ => None,
        },
    })
}
