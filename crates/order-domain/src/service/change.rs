//! Changing an order: every business action, decided by the order itself against its
//! current state and stored only if no other change came first.

use tracing::instrument;

use super::{ChangeOrderError, OrderService, PaymentMismatch};
use crate::access::{Actor, Caller, Denied};
use crate::command::OrderCommand;
use crate::effect::{Effect, PendingEffect};
use crate::lifecycle::Action;
use crate::order::{CommandError, Order, SideEffects};
use crate::ports::{
    DueEffect, OrderChange, PaymentCheck, PaymentStatus, RepositoryError, SaveOutcome,
};
use crate::values::{OrderId, PaymentReference, RequestId};

/// How often a change is decided afresh when other changes of the same order keep
/// winning the race to be stored.
const MAX_CHANGE_ATTEMPTS: usize = 32;

impl OrderService {
    /// Carries out a business action on an order: decides it against the order's
    /// current state and stores it only if no other change came first; when one did,
    /// decides again against the new state. With `expected_version` (`If-Match`), the
    /// action applies only to that version.
    ///
    /// A change that asks for effects outside the database (giving the stock back, …)
    /// records them in the same transaction, then tries them; if one fails the change
    /// still stands and the effect is tried again later by
    /// [`OrderService::run_due_effects`].
    ///
    /// The caller must be allowed the action on this order (see [`Caller::act_on`]);
    /// the change's history entry records it as the actor.
    ///
    /// # Errors
    /// See [`ChangeOrderError`]; they are checked in this order: the order exists and
    /// the caller may see it (else [`ChangeOrderError::NotFound`]), the caller may take
    /// the action ([`ChangeOrderError::Forbidden`]), the order is not deleted, it is at
    /// `expected_version`, and the order allows the action.
    #[instrument(skip_all, fields(order_id = %id, action = %command.action(), request_id = %request_id))]
    pub async fn change_order(
        &self,
        caller: &Caller,
        id: OrderId,
        command: OrderCommand,
        expected_version: Option<u32>,
        request_id: &RequestId,
    ) -> Result<Order, ChangeOrderError> {
        // Verified once: what the payment service says of a payment does not depend on
        // which version of the order it is checked against.
        let mut payment_verified = false;
        for _ in 0..MAX_CHANGE_ATTEMPTS {
            let (current, actor) = self.changeable(caller, id, command.action()).await?;
            if let Some(expected) = expected_version
                && expected != current.version()
            {
                return Err(ChangeOrderError::PreconditionFailed);
            }
            let previous_version = current.version();
            let mut order = current;
            let now = self.ports.clock.now();
            let (mut entry, effects) = order.apply(command.clone(), now)?;
            if let OrderCommand::ConfirmPayment {
                payment_reference, ..
            } = &command
                && !payment_verified
            {
                // Only once the order itself accepts the confirmation, so that the
                // payment service is not asked about a payment that changes nothing.
                self.verify_payment(&order, payment_reference, request_id)
                    .await?;
                payment_verified = true;
            }
            entry.actor = actor;
            let effects = self.effects_of(&order, effects, request_id);
            let event = self.event_of(&order, &entry);
            let change = OrderChange {
                order,
                entry,
                previous_version,
                event,
                effects,
            };
            match self.ports.orders.save_change(&change).await? {
                SaveOutcome::Saved => {
                    for due in change.effects {
                        self.carry_out(due.effect).await;
                    }
                    return Ok(change.order);
                }
                SaveOutcome::VersionConflict if expected_version.is_some() => {
                    return Err(ChangeOrderError::PreconditionFailed);
                }
                SaveOutcome::VersionConflict => {}
            }
        }
        Err(ChangeOrderError::Contention)
    }

    /// The effects a change asks for, to record with it: each is tried right after the
    /// commit, and the record is the safety net for when that try fails or the process
    /// dies.
    fn effects_of(
        &self,
        order: &Order,
        effects: SideEffects,
        request_id: &RequestId,
    ) -> Vec<DueEffect> {
        let mut due = Vec::new();
        if effects.release_reservation {
            due.push(Effect::ReleaseReservation {
                reservation_id: order.id(),
                may_land_late: false,
            });
        }
        if effects.refund_payment
            && let (Some(refund), Some(payment_reference)) = (
                order.refund(),
                order.payment().and_then(|p| p.payment_reference.clone()),
            )
        {
            due.push(Effect::Refund {
                order_id: order.id(),
                payment_reference,
                amount: refund.amount,
                currency: order.currency(),
            });
        }
        due.into_iter()
            .map(|effect| DueEffect {
                effect: PendingEffect::new(effect, request_id.clone()),
                due_in: self.effect_policy.retry_in(1),
            })
            .collect()
    }

    /// Asks the payment service whether `reference` pays for `order`: captured, for
    /// this order, its total and its currency.
    async fn verify_payment(
        &self,
        order: &Order,
        reference: &PaymentReference,
        request_id: &RequestId,
    ) -> Result<(), ChangeOrderError> {
        let check = PaymentCheck {
            reference: reference.clone(),
            order_id: order.id(),
            amount: order.total_amount(),
            currency: order.currency(),
        };
        let Some(payment) = self.ports.payments.find_payment(&check, request_id).await? else {
            return Err(ChangeOrderError::PaymentNotVerified(vec![
                PaymentMismatch::Unknown,
            ]));
        };
        let mut mismatches = Vec::new();
        if payment.status != PaymentStatus::Captured {
            mismatches.push(PaymentMismatch::Status(payment.status));
        }
        if payment.order_id != order.id().to_string() {
            mismatches.push(PaymentMismatch::OrderId(payment.order_id));
        }
        if payment.amount != order.total_amount().minor_units() {
            mismatches.push(PaymentMismatch::Amount(payment.amount));
        }
        if payment.currency != order.currency().to_string() {
            mismatches.push(PaymentMismatch::Currency(payment.currency));
        }
        if mismatches.is_empty() {
            Ok(())
        } else {
            Err(ChangeOrderError::PaymentNotVerified(mismatches))
        }
    }

    /// Records on the order that its refund was made: a change the service makes by
    /// itself, retried while other changes win the race to be stored. Nothing to do
    /// when the refund is recorded already, or the order is gone.
    ///
    /// # Errors
    /// [`RepositoryError`] when the database fails, or other changes keep winning.
    pub(super) async fn record_refund(&self, id: OrderId) -> Result<(), RepositoryError> {
        for _ in 0..MAX_CHANGE_ATTEMPTS {
            let Some(current) = self.ports.orders.find_order(id).await? else {
                return Ok(());
            };
            let previous_version = current.version();
            let mut order = current;
            let Some(entry) = order.complete_refund(self.ports.clock.now()) else {
                return Ok(());
            };
            let event = self.event_of(&order, &entry);
            let change = OrderChange {
                order,
                entry,
                previous_version,
                event,
                effects: Vec::new(),
            };
            if self.ports.orders.save_change(&change).await? == SaveOutcome::Saved {
                return Ok(());
            }
        }
        Err(RepositoryError::Unavailable(anyhow::anyhow!(
            "the order kept changing while its refund was recorded"
        )))
    }

    /// Whether the caller could take `action` on the order at all: it exists, the
    /// caller may see it and take the action, and it is not deleted. For a caller that
    /// reports these before the details of a change it could not read.
    ///
    /// # Errors
    /// [`ChangeOrderError::NotFound`], [`ChangeOrderError::Forbidden`],
    /// [`CommandError::Deleted`] (as [`ChangeOrderError::Refused`]), or
    /// [`ChangeOrderError::Repository`].
    #[instrument(skip(self, caller))]
    pub async fn ensure_changeable(
        &self,
        caller: &Caller,
        id: OrderId,
        action: Action,
    ) -> Result<(), ChangeOrderError> {
        self.changeable(caller, id, action).await.map(|_| ())
    }

    /// The order as it is now, and who takes `action` on it, if the caller may.
    async fn changeable(
        &self,
        caller: &Caller,
        id: OrderId,
        action: Action,
    ) -> Result<(Order, Option<Actor>), ChangeOrderError> {
        let order = self
            .ports
            .orders
            .find_order(id)
            .await?
            .ok_or(ChangeOrderError::NotFound)?;
        let actor = caller.act_on(&order, action)?;
        if order.deleted_at().is_some() {
            return Err(CommandError::Deleted.into());
        }
        Ok((order, actor))
    }
}

impl From<Denied> for ChangeOrderError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::NotVisible => Self::NotFound,
            Denied::Forbidden => Self::Forbidden,
        }
    }
}
