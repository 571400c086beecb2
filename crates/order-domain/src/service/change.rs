//! Changing an order: every business action, decided by the order itself against its
//! current state and stored only if no other change came first.

use tracing::instrument;

use super::{ChangeOrderError, OrderService};
use crate::command::OrderCommand;
use crate::effect::{Effect, PendingEffect};
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
    /// # Errors
    /// See [`ChangeOrderError`].
    #[instrument(skip_all, fields(order_id = %id, action = %command.action(), request_id = %request_id))]
    pub async fn change_order(
        &self,
        id: OrderId,
        command: OrderCommand,
        expected_version: Option<u32>,
        request_id: &RequestId,
    ) -> Result<Order, ChangeOrderError> {
        for _ in 0..MAX_CHANGE_ATTEMPTS {
            let current = self
                .ports
                .orders
                .find_order(id)
                .await?
                .ok_or(ChangeOrderError::NotFound)?;
            if current.deleted_at().is_some() {
                return Err(CommandError::Deleted.into());
            }
            if let Some(expected) = expected_version
                && expected != current.version()
            {
                return Err(ChangeOrderError::PreconditionFailed);
            }
            let previous_version = current.version();
            let mut order = current;
            let now = self.ports.clock.now();
            let (entry, effects) = order.apply(command.clone(), now)?;
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
            let change = OrderChange {
                order,
                entry,
                previous_version,
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

    /// Whether the order can be changed at all: it exists and is not deleted. For a
    /// caller that reports these before the details of a change it could not read.
    ///
    /// # Errors
    /// [`ChangeOrderError::NotFound`], [`CommandError::Deleted`] (as
    /// [`ChangeOrderError::Refused`]), or [`ChangeOrderError::Repository`].
    #[instrument(skip(self))]
    pub async fn ensure_changeable(&self, id: OrderId) -> Result<(), ChangeOrderError> {
        match self.ports.orders.find_order(id).await? {
            None => Err(ChangeOrderError::NotFound),
            Some(order) if order.deleted_at().is_some() => Err(CommandError::Deleted.into()),
            Some(_) => Ok(()),
        }
    }
}
