//! Reading orders: one, a page of a listing, or one's history; each only as far as the
//! caller may see.

use tracing::instrument;

use super::{OrderService, ReadOrderError};
use crate::access::{Caller, Denied};
use crate::event::HistoryEntry;
use crate::order::Order;
use crate::ports::{OrderPage, OrderQuery};
use crate::values::OrderId;

impl OrderService {
    /// The order with this id.
    ///
    /// # Errors
    /// [`ReadOrderError::NotFound`] when there is none, it was deleted, or the caller may
    /// not see it.
    #[instrument(skip(self, caller))]
    pub async fn get_order(&self, caller: &Caller, id: OrderId) -> Result<Order, ReadOrderError> {
        self.ports
            .orders
            .find_order(id)
            .await?
            .filter(|order| order.deleted_at().is_none() && caller.may_see(order))
            .ok_or(ReadOrderError::NotFound)
    }

    /// One page of the orders that match `query` and that the caller may see, newest
    /// first; deleted orders are never listed.
    ///
    /// # Errors
    /// [`ReadOrderError::Forbidden`] when the query asks for orders of another customer
    /// or store than the caller's; [`ReadOrderError::Repository`] when the database
    /// fails.
    #[instrument(skip(self, caller))]
    pub async fn list_orders(
        &self,
        caller: &Caller,
        query: OrderQuery,
    ) -> Result<OrderPage, ReadOrderError> {
        let query = caller.narrow(query)?;
        Ok(self.ports.orders.list_orders(&query).await?)
    }

    /// What happened to an order, oldest first. A deleted order's history stays
    /// readable: it ends with the deletion.
    ///
    /// # Errors
    /// [`ReadOrderError::NotFound`] when the order never existed or the caller may not
    /// see it.
    #[instrument(skip(self, caller))]
    pub async fn order_history(
        &self,
        caller: &Caller,
        id: OrderId,
    ) -> Result<Vec<HistoryEntry>, ReadOrderError> {
        if let Caller::Principal(_) = caller {
            let order = self.ports.orders.find_order(id).await?;
            if !order.is_some_and(|order| caller.may_see(&order)) {
                return Err(ReadOrderError::NotFound);
            }
        }
        let history = self.ports.orders.order_history(id).await?;
        if history.is_empty() {
            Err(ReadOrderError::NotFound)
        } else {
            Ok(history)
        }
    }
}

impl From<Denied> for ReadOrderError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::NotVisible => Self::NotFound,
            Denied::Forbidden => Self::Forbidden,
        }
    }
}
