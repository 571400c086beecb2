#![doc = include_str!("../README.md")]

mod address;
mod lifecycle;
mod order;
mod ports;
mod service;
#[cfg(test)]
mod service_tests;
mod values;

pub use address::{Address, AddressError, AddressField, UncheckedAddress};
pub use lifecycle::{Action, InvalidTransition, OrderStatus, allowed_actions, transition};
pub use order::{
    Cancellation, Charges, HistoryEntry, LinesError, NewOrder, Order, OrderEvent, OrderItem,
    OrderLines, OrderRecord, Payment, PaymentMethod, Shipment, TotalOverflow,
};
pub use ports::*;
pub use service::{
    IdempotencyPolicy, IdempotentRequest, OrderService, PlaceOrderError, Placement, Ports,
    ReadOrderError,
};
pub use values::{
    Currency, CustomerId, IdempotencyKey, InvalidValue, Money, OrderId, ProductId, Quantity,
    RequestFingerprint, RequestId, StoreId,
};
