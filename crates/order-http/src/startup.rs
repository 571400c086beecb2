//! Wiring: opens the database, picks the upstream adapters, binds the listener and
//! builds the server. `main` and the tests start the service the same way.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use order_adapters::{
    Database, DemoDirectory, HttpCustomerDirectory, HttpInventory, OrderStore, SystemClock,
    UpstreamSettings, UuidV7Ids,
};
use order_domain::{
    CustomerDirectory, IdempotencyPolicy, Inventory, OrderService, Ports, ReleasePolicy,
};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::request_id::request_context;
use crate::routes;

/// A service bound to its port, ready to run.
#[allow(missing_debug_implementations)]
pub struct Application {
    port: u16,
    server: Server,
    release_retries: JoinHandle<()>,
}

impl Application {
    /// Opens the database (applying migrations), wires the adapters and binds
    /// `config.listen_addr`.
    ///
    /// # Errors
    /// When the database cannot be opened, the demo directory cannot be seeded, or the
    /// address cannot be bound.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let service = web::Data::new(order_service(config).await?);
        let release_retries = tokio::spawn(retry_releases(
            service.clone().into_inner(),
            config.release_retry_interval,
        ));
        let listener = TcpListener::bind(config.listen_addr)
            .with_context(|| format!("cannot listen on {}", config.listen_addr))?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(service.clone())
                .wrap(from_fn(request_context))
                .configure(routes::configure)
        })
        .shutdown_timeout(config.shutdown_timeout.as_secs())
        .listen(listener)?
        .run();
        tracing::info!(address = %config.listen_addr, port, "listening");
        Ok(Self {
            port,
            server,
            release_retries,
        })
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM or SIGINT, then finishes the requests in flight.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        // Whatever the task was trying stays recorded and is tried after a restart.
        self.release_retries.abort();
        served
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

async fn order_service(config: &Config) -> anyhow::Result<OrderService> {
    // Connecting and migrating block; keep them off the async runtime.
    let (url, options) = (config.database.clone(), config.database_options.clone());
    let db = tokio::task::spawn_blocking(move || Database::open(&url, &options)).await??;
    tracing::info!(database = %db.describe(), "database ready");
    let store = Arc::new(OrderStore::new(db.clone()));
    let settings = |base_url: &String| UpstreamSettings {
        base_url: base_url.clone(),
        policy: config.upstream_policy,
    };
    let mut demo = None;
    let customers: Arc<dyn CustomerDirectory> = match &config.customer_service_url {
        Some(url) => Arc::new(HttpCustomerDirectory::new(&settings(url))?),
        None => {
            tracing::warn!(
                "ORDERS_CUSTOMER_SERVICE_URL is not set: using the built-in demo customer directory"
            );
            demo_directory(&db, &mut demo).await?
        }
    };
    let inventory: Arc<dyn Inventory> = match &config.inventory_service_url {
        Some(url) => Arc::new(HttpInventory::new(&settings(url))?),
        None => {
            tracing::warn!(
                "ORDERS_INVENTORY_SERVICE_URL is not set: using the built-in demo inventory"
            );
            demo_directory(&db, &mut demo).await?
        }
    };
    Ok(OrderService::new(
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
    ))
}

/// The demo directory, opened (and seeded) the first time either port needs it.
async fn demo_directory(
    db: &Database,
    opened: &mut Option<Arc<DemoDirectory>>,
) -> anyhow::Result<Arc<DemoDirectory>> {
    if let Some(demo) = opened {
        return Ok(demo.clone());
    }
    let demo = Arc::new(DemoDirectory::open(db.clone()).await?);
    *opened = Some(demo.clone());
    Ok(demo)
}
