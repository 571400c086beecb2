//! Values the unit tests of this crate build orders from.

use chrono::{DateTime, Utc};

use crate::address::{Address, UncheckedAddress};
use crate::command::NewOrder;
use crate::event::HistoryEntry;
use crate::lines::{Charges, OrderLines};
use crate::order::Order;
use crate::values::{
    Currency, CustomerId, InvalidValue, Money, OrderId, ProductId, Quantity, StoreId,
};

pub(crate) fn line(product: &str, quantity: i64, unit_price: i64) -> (ProductId, Quantity, Money) {
    let parsed: Result<_, InvalidValue> = (|| {
        Ok((
            ProductId::parse(product)?,
            Quantity::new(quantity)?,
            Money::from_minor_units(unit_price)?,
        ))
    })();
    parsed.unwrap_or_else(|e| panic!("bad test line: {e}"))
}

pub(crate) fn address() -> Address {
    Address::parse(UncheckedAddress {
        line1: "1 Main St".into(),
        city: "Springfield".into(),
        postal_code: "62701".into(),
        country: "US".into(),
        ..UncheckedAddress::default()
    })
    .unwrap_or_else(|e| panic!("bad test address: {e:?}"))
}

pub(crate) fn new_order(
    lines: Vec<(ProductId, Quantity, Money)>,
    shipping_address: Option<Address>,
) -> NewOrder {
    let parsed = (|| -> Result<NewOrder, String> {
        NewOrder::new(
            StoreId::parse("store-1").map_err(|e| e.to_string())?,
            CustomerId::parse("cust-1").map_err(|e| e.to_string())?,
            Currency::USD,
            OrderLines::new(lines).map_err(|e| format!("{e:?}"))?,
            Charges {
                shipping_cost: Some(Money::from_minor_units(500).map_err(|e| e.to_string())?),
                tax_amount: Money::from_minor_units(300).map_err(|e| e.to_string())?,
            },
            shipping_address,
        )
        .map_err(|e| e.to_string())
    })();
    parsed.unwrap_or_else(|e| panic!("bad test order: {e}"))
}

/// `new_order` placed as `id` at `now`, to the test address, with the shipping cost it
/// names (500).
pub(crate) fn placed(
    id: OrderId,
    new_order: NewOrder,
    now: DateTime<Utc>,
) -> (Order, HistoryEntry) {
    let shipping = new_order.shipping_cost().unwrap_or_default();
    Order::place(id, new_order, address(), shipping, now)
        .unwrap_or_else(|e| panic!("bad test placement: {e}"))
}
