//! NATS for the tests: the machine's shared server (reads of the `ORDERS` stream start
//! at its end, so that earlier runs' messages do not count), and servers of a test's
//! own on a free port, which the test may stop and start again to make an outage.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use serde_json::Value;

/// The variable that names the NATS server the tests may use; `nats://127.0.0.1:4222`
/// when unset.
pub const NATS_URL_VARIABLE: &str = "ORDERS_TEST_NATS_URL";

/// The shared NATS server, or `None` (after saying why on stderr) when none is
/// reachable and the tests that need it may be skipped: never when
/// [`NATS_URL_VARIABLE`] is set or under CI, where an unreachable server fails the test.
pub fn shared_nats() -> Option<String> {
    let named = std::env::var(NATS_URL_VARIABLE)
        .ok()
        .filter(|url| !url.is_empty());
    let url = named
        .clone()
        .unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned());
    let address = url.trim_start_matches("nats://").to_owned();
    if TcpStream::connect(&address).is_ok() {
        return Some(url);
    }
    assert!(
        named.is_none(),
        "{NATS_URL_VARIABLE} names {url}, which does not answer"
    );
    assert!(
        !order_adapters::testing::under_ci(),
        "CI is set but no NATS server answers at {url}: the broker tests must run"
    );
    eprintln!("skipping a NATS test: no server at {url} ({NATS_URL_VARIABLE} is unset)");
    None
}

/// A `nats-server` of the test's own, with JetStream, killed when dropped.
pub struct NatsServer {
    process: Option<Child>,
    port: u16,
    store: PathBuf,
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl NatsServer {
    /// Starts a server on a free port, keeping its streams under `store`.
    pub fn start(store: &Path) -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut server = Self {
            process: None,
            port,
            store: store.to_owned(),
        };
        server.restart()?;
        Ok(server)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops the server, as an outage does: cleanly (SIGTERM), so that it keeps what it
    /// had acknowledged (killed, JetStream loses what it had not yet flushed, which is
    /// the broker's own durability, not the service's), or at once when it will not go.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &process.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(process.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Starts the server again on its port, with the streams it kept, and waits (up to
    /// 10 s) until it takes connections.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        let process = Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.process = Some(process);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            anyhow::ensure!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

/// One message of the `ORDERS` stream.
#[derive(Debug, Clone)]
pub struct Published {
    pub subject: String,
    /// Its `Nats-Msg-Id`.
    pub id: String,
    pub event: Value,
}

/// Reads the `ORDERS` stream from where it ended when the reader was made.
pub struct StreamReader {
    jetstream: jetstream::Context,
    next: u64,
    read: Vec<Published>,
}

impl StreamReader {
    /// A reader of what the stream receives from now on (from its start, when there is
    /// no stream yet).
    pub async fn from_now(url: &str) -> anyhow::Result<Self> {
        let jetstream = jetstream::new(async_nats::connect(url).await?);
        let next = match jetstream.get_stream(order_adapters::STREAM).await {
            Ok(mut stream) => stream.info().await?.state.last_sequence + 1,
            Err(_) => 1,
        };
        Ok(Self {
            jetstream,
            next,
            read: Vec::new(),
        })
    }

    /// What the stream received since the reader was made, waiting (up to `within`)
    /// until `enough` says it has all it waits for.
    pub async fn read_until(
        &mut self,
        within: Duration,
        enough: impl Fn(&[Published]) -> bool,
    ) -> anyhow::Result<Vec<Published>> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(mut stream) = self.jetstream.get_stream(order_adapters::STREAM).await {
                let last = stream.info().await?.state.last_sequence;
                while self.next <= last {
                    let message = stream.get_raw_message(self.next).await?;
                    self.next += 1;
                    self.read.push(Published {
                        subject: message.subject.to_string(),
                        id: message
                            .headers
                            .get("Nats-Msg-Id")
                            .map(|id| id.as_str().to_owned())
                            .unwrap_or_default(),
                        event: serde_json::from_slice(&message.payload)?,
                    });
                }
            }
            if enough(&self.read) {
                return Ok(self.read.clone());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the stream did not get what was awaited within {within:?}: {} messages",
                self.read.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
