//! The built-in demo directory: customers and an inventory that stand in for the
//! upstream services when none is configured, so that the service runs on a fresh
//! machine with nothing else. Seeded from `data/demo-directory.json`; its stock and
//! reservations live in the service's own database, so a restart forgets nothing.

use std::collections::HashMap;

use anyhow::Context;
use async_trait::async_trait;
use diesel::prelude::*;
use order_domain::{
    Customer, CustomerDirectory, CustomerId, Inventory, Money, Notifier, NotifyError, OrderId,
    PaymentCheck, PaymentRecord, PaymentStatus, Payments, Quote, QuoteRequest, RecordedEvent,
    RefundError, RefundRequest, RequestId, Reservation, ReservationError, ShippingQuotes,
    UpstreamService, UpstreamUnavailable,
};
use serde::Deserialize;

use crate::clients::CustomerBody;
use crate::clients::notification::Notification;
use crate::persistence::Database;
use crate::persistence::database::on_database;
use crate::persistence::schema::{demo_reservations, demo_stock};
use crate::persistence::stock::{Rollback, reserve_stock, rolled_back};

const SEED: &str = include_str!("../../../data/demo-directory.json");

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Seed {
    customers: Vec<CustomerBody>,
    products: Vec<ProductSeed>,
    /// Destination country → flat rate; `*` for any other country.
    shipping_rates: HashMap<String, i64>,
}

#[derive(Debug, Deserialize)]
struct ProductSeed {
    id: String,
    stock: i64,
}

/// Demo customers and shipping rates (in memory), a demo inventory (in the database),
/// and a payment service that vouches for every `pay_` reference.
#[derive(Debug, Clone)]
pub struct DemoDirectory {
    customers: HashMap<CustomerId, Customer>,
    shipping_rates: HashMap<String, Money>,
    db: Database,
}

/// The country whose rate is any other country's.
const ANY_OTHER_COUNTRY: &str = "*";

/// The payment references the demo payment service knows: every one with this prefix.
const DEMO_PAYMENT_PREFIX: &str = "pay_";

impl DemoDirectory {
    /// Loads the demo customers and seeds the demo stock into `db` (once: stock that is
    /// already there is left as it is).
    ///
    /// # Errors
    /// When the seed file is invalid or the database fails.
    pub async fn open(db: Database) -> anyhow::Result<Self> {
        let seed: Seed =
            serde_json::from_str(SEED).context("the demo directory file is invalid")?;
        let customers = seed
            .customers
            .into_iter()
            .map(|body| body.into_customer().map(|c| (c.id.clone(), c)))
            .collect::<anyhow::Result<_>>()
            .context("the demo directory file has an invalid customer")?;
        let shipping_rates = seed
            .shipping_rates
            .into_iter()
            .map(|(country, rate)| Ok((country, Money::from_minor_units(rate)?)))
            .collect::<anyhow::Result<HashMap<_, _>>>()
            .context("the demo directory file has an invalid shipping rate")?;
        anyhow::ensure!(
            shipping_rates.contains_key(ANY_OTHER_COUNTRY),
            "the demo directory file has no shipping rate for {ANY_OTHER_COUNTRY:?} (any other country)"
        );
        let products: Vec<_> = seed
            .products
            .into_iter()
            .map(|p| {
                (
                    demo_stock::product_id.eq(p.id),
                    demo_stock::available.eq(p.stock),
                )
            })
            .collect();
        let seeded: Result<(), _> = on_database!(db, write, |conn| {
            diesel::insert_into(demo_stock::table)
                .values(&products)
                .on_conflict_do_nothing()
                .execute(conn)?;
            Ok(())
        });
        seeded.context("cannot seed the demo inventory")?;
        Ok(Self {
            customers,
            shipping_rates,
            db,
        })
    }
}

fn inventory_failed(error: impl std::fmt::Display) -> UpstreamUnavailable {
    UpstreamUnavailable {
        service: UpstreamService::Inventory,
        reason: format!("demo inventory: {error}"),
        retry_after: None,
    }
}

/// With no payment service configured, every reference that starts with `pay_` is a
/// captured payment of whatever order it is checked against, and any other is unknown;
/// refunds always succeed. So the walk-through works with no payment service at all.
#[async_trait]
impl Payments for DemoDirectory {
    async fn find_payment(
        &self,
        check: &PaymentCheck,
        _request_id: &RequestId,
    ) -> Result<Option<PaymentRecord>, UpstreamUnavailable> {
        Ok(check
            .reference
            .as_str()
            .starts_with(DEMO_PAYMENT_PREFIX)
            .then(|| PaymentRecord {
                order_id: check.order_id.to_string(),
                status: PaymentStatus::Captured,
                amount: check.amount.minor_units(),
                currency: check.currency.to_string(),
            }))
    }

    async fn refund(
        &self,
        refund: &RefundRequest,
        request_id: &RequestId,
    ) -> Result<(), RefundError> {
        tracing::info!(
            refund_id = %refund.refund_id,
            amount = refund.amount.minor_units(),
            currency = %refund.currency,
            request_id = %request_id,
            "refund (demo directory: ORDERS_PAYMENT_SERVICE_URL is not set)"
        );
        Ok(())
    }
}

/// With no shipping service configured, a quote is the flat rate of the destination
/// country, from the demo directory's file, in the order's currency.
#[async_trait]
impl ShippingQuotes for DemoDirectory {
    async fn quote(
        &self,
        request: &QuoteRequest,
        _request_id: &RequestId,
    ) -> Result<Quote, UpstreamUnavailable> {
        let rate = self
            .shipping_rates
            .get(request.destination.country())
            .or_else(|| self.shipping_rates.get(ANY_OTHER_COUNTRY))
            .copied()
            .unwrap_or(Money::ZERO);
        Ok(Quote {
            amount: rate,
            currency: request.currency,
            service_level: "standard".to_owned(),
        })
    }
}

/// With no notification service configured, each notification is written to the log:
/// what would have been sent, and to whom.
#[async_trait]
impl Notifier for DemoDirectory {
    async fn notify(
        &self,
        event: &RecordedEvent,
        request_id: &RequestId,
    ) -> Result<(), NotifyError> {
        let notification = Notification::of(event).map_err(NotifyError::Refused)?;
        tracing::info!(
            notification_id = notification.notification_id,
            customer_id = notification.customer_id,
            order_id = notification.order_id,
            event = notification.event,
            request_id = %request_id,
            "notification (demo directory: ORDERS_NOTIFICATION_SERVICE_URL is not set)"
        );
        Ok(())
    }
}

#[async_trait]
impl CustomerDirectory for DemoDirectory {
    async fn find_customer(
        &self,
        id: &CustomerId,
        _request_id: &RequestId,
    ) -> Result<Option<Customer>, UpstreamUnavailable> {
        Ok(self.customers.get(id).cloned())
    }
}

#[async_trait]
impl Inventory for DemoDirectory {
    async fn reserve(
        &self,
        reservation: &Reservation,
        _request_id: &RequestId,
    ) -> Result<(), ReservationError> {
        let reservation = reservation.clone();
        let outcome: Result<(), _> = on_database!(self.db, write, |conn| {
            // The same id again is the same reservation, whatever the stock now.
            let held: i64 = demo_reservations::table
                .filter(demo_reservations::reservation_id.eq(reservation.id.to_string()))
                .count()
                .get_result(conn)?;
            if held == 0 {
                reserve_stock!(conn, &reservation);
            }
            Ok(())
        });
        match rolled_back(outcome) {
            Ok(Ok(()) | Err(Rollback::AlreadyReserved)) => Ok(()),
            Ok(Err(Rollback::Refused(refusal))) => Err(refusal),
            Err(failed) => Err(inventory_failed(failed).into()),
        }
    }

    /// True: its stock is in the database it was opened on, which the service also
    /// gives its `OrderStore`; a demo directory on another database than the order
    /// store's would have its stock taken from the wrong one.
    fn shares_order_store(&self) -> bool {
        true
    }

    async fn release(
        &self,
        reservation_id: OrderId,
        _request_id: &RequestId,
    ) -> Result<(), UpstreamUnavailable> {
        let released: Result<(), _> = on_database!(self.db, write, |conn| {
            let id = reservation_id.to_string();
            let held: Vec<(String, i64)> = demo_reservations::table
                .filter(demo_reservations::reservation_id.eq(&id))
                .select((demo_reservations::product_id, demo_reservations::quantity))
                .load(conn)?;
            for (product_id, quantity) in held {
                // Of concurrent releases (two instances on PostgreSQL), only the one
                // that deletes the held row gives its stock back.
                let deleted = diesel::delete(
                    demo_reservations::table
                        .filter(demo_reservations::reservation_id.eq(&id))
                        .filter(demo_reservations::product_id.eq(&product_id)),
                )
                .execute(conn)?;
                if deleted == 1 {
                    diesel::update(demo_stock::table.find(&product_id))
                        .set(demo_stock::available.eq(demo_stock::available + quantity))
                        .execute(conn)?;
                }
            }
            Ok(())
        });
        released.map_err(inventory_failed)
    }
}
