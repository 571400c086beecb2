//! The business actions on an order: payment, shipping address, tracking, payment and
//! delivery confirmation, cancellation, and soft deletion. Each handler reads its body
//! into a command for the one use case `OrderService::change_order`.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use chrono::DateTime;
use order_domain::{
    Action, BoundedText, Caller, ChangeOrderError, CommandError, Money, Order, OrderCommand,
    OrderId, OrderService, PaymentDetails, PaymentMethod, PaymentMismatch, PaymentReference,
};
use serde_json::{Map, Value};
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};

use crate::body::{Fields, JsonObject};
use crate::caller::CurrentCaller;
use crate::error::{ApiError, FieldError};
use crate::request_context::CurrentRequestId;
use crate::routes::orders::documentation::{
    self, ChangeProblems, ChangedOrder, ConfirmDeliveryRefusals, ConfirmPaymentRefusals,
    DeleteProblems,
};
use crate::routes::orders::place::parse_address;
use crate::routes::orders::read::{OrderPath, order_id};
use crate::routes::orders::requests::{
    CancelRequest, ConfirmDeliveryRequest, ConfirmPaymentRequest, SetTrackingRequest,
    UpdatePaymentRequest, UpdateShippingRequest,
};
use crate::routes::orders::view::{etag, order_response};
use crate::routes::{NoQuery, dependency_error, repository_error, single_header};

const IF_MATCH: &str = "If-Match";

/// What a change of an order takes from its request besides the body: the service, the
/// order's id as the path has it, the request itself (for `If-Match`), its id and its
/// caller. A query string is refused here, before the body is read.
pub struct OrderToChange {
    service: web::Data<OrderService>,
    path: OrderPath,
    request: HttpRequest,
    request_id: CurrentRequestId,
    caller: Caller,
}

impl FromRequest for OrderToChange {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let extract = |payload: &mut Payload| -> Result<Self, actix_web::Error> {
            NoQuery::from_request(req, payload).into_inner()?;
            let service = req
                .app_data::<web::Data<OrderService>>()
                .cloned()
                .ok_or_else(|| {
                    ApiError::internal(&std::io::Error::other(
                        "the order service is not in the app's data",
                    ))
                })?;
            Ok(Self {
                service,
                path: OrderPath::from_request(req, payload).into_inner()?,
                request: req.clone(),
                request_id: CurrentRequestId::from_request(req, payload).into_inner()?,
                caller: CurrentCaller::from_request(req, payload).into_inner()?.0,
            })
        };
        ready(extract(payload))
    }
}

/// The order's id and `If-Match`, as the document describes them.
impl IntoParams for OrderToChange {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![documentation::order_id(), documentation::if_match()]
    }
}

impl OrderToChange {
    /// Takes `action` with the command the body asked for (or reports the body's
    /// problems), and answers 200 with the order as changed.
    async fn answer(
        self,
        action: Action,
        command: Result<OrderCommand, Vec<FieldError>>,
    ) -> Result<HttpResponse, ApiError> {
        let order = self
            .apply(action, command.map_err(ApiError::validation))
            .await?;
        Ok(order_response(StatusCode::OK, &order))
    }

    /// Takes `action` with `command`. An order the caller cannot change at all (gone,
    /// not its to change, deleted) says so before the problems of a body: no body would
    /// change it.
    async fn apply(
        &self,
        action: Action,
        command: Result<OrderCommand, ApiError>,
    ) -> Result<Order, ApiError> {
        let id = order_id(&self.path.0)?;
        let expected_version = if_match(&self.request)?;
        let command = match command {
            Ok(command) => command,
            Err(invalid) => {
                self.service
                    .ensure_changeable(&self.caller, id, action)
                    .await
                    .map_err(change_error)?;
                return Err(invalid);
            }
        };
        match self
            .service
            .change_order(
                &self.caller,
                id,
                command,
                expected_version,
                &self.request_id.0,
            )
            .await
        {
            Err(ChangeOrderError::PreconditionFailed) => Err(self.precondition_failed(id).await),
            changed => changed.map_err(change_error),
        }
    }

    /// 412, with the order's `ETag` as it is now, so that the client can decide again
    /// without reading the order first. Should the order be gone by then, or the
    /// database fail, the 412 goes without it.
    async fn precondition_failed(&self, id: OrderId) -> ApiError {
        let refused = ApiError::precondition_failed();
        match self.service.get_order(&self.caller, id).await {
            Ok(order) => refused.with_etag(etag(&order)),
            Err(_) => refused,
        }
    }
}

/// Give or replace the payment details, while the order is pending. The status stays.
#[utoipa::path(
    put,
    path = "/v1/orders/{id}/payment",
    operation_id = "updatePayment",
    tag = "orders",
    request_body = UpdatePaymentRequest,
    params(OrderToChange),
    responses(ChangedOrder, ChangeProblems)
)]
pub async fn update_payment(
    order: OrderToChange,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    order
        .answer(Action::UpdatePayment, parse_payment(&body))
        .await
}

/// Change the shipping address, while the order is pending or processing.
#[utoipa::path(
    put,
    path = "/v1/orders/{id}/shipping",
    operation_id = "updateShipping",
    tag = "orders",
    request_body = UpdateShippingRequest,
    params(OrderToChange),
    responses(ChangedOrder, ChangeProblems)
)]
pub async fn update_shipping(
    order: OrderToChange,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    order
        .answer(Action::UpdateShipping, parse_shipping(&body))
        .await
}

/// Set the shipment's tracking: ships a processing order; on a shipped order, corrects it (status and shippedAt stay).
#[utoipa::path(
    put,
    path = "/v1/orders/{id}/shipment/tracking",
    operation_id = "setTracking",
    tag = "orders",
    request_body = SetTrackingRequest,
    params(OrderToChange),
    responses(ChangedOrder, ChangeProblems)
)]
pub async fn set_tracking(
    order: OrderToChange,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    order
        .answer(Action::SetTracking, parse_tracking(&body))
        .await
}

/// The payment went through: a pending order moves to processing.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/confirm-payment",
    operation_id = "confirmPayment",
    tag = "orders",
    request_body = ConfirmPaymentRequest,
    params(OrderToChange),
    responses(ChangedOrder, ChangeProblems, ConfirmPaymentRefusals)
)]
pub async fn confirm_payment(
    order: OrderToChange,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    order
        .answer(Action::ConfirmPayment, parse_confirm_payment(&body))
        .await
}

/// The customer received the order: a shipped order moves to delivered.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/confirm-delivery",
    operation_id = "confirmDelivery",
    tag = "orders",
    request_body = ConfirmDeliveryRequest,
    params(OrderToChange),
    responses(ChangedOrder, ChangeProblems, ConfirmDeliveryRefusals)
)]
pub async fn confirm_delivery(
    order: OrderToChange,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    order
        .answer(Action::ConfirmDelivery, parse_confirm_delivery(&body))
        .await
}

/// Cancel a pending or processing order; its stock reservation is released.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/cancel",
    operation_id = "cancelOrder",
    tag = "orders",
    request_body = CancelRequest,
    params(OrderToChange),
    responses(ChangedOrder, ChangeProblems)
)]
pub async fn cancel_order(
    order: OrderToChange,
    JsonObject(body): JsonObject,
) -> Result<HttpResponse, ApiError> {
    order.answer(Action::Cancel, parse_cancel(&body)).await
}

/// Soft-delete a pending or canceled order; a pending order's stock reservation is released. The order is kept, with its deletion time; afterwards GET is 404 and every mutation 409 order_deleted.
#[utoipa::path(
    delete,
    path = "/v1/orders/{id}",
    operation_id = "deleteOrder",
    tag = "orders",
    params(OrderToChange),
    responses(
        (status = 204, description = "Deleted"),
        DeleteProblems,
    )
)]
pub async fn delete_order(order: OrderToChange) -> Result<HttpResponse, ApiError> {
    order
        .apply(Action::Delete, Ok(OrderCommand::Delete))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `If-Match: "<version>"` as given in `ETag`; `*` (or no header) matches any version.
fn if_match(request: &HttpRequest) -> Result<Option<u32>, ApiError> {
    let Some(value) = single_header(request, IF_MATCH)? else {
        return Ok(None);
    };
    let invalid = || ApiError::invalid_parameter(IF_MATCH, "must be an ETag such as \"3\", or *");
    let text = value.to_str().map_err(|_| invalid())?.trim();
    if text == "*" {
        return Ok(None);
    }
    text.strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .and_then(|version| version.parse().ok())
        .map(Some)
        .ok_or_else(invalid)
}

fn change_error(error: ChangeOrderError) -> ApiError {
    match error {
        ChangeOrderError::NotFound => ApiError::order_not_found(),
        ChangeOrderError::Forbidden => ApiError::forbidden(ACTION_FORBIDDEN),
        ChangeOrderError::Refused(CommandError::Deleted) => ApiError::order_deleted(),
        ChangeOrderError::Refused(CommandError::InvalidTransition(refusal)) => {
            ApiError::invalid_transition(refusal.to_string())
        }
        ChangeOrderError::Refused(CommandError::AmountMismatch { expected, .. }) => {
            ApiError::amount_mismatch(expected.minor_units())
        }
        ChangeOrderError::Refused(CommandError::InvalidDeliveryTime(problem)) => {
            ApiError::validation(vec![FieldError::new("deliveredAt", problem)])
        }
        ChangeOrderError::PaymentNotVerified(mismatches) => {
            ApiError::payment_not_verified(mismatches.iter().map(payment_mismatch).collect())
        }
        ChangeOrderError::DependencyUnavailable(unavailable) => dependency_error(&unavailable),
        // Answered with the current ETag by `OrderToChange::precondition_failed`.
        ChangeOrderError::PreconditionFailed => ApiError::precondition_failed(),
        ChangeOrderError::Contention => ApiError::concurrent_update(),
        ChangeOrderError::Repository(error) => repository_error(error),
    }
}

/// Why a caller who sees the order may not take the action.
pub(crate) const ACTION_FORBIDDEN: &str = "Your scopes do not allow this action on this order.";

/// What differs between a payment and the order, named by the payment's field.
fn payment_mismatch(mismatch: &PaymentMismatch) -> FieldError {
    match mismatch {
        PaymentMismatch::Unknown => FieldError::new(
            "paymentReference",
            "is not a payment the payment service knows",
        ),
        PaymentMismatch::Status(status) => FieldError::new(
            "status",
            format!("the payment is {}, not captured", status.as_str()),
        ),
        PaymentMismatch::OrderId(other) => FieldError::new(
            "orderId",
            format!("the payment is for order {other}, not this one"),
        ),
        PaymentMismatch::Amount(amount) => FieldError::new(
            "amount",
            format!("the payment is of {amount}, not the order's totalAmount"),
        ),
        PaymentMismatch::Currency(currency) => FieldError::new(
            "currency",
            format!("the payment is in {currency}, not the order's currency"),
        ),
    }
}

/// Errors collected so far, or the value when there were none.
fn finish(
    errors: Vec<FieldError>,
    command: Option<OrderCommand>,
) -> Result<OrderCommand, Vec<FieldError>> {
    match command {
        Some(command) if errors.is_empty() => Ok(command),
        _ => Err(errors),
    }
}

fn text<const MAX: usize>(
    fields: &Fields<'_>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<BoundedText<MAX>> {
    fields
        .string(name, errors)
        .and_then(|value| fields.parse(name, BoundedText::parse(value), errors))
}

fn payment_reference(
    fields: &Fields<'_>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<PaymentReference> {
    fields
        .string(name, errors)
        .and_then(|value| fields.parse(name, PaymentReference::parse(value), errors))
}

fn parse_payment(body: &Map<String, Value>) -> Result<OrderCommand, Vec<FieldError>> {
    let fields = Fields::of(body);
    let mut errors = Vec::new();
    fields.refuse_unknown(&["method", "reference"], &mut errors);
    let method = fields.string("method", &mut errors).and_then(|name| {
        let method = PaymentMethod::parse(name);
        if method.is_none() {
            errors.push(FieldError::new(
                "method",
                "must be one of card, paypal, bank_transfer, gift_card",
            ));
        }
        method
    });
    let reference = payment_reference(&fields, "reference", &mut errors);
    let command = method.zip(reference).map(|(method, reference)| {
        OrderCommand::UpdatePayment(PaymentDetails { method, reference })
    });
    finish(errors, command)
}

fn parse_shipping(body: &Map<String, Value>) -> Result<OrderCommand, Vec<FieldError>> {
    let fields = Fields::of(body);
    let mut errors = Vec::new();
    fields.refuse_unknown(&["shippingAddress"], &mut errors);
    let address = match fields.optional_object("shippingAddress", &mut errors) {
        Ok(Some(address)) => parse_address(&address, &mut errors),
        Ok(None) => {
            errors.push(FieldError::new("shippingAddress", "is required"));
            None
        }
        Err(()) => None,
    };
    finish(errors, address.map(OrderCommand::UpdateShippingAddress))
}

fn parse_tracking(body: &Map<String, Value>) -> Result<OrderCommand, Vec<FieldError>> {
    let fields = Fields::of(body);
    let mut errors = Vec::new();
    fields.refuse_unknown(&["carrier", "trackingNumber"], &mut errors);
    let carrier = text(&fields, "carrier", &mut errors);
    let tracking_number = text(&fields, "trackingNumber", &mut errors);
    let command = carrier
        .zip(tracking_number)
        .map(|(carrier, tracking_number)| OrderCommand::SetTracking {
            carrier,
            tracking_number,
        });
    finish(errors, command)
}

fn parse_confirm_payment(body: &Map<String, Value>) -> Result<OrderCommand, Vec<FieldError>> {
    let fields = Fields::of(body);
    let mut errors = Vec::new();
    fields.refuse_unknown(&["paymentReference", "amount"], &mut errors);
    let payment_reference = payment_reference(&fields, "paymentReference", &mut errors);
    let amount = fields
        .integer("amount", &mut errors)
        .and_then(|amount| fields.parse("amount", Money::from_minor_units(amount), &mut errors));
    let command = payment_reference
        .zip(amount)
        .map(|(payment_reference, amount)| OrderCommand::ConfirmPayment {
            payment_reference,
            amount,
        });
    finish(errors, command)
}

fn parse_confirm_delivery(body: &Map<String, Value>) -> Result<OrderCommand, Vec<FieldError>> {
    let fields = Fields::of(body);
    let mut errors = Vec::new();
    fields.refuse_unknown(&["deliveredAt"], &mut errors);
    let delivered_at = match fields.optional_string("deliveredAt", &mut errors) {
        Ok(None) => Some(None),
        Ok(Some(text)) => match DateTime::parse_from_rfc3339(text) {
            // Kept to the microsecond, as every stored time is.
            Ok(time) => Some(DateTime::from_timestamp_micros(time.timestamp_micros())),
            Err(_) => {
                errors.push(FieldError::new("deliveredAt", "must be an RFC 3339 time"));
                None
            }
        },
        Err(()) => None,
    };
    finish(
        errors,
        delivered_at.map(|delivered_at| OrderCommand::ConfirmDelivery { delivered_at }),
    )
}

fn parse_cancel(body: &Map<String, Value>) -> Result<OrderCommand, Vec<FieldError>> {
    let fields = Fields::of(body);
    let mut errors = Vec::new();
    fields.refuse_unknown(&["reason"], &mut errors);
    let reason = text(&fields, "reason", &mut errors);
    finish(errors, reason.map(|reason| OrderCommand::Cancel { reason }))
}
