#![doc = include_str!("../README.md")]

mod clients;
mod demo;
mod sqlite;
mod system;

pub use clients::{HttpCustomerDirectory, HttpInventory, UpstreamSettings};
pub use demo::DemoDirectory;
pub use sqlite::{SqliteDatabase, SqliteOptions, SqliteOrderStore};
pub use system::{SystemClock, UuidV7Ids};
