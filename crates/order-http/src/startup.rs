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
    Database, DemoDirectory, HttpCustomerDirectory, HttpInventory, OrderStore, SystemClock,
    UpstreamSettings, UuidV7Ids,
};
use order_domain::{
    CustomerDirectory, IdempotencyPolicy, Inventory, OrderService, Ports, ReleasePolicy,
    UpstreamService,
};
use tokio::task::JoinHandle;

use crate::config::Config;
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
    housekeeping: [JoinHandle<()>; 2],
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
        let housekeeping = [
            tokio::spawn(retry_releases(
                service.clone().into_inner(),
                config.release_retry_interval,
            )),
            tokio::spawn(forget_expired_keys(service.clone().into_inner())),
        ];
        let operations = web::Data::new(Operations {
            database: database.clone(),
            upstreams,
            metrics: Arc::clone(&metrics),
        });
        let metrics = web::Data::from(metrics);
        let listener = TcpListener::bind(config.listen_addr)
            .with_context(|| format!("cannot listen on {}", config.listen_addr))?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(service.clone())
                .app_data(operations.clone())
                .app_data(metrics.clone())
                .wrap(from_fn(request_context))
                .configure(routes::configure)
                .configure(openapi::configure)
        })
        // actix counts whole seconds: round up, or a timeout under a second would
        // cut off the requests in flight at once.
        .shutdown_timeout(config.shutdown_timeout.as_millis().div_ceil(1000) as u64)
        // `main` decides what a signal does: actix would force-stop on SIGINT.
        .disable_signals()
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

/// How often expired idempotency keys are deleted.
const FORGET_EXPIRED_KEYS_EVERY: Duration = Duration::from_secs(60);

/// Deletes expired idempotency keys, forever, every minute.
async fn forget_expired_keys(service: Arc<OrderService>) {
    let mut ticks = tokio::time::interval(FORGET_EXPIRED_KEYS_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match service.forget_expired_keys().await {
            Ok(0) => {}
            Ok(forgotten) => tracing::info!(forgotten, "expired idempotency keys deleted"),
            Err(error) => tracing::warn!(error = %error, "cannot delete expired idempotency keys"),
        }
    }
}

/// Tries the stock releases that failed before, forever, at every `interval`.
async fn retry_releases(service: Arc<OrderService>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = service.retry_due_releases().await {
            tracing::warn!(error = %error, "cannot read the releases to retry");
        }
    }
}

async fn order_service(
    config: &Config,
    database: &Database,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<(OrderService, Vec<Upstream>)> {
    let store = Arc::new(OrderStore::new(database.clone()));
    let settings = |base_url: &String| UpstreamSettings {
        base_url: base_url.clone(),
        policy: config.upstream_policy,
        observer: metrics.clone(),
    };
    let mut demo = None;
    let mut upstreams = Vec::new();
    let customers: Arc<dyn CustomerDirectory> = match &config.customer_service_url {
        Some(url) => {
            let client = HttpCustomerDirectory::new(&settings(url))?;
            upstreams.push(Upstream::Http(client.circuit()));
            Arc::new(client)
        }
        None => {
            tracing::warn!(
                "ORDERS_CUSTOMER_SERVICE_URL is not set: using the built-in demo customer directory"
            );
            upstreams.push(Upstream::Demo(UpstreamService::Customer));
            demo_directory(database, &mut demo).await?
        }
    };
    let inventory: Arc<dyn Inventory> = match &config.inventory_service_url {
        Some(url) => {
            let client = HttpInventory::new(&settings(url))?;
            upstreams.push(Upstream::Http(client.circuit()));
            Arc::new(client)
        }
        None => {
            tracing::warn!(
                "ORDERS_INVENTORY_SERVICE_URL is not set: using the built-in demo inventory"
            );
            upstreams.push(Upstream::Demo(UpstreamService::Inventory));
            demo_directory(database, &mut demo).await?
        }
    };
    let service = OrderService::new(
        Ports {
            orders: store.clone(),
            idempotency: store.clone(),
            customers,
            inventory,
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7Ids),
            releases: store,
        },
        IdempotencyPolicy::default(),
        ReleasePolicy::default(),
    );
    Ok((service, upstreams))
}

/// The demo directory, opened (and seeded) the first time either port needs it.
async fn demo_directory(
    database: &Database,
    opened: &mut Option<Arc<DemoDirectory>>,
) -> anyhow::Result<Arc<DemoDirectory>> {
    if let Some(demo) = opened {
        return Ok(demo.clone());
    }
    let demo = Arc::new(DemoDirectory::open(database.clone()).await?);
    *opened = Some(demo.clone());
    Ok(demo)
}
