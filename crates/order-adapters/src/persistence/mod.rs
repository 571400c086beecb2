//! Persistence: the store of orders on an embedded SQLite file or on PostgreSQL.

pub(crate) mod database;
pub(crate) mod fixed;
mod group_commit;
mod orders;
mod rows;
pub(crate) mod schema;

pub use database::{Database, DatabaseOptions, DatabaseUrl, PoolUse, Readiness, masked_url};
pub use orders::OrderStore;
