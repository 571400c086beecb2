//! The order endpoints, one module per use case.

pub(crate) mod change;
pub(crate) mod list;
pub(crate) mod place;
pub(crate) mod read;
pub(crate) mod requests;
pub(crate) mod view;

pub use change::{
    ParseCommand, changing, delete_order, parse_cancel, parse_confirm_delivery,
    parse_confirm_payment, parse_payment, parse_shipping, parse_tracking,
};
pub use list::list_orders;
pub use place::place_order;
pub use read::{get_order, order_history};
