//! What operators probe and scrape: `GET /health/live`, `GET /health/ready` and
//! `GET /metrics`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpResponse, web};
use order_adapters::{CircuitBreaker, Database};
use order_domain::{OrderService, UpstreamService};
use serde::Serialize;
use utoipa::ToSchema;

use crate::metrics::Metrics;

/// How the service reaches one upstream service.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// Over HTTP, through this circuit.
    Http(Arc<CircuitBreaker>),
    /// The built-in demo directory stands in for it.
    Demo(UpstreamService),
}

/// What the operations endpoints look at.
#[derive(Debug)]
pub struct Operations {
    /// The service's database.
    pub database: Database,
    /// The customer and inventory services.
    pub upstreams: Vec<Upstream>,
    /// The service's metrics.
    pub metrics: Arc<Metrics>,
}

impl Operations {
    fn circuits(&self) -> Vec<Arc<CircuitBreaker>> {
        self.upstreams
            .iter()
            .filter_map(|upstream| match upstream {
                Upstream::Http(circuit) => Some(Arc::clone(circuit)),
                Upstream::Demo(_) => None,
            })
            .collect()
    }
}

/// The longest a readiness probe waits for the database.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /health/live`: the process is up and serving.
#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    /// `up`; `down` when the SQLite writer has stopped, so that an orchestrator
    /// restarts a process that could only refuse writes.
    #[schema(example = "up")]
    status: &'static str,
}

/// The database as the readiness probe found it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatabaseHealth {
    /// `up`, or `down` when it did not answer within 2 s.
    #[schema(example = "up")]
    status: &'static str,
    /// `applied`, `pending` (this binary knows migrations the database lacks), or
    /// `unknown` when the database is down.
    #[schema(example = "applied")]
    migrations: &'static str,
}

/// One upstream service as the readiness probe found it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpstreamHealth {
    /// `customer`, `inventory`, `payment`, `shipping` or `notification`.
    #[schema(example = "inventory")]
    service: &'static str,
    /// `http`, or `demo` when the built-in demo directory stands in for it.
    #[schema(example = "http")]
    mode: &'static str,
    /// The circuit's state (`closed`, `open`, `half_open`); absent in demo mode.
    #[schema(example = "closed")]
    #[serde(skip_serializing_if = "Option::is_none")]
    circuit: Option<&'static str>,
}

/// `GET /health/ready`: whether this instance should receive traffic.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` (200) when the database answers and its migrations are applied, else
    /// `not_ready` (503). An open upstream circuit is reported but does not make the
    /// instance unready: every instance would see the same service down, and the
    /// service still reads and changes orders meanwhile.
    #[schema(example = "ready")]
    status: &'static str,
    database: DatabaseHealth,
    upstreams: Vec<UpstreamHealth>,
}

/// The process is up.
#[utoipa::path(
    get,
    path = "/health/live",
    operation_id = "getLiveness",
    tag = "operations",
    responses(
        (status = 200, description = "The process is up", body = Liveness),
        (status = 503, description = "The process can no longer write (its SQLite writer has stopped): restart it", body = Liveness),
    )
)]
pub async fn get_liveness(operations: web::Data<Operations>) -> HttpResponse {
    let (mut answer, status) = if operations.database.can_write() {
        (HttpResponse::Ok(), "up")
    } else {
        (HttpResponse::ServiceUnavailable(), "down")
    };
    answer
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(Liveness { status })
}

/// Whether this instance can serve: its database answers and its schema is current.
#[utoipa::path(
    get,
    path = "/health/ready",
    operation_id = "getReadiness",
    tag = "operations",
    responses(
        (status = 200, description = "Ready for traffic", body = Readiness),
        (status = 503, description = "Not ready: the database is down or its migrations are pending", body = Readiness),
    )
)]
pub async fn get_readiness(operations: web::Data<Operations>) -> HttpResponse {
    let checked = tokio::time::timeout(READINESS_TIMEOUT, operations.database.readiness()).await;
    let database = match checked {
        Ok(Ok(found)) => DatabaseHealth {
            status: "up",
            migrations: if found.migrations_applied {
                "applied"
            } else {
                "pending"
            },
        },
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "readiness: the database did not answer");
            DatabaseHealth {
                status: "down",
                migrations: "unknown",
            }
        }
        Err(_) => {
            tracing::warn!("readiness: the database did not answer in time");
            DatabaseHealth {
                status: "down",
                migrations: "unknown",
            }
        }
    };
    let ready = database.status == "up" && database.migrations == "applied";
    let upstreams = operations
        .upstreams
        .iter()
        .map(|upstream| match upstream {
            Upstream::Http(circuit) => UpstreamHealth {
                service: circuit.service().as_str(),
                mode: "http",
                circuit: Some(circuit.state().as_str()),
            },
            Upstream::Demo(service) => UpstreamHealth {
                service: service.as_str(),
                mode: "demo",
                circuit: None,
            },
        })
        .collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    HttpResponse::build(status)
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(Readiness {
            status: if ready { "ready" } else { "not_ready" },
            database,
            upstreams,
        })
}

/// The service's metrics, for Prometheus to scrape.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    tag = "operations",
    responses((
        status = 200,
        description = "Metrics in the OpenMetrics text format",
        content_type = "application/openmetrics-text",
        body = String
    ))
)]
pub async fn get_metrics(
    operations: web::Data<Operations>,
    service: web::Data<OrderService>,
) -> HttpResponse {
    // A database that does not answer leaves the relays' gauges as they were: the
    // scrape still shows everything else.
    let relays = service.relay_backlogs().await.unwrap_or_else(|error| {
        tracing::warn!(error = %error, "cannot read how far behind the event relays are");
        Vec::new()
    });
    let text = operations
        .metrics
        .render(&operations.circuits(), &operations.database, &relays);
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, Metrics::CONTENT_TYPE))
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .body(text)
}
