//! The service's metrics, served at `GET /metrics` in the OpenMetrics text format that
//! Prometheus scrapes (counters end in `_total`; every name starts with `orders_`).
//! One registry per running service, so that tests starting many services in one
//! process never mix their numbers; filled as requests and upstream calls happen, with
//! the circuits' and connection pools' current state read at each scrape.

use std::sync::Arc;
use std::time::Duration;

use order_adapters::{CallObserver, CallOutcome, CircuitBreaker, CircuitState, Database, PoolUse};
use std::sync::atomic::AtomicU64;

use order_domain::{Backlog, EffectObserver, EffectOutcome, UpstreamService};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UpstreamLabels {
    service: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CacheLabels {
    service: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CircuitLabels {
    service: &'static str,
    state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
    state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EffectLabels {
    kind: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RelayLabels {
    consumer: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PlacementLabels {
    outcome: &'static str,
}

/// Latency buckets, in seconds: from half a millisecond to the longest upstream budget.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Every metric the service keeps.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RequestLabels, Histogram, fn() -> Histogram>,
    upstream_calls: Family<UpstreamLabels, Counter>,
    upstream_seconds: Family<UpstreamLabels, Histogram, fn() -> Histogram>,
    upstream_cache_lookups: Family<CacheLabels, Counter>,
    circuits: Family<CircuitLabels, Gauge>,
    pool_connections: Family<PoolLabels, Gauge>,
    placements: Family<PlacementLabels, Counter>,
    effects: Family<EffectLabels, Counter>,
    events_waiting: Family<RelayLabels, Gauge>,
    oldest_event_waiting: Family<RelayLabels, Gauge<f64, AtomicU64>>,
    writes: Counter,
    commits: Counter,
    write_reruns: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("orders");
        let requests = Family::default();
        let request_seconds =
            Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        let upstream_calls = Family::default();
        let upstream_seconds =
            Family::<UpstreamLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        let upstream_cache_lookups = Family::default();
        let circuits = Family::default();
        let pool_connections = Family::default();
        let placements = Family::default();
        let effects = Family::default();
        let events_waiting = Family::default();
        let oldest_event_waiting = Family::default();
        let writes = Counter::default();
        let commits = Counter::default();
        let write_reruns = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by method, route and status",
            request_seconds.clone(),
        );
        registry.register(
            "upstream_calls",
            "Calls to the customer and inventory services, by service and outcome",
            upstream_calls.clone(),
        );
        registry.register(
            "upstream_call_duration_seconds",
            "Time upstream calls took, retries included, by service and outcome",
            upstream_seconds.clone(),
        );
        registry.register(
            "upstream_cache_lookups",
            "Look-ups of upstream answers kept in memory (customers found), by service and \
             whether the answer was there (hit) or the service was called (miss)",
            upstream_cache_lookups.clone(),
        );
        registry.register(
            "upstream_circuit_state",
            "1 for the state each upstream service's circuit is in, 0 for the others",
            circuits.clone(),
        );
        registry.register(
            "database_pool_connections",
            "Database connections, by pool and whether they are in use or idle",
            pool_connections.clone(),
        );
        registry.register(
            "placements",
            "Order placements, by outcome: created, replayed, or the problem code",
            placements.clone(),
        );
        registry.register(
            "effects",
            "Tries of effects outside the database (release_reservation, notify), by kind and outcome: done, retried, given_up",
            effects.clone(),
        );
        registry.register(
            "events_waiting",
            "Events not yet relayed, by consumer: broker, notifications",
            events_waiting.clone(),
        );
        registry.register(
            "oldest_event_waiting_seconds",
            "How long the oldest event not yet relayed has waited, by consumer; 0 when none waits",
            oldest_event_waiting.clone(),
        );
        registry.register(
            "database_writes",
            "Writes made by SQLite's group-commit writer (each committed or rolled back alone)",
            writes.clone(),
        );
        registry.register(
            "database_commits",
            "Transactions committed by SQLite's group-commit writer: writes / commits is the mean batch",
            commits.clone(),
        );
        registry.register(
            "database_batch_reruns",
            "Batches SQLite's group-commit writer ran a second time, each write alone, because one of their writes failed",
            write_reruns.clone(),
        );
        Self {
            registry,
            requests,
            request_seconds,
            upstream_calls,
            upstream_seconds,
            upstream_cache_lookups,
            circuits,
            pool_connections,
            placements,
            effects,
            events_waiting,
            oldest_event_waiting,
            writes,
            commits,
            write_reruns,
        }
    }
}

/// The methods HTTP defines keep their name; anything else a client makes up is
/// `other`, so that made-up methods cannot grow the number of series.
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("other")
}

impl Metrics {
    /// Counts an answered request. `route` is the route's pattern
    /// (`/v1/orders/{id}`), never the raw path, so that ids do not become labels.
    pub fn request_answered(&self, method: &str, route: &str, status: u16, took: Duration) {
        let labels = RequestLabels {
            method: method_label(method),
            route: route.to_owned(),
            status,
        };
        self.request_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        self.requests.get_or_create(&labels).inc();
    }

    /// Counts a placement's outcome.
    pub fn order_placement(&self, outcome: &'static str) {
        self.placements
            .get_or_create(&PlacementLabels { outcome })
            .inc();
    }

    /// The content type of [`Metrics::render`]'s text.
    pub const CONTENT_TYPE: &'static str =
        "application/openmetrics-text; version=1.0.0; charset=utf-8";

    /// The metrics in the OpenMetrics text format, with the circuits and pools as they
    /// are now.
    pub fn render(
        &self,
        circuits: &[Arc<CircuitBreaker>],
        database: &Database,
        relays: &[(&'static str, Backlog)],
    ) -> String {
        let now = chrono::Utc::now();
        for (consumer, backlog) in relays {
            let labels = RelayLabels { consumer };
            self.events_waiting
                .get_or_create(&labels)
                .set(i64::try_from(backlog.waiting).unwrap_or(i64::MAX));
            let waited = backlog.oldest.map_or(0.0, |oldest| {
                (now - oldest).num_milliseconds().max(0) as f64 / 1000.0
            });
            self.oldest_event_waiting.get_or_create(&labels).set(waited);
        }
        for circuit in circuits {
            let service = circuit.service().as_str();
            let now = circuit.state();
            for state in [
                CircuitState::Closed,
                CircuitState::HalfOpen,
                CircuitState::Open,
            ] {
                let labels = CircuitLabels {
                    service,
                    state: state.as_str(),
                };
                self.circuits
                    .get_or_create(&labels)
                    .set(i64::from(state == now));
            }
        }
        for PoolUse {
            pool,
            connections,
            idle,
            ..
        } in database.pool_use()
        {
            let set = |state, count: u32| {
                self.pool_connections
                    .get_or_create(&PoolLabels { pool, state })
                    .set(i64::from(count));
            };
            set("idle", idle);
            set("in_use", connections.saturating_sub(idle));
        }
        if let Some(counts) = database.write_counts() {
            catch_up(&self.writes, counts.writes);
            catch_up(&self.commits, counts.commits);
            catch_up(&self.write_reruns, counts.reruns);
        }
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            // Encoding into a String cannot fail; should it, an empty scrape says so.
            text.clear();
        }
        text
    }
}

impl EffectObserver for Metrics {
    fn effect_tried(&self, kind: &'static str, outcome: EffectOutcome) {
        let labels = EffectLabels {
            kind,
            outcome: outcome.as_str(),
        };
        self.effects.get_or_create(&labels).inc();
    }
}

impl CallObserver for Metrics {
    fn call_ended(&self, service: UpstreamService, outcome: CallOutcome, took: Duration) {
        let labels = UpstreamLabels {
            service: service.as_str(),
            outcome: outcome.as_str(),
        };
        self.upstream_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        self.upstream_calls.get_or_create(&labels).inc();
    }

    fn cache_lookup(&self, service: UpstreamService, hit: bool) {
        let labels = CacheLabels {
            service: service.as_str(),
            result: if hit { "hit" } else { "miss" },
        };
        self.upstream_cache_lookups.get_or_create(&labels).inc();
    }
}

/// Brings a counter up to a total counted elsewhere (the writer counts its own).
fn catch_up(counter: &Counter, total: u64) {
    counter.inc_by(total.saturating_sub(counter.get()));
}
