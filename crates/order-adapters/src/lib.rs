#![doc = include_str!("../README.md")]

mod broker;
mod clients;
mod demo;
mod persistence;
mod system;
#[cfg(feature = "testing")]
pub mod testing;

pub use broker::{NatsBroker, STREAM};
pub use clients::{
    CallObserver, CallOutcome, CallPermit, CallPolicy, CircuitBreaker, CircuitSettings,
    CircuitState, HttpCustomerDirectory, HttpInventory, HttpNotifier, HttpPayments, HttpShipping,
    UpstreamSettings,
};
pub use demo::DemoDirectory;
pub use persistence::{
    Database, DatabaseOptions, DatabaseUrl, OrderStore, PoolUse, Readiness, WriteCounts, masked_url,
};
pub use system::{SystemClock, UuidV7Ids};
