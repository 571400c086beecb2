#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod access;
mod address;
mod command;
mod details;
mod effect;
mod event;
mod lifecycle;
mod lines;
mod order;
mod ports;
mod service;
#[cfg(test)]
mod test_support;
mod values;

pub use access::{Actor, Caller, Denied, Principal, Scope, Subject};
pub use address::{Address, AddressError, AddressField, InvalidAddress, UncheckedAddress};
pub use command::{NewOrder, OrderCommand, TotalError};
pub use details::{
    Cancellation, Payment, PaymentDetails, PaymentMethod, Refund, RefundStatus, Shipment,
};
pub use effect::{Effect, EffectId, EffectPolicy, PendingEffect};
pub use event::{EventId, HistoryEntry, OrderChanged, OrderEvent, RecordedEvent};
pub use lifecycle::{Action, InvalidTransition, OrderStatus, allowed_actions, transition};
pub use lines::{Charges, LinesError, OrderItem, OrderLines, TotalOverflow};
pub use order::{CommandError, Order, OrderRecord, SideEffects};
pub use ports::*;
pub use service::{
    BROKER_RELAY, ChangeOrderError, FeedPageSize, IdempotentRequest, NOTIFICATION_RELAY,
    OrderService, PaymentMismatch, PlaceOrderError, Placement, PlacementPolicy, Policies, Ports,
    ReadFeedError, ReadOrderError, RelayError, RelayPolicy, RelayRound,
};
pub use values::{
    BoundedText, CancellationReason, Carrier, CharacterRule, Currency, CustomerId, IdempotencyKey,
    InvalidValue, Money, OrderId, PaymentReference, ProductId, Quantity, RequestFingerprint,
    RequestId, StoreId, TrackingNumber,
};
