//! The order aggregate: the one place where business actions change an order, each
//! through the status rules, each bumping the version and recording a history entry.

use chrono::{DateTime, Utc};

use crate::address::Address;
use crate::command::{NewOrder, OrderCommand, TotalError};
use crate::details::{Cancellation, Payment, Refund, RefundStatus, Shipment};
use crate::event::{HistoryEntry, OrderEvent};
use crate::lifecycle::{Action, InvalidTransition, OrderStatus, allowed_actions, transition};
use crate::lines::OrderLines;
use crate::values::{Currency, CustomerId, Money, OrderId, StoreId};

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
    /// The order's payment must be refunded (see [`Order::refund`]).
    pub refund_payment: bool,
}

/// An order as stored: every field, for repositories to rebuild an [`Order`] from.
///
/// Only persistence adapters should build one; the business rules are applied when
/// an order changes, not when it is read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    /// The order's id.
    pub id: OrderId,
    /// The store that sells it.
    pub store_id: StoreId,
    /// The customer who placed it.
    pub customer_id: CustomerId,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// The currency of every amount of the order.
    pub currency: Currency,
    /// What was ordered, at what unit prices.
    pub lines: OrderLines,
    /// Shipping, in minor units.
    pub shipping_cost: Money,
    /// Tax, in minor units.
    pub tax_amount: Money,
    /// The lines' subtotal plus shipping and tax, as computed at placement.
    pub total_amount: Money,
    /// Where it ships to.
    pub shipping_address: Address,
    /// The payment details, once given.
    pub payment: Option<Payment>,
    /// The carrier and tracking number, once shipped.
    pub shipment: Option<Shipment>,
    /// Why and when it was canceled, if it was.
    pub cancellation: Option<Cancellation>,
    /// The refund a paid order's cancel owes, if any.
    pub refund: Option<Refund>,
    /// Incremented by every change; the `ETag` clients send back in `If-Match`.
    pub version: u32,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was soft-deleted, if it was.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// An order. Its status changes only through business actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order(OrderRecord);

impl Order {
    /// A freshly placed order (status `pending`, version 1) and its first history
    /// entry, shipped to `shipping_address` for `shipping_cost` (the client's, or the
    /// shipping service's quote).
    ///
    /// # Errors
    /// [`TotalError`] when the total overflows, or is not the total the client claimed.
    pub fn place(
        id: OrderId,
        new_order: NewOrder,
        shipping_address: Address,
        shipping_cost: Money,
        now: DateTime<Utc>,
    ) -> Result<(Order, HistoryEntry), TotalError> {
        let (charges, total_amount) = new_order.priced(shipping_cost)?;
        let placed = HistoryEntry {
            event: OrderEvent::OrderPlaced {
                total_amount,
                currency: new_order.currency,
                item_count: new_order.lines.items().len(),
            },
            from_status: None,
            to_status: OrderStatus::Pending,
            at: now,
            version: 1,
            actor: None,
        };
        let order = Order(OrderRecord {
            id,
            store_id: new_order.store_id,
            customer_id: new_order.customer_id,
            status: OrderStatus::Pending,
            currency: new_order.currency,
            lines: new_order.lines,
            shipping_cost,
            tax_amount: charges.tax_amount,
            total_amount,
            shipping_address,
            payment: None,
            shipment: None,
            cancellation: None,
            refund: None,
            version: 1,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        });
        Ok((order, placed))
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
    /// The refund of a paid order that was canceled, once there is one.
    pub fn refund(&self) -> Option<&Refund> {
        self.0.refund.as_ref()
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
            refund_payment: false,
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
                // A confirmed payment goes back to the customer.
                if record
                    .payment
                    .as_ref()
                    .is_some_and(|p| p.confirmed_at.is_some())
                {
                    record.refund = Some(Refund {
                        status: RefundStatus::Pending,
                        amount: record.total_amount,
                        requested_at: now,
                        completed_at: None,
                    });
                    effects.refund_payment = true;
                }
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
            actor: None,
        };
        Ok((entry, effects))
    }

    /// Records that the payment service refunded the order's payment: a change the
    /// service makes by itself, whatever the order's status (a deleted order included:
    /// the money went back all the same), which bumps the version and appends
    /// `refund_completed` to the history. `None`, and nothing changes, when the refund
    /// is not pending (completed already: recording it twice is recording it once).
    pub fn complete_refund(&mut self, now: DateTime<Utc>) -> Option<HistoryEntry> {
        let record = &mut self.0;
        let refund = record
            .refund
            .as_mut()
            .filter(|refund| refund.status == RefundStatus::Pending)?;
        refund.status = RefundStatus::Completed;
        refund.completed_at = Some(now);
        let amount = refund.amount;
        record.version += 1;
        record.updated_at = now;
        Some(HistoryEntry {
            event: OrderEvent::RefundCompleted { amount },
            from_status: Some(record.status),
            to_status: record.status,
            at: now,
            version: record.version,
            actor: None,
        })
    }

    /// What the order's status allows next, in [`Action::ALL`] order.
    pub fn allowed_actions(&self) -> Vec<Action> {
        allowed_actions(self.0.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::details::{PaymentDetails, PaymentMethod};
    use crate::test_support::{address, line, new_order, placed};
    use crate::values::PaymentReference;

    #[test]
    fn a_placed_order_is_pending_at_version_one_with_its_first_history_entry() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let id = OrderId::from_uuid(uuid::Uuid::nil());
        let (order, placed) = placed(id, new_order(vec![line("p", 1, 5)], None), now);
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
        placed(id, new_order(vec![line("p", 2, 1000)], None), now).0
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
}
