//! The demo inventory's stock, kept in the order store's own database: reserving it is
//! part of whatever transaction asks, so that a placement can reserve its stock and
//! store its order in one commit.

use order_domain::{RepositoryError, ReservationError};

/// Why a transaction that reserved stock was rolled back on purpose, carried out of it
/// as an error so that whatever it had already taken goes back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Rollback {
    #[error("reservation refused")]
    Refused(ReservationError),
    #[error("reservation already made")]
    AlreadyReserved,
}

/// The insert of a reservation's line ([`super::fixed::FixedText`]'s marker).
pub(crate) enum HoldStock {}

/// What a transaction that reserved stock came to: its own outcome, or `Err` with the
/// [`Rollback`] that ended it, or with the database's failure.
pub(crate) fn rolled_back<T>(
    outcome: Result<T, RepositoryError>,
) -> Result<Result<T, Rollback>, RepositoryError> {
    match outcome {
        Ok(done) => Ok(Ok(done)),
        Err(RepositoryError::Internal(cause)) => match cause.downcast::<Rollback>() {
            Ok(rollback) => Ok(Err(rollback)),
            Err(cause) => Err(RepositoryError::Internal(cause)),
        },
        Err(unavailable) => Err(unavailable),
    }
}

/// Takes the stock of every line of a [`order_domain::Reservation`] and records it as
/// held under the reservation's id; or, refused or already made, returns a [`Rollback`]
/// from the enclosing transaction's closure, so that whatever was taken goes back. A
/// macro so that it runs on either backend's connection.
macro_rules! reserve_stock {
    ($conn:expr, $reservation:expr) => {{
        use order_domain::{ReservationError, Shortage};
        use $crate::persistence::fixed::{FixedText, TakeStock};
        use $crate::persistence::schema::{demo_reservations, demo_stock};
        use $crate::persistence::stock::{HoldStock, Rollback};
        let reservation: &order_domain::Reservation = $reservation;
        let id = reservation.id.to_string();
        let mut unknown = Vec::new();
        let mut short = Vec::new();
        // In product order, so that concurrent reservations lock stock rows in one
        // order and never deadlock (PostgreSQL locks each row it updates).
        let mut lines: Vec<_> = reservation.lines.iter().collect();
        lines.sort_by(|a, b| a.product_id.cmp(&b.product_id));
        for line in lines {
            let quantity = i64::from(line.quantity.get());
            // Taking only what is there keeps stock from going negative under races;
            // the usual case is this one statement.
            let taken = TakeStock {
                product_id: line.product_id.as_str(),
                quantity,
            }
            .execute($conn)?;
            if taken == 0 {
                let available: Option<i64> = demo_stock::table
                    .find(line.product_id.as_str())
                    .select(demo_stock::available)
                    .get_result($conn)
                    .optional()?;
                match available {
                    None => unknown.push(line.product_id.clone()),
                    Some(available) => short.push(Shortage {
                        product_id: line.product_id.clone(),
                        requested: line.quantity.get(),
                        available: u64::try_from(available).unwrap_or(0),
                    }),
                }
                continue;
            }
            // The reservation's key decides between concurrent reservations of one id:
            // the one that finds it taken undoes its own work.
            let recorded = FixedText::<HoldStock, _>::new(
                diesel::insert_into(demo_reservations::table)
                    .values((
                        demo_reservations::reservation_id.eq(&id),
                        demo_reservations::product_id.eq(line.product_id.as_str()),
                        demo_reservations::quantity.eq(quantity),
                    ))
                    .on_conflict_do_nothing(),
            )
            .execute($conn)?;
            if recorded == 0 {
                return Err(Rollback::AlreadyReserved.into());
            }
        }
        if !unknown.is_empty() {
            return Err(Rollback::Refused(ReservationError::UnknownProducts(unknown)).into());
        }
        if !short.is_empty() {
            return Err(Rollback::Refused(ReservationError::InsufficientStock(short)).into());
        }
    }};
}
pub(crate) use reserve_stock;
