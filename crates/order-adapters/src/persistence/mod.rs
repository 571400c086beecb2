//! Persistence: the store of orders on an embedded SQLite file or on PostgreSQL.

mod clock;
pub(crate) mod database;
mod effects;
mod errors;
mod events;
pub(crate) mod fixed;
mod group_commit;
mod migrations;
mod orders;
mod pool;
mod postgres;
mod rows;
pub(crate) mod schema;
mod sqlite;
pub(crate) mod stock;
pub(crate) mod time;
mod url;

pub use database::Database;
pub use group_commit::WriteCounts;
pub use migrations::Readiness;
pub use orders::OrderStore;
pub use pool::{DatabaseOptions, PoolUse};
pub use url::{DatabaseUrl, masked_url};
