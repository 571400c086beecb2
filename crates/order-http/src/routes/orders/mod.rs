//! The order endpoints, one module per use case.

pub(crate) mod change;
pub(crate) mod documentation;
pub(crate) mod list;
pub(crate) mod place;
pub(crate) mod read;
pub(crate) mod requests;
pub(crate) mod view;

pub use change::{
    cancel_order, confirm_delivery, confirm_payment, delete_order, set_tracking, update_payment,
    update_shipping,
};
pub use list::list_orders;
pub use place::place_order;
pub use read::{get_order, get_order_history};
