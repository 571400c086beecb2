//! JSON Schemas of the domain's values, for the wire types' `ToSchema` derives: built
//! from the domain's own lists, so that the document cannot drift from the rules the
//! endpoints enforce. It depends on the domain only; the document (`openapi`), the
//! errors and the routes all use it.

use order_domain::{Action, OrderStatus, PaymentMethod};
use serde_json::Value;
use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, SchemaType, Type};

fn one_of(names: impl IntoIterator<Item = &'static str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
        .build()
}

fn or_null(names: impl IntoIterator<Item = &'static str>) -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Array(vec![Type::String, Type::Null]))
        .enum_values(Some(
            names
                .into_iter()
                .map(Value::from)
                .chain([Value::Null])
                .collect::<Vec<_>>(),
        ))
        .build()
}

/// An order's status: one of the domain's statuses.
pub fn status() -> Object {
    one_of(OrderStatus::ALL.map(OrderStatus::as_str))
}

/// A status, or `null`.
pub fn nullable_status() -> Object {
    or_null(OrderStatus::ALL.map(OrderStatus::as_str))
}

/// The actions an order's status allows, from the domain's actions.
pub fn allowed_actions() -> ArrayBuilder {
    ArrayBuilder::new().items(one_of(Action::ALL.map(Action::as_str)))
}

/// A payment method: one of the domain's methods.
pub fn payment_method() -> Object {
    one_of(PaymentMethod::ALL.map(PaymentMethod::as_str))
}

/// A payment method, or `null`.
pub fn nullable_payment_method() -> Object {
    or_null(PaymentMethod::ALL.map(PaymentMethod::as_str))
}
