//! What the order endpoints share in the OpenAPI document, declared once: the order's
//! id in the path, `If-Match`, and the answers each kind of endpoint may give. The
//! handlers' `#[utoipa::path]` annotations name these; nothing here runs on a request.
//!
//! Each problem answer carries an example of every `code` it may have, rendered by the
//! constructors and the `ResponseError` that make the real answers, so that the page
//! shows each status as the service sends it.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::ResponseError;
use actix_web::body::MessageBody;
use order_domain::{Action, BoundedText, OrderStatus, PageSize, UpstreamService, transition};
use serde_json::Value;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{
    ContentBuilder, Header, HeaderBuilder, Ref, RefOr, Required, Response, ResponseBuilder,
};
use utoipa::{IntoResponses, ToSchema};

use crate::body::MAX_BODY_BYTES;
use crate::error::{ApiError, FieldError, Problem};
use crate::routes::events::INVALID_AFTER;
use crate::routes::orders::view::OrderView;

/// The order's id, in the path.
pub fn order_id() -> Parameter {
    ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some("The order's id"))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
        ))
        .build()
}

/// `If-Match`, which every change of an order takes.
pub fn if_match() -> Parameter {
    ParameterBuilder::new()
        .name("If-Match")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "The order's ETag (\"3\"): the change applies only to that version, else 412 \
             precondition_failed. `*` or absent: any version.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(version_condition())),
        ))
        .build()
}

/// `*`, or a version quoted as in `ETag`. A version is a `u32`: every number of one
/// digit fewer than its largest fits, and no order comes near that many changes.
fn version_condition() -> String {
    let digits = u32::MAX.to_string().len() - 1;
    format!("^(?:\\*|\"[0-9]{{1,{digits}}}\")$")
}

/// A problem+json answer, with an example of each error `examples` makes. They are made
/// with logging off: two constructors log the failure they report, and none happened.
pub fn problem(description: &str, examples: impl FnOnce() -> Vec<ApiError>) -> ResponseBuilder {
    let examples =
        tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), examples);
    ResponseBuilder::new().description(description).content(
        "application/problem+json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(Problem::name())))
            .examples_from_iter(examples.into_iter().map(|error| {
                let example = ExampleBuilder::new()
                    .summary(error.code())
                    .value(Some(rendered(&error)));
                (error.code(), example)
            }))
            .build(),
    )
}

/// The body the service sends for `error`.
fn rendered(error: &ApiError) -> Value {
    error
        .error_response()
        .into_body()
        .try_into_bytes()
        .ok()
        .and_then(|body| serde_json::from_slice(&body).ok())
        .unwrap_or_default()
}

fn string_header(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(description))
        .build()
}

fn retry_after() -> Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
        .description(Some("Seconds to wait before retrying"))
        .build()
}

fn answers<const N: usize>(
    responses: [(u16, ResponseBuilder); N],
) -> BTreeMap<String, RefOr<Response>> {
    responses
        .into_iter()
        .map(|(status, response)| (status.to_string(), RefOr::T(response.build())))
        .collect()
}

/// What the domain says when it refuses a value, for an example.
fn refusal<T, E: std::fmt::Display>(refused: Result<T, E>) -> String {
    refused
        .err()
        .map(|error| error.to_string())
        .unwrap_or_default()
}

/// A query parameter an endpoint does not take, as the service refuses it.
fn unknown_parameter(name: &str) -> ApiError {
    ApiError::invalid_parameter(name, "is not a parameter of this endpoint (it takes none)")
}

fn not_an_object() -> ApiError {
    ApiError::malformed("The body must be a JSON object.")
}

/// The field a client most often sends in vain: the server owns it.
fn status_field_refused() -> FieldError {
    FieldError::new("status", "is not a field of this request")
}

fn an_unknown_field() -> ApiError {
    ApiError::validation(vec![status_field_refused()])
}

fn database_down() -> ApiError {
    ApiError::service_unavailable(&std::io::Error::other("the database is down"))
}

/// 500, for every operation: it never says more than that the service failed.
pub fn internal_error() -> Response {
    problem(
        "internal_error: the service failed; the cause is logged under the request id",
        || vec![ApiError::internal(&std::io::Error::other("a fault"))],
    )
    .build()
}

fn payload_too_large() -> (u16, ResponseBuilder) {
    (
        413,
        problem(
            &format!(
                "payload_too_large: the body is over {} KiB",
                MAX_BODY_BYTES / 1024
            ),
            || vec![ApiError::payload_too_large(MAX_BODY_BYTES)],
        ),
    )
}

fn request_timeout() -> (u16, ResponseBuilder) {
    (
        408,
        problem(
            "request_timeout: the body did not arrive in time after the head \
             (ORDERS_REQUEST_BODY_TIMEOUT_MS); the connection is closed",
            || vec![ApiError::request_timeout(Duration::from_secs(10))],
        ),
    )
}

fn database_unavailable(description: &str) -> (u16, ResponseBuilder) {
    (
        503,
        problem(description, || vec![database_down()]).header("Retry-After", retry_after()),
    )
}

/// 200 with the order as changed, and its new `ETag`.
pub struct ChangedOrder;

impl IntoResponses for ChangedOrder {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        answers([(
            200,
            ResponseBuilder::new()
                .description("The order as changed")
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(OrderView::name())))
                        .build(),
                )
                .header("ETag", string_header("The order's new version, quoted")),
        )])
    }
}

/// The order's id names no order: what every endpoint under `/v1/orders/{id}` may say.
fn order_not_found() -> (u16, ResponseBuilder) {
    (
        404,
        problem(
            "order_not_found: no order has this id, or it is not a UUID (a deleted order is \
             not found, though its history is)",
            || vec![ApiError::order_not_found()],
        ),
    )
}

/// The problems a change of an order shares, besides those of its body.
fn change_problems(
    bad_request: &str,
    bad_requests: impl FnOnce() -> Vec<ApiError>,
) -> [(u16, ResponseBuilder); 4] {
    let refused = refusal(transition(OrderStatus::Delivered, Action::Cancel));
    [
        (400, problem(bad_request, bad_requests)),
        order_not_found(),
        (
            409,
            problem(
                "invalid_transition: the order's status does not allow this action (detail \
                 names the status and the action; allowedActions lists what it allows); \
                 order_deleted; concurrent_update (retry)",
                || {
                    vec![
                        ApiError::invalid_transition(refused),
                        ApiError::order_deleted(),
                        ApiError::concurrent_update(),
                    ]
                },
            ),
        ),
        (
            412,
            problem(
                "precondition_failed: the order is not at the If-Match version; nothing \
                 changed. ETag is its version now, to decide again without reading it.",
                || vec![ApiError::precondition_failed()],
            )
            .header("ETag", string_header("The order's current version, quoted")),
        ),
    ]
}

fn invalid_if_match() -> ApiError {
    ApiError::invalid_parameter("If-Match", "must be an ETag such as \"3\", or *")
}

const DATABASE_DOWN_NOTHING_CHANGED: &str =
    "service_unavailable: the database cannot be reached; nothing changed";

/// What a change of an order with a body may be refused with.
pub struct ChangeProblems;

impl IntoResponses for ChangeProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let [bad_request, not_found, conflict, precondition] = change_problems(
            "malformed_request (not a JSON object); invalid_parameter (If-Match invalid or \
             given twice; a query parameter, since this endpoint takes none)",
            || vec![not_an_object(), invalid_if_match()],
        );
        answers([
            bad_request,
            not_found,
            conflict,
            precondition,
            request_timeout(),
            payload_too_large(),
            (
                422,
                problem("validation_failed (errors[] names every field)", || {
                    vec![an_unknown_field()]
                }),
            ),
            database_unavailable(DATABASE_DOWN_NOTHING_CHANGED),
        ])
    }
}

/// `confirm-payment`'s own refusals: its amount must be the order's total, and the
/// payment service, when configured, must vouch for the payment.
pub struct ConfirmPaymentRefusals;

impl IntoResponses for ConfirmPaymentRefusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        answers([
            (
                422,
                problem(
                    "validation_failed (errors[] names every field); amount_mismatch: amount \
                     is not the order's totalAmount; payment_not_verified: the payment service \
                     does not know the payment, or it is not captured for this order's total \
                     (errors[] names what differs)",
                    || {
                        vec![
                            an_unknown_field(),
                            ApiError::amount_mismatch(3800),
                            ApiError::payment_not_verified(vec![FieldError::new(
                                "paymentReference",
                                "is not a payment the payment service knows",
                            )]),
                        ]
                    },
                ),
            ),
            (
                503,
                problem(
                    "dependency_unavailable (the payment service failed, timed out, or its \
                     circuit is open); service_unavailable (the database). Nothing changed.",
                    || {
                        vec![
                            ApiError::dependency_unavailable(UpstreamService::Payment, 1),
                            database_down(),
                        ]
                    },
                )
                .header("Retry-After", retry_after()),
            ),
        ])
    }
}

/// `confirm-delivery`'s own refusals: the delivery time must be possible.
pub struct ConfirmDeliveryRefusals;

impl IntoResponses for ConfirmDeliveryRefusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        answers([(
            422,
            problem(
                "validation_failed (errors[] names every field); deliveredAt in the future or \
                 before shippedAt",
                || {
                    vec![ApiError::validation(vec![FieldError::new(
                        "deliveredAt",
                        "must not be in the future",
                    )])]
                },
            ),
        )])
    }
}

/// What a deletion may be refused with: a change without a body.
pub struct DeleteProblems;

impl IntoResponses for DeleteProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let [bad_request, not_found, conflict, precondition] = change_problems(
            "invalid_parameter (If-Match invalid or given twice; a query parameter, since \
             this endpoint takes none)",
            || vec![invalid_if_match()],
        );
        answers([
            bad_request,
            not_found,
            conflict,
            precondition,
            database_unavailable(DATABASE_DOWN_NOTHING_CHANGED),
        ])
    }
}

/// What a read of one order, or of its history, may be refused with.
pub struct ReadProblems;

impl IntoResponses for ReadProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        answers([
            (
                400,
                problem(
                    "invalid_parameter: a query parameter (this endpoint takes none)",
                    || vec![unknown_parameter("expand")],
                ),
            ),
            order_not_found(),
            database_unavailable("service_unavailable: the database cannot be reached"),
        ])
    }
}

/// What a listing may be refused with.
pub struct ListProblems;

impl IntoResponses for ListProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let too_large = refusal(PageSize::new(i64::from(PageSize::MAX) + 1));
        answers([
            (
                400,
                problem(
                    "invalid_parameter: an unknown, repeated or invalid parameter, named in \
                     errors[]",
                    || vec![ApiError::invalid_parameter("limit", too_large)],
                ),
            ),
            database_unavailable("service_unavailable: the database cannot be reached"),
        ])
    }
}

/// What a read of the event feed may be refused with.
pub struct FeedProblems;

impl IntoResponses for FeedProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        answers([
            (
                400,
                problem(
                    "invalid_parameter: an unknown, repeated or invalid parameter, named in \
                     errors[]",
                    || vec![ApiError::invalid_parameter("after", INVALID_AFTER)],
                ),
            ),
            (
                410,
                problem(
                    "events_expired: the events after `after` are no longer kept; start again \
                     from 0",
                    || vec![ApiError::events_expired()],
                ),
            ),
            database_unavailable("service_unavailable: the database cannot be reached"),
        ])
    }
}

/// What a placement may be refused with.
pub struct PlacementProblems;

impl IntoResponses for PlacementProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let blank = refusal(BoundedText::<1>::parse(" "));
        answers([
            (
                400,
                problem(
                    "malformed_request (not a JSON object); invalid_parameter (Idempotency-Key \
                     invalid or given twice; a query parameter, since this endpoint takes none)",
                    || {
                        vec![
                            not_an_object(),
                            ApiError::invalid_parameter(
                                "Idempotency-Key",
                                "must be given at most once",
                            ),
                        ]
                    },
                ),
            ),
            (
                409,
                problem(
                    "insufficient_stock (errors[] names each short item); \
                     idempotency_request_in_progress (retry later)",
                    || {
                        vec![
                            ApiError::insufficient_stock(vec![FieldError::new(
                                "items[0].quantity",
                                "3 requested, 1 available",
                            )]),
                            ApiError::idempotency_request_in_progress(),
                        ]
                    },
                ),
            ),
            request_timeout(),
            payload_too_large(),
            (
                422,
                problem(
                    "validation_failed (errors[] names every field); customer_not_found; \
                     product_not_found (errors[] names each items[i].productId); \
                     idempotency_key_reused",
                    || {
                        vec![
                            ApiError::validation(vec![
                                FieldError::new("storeId", blank),
                                status_field_refused(),
                            ]),
                            ApiError::customer_not_found(),
                            ApiError::product_not_found(vec![FieldError::new(
                                "items[1].productId",
                                "is not a known product",
                            )]),
                            ApiError::idempotency_key_reused(),
                        ]
                    },
                ),
            ),
            (
                503,
                problem(
                    "dependency_unavailable (the customer, inventory or shipping service \
                     failed, timed out, or its circuit is open); service_unavailable (the \
                     database, or the placement ran past its deadline and was given up). \
                     Nothing was stored; the key can be used again.",
                    || {
                        vec![
                            ApiError::dependency_unavailable(UpstreamService::Inventory, 1),
                            database_down(),
                        ]
                    },
                )
                .header("Retry-After", retry_after()),
            ),
        ])
    }
}
