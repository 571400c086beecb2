//! The built-in demo directory: customers and an inventory that stand in for the
//! upstream services when none is configured, so that the service runs on a fresh
//! machine with nothing else. Seeded from `data/demo-directory.json`; its stock and
//! reservations live in the service's own database, so a restart forgets nothing.

use std::collections::HashMap;

use anyhow::Context;
use async_trait::async_trait;
use diesel::prelude::*;
use order_domain::{
    Customer, CustomerDirectory, CustomerId, Inventory, OrderId, RequestId, Reservation,
    ReservationError, Shortage, UpstreamService, UpstreamUnavailable,
};
use serde::Deserialize;

use crate::clients::CustomerBody;
use crate::sqlite::SqliteDatabase;
use crate::sqlite::schema::{demo_reservations, demo_stock};

const SEED: &str = include_str!("../../../data/demo-directory.json");

#[derive(Debug, Deserialize)]
struct Seed {
    customers: Vec<CustomerBody>,
    products: Vec<ProductSeed>,
}

#[derive(Debug, Deserialize)]
struct ProductSeed {
    id: String,
    stock: i64,
}

/// Demo customers (in memory) and a demo inventory (in the database).
#[derive(Debug, Clone)]
pub struct DemoDirectory {
    customers: HashMap<CustomerId, Customer>,
    db: SqliteDatabase,
}

impl DemoDirectory {
    /// Loads the demo customers and seeds the demo stock into `db` (once: stock that is
    /// already there is left as it is).
    ///
    /// # Errors
    /// When the seed file is invalid or the database fails.
    pub async fn open(db: SqliteDatabase) -> anyhow::Result<Self> {
        let seed: Seed =
            serde_json::from_str(SEED).context("the demo directory file is invalid")?;
        let customers = seed
            .customers
            .into_iter()
            .map(|body| body.into_customer().map(|c| (c.id.clone(), c)))
            .collect::<anyhow::Result<_>>()
            .context("the demo directory file has an invalid customer")?;
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
        db.write(move |conn| {
            diesel::insert_into(demo_stock::table)
                .values(&products)
                .on_conflict_do_nothing()
                .execute(conn)?;
            Ok(())
        })
        .await
        .context("cannot seed the demo inventory")?;
        Ok(Self { customers, db })
    }
}

fn inventory_failed(error: impl std::fmt::Display) -> UpstreamUnavailable {
    UpstreamUnavailable {
        service: UpstreamService::Inventory,
        reason: format!("demo inventory: {error}"),
        retry_after: None,
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
        let outcome = self
            .db
            .write(move |conn| {
                let id = reservation.id.to_string();
                let already_reserved = demo_reservations::table
                    .filter(demo_reservations::reservation_id.eq(&id))
                    .count()
                    .get_result::<i64>(conn)?
                    > 0;
                if already_reserved {
                    return Ok(Ok(()));
                }
                let mut unknown = Vec::new();
                let mut short = Vec::new();
                for line in &reservation.lines {
                    let available: Option<i64> = demo_stock::table
                        .find(line.product_id.as_str())
                        .select(demo_stock::available)
                        .first(conn)
                        .optional()?;
                    match available {
                        None => unknown.push(line.product_id.clone()),
                        Some(available) if available < i64::from(line.quantity.get()) => {
                            short.push(Shortage {
                                product_id: line.product_id.clone(),
                                requested: line.quantity.get(),
                                available: u64::try_from(available).unwrap_or(0),
                            });
                        }
                        Some(_) => {}
                    }
                }
                if !unknown.is_empty() {
                    return Ok(Err(ReservationError::UnknownProducts(unknown)));
                }
                if !short.is_empty() {
                    return Ok(Err(ReservationError::InsufficientStock(short)));
                }
                for line in &reservation.lines {
                    let quantity = i64::from(line.quantity.get());
                    diesel::update(demo_stock::table.find(line.product_id.as_str()))
                        .set(demo_stock::available.eq(demo_stock::available - quantity))
                        .execute(conn)?;
                    diesel::insert_into(demo_reservations::table)
                        .values((
                            demo_reservations::reservation_id.eq(&id),
                            demo_reservations::product_id.eq(line.product_id.as_str()),
                            demo_reservations::quantity.eq(quantity),
                        ))
                        .execute(conn)?;
                }
                Ok(Ok(()))
            })
            .await;
        outcome.map_err(inventory_failed)?
    }

    async fn release(
        &self,
        reservation_id: OrderId,
        _request_id: &RequestId,
    ) -> Result<(), UpstreamUnavailable> {
        self.db
            .write(move |conn| {
                let id = reservation_id.to_string();
                let held: Vec<(String, i64)> = demo_reservations::table
                    .filter(demo_reservations::reservation_id.eq(&id))
                    .select((demo_reservations::product_id, demo_reservations::quantity))
                    .load(conn)?;
                for (product_id, quantity) in held {
                    diesel::update(demo_stock::table.find(product_id))
                        .set(demo_stock::available.eq(demo_stock::available + quantity))
                        .execute(conn)?;
                }
                diesel::delete(
                    demo_reservations::table.filter(demo_reservations::reservation_id.eq(&id)),
                )
                .execute(conn)?;
                Ok(())
            })
            .await
            .map_err(inventory_failed)
    }
}
