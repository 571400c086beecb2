//! The order service's HTTP API: actix-web handlers over the domain's use cases, the
//! one error-to-problem mapping, configuration and start-up.

pub mod auth;
mod body;
mod caller;
pub mod config;
mod error;
mod events;
mod json_schema;
mod metrics;
mod openapi;
mod request_context;
mod routes;
pub mod startup;
pub mod telemetry;
