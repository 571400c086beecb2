//! The details an order gathers in its life: how it is paid, how it travels, why it
//! was canceled.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::values::{CancellationReason, Carrier, Money, PaymentReference, TrackingNumber};

/// How an order is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// A card payment.
    Card,
    /// PayPal.
    Paypal,
    /// A bank transfer.
    BankTransfer,
    /// A gift card.
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

/// Where a refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundStatus {
    /// Recorded with the cancellation; the payment service has not confirmed it yet.
    Pending,
    /// The payment service refunded the payment.
    Completed,
    /// The payment service refused it for good: for an operator to settle.
    Failed,
}

impl RefundStatus {
    /// Every status.
    pub const ALL: [RefundStatus; 3] = [Self::Pending, Self::Completed, Self::Failed];

    /// The status's name in the API and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    /// Parses a status's name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }
}

/// The payment of a canceled order going back to the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// Where it stands.
    pub status: RefundStatus,
    /// How much: the order's total.
    pub amount: Money,
    /// When the cancellation asked for it.
    pub requested_at: DateTime<Utc>,
    /// When the payment service confirmed it.
    pub completed_at: Option<DateTime<Utc>>,
}
