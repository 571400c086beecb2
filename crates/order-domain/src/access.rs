//! Who may see and do what: the callers of the service, the scopes that grant them
//! their rights, and the one table that decides, per order, what each may see and do.
//! How a caller proved who it is (a JWT, say) is the business of whoever calls the use
//! cases; they hand over the [`Caller`] it proved, and the use cases enforce the rules,
//! so that every way into the service gets the same ones.

use std::fmt;

use crate::lifecycle::Action;
use crate::order::Order;
use crate::ports::OrderQuery;
use crate::values::{CustomerId, InvalidValue, StoreId};

/// A right granted to a caller. Each comes with a reach: a customer's orders, a store's
/// orders, or every order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// A customer (its subject is the `customerId`): places orders for itself; reads its
    /// own orders; updates their payment details and shipping address; cancels them.
    Customer,
    /// A store's staff (of the store the principal names): reads its store's orders;
    /// sets tracking; confirms delivery; cancels.
    Store,
    /// The payment service: confirms payment; reads any order.
    Payments,
    /// A carrier or the shipping service: sets tracking; confirms delivery; reads any
    /// order.
    Fulfillment,
    /// An operator: everything.
    Admin,
}

impl Scope {
    /// Every scope, in the order a change's actor is chosen from: the narrowest that
    /// allows it first.
    pub const ALL: [Scope; 5] = [
        Self::Customer,
        Self::Store,
        Self::Payments,
        Self::Fulfillment,
        Self::Admin,
    ];

    /// The scope's name in tokens, history entries and events (`orders:customer`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "orders:customer",
            Self::Store => "orders:store",
            Self::Payments => "orders:payments",
            Self::Fulfillment => "orders:fulfillment",
            Self::Admin => "orders:admin",
        }
    }

    /// The scope with this name, if it is one of ours (tokens may carry others).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == name)
    }

    /// Whether the scope lets its holder take `action` on an order within its reach.
    pub fn allows(self, action: Action) -> bool {
        match self {
            Self::Customer => matches!(
                action,
                Action::UpdatePayment | Action::UpdateShipping | Action::Cancel
            ),
            Self::Store => matches!(
                action,
                Action::SetTracking | Action::ConfirmDelivery | Action::Cancel
            ),
            Self::Payments => action == Action::ConfirmPayment,
            Self::Fulfillment => matches!(action, Action::SetTracking | Action::ConfirmDelivery),
            Self::Admin => true,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a caller is, as its identity provider named it (a token's `sub`): 1–255
/// characters, none of them a control character.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject(String);

impl Subject {
    /// Takes a subject.
    ///
    /// # Errors
    /// [`InvalidValue`] when it is empty, longer than 255 characters, or holds a control
    /// character.
    pub fn parse(text: impl Into<String>) -> Result<Self, InvalidValue> {
        let text = text.into();
        if text.is_empty() || text.chars().count() > 255 || text.chars().any(char::is_control) {
            return Err(InvalidValue::new(
                "must be 1 to 255 characters, none of them a control character",
            ));
        }
        Ok(Self(text))
    }

    /// The subject as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A caller whose identity was proved: who it is, the scopes it was granted, and the
/// store it works for (for [`Scope::Store`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    subject: Subject,
    scopes: Vec<Scope>,
    store: Option<StoreId>,
}

impl Principal {
    /// A principal with these scopes (repeats and order do not matter).
    pub fn new(
        subject: Subject,
        scopes: impl IntoIterator<Item = Scope>,
        store: Option<StoreId>,
    ) -> Self {
        let mut scopes: Vec<Scope> = scopes.into_iter().collect();
        scopes.sort_unstable();
        scopes.dedup();
        Self {
            subject,
            scopes,
            store,
        }
    }

    /// Who it is.
    pub fn subject(&self) -> &Subject {
        &self.subject
    }

    /// Its scopes, narrowest first.
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// The store it works for, if it named one.
    pub fn store(&self) -> Option<&StoreId> {
        self.store.as_ref()
    }

    /// Whether `scope`, if held, reaches this order: a customer's own orders, its
    /// store's orders, or every order.
    fn reaches(&self, scope: Scope, order: &Order) -> bool {
        match scope {
            Scope::Customer => self.is_customer(order.customer_id()),
            Scope::Store => self.store.as_ref() == Some(order.store_id()),
            Scope::Payments | Scope::Fulfillment | Scope::Admin => true,
        }
    }

    fn is_customer(&self, customer: &CustomerId) -> bool {
        self.subject.as_str() == customer.as_str()
    }

    fn holds(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// Who made a change, as history entries and events record it: the caller, and the one
/// of its scopes that allowed the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The caller.
    pub sub: Subject,
    /// The scope that allowed the change.
    pub scope: Scope,
}

/// Who is calling a use case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Anyone: authentication is off, and every call is allowed. Changes record no
    /// actor.
    Anyone,
    /// A caller whose identity was proved.
    Principal(Principal),
}

/// What the rules refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The caller may not see the order: to it, the order does not exist.
    #[error("the order does not exist")]
    NotVisible,
    /// The caller sees the order (or asked for something of its own) but its scopes do
    /// not allow this.
    #[error("the caller's scopes do not allow this")]
    Forbidden,
}

impl Caller {
    /// Whether the caller may see `order` (read it, its history, find it in lists).
    pub fn may_see(&self, order: &Order) -> bool {
        match self {
            Self::Anyone => true,
            Self::Principal(principal) => principal
                .scopes
                .iter()
                .any(|scope| principal.reaches(*scope, order)),
        }
    }

    /// Who takes `action` on `order`, if the caller may: `None` for anyone in open mode.
    ///
    /// # Errors
    /// [`Denied::NotVisible`] when the caller may not see the order;
    /// [`Denied::Forbidden`] when it may, but none of its scopes allows the action.
    pub fn act_on(&self, order: &Order, action: Action) -> Result<Option<Actor>, Denied> {
        let Self::Principal(principal) = self else {
            return Ok(None);
        };
        if !self.may_see(order) {
            return Err(Denied::NotVisible);
        }
        principal
            .scopes
            .iter()
            .find(|scope| scope.allows(action) && principal.reaches(**scope, order))
            .map(|scope| {
                Some(Actor {
                    sub: principal.subject.clone(),
                    scope: *scope,
                })
            })
            .ok_or(Denied::Forbidden)
    }

    /// Who places an order for `customer`, if the caller may: a customer for itself,
    /// or an operator for anyone.
    ///
    /// # Errors
    /// [`Denied::Forbidden`] otherwise.
    pub fn place_for(&self, customer: &CustomerId) -> Result<Option<Actor>, Denied> {
        let Self::Principal(principal) = self else {
            return Ok(None);
        };
        let allowed = |scope: Scope| match scope {
            Scope::Customer => principal.is_customer(customer),
            Scope::Admin => true,
            Scope::Store | Scope::Payments | Scope::Fulfillment => false,
        };
        principal
            .scopes
            .iter()
            .find(|scope| allowed(**scope))
            .map(|scope| {
                Some(Actor {
                    sub: principal.subject.clone(),
                    scope: *scope,
                })
            })
            .ok_or(Denied::Forbidden)
    }

    /// `query`, narrowed to the orders the caller may see: a customer's list shows its
    /// own orders, a store's staff's list its store's; the payment and fulfillment
    /// services and operators see every order. A caller with both a customer's and a
    /// store's scope gets its own orders when it asks for them by `customer_id`, else
    /// its store's.
    ///
    /// # Errors
    /// [`Denied::Forbidden`] when the query asks for another customer's or another
    /// store's orders than the caller may see.
    pub fn narrow(&self, mut query: OrderQuery) -> Result<OrderQuery, Denied> {
        let Self::Principal(principal) = self else {
            return Ok(query);
        };
        if [Scope::Payments, Scope::Fulfillment, Scope::Admin]
            .into_iter()
            .any(|scope| principal.holds(scope))
        {
            return Ok(query);
        }
        let own_customer = CustomerId::parse(principal.subject.as_str()).ok();
        let asks_for_own = query.customer_id.is_some() && query.customer_id == own_customer;
        if principal.holds(Scope::Customer) && (asks_for_own || !principal.holds(Scope::Store)) {
            // A subject that is no customer id owns no order: nothing to list.
            let Some(own) = own_customer else {
                return Err(Denied::Forbidden);
            };
            if query
                .customer_id
                .as_ref()
                .is_some_and(|asked| *asked != own)
            {
                return Err(Denied::Forbidden);
            }
            query.customer_id = Some(own);
            return Ok(query);
        }
        match (principal.holds(Scope::Store), &principal.store) {
            (true, Some(store)) => {
                if query.store_id.as_ref().is_some_and(|asked| asked != store) {
                    return Err(Denied::Forbidden);
                }
                query.store_id = Some(store.clone());
                Ok(query)
            }
            _ => Err(Denied::Forbidden),
        }
    }

    /// Whose idempotency keys the caller's are: each caller's keys are its own, so two
    /// callers' same key never meet. `None` for anyone in open mode.
    pub fn key_owner(&self) -> Option<&Subject> {
        match self {
            Self::Anyone => None,
            Self::Principal(principal) => Some(&principal.subject),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::ports::PageSize;
    use crate::test_support::{line, new_order, placed};
    use crate::values::OrderId;

    /// An order of `cust-1` (the test order's customer) at `store-1`.
    fn order() -> Order {
        placed(
            OrderId::from_uuid(uuid::Uuid::nil()),
            new_order(vec![line("prod-1", 1, 100)], None),
            DateTime::UNIX_EPOCH,
        )
        .0
    }

    fn principal(sub: &str, scopes: &[Scope], store: Option<&str>) -> Caller {
        let parsed = (|| -> Result<_, InvalidValue> {
            Ok(Principal::new(
                Subject::parse(sub)?,
                scopes.iter().copied(),
                store.map(StoreId::parse).transpose()?,
            ))
        })();
        Caller::Principal(parsed.unwrap_or_else(|e| panic!("{e}")))
    }

    /// Every kind of caller the scope table names, against `order()`.
    fn callers() -> Vec<(&'static str, Caller)> {
        vec![
            ("owner", principal("cust-1", &[Scope::Customer], None)),
            (
                "another customer",
                principal("cust-2", &[Scope::Customer], None),
            ),
            (
                "the order's store",
                principal("clerk", &[Scope::Store], Some("store-1")),
            ),
            (
                "another store",
                principal("clerk", &[Scope::Store], Some("store-2")),
            ),
            (
                "payments",
                principal("payments-svc", &[Scope::Payments], None),
            ),
            (
                "fulfillment",
                principal("carrier", &[Scope::Fulfillment], None),
            ),
            ("admin", principal("ops", &[Scope::Admin], None)),
        ]
    }

    /// What each caller of `callers()` gets for each action: the scope that allows it,
    /// 403, or 404.
    #[test]
    fn the_scope_table_decides_who_sees_and_does_what() {
        use Action::*;
        let expected: [(&str, [Result<Scope, Denied>; 7]); 7] = {
            use Denied::{Forbidden as F, NotVisible as N};
            let c = Ok(Scope::Customer);
            let s = Ok(Scope::Store);
            let p = Ok(Scope::Payments);
            let f = Ok(Scope::Fulfillment);
            let a = Ok(Scope::Admin);
            // UpdatePayment, UpdateShipping, ConfirmPayment, SetTracking,
            // ConfirmDelivery, Cancel, Delete
            [
                ("owner", [c, c, Err(F), Err(F), Err(F), c, Err(F)]),
                ("another customer", [Err(N); 7]),
                (
                    "the order's store",
                    [Err(F), Err(F), Err(F), s, s, s, Err(F)],
                ),
                ("another store", [Err(N); 7]),
                (
                    "payments",
                    [Err(F), Err(F), p, Err(F), Err(F), Err(F), Err(F)],
                ),
                (
                    "fulfillment",
                    [Err(F), Err(F), Err(F), f, f, Err(F), Err(F)],
                ),
                ("admin", [a; 7]),
            ]
        };
        let order = order();
        for ((name, caller), (expected_name, outcomes)) in callers().into_iter().zip(expected) {
            assert_eq!(name, expected_name);
            assert_eq!(
                caller.may_see(&order),
                outcomes[0] != Err(Denied::NotVisible),
                "{name} sees"
            );
            let actions = [
                UpdatePayment,
                UpdateShipping,
                ConfirmPayment,
                SetTracking,
                ConfirmDelivery,
                Cancel,
                Delete,
            ];
            for (action, outcome) in actions.into_iter().zip(outcomes) {
                let decided = caller
                    .act_on(&order, action)
                    .map(|actor| actor.map(|actor| actor.scope));
                assert_eq!(decided, outcome.map(Some), "{name} {action}");
            }
        }
        assert_eq!(Caller::Anyone.act_on(&order, Delete), Ok(None));
    }

    #[test]
    fn the_actor_is_the_caller_with_the_narrowest_scope_that_allows_the_change() {
        let both = principal("cust-1", &[Scope::Admin, Scope::Customer], None);
        let actor = both.act_on(&order(), Action::Cancel);
        assert_eq!(
            actor.clone().map(|a| a.map(|a| a.scope)),
            Ok(Some(Scope::Customer))
        );
        assert_eq!(
            actor.ok().flatten().map(|a| a.sub.as_str().to_owned()),
            Some("cust-1".to_owned())
        );
        assert_eq!(
            both.act_on(&order(), Action::Delete)
                .map(|a| a.map(|a| a.scope)),
            Ok(Some(Scope::Admin))
        );
    }

    #[test]
    fn customers_place_orders_for_themselves_and_operators_for_anyone() {
        let customer = |id: &str| CustomerId::parse(id).unwrap_or_else(|e| panic!("{e}"));
        let placing = |caller: &Caller, id: &str| {
            caller
                .place_for(&customer(id))
                .map(|actor| actor.map(|actor| actor.scope))
        };
        let callers = callers();
        let outcomes: Vec<_> = callers
            .iter()
            .map(|(_, caller)| placing(caller, "cust-1"))
            .collect();
        assert_eq!(
            outcomes,
            [
                Ok(Some(Scope::Customer)),
                Err(Denied::Forbidden),
                Err(Denied::Forbidden),
                Err(Denied::Forbidden),
                Err(Denied::Forbidden),
                Err(Denied::Forbidden),
                Ok(Some(Scope::Admin)),
            ]
        );
        assert_eq!(placing(&Caller::Anyone, "cust-1"), Ok(None));
    }

    fn query(customer: Option<&str>, store: Option<&str>) -> OrderQuery {
        OrderQuery {
            customer_id: customer.map(|id| CustomerId::parse(id).unwrap_or_else(|e| panic!("{e}"))),
            store_id: store.map(|id| StoreId::parse(id).unwrap_or_else(|e| panic!("{e}"))),
            status: None,
            limit: PageSize::DEFAULT,
            after: None,
        }
    }

    #[test]
    fn lists_are_narrowed_to_what_the_caller_may_see() {
        let customer = principal("cust-1", &[Scope::Customer], None);
        let staff = principal("clerk", &[Scope::Store], Some("store-1"));
        let payments = principal("payments-svc", &[Scope::Payments], None);
        assert_eq!(
            customer.narrow(query(None, None)),
            Ok(query(Some("cust-1"), None))
        );
        assert_eq!(
            customer.narrow(query(Some("cust-1"), Some("store-9"))),
            Ok(query(Some("cust-1"), Some("store-9")))
        );
        assert_eq!(
            customer.narrow(query(Some("cust-2"), None)),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            staff.narrow(query(None, None)),
            Ok(query(None, Some("store-1")))
        );
        assert_eq!(
            staff.narrow(query(Some("cust-7"), None)),
            Ok(query(Some("cust-7"), Some("store-1")))
        );
        assert_eq!(
            staff.narrow(query(None, Some("store-2"))),
            Err(Denied::Forbidden)
        );
        assert_eq!(payments.narrow(query(None, None)), Ok(query(None, None)));
        let storeless = principal("clerk", &[Scope::Store], None);
        assert_eq!(storeless.narrow(query(None, None)), Err(Denied::Forbidden));
    }

    #[test]
    fn subjects_are_short_printable_text() {
        assert!(Subject::parse("auth0|5f7c8ec7c33c6c004bbafe82").is_ok());
        assert!(Subject::parse("").is_err());
        assert!(Subject::parse("a\nb").is_err());
        assert!(Subject::parse("x".repeat(256)).is_err());
        assert_eq!(Scope::parse("orders:store"), Some(Scope::Store));
        assert_eq!(Scope::parse("orders:everything"), None);
    }
}
