#![doc = include_str!("../README.md")]

mod clients;
mod demo;
mod persistence;
mod system;
#[cfg(feature = "testing")]
pub mod testing;

pub use clients::{
    CallPermit, CallPolicy, CircuitBreaker, CircuitSettings, CircuitState, HttpCustomerDirectory,
    HttpInventory, UpstreamSettings,
};
pub use demo::DemoDirectory;
pub use persistence::{Database, DatabaseOptions, DatabaseUrl, OrderStore};
pub use system::{SystemClock, UuidV7Ids};
