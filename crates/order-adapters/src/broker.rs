//! NATS JetStream as the event broker: every event is published to the stream `ORDERS`
//! (created when missing, subjects `orders.>`), on subject `orders.<event>`, with its id
//! as `Nats-Msg-Id`, so that JetStream drops a repeat within its duplicate window. An
//! event counts as published once JetStream acknowledged it.
//!
//! The connection is made in the background: the service starts, and serves, while the
//! broker is down; events wait in the database until it is back.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage, stream};
use async_trait::async_trait;
use order_domain::{BrokerUnavailable, EventBroker, RecordedEvent};
use std::sync::atomic::{AtomicBool, Ordering};

/// The stream events are published to.
pub const STREAM: &str = "ORDERS";

/// How long JetStream may take to acknowledge a publication (or answer about the
/// stream) before it counts as not taken.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// The events' broker, over NATS JetStream.
#[derive(Debug)]
pub struct NatsBroker {
    jetstream: jetstream::Context,
    /// Whether the stream is known to exist: found or created at the first publication
    /// that reaches the server, looked for again when a publication finds it gone.
    stream_known: AtomicBool,
    /// How long the stream keeps messages: as long as the feed keeps events.
    retention: Duration,
}

impl NatsBroker {
    /// A broker at `url` (`nats://host:4222`), connecting in the background; the stream
    /// keeps messages for `retention`.
    ///
    /// # Errors
    /// When the URL is not one NATS can use.
    pub async fn connect(url: &str, retention: Duration) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .name("order-service")
            .connection_timeout(ACK_TIMEOUT)
            .retry_on_initial_connect()
            .connect(url)
            .await
            .with_context(|| format!("cannot use the NATS server at {url}"))?;
        let mut jetstream = jetstream::new(client);
        jetstream.set_timeout(ACK_TIMEOUT);
        Ok(Self {
            jetstream,
            stream_known: AtomicBool::new(false),
            retention,
        })
    }

    async fn ensure_stream(&self) -> Result<(), BrokerUnavailable> {
        if self.stream_known.load(Ordering::Relaxed) {
            return Ok(());
        }
        // Publishers racing here both ask; finding the stream twice is harmless.
        self.jetstream
            .get_or_create_stream(stream::Config {
                name: STREAM.to_owned(),
                subjects: vec!["orders.>".to_owned()],
                max_age: self.retention,
                storage: stream::StorageType::File,
                ..stream::Config::default()
            })
            .await
            .map_err(|error| {
                BrokerUnavailable(format!(
                    "cannot find or create the stream {STREAM}: {error}"
                ))
            })?;
        self.stream_known.store(true, Ordering::Relaxed);
        Ok(())
    }
}

#[async_trait]
impl EventBroker for NatsBroker {
    async fn publish(&self, event: &RecordedEvent) -> Result<(), BrokerUnavailable> {
        // While the client reconnects it queues what it is given, which its own
        // timeouts do not bound: one deadline for the whole publication keeps a round
        // of the relay bounded whatever the connection does.
        tokio::time::timeout(2 * ACK_TIMEOUT, self.publish_once(event))
            .await
            .unwrap_or_else(|_| {
                Err(BrokerUnavailable(format!(
                    "event {} was not acknowledged within {:?}",
                    event.id,
                    2 * ACK_TIMEOUT
                )))
            })
    }
}

impl NatsBroker {
    async fn publish_once(&self, event: &RecordedEvent) -> Result<(), BrokerUnavailable> {
        self.ensure_stream().await?;
        let message = PublishMessage::build()
            .payload(event.body.clone().into())
            .message_id(event.id.to_string());
        let unavailable = |error: &dyn std::fmt::Display| {
            BrokerUnavailable(format!("event {} was not acknowledged: {error}", event.id))
        };
        let ack = self
            .jetstream
            .send_publish(format!("orders.{}", event.name), message)
            .await
            .map_err(|error| unavailable(&error))?;
        match ack.await {
            Ok(_) => Ok(()),
            Err(error) => {
                // The stream may have been deleted since it was found: look for it
                // again next time.
                if error.kind() == PublishErrorKind::StreamNotFound {
                    self.stream_known.store(false, Ordering::Relaxed);
                }
                Err(unavailable(&error))
            }
        }
    }
}
