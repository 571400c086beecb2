//! Relaying the recorded events to those outside the service that must hear of them:
//! the broker, in each order's version order, and the notification service, once per
//! customer-facing event. Each relay is a consumer of the event log with a position
//! kept in the database and a lease, so that one instance at a time relays for it, and
//! another takes over when that one stops; an event counts as relayed only once its
//! receiver has acknowledged it.

use std::collections::HashMap;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use tracing::{error, warn};

use super::OrderService;
use crate::effect::{Effect, PendingEffect};
use crate::event::OrderEvent;
use crate::ports::{
    Backlog, BrokerUnavailable, DueEffect, EffectOutcome, EventBroker, FeedError, FeedEvent,
    FeedPage, FeedStart, NotifyError, RepositoryError,
};
use crate::values::{OrderId, RequestId};

/// The consumer the broker's relay keeps its position as.
pub const BROKER_RELAY: &str = "broker";
/// The consumer the notifications' relay keeps its position as.
pub const NOTIFICATION_RELAY: &str = "notifications";

/// How many notifications one round sends at once.
const NOTIFICATIONS_AT_ONCE: usize = 16;
/// How many orders' events one round publishes at once (each order's one at a time).
const ORDERS_AT_ONCE: usize = 64;

/// How the relays run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayPolicy {
    /// How long an instance relays for a consumer before another may take over, unless
    /// it renews its lease (each round does).
    pub lease: Duration,
    /// How many events one round relays at most.
    pub batch: u32,
}

impl Default for RelayPolicy {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(15),
            batch: 256,
        }
    }
}

/// What one round of a relay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayRound {
    /// Nothing to relay to: no broker is configured.
    Off,
    /// Another instance relays for this consumer now.
    Standby,
    /// Relayed this many events; `more` when there may be more waiting at once.
    Relayed {
        /// How many.
        relayed: usize,
        /// A full batch was read: the next round should follow at once.
        more: bool,
    },
}

/// Why a relay's round stopped short.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The broker did not take an event; it and those after it are relayed later.
    #[error(transparent)]
    Broker(#[from] BrokerUnavailable),
    /// The database failed.
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

impl OrderService {
    /// Publishes to the broker the events it has not acknowledged yet, oldest first:
    /// each order's events one after another in version order (orders side by side),
    /// and stops an order's events at the first the broker does not take. The position
    /// kept moves past an event only once every event before it was taken, so an event
    /// is never lost and, published again after a failure, is dropped by the broker as
    /// a repeat. Meant to be called in a loop, on every instance: one at a time holds
    /// the lease.
    ///
    /// # Errors
    /// [`RelayError::Broker`] when the broker did not take an event (those before it
    /// stay relayed); [`RelayError::Repository`] when the database fails.
    pub async fn relay_to_broker(&self, holder: &str) -> Result<RelayRound, RelayError> {
        let Some(broker) = &self.ports.broker else {
            return Ok(RelayRound::Off);
        };
        let Some(page) = self
            .next_page(BROKER_RELAY, holder, FeedStart::Oldest)
            .await?
        else {
            return Ok(RelayRound::Standby);
        };
        let more = page.events.len() >= self.relay_policy.batch as usize;
        // Boxed, so that the futures' type names no borrowed closure: the relay's
        // future must be Send for any lifetime of its events.
        let publishing: Vec<BoxFuture<'_, Published>> = by_order(&page.events)
            .into_iter()
            .map(|chain| publish_in_order(broker.as_ref(), chain).boxed())
            .collect();
        let taken: Vec<Published> = futures::stream::iter(publishing)
            .buffer_unordered(ORDERS_AT_ONCE)
            .collect()
            .await;
        let mut acknowledged: Vec<u64> = Vec::new();
        let mut failure = None;
        for outcome in taken {
            match outcome {
                Ok(positions) => acknowledged.extend(positions),
                Err((positions, unavailable)) => {
                    acknowledged.extend(positions);
                    failure = Some(unavailable);
                }
            }
        }
        // Up to the first event not taken: what comes after it waits for it.
        let mut through = None;
        let mut relayed = 0;
        for event in &page.events {
            if !acknowledged.contains(&event.position) {
                break;
            }
            through = Some(event.position);
            relayed += 1;
        }
        if let Some(through) = through {
            self.ports
                .events
                .advance_consumer(BROKER_RELAY, holder, through)
                .await?;
        }
        match failure {
            Some(unavailable) => Err(unavailable.into()),
            None => Ok(RelayRound::Relayed { relayed, more }),
        }
    }

    /// Sends the notification service the customer-facing events it has not been sent
    /// yet, each once. A notification that fails for a reason that may pass is
    /// recorded as an effect and tried again with the others
    /// ([`OrderService::run_due_effects`]); one refused for good is given up (logged,
    /// counted). The first time, it starts with the events that come next, not those
    /// already recorded. Meant to be called in a loop, on every instance: one at a time
    /// holds the lease.
    ///
    /// # Errors
    /// [`RelayError::Repository`] when the database fails; then the position kept is
    /// where it was, and the round is made again.
    pub async fn relay_notifications(&self, holder: &str) -> Result<RelayRound, RelayError> {
        let Some(page) = self
            .next_page(NOTIFICATION_RELAY, holder, FeedStart::End)
            .await?
        else {
            return Ok(RelayRound::Standby);
        };
        let more = page.events.len() >= self.relay_policy.batch as usize;
        let mut notifying: Vec<BoxFuture<'_, Result<(), RepositoryError>>> = Vec::new();
        for event in &page.events {
            if OrderEvent::notifies_customer(event.event.name) {
                notifying.push(self.notify(event).boxed());
            }
        }
        let notified: Vec<Result<(), RepositoryError>> = futures::stream::iter(notifying)
            .buffer_unordered(NOTIFICATIONS_AT_ONCE)
            .collect()
            .await;
        // A notification that could not even be recorded for a retry keeps the round
        // from moving on: all of it is made again.
        notified.into_iter().collect::<Result<Vec<()>, _>>()?;
        if let Some(last) = page.events.last() {
            self.ports
                .events
                .advance_consumer(NOTIFICATION_RELAY, holder, last.position)
                .await?;
        }
        Ok(RelayRound::Relayed {
            relayed: page.events.len(),
            more,
        })
    }

    /// Takes the relays' leases for `holder`, if free, before the service serves:
    /// a relay met for the first time starts where the log stands now (every event
    /// kept for the broker, only what comes next for the notifications), not where it
    /// stands when its first round happens to run.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    pub async fn join_relays(&self, holder: &str) -> Result<(), RepositoryError> {
        let lease = self.relay_policy.lease;
        if self.ports.broker.is_some() {
            self.ports
                .events
                .lease_consumer(BROKER_RELAY, holder, lease, FeedStart::Oldest)
                .await?;
        }
        self.ports
            .events
            .lease_consumer(NOTIFICATION_RELAY, holder, lease, FeedStart::End)
            .await?;
        Ok(())
    }

    /// How far behind each relay is: the broker's (when there is one) and the
    /// notifications'.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails.
    pub async fn relay_backlogs(&self) -> Result<Vec<(&'static str, Backlog)>, RepositoryError> {
        let mut backlogs = Vec::with_capacity(2);
        if self.ports.broker.is_some() {
            backlogs.push((
                BROKER_RELAY,
                self.ports.events.consumer_backlog(BROKER_RELAY).await?,
            ));
        }
        backlogs.push((
            NOTIFICATION_RELAY,
            self.ports
                .events
                .consumer_backlog(NOTIFICATION_RELAY)
                .await?,
        ));
        Ok(backlogs)
    }

    /// Sends one notification; one that fails for a reason that may pass is recorded
    /// as an effect, to be tried again.
    async fn notify(&self, event: &FeedEvent) -> Result<(), RepositoryError> {
        let request_id =
            RequestId::parse(&event.event.id.to_string()).unwrap_or_else(|_| RequestId::generate());
        let outcome = match self.ports.notifier.notify(&event.event, &request_id).await {
            Ok(()) => EffectOutcome::Done,
            Err(NotifyError::Refused(reason)) => {
                warn!(event_id = %event.event.id, error = reason, "a notification was refused for good; it is given up");
                EffectOutcome::GivenUp
            }
            Err(NotifyError::Unavailable(unavailable)) => {
                warn!(event_id = %event.event.id, error = %unavailable, "a notification failed; it will be tried again");
                let retry = PendingEffect {
                    attempts: 1,
                    ..PendingEffect::new(
                        Effect::Notify {
                            event: event.event.clone(),
                        },
                        request_id,
                    )
                };
                self.ports
                    .effects
                    .record_effect(&DueEffect {
                        effect: retry,
                        due_in: self.effect_policy.retry_in(1),
                    })
                    .await?;
                EffectOutcome::Retried
            }
        };
        self.ports.effect_observer.effect_tried("notify", outcome);
        Ok(())
    }

    /// The consumer's next page of events, if this holder has (or takes) its lease.
    async fn next_page(
        &self,
        consumer: &str,
        holder: &str,
        first_start: FeedStart,
    ) -> Result<Option<FeedPage>, RepositoryError> {
        let lease = self.relay_policy.lease;
        let Some(position) = self
            .ports
            .events
            .lease_consumer(consumer, holder, lease, first_start)
            .await?
        else {
            return Ok(None);
        };
        let batch = self.relay_policy.batch;
        let page = match self
            .ports
            .events
            .read_events(FeedStart::After(position), batch)
            .await
        {
            Ok(page) => page,
            Err(FeedError::Expired) => {
                // Only when this consumer went unrelayed for longer than events are kept.
                error!(
                    consumer,
                    position,
                    "events were forgotten before they were relayed; relaying goes on from the oldest kept"
                );
                self.ports
                    .events
                    .read_events(FeedStart::Oldest, batch)
                    .await
                    .map_err(|error| match error {
                        FeedError::Repository(error) => error,
                        FeedError::Expired => RepositoryError::Internal(anyhow::anyhow!(
                            "the oldest events kept are expired"
                        )),
                    })?
            }
            Err(FeedError::Repository(error)) => return Err(error),
        };
        Ok(Some(page))
    }
}

/// The events grouped by order, each group in feed order (which is version order).
fn by_order(events: &[FeedEvent]) -> Vec<Vec<&FeedEvent>> {
    let mut chains: Vec<Vec<&FeedEvent>> = Vec::new();
    let mut index: HashMap<OrderId, usize> = HashMap::new();
    for event in events {
        let chain = *index.entry(event.event.order_id).or_insert_with(|| {
            chains.push(Vec::new());
            chains.len() - 1
        });
        chains[chain].push(event);
    }
    chains
}

/// The positions of the events the broker took, and why it stopped taking them if it
/// did.
type Published = Result<Vec<u64>, (Vec<u64>, BrokerUnavailable)>;

/// Publishes one order's events one after another, stopping at the first the broker
/// does not take; the positions of those it took.
async fn publish_in_order(broker: &dyn EventBroker, chain: Vec<&FeedEvent>) -> Published {
    let mut taken = Vec::with_capacity(chain.len());
    for event in chain {
        match broker.publish(&event.event).await {
            Ok(()) => taken.push(event.position),
            Err(unavailable) => return Err((taken, unavailable)),
        }
    }
    Ok(taken)
}
