#![doc = include_str!("../README.md")]

mod address;
mod command;
mod details;
mod event;
mod lifecycle;
mod lines;
mod order;
mod ports;
mod service;
#[cfg(test)]
mod service_tests;
#[cfg(test)]
mod test_support;
mod values;

pub use address::{Address, AddressError, AddressField, InvalidAddress, UncheckedAddress};
pub use command::{NewOrder, OrderCommand};
pub use details::{Cancellation, Payment, PaymentDetails, PaymentMethod, Shipment};
pub use event::{HistoryEntry, OrderEvent};
pub use lifecycle::{Action, InvalidTransition, OrderStatus, allowed_actions, transition};
pub use lines::{Charges, LinesError, OrderItem, OrderLines, TotalOverflow};
pub use order::{CommandError, Order, OrderRecord, SideEffects};
pub use ports::*;
pub use service::{
    ChangeOrderError, IdempotencyPolicy, IdempotentRequest, OrderService, PlaceOrderError,
    Placement, Ports, ReadOrderError, ReleasePolicy,
};
pub use values::{
    BoundedText, CancellationReason, Carrier, CharacterRule, Currency, CustomerId, IdempotencyKey,
    InvalidValue, Money, OrderId, PaymentReference, ProductId, Quantity, RequestFingerprint,
    RequestId, StoreId, TrackingNumber,
};
