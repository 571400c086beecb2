//! The one mapping from errors to HTTP answers: `application/problem+json` (RFC 9457)
//! with a stable `code` clients branch on. 5xx bodies say nothing of the cause; the
//! cause goes to the log.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// The most `errors[]` entries one answer lists.
pub const MAX_LISTED_ERRORS: usize = 100;

/// One problem with one field (or query parameter, or header) of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Where: `items[0].quantity`, `shippingAddress.city`, `limit`.
    #[schema(example = "items[0].quantity")]
    pub field: String,
    /// What is wrong, for a person to read.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An error answer of the API. Boxed: handlers pass it around in `Result`s, and the
/// happy path should not pay for its size.
#[derive(Debug)]
pub struct ApiError(Box<Details>);

#[derive(Debug)]
struct Details {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    retry_after_seconds: Option<u64>,
    allow: Option<String>,
    www_authenticate: Option<&'static str>,
    etag: Option<String>,
}

/// An error, as RFC 9457 `application/problem+json`. Clients branch on `code`.
#[derive(Serialize, ToSchema)]
#[schema(example = problem_example)]
pub struct Problem<'a> {
    /// `urn:order-service:problem:<code>`.
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    /// The HTTP status.
    status: u16,
    /// What went wrong, for a person; never internals.
    detail: &'a str,
    /// Stable snake_case: `validation_failed`, `order_not_found`, `invalid_transition`, …
    code: &'a str,
    /// One entry per offending field, parameter or header, when there are any; at
    /// most 100, and `detail` says how many more there were.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    #[schema(max_items = 100)]
    errors: &'a [FieldError],
}

/// An example problem: a placement with two invalid fields.
fn problem_example() -> serde_json::Value {
    serde_json::json!({
        "type": "urn:order-service:problem:validation_failed",
        "title": "Validation failed",
        "status": 422,
        "detail": "One or more fields are invalid; see errors.",
        "code": "validation_failed",
        "errors": [
            {"field": "items[0].quantity", "message": "must be from 1 to 1000"},
            {"field": "status", "message": "is not a field of this request"}
        ]
    })
}

impl ApiError {
    fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self(Box::new(Details {
            status,
            code,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after_seconds: None,
            allow: None,
            www_authenticate: None,
            etag: None,
        }))
    }

    /// Keeps at most [`MAX_LISTED_ERRORS`] entries, so that a body of thousands of
    /// bad fields cannot make an answer many times larger than itself; `detail`
    /// says how many were left out.
    fn with_errors(mut self, mut errors: Vec<FieldError>) -> Self {
        if errors.len() > MAX_LISTED_ERRORS {
            let left_out = errors.len() - MAX_LISTED_ERRORS;
            errors.truncate(MAX_LISTED_ERRORS);
            self.0.detail = format!("{} {left_out} more were not listed.", self.0.detail);
        }
        self.0.errors = errors;
        self
    }

    /// The stable code clients branch on (`validation_failed`, …).
    pub fn code(&self) -> &'static str {
        self.0.code
    }

    /// 400 `malformed_request`: the body is not JSON, or not an object.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed_request",
            "Malformed request",
            detail,
        )
    }

    /// 422 `validation_failed`, one entry per offending field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Validation failed",
            "One or more fields are invalid; see errors.",
        )
        .with_errors(errors)
    }

    /// 400 `invalid_parameter`, naming a query parameter or header.
    pub fn invalid_parameter(name: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "Invalid parameter",
            format!("{name}: {message}"),
        )
        .with_errors(vec![FieldError::new(name, message)])
    }

    /// 401 `unauthenticated`: no token, or one that did not pass a check, which `detail`
    /// names (never with the token itself).
    pub fn unauthenticated(detail: impl Into<String>, token_sent: bool) -> Self {
        let mut error = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Unauthenticated",
            detail,
        );
        error.0.www_authenticate = Some(if token_sent {
            "Bearer error=\"invalid_token\""
        } else {
            "Bearer"
        });
        error
    }

    /// 429 `rate_limited`: the caller made more requests than its limit lets it; none
    /// of them was processed.
    pub fn rate_limited(retry_after_seconds: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Rate limited",
            format!("Too many requests: retry in {retry_after_seconds} s. Nothing was processed."),
        );
        error.0.retry_after_seconds = Some(retry_after_seconds);
        error
    }

    /// 403 `forbidden`: the caller's scopes do not allow this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 410 `events_expired`: the events after the reader's position are no longer
    /// kept.
    pub fn events_expired() -> Self {
        Self::new(
            StatusCode::GONE,
            "events_expired",
            "Events expired",
            "The events after this position are no longer kept: events were missed. Start \
             again from after=0.",
        )
    }

    /// 404 `order_not_found`.
    pub fn order_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "order_not_found",
            "Order not found",
            "No order has this id.",
        )
    }

    /// 404 `not_found`: no such route.
    pub fn route_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            "No resource has this path.",
        )
    }

    /// 405 `method_not_allowed`, with the methods the path does take.
    pub fn method_not_allowed(allow: String) -> Self {
        let mut error = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
            format!("This path takes {allow}."),
        );
        error.0.allow = Some(allow);
        error
    }

    /// 413 `payload_too_large`.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Payload too large",
            format!("The body must be at most {limit} bytes."),
        )
    }

    /// 408 `request_timeout`: the body did not arrive within `limit` of its head. The
    /// connection is closed with the answer, since the rest of the body may still come.
    pub fn request_timeout(limit: Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "Request timeout",
            format!(
                "The body did not arrive within {} ms of the request's head.",
                limit.as_millis()
            ),
        )
    }

    /// 422 `customer_not_found`.
    pub fn customer_not_found() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "customer_not_found",
            "Customer not found",
            "The customer service does not know this customer.",
        )
        .with_errors(vec![FieldError::new(
            "customerId",
            "is not a known customer",
        )])
    }

    /// 422 `product_not_found`, naming each unknown product's field.
    pub fn product_not_found(errors: Vec<FieldError>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "product_not_found",
            "Product not found",
            "The inventory service does not know one or more products.",
        )
        .with_errors(errors)
    }

    /// 409 `insufficient_stock`, naming each short item.
    pub fn insufficient_stock(errors: Vec<FieldError>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "insufficient_stock",
            "Insufficient stock",
            "One or more products do not have enough stock.",
        )
        .with_errors(errors)
    }

    /// 503 `dependency_unavailable`, with `Retry-After`.
    pub fn dependency_unavailable(service: impl fmt::Display, retry_after_seconds: u64) -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "dependency_unavailable",
            "Dependency unavailable",
            format!("The {service} service is unavailable; nothing was stored. Retry later."),
        );
        error.0.retry_after_seconds = Some(retry_after_seconds);
        error
    }

    /// 503 `service_unavailable`: our own database is unreachable for now.
    pub fn service_unavailable(cause: &dyn StdError) -> Self {
        tracing::error!(error = %chain(cause), "the database is unavailable");
        Self::unavailable("The service cannot reach its database; nothing was stored. Retry later.")
    }

    /// 503 `service_unavailable`: our own database failed while the work was under way
    /// (a write past its deadline, a commit whose outcome is unknown), so the client
    /// must not take it as not done.
    pub fn service_unavailable_outcome_unknown(cause: &dyn StdError) -> Self {
        tracing::error!(error = %chain(cause), outcome = "unknown", "the database is unavailable");
        Self::unavailable(
            "The service lost its database mid-way; the change may or may not have been \
             made. Read it back, or retry later (with the same Idempotency-Key, a \
             placement's retry is safe).",
        )
    }

    /// 503 `service_unavailable`: the placement ran past the time after which it counts
    /// as abandoned, and was given up (its stock is given back).
    pub fn placement_abandoned() -> Self {
        Self::unavailable(
            "The placement took too long and was given up; nothing was stored. Retry later.",
        )
    }

    /// 503 `service_unavailable`, worth retrying in a second.
    fn unavailable(detail: &'static str) -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "Service unavailable",
            detail,
        );
        error.0.retry_after_seconds = Some(1);
        error
    }

    /// 422 `payment_not_verified`, naming what differs between the payment and the
    /// order.
    pub fn payment_not_verified(errors: Vec<FieldError>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "payment_not_verified",
            "Payment not verified",
            "The payment service does not vouch for this payment; see errors.",
        )
        .with_errors(errors)
    }

    /// 422 `idempotency_key_reused`.
    pub fn idempotency_key_reused() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "Idempotency key reused",
            "This Idempotency-Key was used for a different request.",
        )
    }

    /// 409 `idempotency_request_in_progress`.
    pub fn idempotency_request_in_progress() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "idempotency_request_in_progress",
            "Request in progress",
            "A request with this Idempotency-Key is being processed; retry later.",
        )
    }

    /// 409 `invalid_transition`; `detail` names the order's status and the action.
    pub fn invalid_transition(detail: String) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "invalid_transition",
            "Invalid transition",
            detail,
        )
    }

    /// 409 `order_deleted`.
    pub fn order_deleted() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "order_deleted",
            "Order deleted",
            "The order was deleted; it can no longer change.",
        )
    }

    /// 409 `concurrent_update`: other changes of the order kept winning; retry.
    pub fn concurrent_update() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "concurrent_update",
            "Concurrent update",
            "The order is being changed by many requests at once; nothing changed. Retry.",
        )
    }

    /// 412 `precondition_failed`.
    pub fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            "Precondition failed",
            "The order is not at the version given in If-Match; nothing changed.",
        )
    }

    /// The same error, carrying the resource's current `ETag`.
    pub fn with_etag(mut self, etag: String) -> Self {
        self.0.etag = Some(etag);
        self
    }

    /// 422 `amount_mismatch`.
    pub fn amount_mismatch(expected: i64) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "amount_mismatch",
            "Amount mismatch",
            format!("The amount must equal the order's totalAmount, {expected}."),
        )
        .with_errors(vec![FieldError::new(
            "amount",
            format!("must equal totalAmount {expected}"),
        )])
    }

    /// 500 `internal_error`: the cause is logged, never shown.
    pub fn internal(cause: &dyn StdError) -> Self {
        tracing::error!(error = %chain(cause), "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal error",
            "The service failed to process the request.",
        )
    }
}

/// An error and all its causes, on one line for the log.
fn chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.0.status.as_u16(),
            self.0.code,
            self.0.detail
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status
    }

    fn error_response(&self) -> HttpResponse {
        let problem = Problem {
            kind: format!("urn:order-service:problem:{}", self.0.code),
            title: self.0.title,
            status: self.0.status.as_u16(),
            detail: &self.0.detail,
            code: self.0.code,
            errors: &self.0.errors,
        };
        let mut response = HttpResponse::build(self.0.status);
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        if let Some(seconds) = self.0.retry_after_seconds {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        if let Some(allow) = &self.0.allow {
            response.insert_header((header::ALLOW, allow.as_str()));
        }
        if let Some(challenge) = self.0.www_authenticate {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if let Some(etag) = &self.0.etag {
            response.insert_header((header::ETAG, etag.as_str()));
        }
        if self.0.status == StatusCode::REQUEST_TIMEOUT {
            response.force_close();
        }
        response.body(serde_json::to_vec(&problem).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    use super::*;

    /// `max_items` takes only a literal: this keeps it the cap the answers apply.
    #[test]
    fn the_schema_caps_errors_as_the_answers_do() -> serde_json::Result<()> {
        let schema = serde_json::to_value(Problem::schema())?;
        assert_eq!(
            schema["properties"]["errors"]["maxItems"], MAX_LISTED_ERRORS,
            "{schema}"
        );
        Ok(())
    }
}
