//! The HTTP API, end to end: the real server on port 0, a temporary SQLite file, and
//! wiremock standing in for the customer and inventory services.

mod concurrency;
mod conventions;
mod helpers;
mod idempotency;
mod lifecycle;
mod place_order;
mod read_orders;
