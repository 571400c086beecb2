//! A PostgreSQL outage: the service answers 503 while the database is unreachable and
//! recovers by itself when it returns. The outage is a TCP proxy in front of the test
//! server that stops passing traffic.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use order_adapters::testing::{PostgresSchema, postgres_server};
use order_adapters::{DatabaseOptions, DatabaseUrl};
use reqwest::StatusCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::helpers::{AppOptions, TestResult, assert_problem, eventually, order_body, start_with};

/// Forwards connections to PostgreSQL until cut.
struct Proxy {
    address: String,
    down: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let down = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let (is_down, open) = (Arc::clone(&down), Arc::clone(&connections));
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if is_down.load(Ordering::SeqCst) {
                    continue; // Dropping the socket refuses the connection.
                }
                let upstream = upstream.clone();
                open.lock().await.push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Ok(Self {
            address,
            down,
            connections,
        })
    }

    async fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for connection in self.connections.lock().await.drain(..) {
            connection.abort();
        }
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// `postgres://user@host:port/db?…` with `host:port` replaced.
fn through(url: &str, address: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| anyhow::anyhow!("not a URL"))?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let user = authority
        .rsplit_once('@')
        .map(|(user, _)| format!("{user}@"))
        .unwrap_or_default();
    Ok(format!("{scheme}://{user}{address}{tail}"))
}

fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    }
}

#[tokio::test]
async fn a_database_outage_is_503_and_the_service_recovers_when_it_returns() -> TestResult {
    let Some(server) = postgres_server() else {
        return Ok(());
    };
    let schema = PostgresSchema::create(&server)?;
    let DatabaseUrl::Postgres(direct) = schema.url() else {
        anyhow::bail!("not a PostgreSQL URL");
    };
    let proxy = Proxy::start(host_port(&server)).await?;
    let database = DatabaseUrl::Postgres(through(&direct, &proxy.address)?);
    let options = AppOptions {
        database: DatabaseOptions {
            connection_timeout: Duration::from_millis(500),
            ..DatabaseOptions::default()
        },
        ..AppOptions::default()
    };
    let app = start_with(database, options).await?;
    app.customer_exists("cust-1").await;
    app.stock_is_plentiful().await;
    app.placed_order(&order_body()).await?;

    proxy.cut().await;
    let started = Instant::now();
    let response = app.get("/v1/orders").await?;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered in {:?}",
        started.elapsed()
    );
    assert!(response.headers().contains_key("retry-after"));
    let problem = assert_problem(response, 503, "service_unavailable", &[]).await?;
    assert!(
        !problem.to_string().contains("5432"),
        "no internals: {problem}"
    );

    let ready = app.get("/health/ready").await?;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready: serde_json::Value = ready.json().await?;
    assert_eq!(ready["status"], "not_ready");
    assert_eq!(ready["database"]["status"], "down");

    proxy.restore();
    eventually(Duration::from_secs(10), "recovered", async || {
        Ok(app.get("/v1/orders").await?.status() == StatusCode::OK)
    })
    .await?;
    assert_eq!(
        app.listed_ids("").await?.len(),
        1,
        "nothing acknowledged was lost"
    );
    Ok(())
}
