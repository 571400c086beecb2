//! The order aggregate: its lines, its totals, its details, and the history entry that
//! each change of it appends.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::lifecycle::{Action, InvalidTransition, OrderStatus, allowed_actions, transition};
use crate::values::{
    CancellationReason, Carrier, Currency, CustomerId, Money, OrderId, PaymentReference, ProductId,
    Quantity, StoreId, TrackingNumber,
};

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

    /// What the order costs with `charges` on top of these lines.
    ///
    /// # Errors
    /// [`TotalOverflow`] when the total exceeds [`Money::MAX_MINOR_UNITS`].
    pub fn total_with(&self, charges: Charges) -> Result<Money, TotalOverflow> {
        self.items_total
            .checked_add(charges.shipping_cost)
            .and_then(|sum| sum.checked_add(charges.tax_amount))
            .ok_or(TotalOverflow)
    }
}

/// `items_total + shipping_cost + tax_amount` is too large.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("itemsTotal + shippingCost + taxAmount exceeds the largest amount")]
pub struct TotalOverflow;

/// Everything a client decides about a new order; the server decides the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    store_id: StoreId,
    customer_id: CustomerId,
    currency: Currency,
    lines: OrderLines,
    shipping_cost: Money,
    tax_amount: Money,
    total_amount: Money,
    shipping_address: Option<Address>,
}

impl NewOrder {
    /// Assembles a new order and computes its total.
    ///
    /// `shipping_address: None` means "ship to the address the customer service has".
    ///
    /// # Errors
    /// [`TotalOverflow`] when the total exceeds [`Money::MAX_MINOR_UNITS`].
    pub fn new(
        store_id: StoreId,
        customer_id: CustomerId,
        currency: Currency,
        lines: OrderLines,
        charges: Charges,
        shipping_address: Option<Address>,
    ) -> Result<Self, TotalOverflow> {
        let total_amount = lines.total_with(charges)?;
        Ok(Self {
            store_id,
            customer_id,
            currency,
            lines,
            shipping_cost: charges.shipping_cost,
            tax_amount: charges.tax_amount,
            total_amount,
            shipping_address,
        })
    }

    /// The customer who orders.
    pub fn customer_id(&self) -> &CustomerId {
        &self.customer_id
    }
    /// The order's lines.
    pub fn lines(&self) -> &OrderLines {
        &self.lines
    }
    /// `items_total + shipping_cost + tax_amount`.
    pub fn total_amount(&self) -> Money {
        self.total_amount
    }
    /// The address the client asked to ship to, if any.
    pub fn shipping_address(&self) -> Option<&Address> {
        self.shipping_address.as_ref()
    }
}

/// What an order costs on top of its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Charges {
    /// Shipping.
    pub shipping_cost: Money,
    /// Tax.
    pub tax_amount: Money,
}

/// How an order is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum PaymentMethod {
    Card,
    Paypal,
    BankTransfer,
    GiftCard,
}

impl PaymentMethod {
    /// Every method.
    pub const ALL: [PaymentMethod; 4] =
        [Self::Card, Self::Paypal, Self::BankTransfer, Self::GiftCard];

    /// The method's name in the API and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Card => "card",
            Self::Paypal => "paypal",
            Self::BankTransfer => "bank_transfer",
            Self::GiftCard => "gift_card",
        }
    }

    /// Parses a method's name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|method| method.as_str() == name)
    }
}

/// How the customer means to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentDetails {
    /// The means of payment.
    pub method: PaymentMethod,
    /// The payment provider's token for it.
    pub reference: PaymentReference,
}

/// The payment of an order: the details the customer gave, and the confirmation once
/// the payment went through. A payment may be confirmed without details given first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payment {
    /// How the customer pays, once given.
    pub details: Option<PaymentDetails>,
    /// When the payment was confirmed.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The provider's reference of the confirmed payment.
    pub payment_reference: Option<PaymentReference>,
}

/// How an order travels to the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipment {
    /// Who carries it.
    pub carrier: Carrier,
    /// The carrier's tracking number.
    pub tracking_number: TrackingNumber,
    /// When it was handed to the carrier.
    pub shipped_at: DateTime<Utc>,
    /// When the customer received it.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Why and when an order was canceled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellation {
    /// The reason given.
    pub reason: CancellationReason,
    /// When.
    pub canceled_at: DateTime<Utc>,
}

/// A change to an order, recorded in its history. Each change bumps the version.
///
/// Its serde form, `{"event": "<name>", "data": {…}}` with camelCase data fields, is
/// the published shape of the event: the history shows it and stores keep it.
/// Exhaustive on purpose: every adapter that stores or shows events must handle a new
/// one, so adding a variant is a breaking change of this crate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum OrderEvent {
    /// The order was placed.
    #[serde(rename_all = "camelCase")]
    OrderPlaced {
        /// What it costs in all.
        total_amount: Money,
        /// In which currency.
        currency: Currency,
        /// How many lines it has.
        item_count: usize,
    },
    /// Payment details were given or replaced.
    #[serde(rename_all = "camelCase")]
    PaymentInfoUpdated {
        /// The means of payment (the provider's token is kept off the history).
        method: PaymentMethod,
    },
    /// The payment went through.
    #[serde(rename_all = "camelCase")]
    PaymentConfirmed {
        /// The provider's reference of the payment.
        payment_reference: PaymentReference,
        /// The amount paid.
        amount: Money,
    },
    /// The shipping address changed.
    #[serde(rename_all = "camelCase")]
    ShippingAddressUpdated {
        /// The new address.
        shipping_address: Address,
    },
    /// Tracking was set (shipping the order) or corrected.
    #[serde(rename_all = "camelCase")]
    ShipmentTrackingSet {
        /// The carrier.
        carrier: Carrier,
        /// The tracking number.
        tracking_number: TrackingNumber,
    },
    /// The customer received the order.
    #[serde(rename_all = "camelCase")]
    DeliveryConfirmed {
        /// When.
        delivered_at: DateTime<Utc>,
    },
    /// The order was canceled.
    #[serde(rename_all = "camelCase")]
    OrderCanceled {
        /// Why.
        reason: CancellationReason,
    },
    /// The order was soft-deleted.
    OrderDeleted {},
}

impl OrderEvent {
    /// The event's name in the API and in storage (`order_placed`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Self::OrderPlaced { .. } => "order_placed",
            Self::PaymentInfoUpdated { .. } => "payment_info_updated",
            Self::PaymentConfirmed { .. } => "payment_confirmed",
            Self::ShippingAddressUpdated { .. } => "shipping_address_updated",
            Self::ShipmentTrackingSet { .. } => "shipment_tracking_set",
            Self::DeliveryConfirmed { .. } => "delivery_confirmed",
            Self::OrderCanceled { .. } => "order_canceled",
            Self::OrderDeleted {} => "order_deleted",
        }
    }
}

/// A business action on an existing order, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderCommand {
    /// Give or replace the payment details.
    UpdatePayment(PaymentDetails),
    /// Change the shipping address.
    UpdateShippingAddress(Address),
    /// Set the carrier's tracking (ships a processing order) or correct it.
    SetTracking {
        /// The carrier.
        carrier: Carrier,
        /// The tracking number.
        tracking_number: TrackingNumber,
    },
    /// The payment of `amount`, which must equal the order's total, went through.
    ConfirmPayment {
        /// The provider's reference of the payment.
        payment_reference: PaymentReference,
        /// The amount paid.
        amount: Money,
    },
    /// The customer received the order, at `delivered_at` (now when `None`).
    ConfirmDelivery {
        /// When, if not now.
        delivered_at: Option<DateTime<Utc>>,
    },
    /// Call the order off.
    Cancel {
        /// Why.
        reason: CancellationReason,
    },
    /// Soft-delete the order.
    Delete,
}

impl OrderCommand {
    /// The action the command takes, as the status rules know it.
    pub fn action(&self) -> Action {
        match self {
            Self::UpdatePayment(_) => Action::UpdatePayment,
            Self::UpdateShippingAddress(_) => Action::UpdateShipping,
            Self::SetTracking { .. } => Action::SetTracking,
            Self::ConfirmPayment { .. } => Action::ConfirmPayment,
            Self::ConfirmDelivery { .. } => Action::ConfirmDelivery,
            Self::Cancel { .. } => Action::Cancel,
            Self::Delete => Action::Delete,
        }
    }
}

/// Why a command was refused by the order itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The order was soft-deleted; nothing changes it any more.
    #[error("the order was deleted")]
    Deleted,
    /// The order's status does not allow the action.
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    /// The amount confirmed is not the order's total.
    #[error("the amount {given} does not equal the order's total {expected}")]
    AmountMismatch {
        /// The order's total.
        expected: Money,
        /// The amount in the command.
        given: Money,
    },
    /// The delivery time is in the future or before the order shipped.
    #[error("deliveredAt {0}")]
    InvalidDeliveryTime(&'static str),
}

/// What a change of an order asks of the world beyond the order itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SideEffects {
    /// The order's stock reservation must be given back.
    pub release_reservation: bool,
}

/// One entry of an order's history: what happened, how the status moved, when, and
/// which version of the order it produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// What happened.
    pub event: OrderEvent,
    /// The status before; `None` for the order's first entry.
    pub from_status: Option<OrderStatus>,
    /// The status after.
    pub to_status: OrderStatus,
    /// When.
    pub at: DateTime<Utc>,
    /// The version of the order this change produced.
    pub version: u32,
}

/// An order as stored: every field, for repositories to rebuild an [`Order`] from.
///
/// Only persistence adapters should build one; the business rules are applied when
/// an order changes, not when it is read back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct OrderRecord {
    pub id: OrderId,
    pub store_id: StoreId,
    pub customer_id: CustomerId,
    pub status: OrderStatus,
    pub currency: Currency,
    pub lines: OrderLines,
    pub shipping_cost: Money,
    pub tax_amount: Money,
    pub total_amount: Money,
    pub shipping_address: Address,
    pub payment: Option<Payment>,
    pub shipment: Option<Shipment>,
    pub cancellation: Option<Cancellation>,
    pub version: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// An order. Its status changes only through business actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order(OrderRecord);

impl Order {
    /// A freshly placed order (status `pending`, version 1) and its first history entry.
    pub fn place(
        id: OrderId,
        new_order: NewOrder,
        shipping_address: Address,
        now: DateTime<Utc>,
    ) -> (Order, HistoryEntry) {
        let placed = HistoryEntry {
            event: OrderEvent::OrderPlaced {
                total_amount: new_order.total_amount,
                currency: new_order.currency,
                item_count: new_order.lines.items().len(),
            },
            from_status: None,
            to_status: OrderStatus::Pending,
            at: now,
            version: 1,
        };
        let order = Order(OrderRecord {
            id,
            store_id: new_order.store_id,
            customer_id: new_order.customer_id,
            status: OrderStatus::Pending,
            currency: new_order.currency,
            lines: new_order.lines,
            shipping_cost: new_order.shipping_cost,
            tax_amount: new_order.tax_amount,
            total_amount: new_order.total_amount,
            shipping_address,
            payment: None,
            shipment: None,
            cancellation: None,
            version: 1,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        });
        (order, placed)
    }

    /// Rebuilds an order that a repository stored.
    pub fn restore(record: OrderRecord) -> Order {
        Order(record)
    }

    /// Every field, as a repository stores them.
    pub fn record(&self) -> &OrderRecord {
        &self.0
    }

    /// The order's id.
    pub fn id(&self) -> OrderId {
        self.0.id
    }
    /// The store that sells.
    pub fn store_id(&self) -> &StoreId {
        &self.0.store_id
    }
    /// The customer who ordered.
    pub fn customer_id(&self) -> &CustomerId {
        &self.0.customer_id
    }
    /// Where the order is in its life.
    pub fn status(&self) -> OrderStatus {
        self.0.status
    }
    /// The currency of every amount.
    pub fn currency(&self) -> Currency {
        self.0.currency
    }
    /// The lines and their total.
    pub fn lines(&self) -> &OrderLines {
        &self.0.lines
    }
    /// Shipping.
    pub fn shipping_cost(&self) -> Money {
        self.0.shipping_cost
    }
    /// Tax.
    pub fn tax_amount(&self) -> Money {
        self.0.tax_amount
    }
    /// `items_total + shipping_cost + tax_amount`.
    pub fn total_amount(&self) -> Money {
        self.0.total_amount
    }
    /// Where it ships to.
    pub fn shipping_address(&self) -> &Address {
        &self.0.shipping_address
    }
    /// Payment details, once given.
    pub fn payment(&self) -> Option<&Payment> {
        self.0.payment.as_ref()
    }
    /// Shipment, once shipped.
    pub fn shipment(&self) -> Option<&Shipment> {
        self.0.shipment.as_ref()
    }
    /// Cancellation, once canceled.
    pub fn cancellation(&self) -> Option<&Cancellation> {
        self.0.cancellation.as_ref()
    }
    /// Starts at 1 and grows by exactly 1 with every change.
    pub fn version(&self) -> u32 {
        self.0.version
    }
    /// When it was placed.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When it last changed.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// When it was soft-deleted, if it was.
    pub fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.0.deleted_at
    }
    /// Applies a business action: checks it against the status rules (and against the
    /// order's own data), changes the order, bumps its version, and returns the
    /// history entry for the change and what else it requires.
    ///
    /// # Errors
    /// [`CommandError`] when the order refuses the command; then it is unchanged.
    pub fn apply(
        &mut self,
        command: OrderCommand,
        now: DateTime<Utc>,
    ) -> Result<(HistoryEntry, SideEffects), CommandError> {
        if self.0.deleted_at.is_some() {
            return Err(CommandError::Deleted);
        }
        let from = self.0.status;
        let to = transition(from, command.action())?;
        let mut effects = SideEffects {
            release_reservation: false,
        };
        let record = &mut self.0;
        let event = match command {
            OrderCommand::UpdatePayment(details) => {
                let method = details.method;
                record.payment.get_or_insert_with(Payment::default).details = Some(details);
                OrderEvent::PaymentInfoUpdated { method }
            }
            OrderCommand::UpdateShippingAddress(address) => {
                record.shipping_address = address.clone();
                OrderEvent::ShippingAddressUpdated {
                    shipping_address: address,
                }
            }
            OrderCommand::SetTracking {
                carrier,
                tracking_number,
            } => {
                // A correction keeps the time the order was handed over.
                let shipped_at = record.shipment.as_ref().map_or(now, |s| s.shipped_at);
                record.shipment = Some(Shipment {
                    carrier: carrier.clone(),
                    tracking_number: tracking_number.clone(),
                    shipped_at,
                    delivered_at: None,
                });
                OrderEvent::ShipmentTrackingSet {
                    carrier,
                    tracking_number,
                }
            }
            OrderCommand::ConfirmPayment {
                payment_reference,
                amount,
            } => {
                if amount != record.total_amount {
                    return Err(CommandError::AmountMismatch {
                        expected: record.total_amount,
                        given: amount,
                    });
                }
                let payment = record.payment.get_or_insert_with(Payment::default);
                payment.confirmed_at = Some(now);
                payment.payment_reference = Some(payment_reference.clone());
                OrderEvent::PaymentConfirmed {
                    payment_reference,
                    amount,
                }
            }
            OrderCommand::ConfirmDelivery { delivered_at } => {
                let delivered_at = delivered_at.unwrap_or(now);
                let shipment = record
                    .shipment
                    .as_mut()
                    .ok_or(CommandError::InvalidDeliveryTime("needs a shipment"))?;
                if delivered_at > now {
                    return Err(CommandError::InvalidDeliveryTime(
                        "must not be in the future",
                    ));
                }
                if delivered_at < shipment.shipped_at {
                    return Err(CommandError::InvalidDeliveryTime(
                        "must not be before shippedAt",
                    ));
                }
                shipment.delivered_at = Some(delivered_at);
                OrderEvent::DeliveryConfirmed { delivered_at }
            }
            OrderCommand::Cancel { reason } => {
                record.cancellation = Some(Cancellation {
                    reason: reason.clone(),
                    canceled_at: now,
                });
                effects.release_reservation = true;
                OrderEvent::OrderCanceled { reason }
            }
            OrderCommand::Delete => {
                record.deleted_at = Some(now);
                // A canceled order gave its stock back when it was canceled.
                effects.release_reservation = from == OrderStatus::Pending;
                OrderEvent::OrderDeleted {}
            }
        };
        record.status = to;
        record.version += 1;
        record.updated_at = now;
        let entry = HistoryEntry {
            event,
            from_status: Some(from),
            to_status: to,
            at: now,
            version: record.version,
        };
        Ok((entry, effects))
    }

    /// What the order's status allows next, in [`Action::ALL`] order.
    pub fn allowed_actions(&self) -> Vec<Action> {
        allowed_actions(self.0.status)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::address::UncheckedAddress;
    use crate::values::InvalidValue;

    pub(crate) fn line(
        product: &str,
        quantity: i64,
        unit_price: i64,
    ) -> (ProductId, Quantity, Money) {
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

    #[test]
    fn totals_are_computed_from_the_lines_and_charges() {
        let order = new_order(vec![line("prod-1", 1, 1000), line("prod-2", 2, 1000)], None);
        assert_eq!(order.lines().items_total().minor_units(), 3000);
        assert_eq!(order.lines().items()[1].line_total().minor_units(), 2000);
        assert_eq!(order.total_amount().minor_units(), 3800);
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

    #[test]
    fn a_placed_order_is_pending_at_version_one_with_its_first_history_entry() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let id = OrderId::from_uuid(uuid::Uuid::nil());
        let (order, placed) =
            Order::place(id, new_order(vec![line("p", 1, 5)], None), address(), now);
        assert_eq!(order.status(), OrderStatus::Pending);
        assert_eq!(order.version(), 1);
        assert_eq!(placed.version, 1);
        assert_eq!(placed.from_status, None);
        assert_eq!(placed.to_status, OrderStatus::Pending);
        assert_eq!(placed.event.name(), "order_placed");
        assert_eq!(
            order.allowed_actions(),
            vec![
                Action::UpdatePayment,
                Action::UpdateShipping,
                Action::ConfirmPayment,
                Action::Cancel,
                Action::Delete
            ]
        );
    }

    fn placed_at(now: DateTime<Utc>) -> Order {
        let id = OrderId::from_uuid(uuid::Uuid::nil());
        Order::place(
            id,
            new_order(vec![line("p", 2, 1000)], None),
            address(),
            now,
        )
        .0
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::TimeDelta::seconds(1_700_000_000 + seconds)
    }

    fn text<const MAX: usize>(value: &str) -> crate::values::BoundedText<MAX> {
        crate::values::BoundedText::parse(value).unwrap_or_else(|e| panic!("{e}"))
    }

    fn reference(value: &str) -> PaymentReference {
        PaymentReference::parse(value).unwrap_or_else(|e| panic!("{e}"))
    }

    fn tracking(carrier: &str, number: &str) -> OrderCommand {
        OrderCommand::SetTracking {
            carrier: text(carrier),
            tracking_number: text(number),
        }
    }

    fn confirm(amount: i64) -> OrderCommand {
        OrderCommand::ConfirmPayment {
            payment_reference: reference("pay_1"),
            amount: Money::from_minor_units(amount).unwrap_or_default(),
        }
    }

    #[test]
    fn a_whole_life_bumps_the_version_once_per_change_and_records_each_event()
    -> Result<(), CommandError> {
        let mut order = placed_at(at(0));
        let details = PaymentDetails {
            method: PaymentMethod::Card,
            reference: reference("tok_visa"),
        };
        let steps = [
            (
                OrderCommand::UpdatePayment(details),
                "payment_info_updated",
                OrderStatus::Pending,
            ),
            (
                OrderCommand::UpdateShippingAddress(address()),
                "shipping_address_updated",
                OrderStatus::Pending,
            ),
            (confirm(2800), "payment_confirmed", OrderStatus::Processing),
            (
                tracking("UPS", "1Z1"),
                "shipment_tracking_set",
                OrderStatus::Shipped,
            ),
            (
                tracking("UPS", "1Z2"),
                "shipment_tracking_set",
                OrderStatus::Shipped,
            ),
            (
                OrderCommand::ConfirmDelivery { delivered_at: None },
                "delivery_confirmed",
                OrderStatus::Delivered,
            ),
        ];
        for (i, (command, event, status)) in steps.into_iter().enumerate() {
            let before = order.status();
            let (entry, effects) = order.apply(command, at(10 + i as i64))?;
            assert_eq!(entry.event.name(), event);
            assert_eq!((entry.from_status, entry.to_status), (Some(before), status));
            assert_eq!(entry.version, order.version());
            assert!(!effects.release_reservation);
        }
        assert_eq!(order.version(), 7);
        assert_eq!(order.updated_at(), at(15));
        let shipment = order.shipment().cloned();
        assert_eq!(
            shipment.as_ref().map(|s| s.shipped_at),
            Some(at(13)),
            "a correction keeps the ship time"
        );
        assert_eq!(
            shipment.as_ref().map(|s| s.tracking_number.as_str()),
            Some("1Z2")
        );
        assert_eq!(shipment.and_then(|s| s.delivered_at), Some(at(15)));
        let payment = order.payment().cloned().unwrap_or_default();
        assert_eq!(payment.confirmed_at, Some(at(12)));
        assert_eq!(payment.details.map(|d| d.method), Some(PaymentMethod::Card));
        assert!(order.allowed_actions().is_empty());
        Ok(())
    }

    #[test]
    fn a_refused_command_leaves_the_order_unchanged() {
        let mut order = placed_at(at(0));
        let before = order.clone();
        assert_eq!(
            order.apply(tracking("UPS", "1"), at(1)).err(),
            Some(CommandError::InvalidTransition(InvalidTransition {
                status: OrderStatus::Pending,
                action: Action::SetTracking,
            }))
        );
        assert!(matches!(
            order.apply(confirm(2799), at(1)),
            Err(CommandError::AmountMismatch { .. })
        ));
        assert_eq!(order, before);
    }

    #[test]
    fn delivery_cannot_be_in_the_future_or_before_shipping() -> Result<(), CommandError> {
        let mut order = placed_at(at(0));
        order.apply(confirm(2800), at(1))?;
        order.apply(tracking("DHL", "9"), at(100))?;
        for when in [at(201), at(99)] {
            let refused = order.apply(
                OrderCommand::ConfirmDelivery {
                    delivered_at: Some(when),
                },
                at(200),
            );
            assert!(
                matches!(refused, Err(CommandError::InvalidDeliveryTime(_))),
                "{when}"
            );
        }
        order.apply(
            OrderCommand::ConfirmDelivery {
                delivered_at: Some(at(150)),
            },
            at(200),
        )?;
        assert_eq!(order.shipment().and_then(|s| s.delivered_at), Some(at(150)));
        Ok(())
    }

    #[test]
    fn cancel_always_releases_stock_and_delete_only_from_pending() -> Result<(), CommandError> {
        let cancel = || OrderCommand::Cancel {
            reason: text("changed my mind"),
        };
        let mut pending = placed_at(at(0));
        assert!(
            pending
                .clone()
                .apply(cancel(), at(1))?
                .1
                .release_reservation
        );
        let (deleted, effects) = pending.apply(OrderCommand::Delete, at(1))?;
        assert!(effects.release_reservation);
        assert_eq!(deleted.to_status, OrderStatus::Pending);
        assert_eq!(pending.deleted_at(), Some(at(1)));
        assert_eq!(
            pending.apply(cancel(), at(2)).err(),
            Some(CommandError::Deleted)
        );
        assert_eq!(
            pending.apply(OrderCommand::Delete, at(2)).err(),
            Some(CommandError::Deleted)
        );

        let mut processing = placed_at(at(0));
        processing.apply(confirm(2800), at(1))?;
        assert!(processing.apply(cancel(), at(2))?.1.release_reservation);
        assert_eq!(
            processing.cancellation().map(|c| c.canceled_at),
            Some(at(2))
        );
        assert!(
            !processing
                .apply(OrderCommand::Delete, at(3))?
                .1
                .release_reservation
        );
        Ok(())
    }

    #[test]
    fn events_serialize_to_their_published_shape_and_back() -> Result<(), serde_json::Error> {
        let events = [
            OrderEvent::PaymentConfirmed {
                payment_reference: reference("pay_1"),
                amount: Money::from_minor_units(3800).unwrap_or_default(),
            },
            OrderEvent::ShippingAddressUpdated {
                shipping_address: address(),
            },
            OrderEvent::OrderDeleted {},
        ];
        let json = serde_json::to_value(&events)?;
        assert_eq!(
            json[0],
            serde_json::json!({"event": "payment_confirmed", "data": {"paymentReference": "pay_1", "amount": 3800}})
        );
        assert_eq!(json[1]["data"]["shippingAddress"]["postalCode"], "62701");
        assert_eq!(
            json[2],
            serde_json::json!({"event": "order_deleted", "data": {}})
        );
        let back: Vec<OrderEvent> = serde_json::from_value(json)?;
        assert_eq!(back, events);
        for event in &back {
            assert_eq!(serde_json::to_value(event)?["event"], event.name());
        }
        Ok(())
    }
}
