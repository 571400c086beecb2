//! What the order endpoints share in the OpenAPI document, declared once: the order's
//! id in the path, `If-Match`, and the answers each kind of endpoint may give. The
//! handlers' `#[utoipa::path]` annotations name these; nothing here runs on a request.

use std::collections::BTreeMap;

use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{
    ContentBuilder, Header, HeaderBuilder, Ref, RefOr, Required, Response, ResponseBuilder,
};
use utoipa::{IntoResponses, ToSchema};

use crate::body::MAX_BODY_BYTES;
use crate::error::Problem;
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
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}

/// A problem+json answer.
pub fn problem(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/problem+json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(Problem::name())))
            .build(),
    )
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

fn payload_too_large() -> (u16, ResponseBuilder) {
    (
        413,
        problem(&format!(
            "payload_too_large: the body is over {} KiB",
            MAX_BODY_BYTES / 1024
        )),
    )
}

fn database_unavailable(description: &str) -> (u16, ResponseBuilder) {
    (
        503,
        problem(description).header("Retry-After", retry_after()),
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
        ),
    )
}

/// The problems a change of an order shares, besides its own refusals.
fn change_problems(bad_request: &str) -> [(u16, ResponseBuilder); 4] {
    [
        (400, problem(bad_request)),
        order_not_found(),
        (
            409,
            problem(
                "invalid_transition: the order's status does not allow this action (detail \
                 names the status and the action; allowedActions lists what it allows); \
                 order_deleted; concurrent_update (retry)",
            ),
        ),
        (
            412,
            problem(
                "precondition_failed: the order is not at the If-Match version; nothing changed",
            ),
        ),
    ]
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
        );
        answers([
            bad_request,
            not_found,
            conflict,
            precondition,
            payload_too_large(),
            (
                422,
                problem("validation_failed (errors[] names every field)"),
            ),
            database_unavailable(DATABASE_DOWN_NOTHING_CHANGED),
        ])
    }
}

/// What a deletion may be refused with: a change without a body.
pub struct DeleteProblems;

impl IntoResponses for DeleteProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let [bad_request, not_found, conflict, precondition] = change_problems(
            "invalid_parameter (If-Match invalid or given twice; a query parameter, since \
             this endpoint takes none)",
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
                problem("invalid_parameter: a query parameter (this endpoint takes none)"),
            ),
            order_not_found(),
            database_unavailable("service_unavailable: the database cannot be reached"),
        ])
    }
}

/// 503 when the database cannot be reached, for a read that names no order.
pub struct DatabaseUnavailable;

impl IntoResponses for DatabaseUnavailable {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        answers([database_unavailable(
            "service_unavailable: the database cannot be reached",
        )])
    }
}

/// 413, for an endpoint that takes a body.
pub struct PayloadTooLarge;

impl IntoResponses for PayloadTooLarge {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        answers([payload_too_large()])
    }
}
