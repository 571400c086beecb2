//! Reading orders: one, a page of a listing, or one's history.

use tracing::instrument;

use super::{OrderService, ReadOrderError};
use crate::event::HistoryEntry;
use crate::order::Order;
use crate::ports::{OrderPage, OrderQuery};
use crate::values::OrderId;

impl OrderService {
    /// The order with this id.
    ///
    /// # Errors
    /// [`ReadOrderError::NotFound`] when there is none or it was deleted.
    #[instrument(skip(self))]
    pub async fn get_order(&self, id: OrderId) -> Result<Order, ReadOrderError> {
        self.ports
            .orders
            .find_order(id)
            .await?
            .filter(|order| order.deleted_at().is_none())
            .ok_or(ReadOrderError::NotFound)
    }

    /// One page of the orders that match `query`, newest first; deleted orders are
    /// never listed.
    ///
    /// # Errors
    /// [`ReadOrderError::Repository`] when the database fails.
    #[instrument(skip(self))]
    pub async fn list_orders(&self, query: &OrderQuery) -> Result<OrderPage, ReadOrderError> {
        Ok(self.ports.orders.list_orders(query).await?)
    }

    /// What happened to an order, oldest first. A deleted order's history stays
    /// readable: it ends with the deletion.
    ///
    /// # Errors
    /// [`ReadOrderError::NotFound`] when the order never existed.
    #[instrument(skip(self))]
    pub async fn order_history(&self, id: OrderId) -> Result<Vec<HistoryEntry>, ReadOrderError> {
        let history = self.ports.orders.order_history(id).await?;
        if history.is_empty() {
            Err(ReadOrderError::NotFound)
        } else {
            Ok(history)
        }
    }
}
