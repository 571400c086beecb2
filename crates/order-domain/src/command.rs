//! What a client asks of the order: a new order to place, or a business action on an
//! existing one.

use chrono::{DateTime, Utc};

use crate::address::Address;
use crate::details::PaymentDetails;
use crate::lifecycle::Action;
use crate::lines::{Charges, OrderLines, TotalOverflow};
use crate::values::{
    CancellationReason, Carrier, Currency, CustomerId, Money, PaymentReference, StoreId,
    TrackingNumber,
};

/// Everything a client decides about a new order; the server decides the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub(crate) store_id: StoreId,
    pub(crate) customer_id: CustomerId,
    pub(crate) currency: Currency,
    pub(crate) lines: OrderLines,
    pub(crate) shipping_cost: Money,
    pub(crate) tax_amount: Money,
    pub(crate) total_amount: Money,
    pub(crate) shipping_address: Option<Address>,
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
