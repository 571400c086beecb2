//! Persistence on an embedded SQLite file.

mod database;
mod orders;
mod rows;
pub(crate) mod schema;

pub use database::{SqliteDatabase, SqliteOptions};
pub use orders::SqliteOrderStore;
