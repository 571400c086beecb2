//! The HTTP API, end to end: the real server on port 0, a database of the test's own
//! (a temporary SQLite file, or a PostgreSQL schema when ORDERS_TEST_DATABASE_URL is set), and
//! wiremock standing in for the customer and inventory services.

#[path = "../fakes/mod.rs"]
mod fakes;

mod auth;
mod broker;
mod concurrency;
mod conventions;
mod events;
mod faults;
mod helpers;
mod idempotency;
mod lifecycle;
mod notifications;
mod openapi;
mod operations;
mod outage;
mod payments;
mod place_order;
mod read_orders;
mod resilience;
mod schema_agreement;
