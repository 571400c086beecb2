//! The order endpoints, one module per use case.

mod change;
mod list;
mod place;
mod read;
mod view;

pub use change::{
    ParseCommand, changing, delete_order, parse_cancel, parse_confirm_delivery,
    parse_confirm_payment, parse_payment, parse_shipping, parse_tracking,
};
pub use list::list_orders;
pub use place::place_order;
pub use read::{get_order, order_history};
