//! The order's status rules: one transition function decides what every business
//! action does from every status, and everything else (the endpoints, the
//! `allowedActions` a client is shown) is derived from it.

use std::fmt;

use crate::values::InvalidValue;

/// Where an order is in its life. Changed only by [`Action`]s, through [`transition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Placed, not yet paid.
    Pending,
    /// Paid, being prepared for shipping.
    Processing,
    /// Handed to a carrier.
    Shipped,
    /// Received by the customer. Final.
    Delivered,
    /// Canceled before shipping. Final, apart from deletion.
    Canceled,
}

impl OrderStatus {
    /// Every status, in the order of an order's life.
    pub const ALL: [OrderStatus; 5] = [
        Self::Pending,
        Self::Processing,
        Self::Shipped,
        Self::Delivered,
        Self::Canceled,
    ];

    /// The status's name in the API and in storage (`pending`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Canceled => "canceled",
        }
    }

    /// Parses a status's name.
    ///
    /// # Errors
    /// [`InvalidValue`] when the name is none of the five statuses.
    pub fn parse(name: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == name)
            .ok_or_else(|| {
                InvalidValue::new(
                    "must be one of pending, processing, shipped, delivered, canceled",
                )
            })
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A business action a client can take on an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Record or replace the payment details.
    UpdatePayment,
    /// Change the shipping address.
    UpdateShipping,
    /// The payment went through.
    ConfirmPayment,
    /// Record (or correct) the carrier's tracking number.
    SetTracking,
    /// The customer received the order.
    ConfirmDelivery,
    /// Call the order off.
    Cancel,
    /// Soft-delete the order.
    Delete,
}

impl Action {
    /// Every action, in the order the API lists them in `allowedActions`.
    pub const ALL: [Action; 7] = [
        Self::UpdatePayment,
        Self::UpdateShipping,
        Self::ConfirmPayment,
        Self::SetTracking,
        Self::ConfirmDelivery,
        Self::Cancel,
        Self::Delete,
    ];

    /// The action's name in the API (`confirm-payment`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpdatePayment => "update-payment",
            Self::UpdateShipping => "update-shipping",
            Self::ConfirmPayment => "confirm-payment",
            Self::SetTracking => "set-tracking",
            Self::ConfirmDelivery => "confirm-delivery",
            Self::Cancel => "cancel",
            Self::Delete => "delete",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The action is not allowed from the order's current status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the order is {status}; {action} is not allowed from {status}")]
pub struct InvalidTransition {
    /// The status the order is in.
    pub status: OrderStatus,
    /// The action that was refused.
    pub action: Action,
}

/// The status an order moves to when `action` is taken from `status`.
///
/// Actions that change details only (payment, shipping address, a tracking correction,
/// deletion) leave the status as it is.
///
/// # Errors
/// [`InvalidTransition`] when `status` does not allow `action`.
pub fn transition(status: OrderStatus, action: Action) -> Result<OrderStatus, InvalidTransition> {
    use Action as A;
    use OrderStatus as S;
    match (status, action) {
        (S::Pending, A::UpdatePayment | A::UpdateShipping | A::Delete) => Ok(S::Pending),
        (S::Pending, A::ConfirmPayment) => Ok(S::Processing),
        (S::Pending | S::Processing, A::Cancel) => Ok(S::Canceled),
        (S::Processing, A::UpdateShipping) => Ok(S::Processing),
        (S::Processing | S::Shipped, A::SetTracking) => Ok(S::Shipped),
        (S::Shipped, A::ConfirmDelivery) => Ok(S::Delivered),
        (S::Canceled, A::Delete) => Ok(S::Canceled),
        (status, action) => Err(InvalidTransition { status, action }),
    }
}

/// The actions `status` allows, in [`Action::ALL`] order.
pub fn allowed_actions(status: OrderStatus) -> Vec<Action> {
    Action::ALL
        .into_iter()
        .filter(|action| transition(status, *action).is_ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action as A;
    use OrderStatus as S;

    /// The spec's table, written out cell by cell: `None` is a refusal.
    fn expected(status: OrderStatus, action: Action) -> Option<OrderStatus> {
        match status {
            S::Pending => match action {
                A::UpdatePayment | A::UpdateShipping | A::Delete => Some(S::Pending),
                A::ConfirmPayment => Some(S::Processing),
                A::Cancel => Some(S::Canceled),
                A::SetTracking | A::ConfirmDelivery => None,
            },
            S::Processing => match action {
                A::UpdateShipping => Some(S::Processing),
                A::SetTracking => Some(S::Shipped),
                A::Cancel => Some(S::Canceled),
                A::UpdatePayment | A::ConfirmPayment | A::ConfirmDelivery | A::Delete => None,
            },
            S::Shipped => match action {
                A::SetTracking => Some(S::Shipped),
                A::ConfirmDelivery => Some(S::Delivered),
                _ => None,
            },
            S::Delivered => None,
            S::Canceled => (action == A::Delete).then_some(S::Canceled),
        }
    }

    #[test]
    fn every_action_from_every_status_follows_the_spec_table() {
        for status in S::ALL {
            for action in A::ALL {
                let outcome = transition(status, action);
                match expected(status, action) {
                    Some(to) => assert_eq!(outcome, Ok(to), "{action} from {status}"),
                    None => assert_eq!(
                        outcome,
                        Err(InvalidTransition { status, action }),
                        "{action} from {status}"
                    ),
                }
            }
        }
    }

    #[test]
    fn allowed_actions_match_the_spec_lists() {
        let names = |status| -> Vec<&str> {
            allowed_actions(status)
                .into_iter()
                .map(Action::as_str)
                .collect()
        };
        assert_eq!(
            names(S::Pending),
            [
                "update-payment",
                "update-shipping",
                "confirm-payment",
                "cancel",
                "delete"
            ]
        );
        assert_eq!(
            names(S::Processing),
            ["update-shipping", "set-tracking", "cancel"]
        );
        assert_eq!(names(S::Shipped), ["set-tracking", "confirm-delivery"]);
        assert!(names(S::Delivered).is_empty());
        assert_eq!(names(S::Canceled), ["delete"]);
    }

    #[test]
    fn a_refusal_names_the_status_and_the_action() {
        let refusal = transition(S::Shipped, A::Cancel)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            refusal.as_deref(),
            Some("the order is shipped; cancel is not allowed from shipped")
        );
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in S::ALL {
            assert_eq!(S::parse(status.as_str()), Ok(status));
        }
        assert!(S::parse("lost").is_err());
    }
}
