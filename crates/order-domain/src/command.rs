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
    /// `None`: quoted by the shipping service when the order is placed.
    pub(crate) shipping_cost: Option<Money>,
    pub(crate) tax_amount: Money,
    /// The total the client expects, checked once the total is known.
    pub(crate) claimed_total: Option<Money>,
    pub(crate) shipping_address: Option<Address>,
}

impl NewOrder {
    /// Assembles a new order. With `charges.shipping_cost` known, its total is checked
    /// at once; without, shipping is quoted when the order is placed.
    ///
    /// `shipping_address: None` means "ship to the address the customer service has".
    ///
    /// # Errors
    /// [`TotalOverflow`] when the total, as far as it is known, exceeds
    /// [`Money::MAX_MINOR_UNITS`].
    pub fn new(
        store_id: StoreId,
        customer_id: CustomerId,
        currency: Currency,
        lines: OrderLines,
        charges: Charges,
        shipping_address: Option<Address>,
    ) -> Result<Self, TotalOverflow> {
        lines.total_with(Money::ZERO, charges.tax_amount)?;
        if let Some(shipping_cost) = charges.shipping_cost {
            lines.total_with(shipping_cost, charges.tax_amount)?;
        }
        Ok(Self {
            store_id,
            customer_id,
            currency,
            lines,
            shipping_cost: charges.shipping_cost,
            tax_amount: charges.tax_amount,
            claimed_total: None,
            shipping_address,
        })
    }

    /// The same order, whose total the client claims is `total`: placing it fails
    /// unless the total comes to that.
    pub fn claiming_total(mut self, total: Money) -> Self {
        self.claimed_total = Some(total);
        self
    }

    /// The customer who orders.
    pub fn customer_id(&self) -> &CustomerId {
        &self.customer_id
    }
    /// The order's currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }
    /// The order's lines.
    pub fn lines(&self) -> &OrderLines {
        &self.lines
    }
    /// The shipping cost the client gave; `None`: to be quoted.
    pub fn shipping_cost(&self) -> Option<Money> {
        self.shipping_cost
    }
    /// The address the client asked to ship to, if any.
    pub fn shipping_address(&self) -> Option<&Address> {
        self.shipping_address.as_ref()
    }

    /// The order's charges and total with `shipping_cost` (the client's, or a quote's).
    ///
    /// # Errors
    /// [`TotalError`] when the total overflows, or is not the total the client claimed.
    pub(crate) fn priced(&self, shipping_cost: Money) -> Result<(Charges, Money), TotalError> {
        let total = self
            .lines
            .total_with(shipping_cost, self.tax_amount)
            .map_err(|_| TotalError::Overflow)?;
        if let Some(claimed) = self.claimed_total
            && claimed != total
        {
            return Err(TotalError::NotAsClaimed { computed: total });
        }
        let charges = Charges {
            shipping_cost: Some(shipping_cost),
            tax_amount: self.tax_amount,
        };
        Ok((charges, total))
    }
}

/// Why an order's total is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TotalError {
    /// `itemsTotal + shippingCost + taxAmount` exceeds the largest amount.
    #[error("itemsTotal + shippingCost + taxAmount exceeds the largest amount")]
    Overflow,
    /// The total is not the one the client claimed.
    #[error("the total is {computed}, not the total claimed")]
    NotAsClaimed {
        /// The total as computed.
        computed: Money,
    },
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
