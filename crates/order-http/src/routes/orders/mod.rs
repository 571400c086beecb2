//! The order endpoints, one module per use case.

mod list;
mod place;
mod read;
mod view;

pub use list::list_orders;
pub use place::place_order;
pub use read::{get_order, order_history};
