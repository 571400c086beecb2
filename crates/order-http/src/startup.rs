//! Wiring: opens the database, picks the upstream adapters, binds the listener and
//! builds the server. `main` and the tests start the service the same way.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use order_adapters::{
    CircuitBreaker, Database, DemoDirectory, HttpCustomerDirectory, HttpInventory, HttpNotifier,
    HttpPayments, HttpShipping, NatsBroker, OrderStore, SystemClock, UpstreamSettings, UuidV7Ids,
    masked_url,
};
use order_domain::{
    CustomerDirectory, Inventory, Notifier, OrderService, Payments, Policies, Ports, RelayError,
    RelayPolicy, RelayRound, ShippingQuotes, UpstreamService,
};
use tokio::task::JoinHandle;

use crate::auth::{self, Gate};
use crate::body::BodyTimeout;
use crate::config::Config;
use crate::events::CloudEvents;
use crate::metrics::Metrics;
use crate::openapi;
use crate::request_context::request_context;
use crate::routes::{self, Operations, Upstream};

/// A service bound to its port, ready to run.
#[allow(missing_debug_implementations)]
pub struct Application {
    port: u16,
    server: Server,
    database: Database,
    housekeeping: [JoinHandle<()>; 5],
}

impl Application {
    /// Opens the database (applying migrations), wires the adapters and binds
    /// `config.listen_addr`.
    ///
    /// # Errors
    /// When the database cannot be opened, the demo directory cannot be seeded, or the
    /// address cannot be bound.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let database = open_database(config).await?;
        let metrics = Arc::new(Metrics::default());
        let (service, upstreams) = order_service(config, &database, &metrics).await?;
        let service = web::Data::new(service);
        // Names this instance among those relaying events: one relays at a time.
        let holder = uuid::Uuid::new_v4().to_string();
        service.join_relays(&holder).await?;
        let housekeeping = housekeeping(
            &service.clone().into_inner(),
            &holder,
            config.release_retry_interval,
            config.event_retention,
        );
        let operations = web::Data::new(Operations {
            database: database.clone(),
            upstreams,
            metrics: Arc::clone(&metrics),
        });
        let metrics = web::Data::from(metrics);
        let listener = TcpListener::bind(config.listen_addr)
            .with_context(|| format!("cannot listen on {}", config.listen_addr))?;
        let port = listener.local_addr()?.port();
        let gate = web::Data::new(Gate::from_config(config).await?);
        let body_timeout = BodyTimeout(config.request_body_timeout);
        // actix limits connections per worker; the setting is for the whole process.
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(body_timeout)
                .app_data(service.clone())
                .app_data(operations.clone())
                .app_data(metrics.clone())
                .app_data(gate.clone())
                // The request's context wraps the guard: a refusal has its id and is
                // logged and counted like any answer.
                .wrap(from_fn(auth::guard))
                .wrap(from_fn(request_context))
                .configure(routes::configure)
                .configure(openapi::configure)
        })
        // actix counts whole seconds: round up, or a timeout under a second would
        // cut off the requests in flight at once.
        .shutdown_timeout(config.shutdown_timeout.as_millis().div_ceil(1000) as u64)
        // `main` decides what a signal does: actix would force-stop on SIGINT.
        .disable_signals()
        .workers(workers)
        .max_connections(config.max_connections.div_ceil(workers))
        .listen(listener)?
        .run();
        tracing::info!(address = %config.listen_addr, port, "listening");
        Ok(Self {
            port,
            server,
            database,
            housekeeping,
        })
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database the service keeps its orders in: for tests that need to do to it
    /// what a fault would (close it under the running service, say).
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// What stops the service gracefully, from another task.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.server.handle())
    }

    /// Serves until stopped by [`Stopper::stop`]; then stops accepting connections,
    /// lets the requests in flight finish (up to the shutdown timeout), and closes the
    /// database.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.server.await;
        tracing::info!("stopped serving; closing the database");
        // What the tasks were doing stays recorded and is done after a restart.
        for task in &self.housekeeping {
            task.abort();
        }
        if let Err(error) = self.database.close().await {
            tracing::warn!(error = %error, "the database did not close cleanly");
        }
        tracing::info!("stopped");
        Ok(served?)
    }
}

/// Stops a running [`Application`] gracefully.
#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub struct Stopper(ServerHandle);

impl Stopper {
    /// Stops accepting connections and waits for the requests in flight to finish (up
    /// to the shutdown timeout).
    pub async fn stop(&self) {
        self.0.stop(true).await;
    }
}

/// Applies the database's pending migrations (opening it does), for `order-service
/// migrate`.
///
/// # Errors
/// When the database cannot be reached or a migration fails.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let database = open_database(config).await?;
    database.close().await?;
    tracing::info!("migrations applied");
    Ok(())
}

async fn open_database(config: &Config) -> anyhow::Result<Database> {
    // Connecting and migrating block; keep them off the async runtime.
    let (url, options) = (config.database.clone(), config.database_options.clone());
    let database = tokio::task::spawn_blocking(move || Database::open(&url, &options)).await??;
    tracing::info!(database = %database.describe(), "database ready");
    Ok(database)
}

/// How often expired idempotency keys and events are forgotten.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// The background tasks every instance runs: relaying events to the broker and the
/// notification service (one instance at a time, `holder` naming this one), carrying
/// out the due effects (stock releases, …) at every `effects_interval`, and forgetting
/// expired idempotency keys and the events past their `retention` every minute. On many
/// instances each does its share; none is in charge.
fn housekeeping(
    service: &Arc<OrderService>,
    holder: &str,
    effects_interval: Duration,
    retention: Duration,
) -> [JoinHandle<()>; 5] {
    [
        relay_events(service, holder.to_owned(), |service, holder| async move {
            service.relay_to_broker(&holder).await
        }),
        relay_events(service, holder.to_owned(), |service, holder| async move {
            service.relay_notifications(&holder).await
        }),
        every(effects_interval, service, |service| async move {
            if let Err(error) = service.run_due_effects().await {
                tracing::warn!(error = %error, "cannot read the due effects");
            }
        }),
        every(FORGET_EVERY, service, |service| async move {
            match service.forget_expired_keys().await {
                Ok(0) => {}
                Ok(forgotten) => tracing::info!(forgotten, "expired idempotency keys deleted"),
                Err(error) => {
                    tracing::warn!(error = %error, "cannot delete expired idempotency keys");
                }
            }
        }),
        every(FORGET_EVERY, service, move |service| async move {
            match service.forget_old_events(retention).await {
                Ok(0) => {}
                Ok(forgotten) => tracing::info!(forgotten, "events past their retention forgotten"),
                Err(error) => {
                    tracing::warn!(error = %error, "cannot forget the events past their retention");
                }
            }
        }),
    ]
}

/// How often a relay with nothing to relay looks again: the most an event waits before
/// it is relayed.
const RELAY_EVERY: Duration = Duration::from_millis(100);

/// How long a relay whose receiver failed waits before trying again.
const RELAY_BACKOFF: Duration = Duration::from_secs(1);

/// Runs a relay of events for as long as it has something to relay to: a round right
/// after a full one, else one every [`RELAY_EVERY`]; after a failure, one a second.
fn relay_events<F, Fut>(service: &Arc<OrderService>, holder: String, relay: F) -> JoinHandle<()>
where
    F: Fn(Arc<OrderService>, String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<RelayRound, RelayError>> + Send,
{
    let service = Arc::clone(service);
    tokio::spawn(async move {
        let mut failing = false;
        loop {
            let wait = match relay(Arc::clone(&service), holder.clone()).await {
                Ok(RelayRound::Off) => return,
                Ok(RelayRound::Relayed { more: true, .. }) => Duration::ZERO,
                Ok(_) => RELAY_EVERY,
                Err(error) => {
                    // Once per outage, not once a second.
                    if !failing {
                        tracing::warn!(error = %error, "events cannot be relayed now; they wait in the database");
                    }
                    failing = true;
                    tokio::time::sleep(RELAY_BACKOFF).await;
                    continue;
                }
            };
            if failing {
                tracing::info!("events are relayed again");
                failing = false;
            }
            tokio::time::sleep(wait).await;
        }
    })
}

/// Runs `job` forever, at every `interval` (a late round delays the next, never
/// doubles up).
fn every<F, Fut>(interval: Duration, service: &Arc<OrderService>, job: F) -> JoinHandle<()>
where
    F: Fn(Arc<OrderService>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let service = Arc::clone(service);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            job(Arc::clone(&service)).await;
        }
    })
}

async fn order_service(
    config: &Config,
    database: &Database,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<(OrderService, Vec<Upstream>)> {
    let store = Arc::new(OrderStore::new(database.clone()));
    let mut wiring = Wiring {
        database,
        config,
        metrics,
        demo: None,
        upstreams: Vec::new(),
    };
    let customers = wiring
        .port::<dyn CustomerDirectory>(
            &config.customer_service_url,
            UpstreamService::Customer,
            "ORDERS_CUSTOMER_SERVICE_URL",
            |settings| {
                let client = HttpCustomerDirectory::new(settings)?
                    .remembering_found(config.customer_cache_ttl, config.customer_cache_size);
                Ok((client.circuit(), Arc::new(client)))
            },
            |demo| demo,
        )
        .await?;
    let inventory = wiring
        .port::<dyn Inventory>(
            &config.inventory_service_url,
            UpstreamService::Inventory,
            "ORDERS_INVENTORY_SERVICE_URL",
            |settings| {
                let client = HttpInventory::new(settings)?;
                Ok((client.circuit(), Arc::new(client)))
            },
            |demo| demo,
        )
        .await?;
    let payments = wiring
        .port::<dyn Payments>(
            &config.payment_service_url,
            UpstreamService::Payment,
            "ORDERS_PAYMENT_SERVICE_URL",
            |settings| {
                let client = HttpPayments::new(settings)?;
                Ok((client.circuit(), Arc::new(client)))
            },
            |demo| demo,
        )
        .await?;
    let shipping = wiring
        .port::<dyn ShippingQuotes>(
            &config.shipping_service_url,
            UpstreamService::Shipping,
            "ORDERS_SHIPPING_SERVICE_URL",
            |settings| {
                let client = HttpShipping::new(settings)?;
                Ok((client.circuit(), Arc::new(client)))
            },
            |demo| demo,
        )
        .await?;
    let notifier = wiring
        .port::<dyn Notifier>(
            &config.notification_service_url,
            UpstreamService::Notification,
            "ORDERS_NOTIFICATION_SERVICE_URL",
            |settings| {
                let client = HttpNotifier::new(settings)?;
                Ok((client.circuit(), Arc::new(client)))
            },
            |demo| demo,
        )
        .await?;
    let service = OrderService::new(
        Ports {
            orders: store.clone(),
            idempotency: store.clone(),
            customers,
            inventory,
            payments,
            shipping,
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7Ids),
            effects: store.clone(),
            event_format: Arc::new(CloudEvents),
            events: store,
            broker: match &config.nats_url {
                Some(url) => {
                    tracing::info!(url = %masked_url(url), "events are published to NATS JetStream");
                    Some(Arc::new(
                        NatsBroker::connect(url, config.event_retention).await?,
                    ))
                }
                None => {
                    tracing::info!("ORDERS_NATS_URL is not set: events are only in the feed");
                    None
                }
            },
            notifier,
            effect_observer: metrics.clone(),
        },
        Policies {
            placement: config.placement_policy,
            effects: config.effect_policy,
            relay: RelayPolicy::default(),
        },
    );
    Ok((service, wiring.upstreams))
}

/// What picks each upstream port: the HTTP client of the service when its URL is
/// configured, else the built-in demo directory (opened, and seeded, the first time a
/// port needs it).
struct Wiring<'a> {
    database: &'a Database,
    config: &'a Config,
    metrics: &'a Arc<Metrics>,
    demo: Option<Arc<DemoDirectory>>,
    /// How each service is reached, for the health checks and metrics.
    upstreams: Vec<Upstream>,
}

impl Wiring<'_> {
    /// The port of `service`: `http` builds its client from the settings for `url`,
    /// `demo` turns the demo directory into the port.
    async fn port<P: ?Sized>(
        &mut self,
        url: &Option<String>,
        service: UpstreamService,
        variable: &str,
        http: impl FnOnce(&UpstreamSettings) -> anyhow::Result<(Arc<CircuitBreaker>, Arc<P>)>,
        demo: impl FnOnce(Arc<DemoDirectory>) -> Arc<P>,
    ) -> anyhow::Result<Arc<P>> {
        if let Some(url) = url {
            let (circuit, client) = http(&UpstreamSettings {
                base_url: url.clone(),
                policy: self.config.upstream_policy,
                observer: self.metrics.clone(),
            })?;
            self.upstreams.push(Upstream::Http(circuit));
            return Ok(client);
        }
        tracing::warn!(
            "{variable} is not set: the built-in demo directory stands in for the {service} service"
        );
        self.upstreams.push(Upstream::Demo(service));
        let directory = match &self.demo {
            Some(directory) => Arc::clone(directory),
            None => {
                let directory = Arc::new(DemoDirectory::open(self.database.clone()).await?);
                self.demo = Some(Arc::clone(&directory));
                directory
            }
        };
        Ok(demo(directory))
    }
}
