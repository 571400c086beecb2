//! Effects: what the service must do outside its own database (give stock back, …),
//! recorded in the database before it is done, so that a client that hangs up or a
//! process that dies never leaves one undone. One mechanism for every kind: the record
//! is written in the transaction that makes the effect necessary (or before the call
//! that does, for a placement), a worker on any instance carries out the due ones, and
//! each carries an id the other side deduplicates on, so doing one twice is harmless.

use std::fmt;
use std::time::Duration;

use crate::event::RecordedEvent;
use crate::values::{Currency, Money, OrderId, PaymentReference, RequestId};

/// Something to do outside the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Give an order's stock reservation back to the inventory.
    ReleaseReservation {
        /// The reservation (the order's id).
        reservation_id: OrderId,
        /// The reservation may still land at the inventory after this release (its
        /// request's answer was lost, or its placement was cut off), so once this
        /// release succeeds it is made once more,
        /// [`crate::PlacementPolicy::abandon_after`] later: a request the inventory has
        /// not carried out by then counts as lost, as its placement does.
        may_land_late: bool,
    },
    /// Pay a canceled order's confirmed payment back, then record on the order that it
    /// was.
    Refund {
        /// The order (and the refund's id).
        order_id: OrderId,
        /// The payment to pay back.
        payment_reference: PaymentReference,
        /// How much.
        amount: Money,
        /// In which currency.
        currency: Currency,
    },
    /// Tell the notification service of a customer-facing event, once its first try
    /// failed for a reason that may pass.
    Notify {
        /// The event, as recorded: the notification is made from it.
        event: RecordedEvent,
    },
}

impl Effect {
    /// The effect's identity: two records of one effect are the same record.
    pub fn id(&self) -> EffectId {
        match self {
            Self::ReleaseReservation { reservation_id, .. } => {
                EffectId(format!("release:{reservation_id}"))
            }
            Self::Refund { order_id, .. } => EffectId(format!("refund:{order_id}")),
            Self::Notify { event } => EffectId(format!("notify:{}", event.id)),
        }
    }

    /// The kind's name in storage, logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ReleaseReservation { .. } => "release_reservation",
            Self::Refund { .. } => "refund",
            Self::Notify { .. } => "notify",
        }
    }
}

/// Names one effect: its kind and its target (`release:<order id>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EffectId(String);

impl EffectId {
    /// Wraps a stored id.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EffectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An effect recorded and not yet done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEffect {
    /// What to do.
    pub effect: Effect,
    /// The request that made it necessary, passed on to the service that does it.
    pub request_id: RequestId,
    /// Failed attempts so far.
    pub attempts: u32,
}

impl PendingEffect {
    /// A new effect, not tried yet.
    pub fn new(effect: Effect, request_id: RequestId) -> Self {
        Self {
            effect,
            request_id,
            attempts: 0,
        }
    }
}

/// How effects are carried out and tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectPolicy {
    /// The wait after the first failure; it doubles with each further one.
    pub first_retry: Duration,
    /// The longest wait between two tries.
    pub max_retry: Duration,
    /// How long a worker that took an effect has it to itself before another worker
    /// (another instance, say) may take it again.
    pub lease: Duration,
    /// How many due effects one round takes.
    pub batch: u32,
}

impl Default for EffectPolicy {
    fn default() -> Self {
        Self {
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(300),
            lease: Duration::from_secs(30),
            batch: 100,
        }
    }
}

impl EffectPolicy {
    /// How long to wait before trying again after an effect's `attempts`-th failure.
    pub fn retry_in(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        self.first_retry
            .saturating_mul(1 << doublings)
            .min(self.max_retry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_the_cap() {
        let policy = EffectPolicy::default();
        let waits: Vec<u64> = [1, 2, 3, 9, 10, 40]
            .into_iter()
            .map(|attempts| policy.retry_in(attempts).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 256, 300, 300]);
    }

    #[test]
    fn an_effect_s_id_names_its_kind_and_target() {
        let id = OrderId::from_uuid(uuid::Uuid::from_u128(1));
        let effect = Effect::ReleaseReservation {
            reservation_id: id,
            may_land_late: true,
        };
        assert_eq!(effect.id().as_str(), format!("release:{id}"));
        assert_eq!(effect.kind(), "release_reservation");
    }
}
