//! An order's lines and what it costs: each line's total and the order's, in checked
//! arithmetic, so that an amount that exists never overflowed.

use std::collections::HashSet;

use crate::values::{Money, ProductId, Quantity};

/// One line of an order: a product, how many, and the price of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderItem {
    product_id: ProductId,
    quantity: Quantity,
    unit_price: Money,
    line_total: Money,
}

impl OrderItem {
    /// The product ordered.
    pub fn product_id(&self) -> &ProductId {
        &self.product_id
    }
    /// How many units.
    pub fn quantity(&self) -> Quantity {
        self.quantity
    }
    /// The price of one unit.
    pub fn unit_price(&self) -> Money {
        self.unit_price
    }
    /// `quantity × unit_price`.
    pub fn line_total(&self) -> Money {
        self.line_total
    }
}

/// A problem with an order's lines as a whole; `index` counts from 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinesError {
    /// An order needs at least one line.
    #[error("must have at least 1 item")]
    Empty,
    /// More than [`OrderLines::MAX_ITEMS`] lines.
    #[error("must have at most {max} items", max = OrderLines::MAX_ITEMS)]
    TooMany,
    /// The product of line `index` already has an earlier line.
    #[error("the product is already ordered in another item")]
    DuplicateProduct {
        /// The later of the two lines.
        index: usize,
    },
    /// `quantity × unit_price` of line `index` is too large.
    #[error("quantity × unitPrice exceeds the largest amount")]
    LineTotalOverflow {
        /// The line.
        index: usize,
    },
    /// The sum of the lines is too large.
    #[error("the sum of the items exceeds the largest amount")]
    ItemsTotalOverflow,
}

/// An order's lines: 1 to 100, each product once, with their checked total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLines {
    items: Vec<OrderItem>,
    items_total: Money,
}

impl OrderLines {
    /// The most lines one order may have.
    pub const MAX_ITEMS: usize = 100;

    /// Checks the lines and computes their totals.
    ///
    /// # Errors
    /// Every [`LinesError`] found: a count out of range, each repeated product, each
    /// line or sum that overflows.
    pub fn new(lines: Vec<(ProductId, Quantity, Money)>) -> Result<Self, Vec<LinesError>> {
        let mut errors = Vec::new();
        if lines.is_empty() {
            errors.push(LinesError::Empty);
        }
        if lines.len() > Self::MAX_ITEMS {
            errors.push(LinesError::TooMany);
        }
        let mut seen = HashSet::new();
        let mut items = Vec::with_capacity(lines.len());
        for (index, (product_id, quantity, unit_price)) in lines.into_iter().enumerate() {
            if !seen.insert(product_id.clone()) {
                errors.push(LinesError::DuplicateProduct { index });
            }
            match unit_price.checked_mul(quantity) {
                Some(line_total) => items.push(OrderItem {
                    product_id,
                    quantity,
                    unit_price,
                    line_total,
                }),
                None => errors.push(LinesError::LineTotalOverflow { index }),
            }
        }
        let items_total = items
            .iter()
            .try_fold(Money::ZERO, |sum, item| sum.checked_add(item.line_total));
        match items_total {
            Some(items_total) if errors.is_empty() => Ok(Self { items, items_total }),
            Some(_) => Err(errors),
            None => {
                errors.push(LinesError::ItemsTotalOverflow);
                Err(errors)
            }
        }
    }

    /// The lines, in the order the client gave them.
    pub fn items(&self) -> &[OrderItem] {
        &self.items
    }

    /// Σ `quantity × unit_price`.
    pub fn items_total(&self) -> Money {
        self.items_total
    }

    /// What the order costs with `shipping_cost` and `tax_amount` on top of these
    /// lines.
    ///
    /// # Errors
    /// [`TotalOverflow`] when the total exceeds [`Money::MAX_MINOR_UNITS`].
    pub fn total_with(
        &self,
        shipping_cost: Money,
        tax_amount: Money,
    ) -> Result<Money, TotalOverflow> {
        self.items_total
            .checked_add(shipping_cost)
            .and_then(|sum| sum.checked_add(tax_amount))
            .ok_or(TotalOverflow)
    }
}

/// `items_total + shipping_cost + tax_amount` is too large.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("itemsTotal + shippingCost + taxAmount exceeds the largest amount")]
pub struct TotalOverflow;

/// What an order costs on top of its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Charges {
    /// Shipping; `None`: to be quoted by the shipping service.
    pub shipping_cost: Option<Money>,
    /// Tax.
    pub tax_amount: Money,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{line, new_order};

    #[test]
    fn totals_are_computed_from_the_lines_and_charges() {
        let order = new_order(vec![line("prod-1", 1, 1000), line("prod-2", 2, 1000)], None);
        assert_eq!(order.lines().items_total().minor_units(), 3000);
        assert_eq!(order.lines().items()[1].line_total().minor_units(), 2000);
        let shipping = Money::from_minor_units(500).unwrap_or_default();
        let tax = Money::from_minor_units(300).unwrap_or_default();
        assert_eq!(
            order
                .lines()
                .total_with(shipping, tax)
                .map(Money::minor_units),
            Ok(3800)
        );
    }

    #[test]
    fn lines_report_every_repeated_product_and_overflow() {
        let max = Money::MAX_MINOR_UNITS;
        let errors = OrderLines::new(vec![
            line("prod-1", 1, 10),
            line("prod-2", 2, max),
            line("prod-1", 1, 10),
        ])
        .err();
        assert_eq!(
            errors,
            Some(vec![
                LinesError::LineTotalOverflow { index: 1 },
                LinesError::DuplicateProduct { index: 2 },
            ])
        );
    }

    #[test]
    fn the_sum_of_lines_may_overflow_even_when_each_line_fits() {
        let half = Money::MAX_MINOR_UNITS / 2 + 1;
        let errors = OrderLines::new(vec![line("a", 1, half), line("b", 1, half)]).err();
        assert_eq!(errors, Some(vec![LinesError::ItemsTotalOverflow]));
    }

    #[test]
    fn an_order_has_one_to_a_hundred_lines() {
        assert_eq!(OrderLines::new(vec![]).err(), Some(vec![LinesError::Empty]));
        let many = (0..101).map(|i| line(&format!("p{i}"), 1, 1)).collect();
        assert_eq!(OrderLines::new(many).err(), Some(vec![LinesError::TooMany]));
    }
}
