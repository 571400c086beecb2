//! Changing an order: every business action, decided by the order itself against its
//! current state and stored only if no other change came first.

use tracing::instrument;

use super::{ChangeOrderError, OrderService};
use crate::access::{Actor, Caller, Denied};
use crate::command::OrderCommand;
use crate::effect::{Effect, PendingEffect};
use crate::lifecycle::Action;
use crate::order::{CommandError, Order};
use crate::ports::{DueEffect, OrderChange, SaveOutcome};
use crate::values::{OrderId, RequestId};

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
            entry.actor = actor;
            let effects = effects
                .release_reservation
                .then(|| DueEffect {
                    effect: PendingEffect::new(
                        Effect::ReleaseReservation {
                            reservation_id: id,
                            may_land_late: false,
                        },
                        request_id.clone(),
                    ),
                    // Tried right after the commit; the record is the safety net for
                    // when that try fails or the process dies.
                    due_in: self.effect_policy.retry_in(1),
                })
                .into_iter()
                .collect();
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
