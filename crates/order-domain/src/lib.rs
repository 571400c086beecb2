#![doc = include_str!("../README.md")]

mod address;
mod lifecycle;
mod order;
mod ports;
mod service;
#[cfg(test)]
mod service_tests;
mod values;

pub use address::{Address, AddressError, AddressField, InvalidAddress, UncheckedAddress};
pub use lifecycle::{Action, InvalidTransition, OrderStatus, allowed_actions, transition};
pub use order::{
    Cancellation, Charges, CommandError, HistoryEntry, LinesError, NewOrder, Order, OrderCommand,
    OrderEvent, OrderItem, OrderLines, OrderRecord, Payment, PaymentDetails, PaymentMethod,
    Shipment, SideEffects, TotalOverflow,
};
pub use ports::*;
pub use service::{
    ChangeOrderError, IdempotencyPolicy, IdempotentRequest, OrderService, PlaceOrderError,
    Placement, Ports, ReadOrderError, ReleasePolicy,
};
pub use values::{
    BoundedText, CancellationReason, Carrier, Currency, CustomerId, IdempotencyKey, InvalidValue,
    Money, OrderId, PaymentReference, ProductId, Quantity, RequestFingerprint, RequestId, StoreId,
    TrackingNumber,
};
