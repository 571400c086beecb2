//! Who may call each operation, as the document says it: the bearer scheme, the scopes
//! that allow each operation under `/v1/` (any one of them suffices), and the answers
//! the guard gives before a handler runs (401, 429) or the rules give after (403). The
//! scopes come from the domain's own table, so the document cannot drift from it.

use order_domain::{Action, Scope};
use utoipa::Modify;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Header, HeaderBuilder, OpenApi as Document, RefOr, Response};

use crate::auth::Rejected;
use crate::error::ApiError;
use crate::routes::events::FEED_FORBIDDEN;
use crate::routes::orders::change::ACTION_FORBIDDEN;
use crate::routes::orders::documentation::problem;
use crate::routes::orders::place::PLACING_FORBIDDEN;
use crate::routes::orders::read::LISTING_FORBIDDEN;

/// The security scheme's name in the document.
const BEARER: &str = "bearer";

/// Declares the bearer scheme and, on every operation of the API, its scopes and the
/// answers authentication, authorization and rate limits add.
pub struct Authentication;

impl Modify for Authentication {
    fn modify(&self, openapi: &mut Document) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                BEARER,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .description(Some(
                            "A JWT from the identity provider (or `order-service token` in \
                             development). Its `scope` (or `scp`) names what the caller may \
                             do; `sub` is who it is; `store_id` the store of a store's staff. \
                             Without a key source configured (open mode) no token is needed.",
                        ))
                        .build(),
                ),
            );
        let unauthenticated = unauthenticated();
        let rate_limited = rate_limited();
        for (path, item) in &mut openapi.paths.paths {
            if !path.starts_with("/v1/") {
                continue;
            }
            for operation in super::operations(item) {
                let (scopes, forbidden) = who_may(operation.operation_id.as_deref());
                operation.security = Some(
                    scopes
                        .into_iter()
                        .map(|scope| SecurityRequirement::new(BEARER, [scope.as_str()]))
                        .collect(),
                );
                let responses = &mut operation.responses.responses;
                responses.insert("429".to_owned(), RefOr::T(rate_limited.clone()));
                if let Some(detail) = forbidden {
                    responses.insert("403".to_owned(), RefOr::T(forbidden_answer(detail)));
                }
                for response in responses.values_mut() {
                    if let RefOr::T(response) = response {
                        add_rate_limit_headers(response);
                    }
                }
                // A caller not known is refused before its limit is taken from.
                responses.insert("401".to_owned(), RefOr::T(unauthenticated.clone()));
            }
        }
    }
}

/// The scopes that allow the operation, and why the rules refuse it to a caller who
/// holds none of them (`None` when they never do: a read of an order the caller may not
/// see is 404).
fn who_may(operation_id: Option<&str>) -> (Vec<Scope>, Option<&'static str>) {
    let taking = |action: Action| {
        (
            Scope::ALL
                .into_iter()
                .filter(|scope| scope.allows(action))
                .collect(),
            Some(ACTION_FORBIDDEN),
        )
    };
    match operation_id {
        Some("placeOrder") => (vec![Scope::Customer, Scope::Admin], Some(PLACING_FORBIDDEN)),
        Some("listOrders") => (Scope::ALL.into(), Some(LISTING_FORBIDDEN)),
        Some("getOrder" | "getOrderHistory") => (Scope::ALL.into(), None),
        Some("updatePayment") => taking(Action::UpdatePayment),
        Some("updateShipping") => taking(Action::UpdateShipping),
        Some("setTracking") => taking(Action::SetTracking),
        Some("confirmPayment") => taking(Action::ConfirmPayment),
        Some("confirmDelivery") => taking(Action::ConfirmDelivery),
        Some("cancelOrder") => taking(Action::Cancel),
        Some("deleteOrder") => taking(Action::Delete),
        // The feed, and any operation not named above: operators only.
        _ => (vec![Scope::Admin], Some(FEED_FORBIDDEN)),
    }
}

fn unauthenticated() -> Response {
    let mut response = problem(
        "unauthenticated: no bearer token, or one that does not verify (detail says which \
         check failed: expired, wrong audience, …); only when authentication is on",
        || {
            vec![
                ApiError::unauthenticated(Rejected::Missing.to_string(), false),
                ApiError::unauthenticated(Rejected::Expired.to_string(), true),
            ]
        },
    )
    .build();
    response.headers.insert(
        "WWW-Authenticate".to_owned(),
        RefOr::T(header(
            ObjectBuilder::new().schema_type(Type::String),
            "`Bearer`, with `error=\"invalid_token\"` when a token was sent",
        )),
    );
    response
}

fn rate_limited() -> Response {
    let mut response = problem(
        "rate_limited: the caller made more requests than its limit allows; this one was not \
         processed",
        || vec![ApiError::rate_limited(1)],
    )
    .build();
    response.headers.insert(
        "Retry-After".to_owned(),
        RefOr::T(header(
            ObjectBuilder::new().schema_type(Type::Integer),
            "Seconds to wait before retrying",
        )),
    );
    response
}

fn forbidden_answer(detail: &'static str) -> Response {
    problem(
        "forbidden: the caller's scopes do not allow this (with authentication on)",
        || vec![ApiError::forbidden(detail)],
    )
    .build()
}

/// `RateLimit-Policy` and `RateLimit`, which every answer of the API carries while a
/// rate limit is on.
fn add_rate_limit_headers(response: &mut Response) {
    for (name, description) in [
        (
            "RateLimit-Policy",
            "While a rate limit is on: the caller's bucket, `\"caller\";q=<burst>;w=<seconds to \
             fill>` (draft-ietf-httpapi-ratelimit-headers)",
        ),
        (
            "RateLimit",
            "While a rate limit is on: `\"caller\";r=<requests left>;t=<seconds until full>`",
        ),
    ] {
        response.headers.insert(
            name.to_owned(),
            RefOr::T(header(
                ObjectBuilder::new().schema_type(Type::String),
                description,
            )),
        );
    }
}

fn header(schema: ObjectBuilder, description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Some(schema))
        .description(Some(description))
        .build()
}
