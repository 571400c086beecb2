//! Values the unit tests of this crate build orders from.

use crate::address::{Address, UncheckedAddress};
use crate::command::NewOrder;
use crate::lines::{Charges, OrderLines};
use crate::values::{Currency, CustomerId, InvalidValue, Money, ProductId, Quantity, StoreId};

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
                shipping_cost: Money::from_minor_units(500).map_err(|e| e.to_string())?,
                tax_amount: Money::from_minor_units(300).map_err(|e| e.to_string())?,
            },
            shipping_address,
        )
        .map_err(|e| e.to_string())
    })();
    parsed.unwrap_or_else(|e| panic!("bad test order: {e}"))
}
