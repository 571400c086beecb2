//! Carrying out the effects recorded in the outbox: right after the change that made
//! them necessary, and again from [`OrderService::run_due_effects`] until each is done.

use std::time::Duration;

use futures::StreamExt;
use tracing::{info, warn};

use super::OrderService;
use crate::effect::{Effect, EffectId, PendingEffect};
use crate::ports::{
    DueEffect, EffectOutcome, NotifyError, RefundError, RefundRequest, RepositoryError,
};

/// How many effects of one round are under way at once: enough that a slow upstream
/// service does not hold the others up, few enough to stay gentle with it.
const EFFECTS_AT_ONCE: usize = 16;

/// What one try of an effect came to.
enum Attempt {
    /// Done; nothing more to do.
    Done,
    /// Done, and this follows, due after the wait.
    FollowUp(Effect, Duration),
    /// Not done; why, for the log.
    Failed(String),
    /// Refused for good: not to be tried again; why, for the log.
    Refused(String),
}

impl OrderService {
    /// Carries out every due effect once (giving back stock, …), a batch at a time;
    /// those that fail are recorded for a later try with a doubling wait. Meant to be
    /// called periodically, on every instance: an effect a worker took is hidden from
    /// the others for [`crate::EffectPolicy::lease`], so a crashed worker's effects
    /// come due again for another. Returns how many were tried.
    ///
    /// # Errors
    /// [`RepositoryError`] when the due effects cannot be read.
    pub async fn run_due_effects(&self) -> Result<usize, RepositoryError> {
        let due = self
            .ports
            .effects
            .take_due_effects(self.effect_policy.lease, self.effect_policy.batch)
            .await?;
        let count = due.len();
        futures::stream::iter(due)
            .for_each_concurrent(EFFECTS_AT_ONCE, |pending| self.carry_out(pending))
            .await;
        Ok(count)
    }

    /// Tries an effect once and records how it went: forgotten when done, recorded
    /// again (with its follow-up, or for a retry) when not.
    pub(super) async fn carry_out(&self, pending: PendingEffect) {
        let (id, kind) = (pending.effect.id(), pending.effect.kind());
        let outcome = match self.attempt(&pending).await {
            Attempt::Done => {
                self.forget_effect(&id).await;
                EffectOutcome::Done
            }
            Attempt::FollowUp(effect, wait) => {
                let follow_up = PendingEffect::new(effect, pending.request_id);
                self.reschedule(follow_up, wait).await;
                EffectOutcome::Done
            }
            Attempt::Failed(reason) => {
                let attempts = pending.attempts.saturating_add(1);
                warn!(effect = %id, attempts, error = reason, "an effect failed; it will be tried again");
                let wait = self.effect_policy.retry_in(attempts);
                let retry = PendingEffect {
                    attempts,
                    ..pending
                };
                self.reschedule(retry, wait).await;
                EffectOutcome::Retried
            }
            Attempt::Refused(reason) => {
                warn!(effect = %id, error = reason, "an effect was refused for good; it is given up, for an operator to settle");
                self.forget_effect(&id).await;
                EffectOutcome::GivenUp
            }
        };
        self.ports.effect_observer.effect_tried(kind, outcome);
    }

    async fn forget_effect(&self, id: &EffectId) {
        if let Err(error) = self.ports.effects.complete_effect(id).await {
            warn!(effect = %id, error = %error, "an effect is done but stays recorded; it will be repeated, harmlessly");
        }
    }

    async fn attempt(&self, pending: &PendingEffect) -> Attempt {
        match &pending.effect {
            Effect::ReleaseReservation {
                reservation_id,
                may_land_late,
            } => match self
                .ports
                .inventory
                .release(*reservation_id, &pending.request_id)
                .await
            {
                Ok(()) if *may_land_late => {
                    info!(reservation_id = %reservation_id, "released the stock of a placement that was not stored");
                    Attempt::FollowUp(
                        Effect::ReleaseReservation {
                            reservation_id: *reservation_id,
                            may_land_late: false,
                        },
                        self.placement_policy.abandon_after,
                    )
                }
                Ok(()) => Attempt::Done,
                Err(unavailable) => Attempt::Failed(unavailable.to_string()),
            },
            Effect::Refund {
                order_id,
                payment_reference,
                amount,
                currency,
            } => {
                let refund = RefundRequest {
                    refund_id: *order_id,
                    payment_reference: payment_reference.clone(),
                    amount: *amount,
                    currency: *currency,
                };
                match self
                    .ports
                    .payments
                    .refund(&refund, &pending.request_id)
                    .await
                {
                    Ok(()) => match self.record_refund(*order_id).await {
                        Ok(()) => Attempt::Done,
                        // Asked again, the payment service answers that it is done.
                        Err(error) => Attempt::Failed(format!(
                            "refunded, but the order could not record it: {error}"
                        )),
                    },
                    Err(RefundError::Refused(reason)) => {
                        if let Err(error) = self.ports.orders.mark_refund_failed(*order_id).await {
                            return Attempt::Failed(format!(
                                "refused ({reason}), but the order could not record it: {error}"
                            ));
                        }
                        Attempt::Refused(reason)
                    }
                    Err(RefundError::Unavailable(unavailable)) => {
                        Attempt::Failed(unavailable.to_string())
                    }
                }
            }
            Effect::Notify { event } => {
                match self.ports.notifier.notify(event, &pending.request_id).await {
                    Ok(()) => Attempt::Done,
                    Err(NotifyError::Refused(reason)) => Attempt::Refused(reason),
                    Err(NotifyError::Unavailable(unavailable)) => {
                        Attempt::Failed(unavailable.to_string())
                    }
                }
            }
        }
    }

    /// Records an effect again, due after `wait`; when even that fails, the record
    /// there was stays, due as it was.
    pub(super) async fn reschedule(&self, pending: PendingEffect, wait: Duration) {
        let id = pending.effect.id();
        let due = DueEffect {
            effect: pending,
            due_in: wait,
        };
        if let Err(error) = self.ports.effects.record_effect(&due).await {
            tracing::error!(effect = %id, error = %error, "an effect could not be recorded again; it stays due as it was");
        }
    }
}
