//! The API's routes, and the answers for paths and methods it does not have.

pub(crate) mod events;
pub(crate) mod operations;
pub(crate) mod orders;

pub use operations::{Operations, Upstream};

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::http::header::HeaderValue;
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Responder, web};
use order_domain::{RepositoryError, UpstreamUnavailable};

use crate::error::ApiError;

/// The route's pattern, kept on its resource so that logs and metrics can label a
/// request without routing it a second time.
#[derive(Debug, Clone, Copy)]
pub struct RouteLabel(pub &'static str);

/// A resource at `path`, labelled with it.
pub(crate) fn resource(path: &'static str) -> actix_web::Resource {
    web::resource(path).app_data(RouteLabel(path))
}

/// Mounts every route on an app: the busiest first, since routing tries them in turn.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            resource("/v1/orders/{id}")
                .route(web::get().to(orders::get_order))
                .route(web::delete().to(orders::delete_order))
                .default_service(method_not_allowed("GET, DELETE")),
        )
        .service(
            resource("/v1/orders")
                .route(web::get().to(orders::list_orders))
                .route(web::post().to(orders::place_order))
                .default_service(method_not_allowed("GET, POST")),
        )
        .service(
            resource("/v1/orders/{id}/history")
                .route(web::get().to(orders::get_order_history))
                .default_service(method_not_allowed("GET")),
        )
        .service(action(
            "/v1/orders/{id}/payment",
            Method::PUT,
            orders::update_payment,
        ))
        .service(action(
            "/v1/orders/{id}/shipping",
            Method::PUT,
            orders::update_shipping,
        ))
        .service(action(
            "/v1/orders/{id}/shipment/tracking",
            Method::PUT,
            orders::set_tracking,
        ))
        .service(action(
            "/v1/orders/{id}/confirm-payment",
            Method::POST,
            orders::confirm_payment,
        ))
        .service(action(
            "/v1/orders/{id}/confirm-delivery",
            Method::POST,
            orders::confirm_delivery,
        ))
        .service(action(
            "/v1/orders/{id}/cancel",
            Method::POST,
            orders::cancel_order,
        ))
        .service(
            resource("/v1/events")
                .route(web::get().to(events::list_events))
                .default_service(method_not_allowed("GET")),
        )
        .service(
            resource("/health/live")
                .route(web::get().to(operations::get_liveness))
                .default_service(method_not_allowed("GET")),
        )
        .service(
            resource("/health/ready")
                .route(web::get().to(operations::get_readiness))
                .default_service(method_not_allowed("GET")),
        )
        .service(
            resource("/metrics")
                .route(web::get().to(operations::get_metrics))
                .default_service(method_not_allowed("GET")),
        )
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::route_not_found())
        }));
}

/// A business action on an order: one method, one handler.
fn action<F, Args>(path: &'static str, method: Method, handler: F) -> actix_web::Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    resource(path)
        .route(web::route().method(method.clone()).to(handler))
        .default_service(method_not_allowed(method.as_str()))
}

pub(crate) fn method_not_allowed(allow: &str) -> actix_web::Route {
    let allow = allow.to_owned();
    web::to(move || {
        let error = ApiError::method_not_allowed(allow.clone());
        async move { Err::<HttpResponse, _>(error) }
    })
}

/// How long a client should wait before retrying after an upstream failure.
const DEPENDENCY_RETRY_AFTER_SECONDS: u64 = 1;

/// An upstream service that gave no usable answer: 503, with the time its circuit lets
/// a call through again as `Retry-After` (rounded up, so that a client that waits as
/// told does not arrive too early), or a second when its circuit is closed.
pub fn dependency_error(unavailable: &UpstreamUnavailable) -> ApiError {
    tracing::warn!(error = %unavailable, "an upstream service is unavailable");
    let retry_after = unavailable
        .retry_after
        .map_or(DEPENDENCY_RETRY_AFTER_SECONDS, |wait| {
            u64::try_from(wait.as_millis().div_ceil(1000))
                .unwrap_or(u64::MAX)
                .max(1)
        });
    ApiError::dependency_unavailable(unavailable.service, retry_after)
}

/// A database failure: a passing outage is 503, anything else 500.
pub fn repository_error(error: RepositoryError) -> ApiError {
    match &error {
        RepositoryError::Unreached(_) => ApiError::service_unavailable(&error),
        RepositoryError::Unavailable(_) => ApiError::service_unavailable_outcome_unknown(&error),
        RepositoryError::Internal(_) => ApiError::internal(&error),
    }
}

/// The value of a header that may be given once: two values (two `Idempotency-Key`s,
/// say) leave it unclear which the client meant, so they are refused, not picked from.
pub fn single_header<'a>(
    request: &'a HttpRequest,
    name: &str,
) -> Result<Option<&'a HeaderValue>, ApiError> {
    let mut values = request.headers().get_all(name);
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::invalid_parameter(
            name,
            "must be given at most once",
        ));
    }
    Ok(first)
}

/// The query of an endpoint that takes no parameters: any is refused, as the listing
/// refuses one it does not know, since a parameter ignored would look obeyed.
#[derive(Debug)]
pub struct NoQuery;

impl FromRequest for NoQuery {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let given = serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
            .map(|parameters| parameters.into_iter().next().map(|(name, _)| name))
            .map_err(|_| ApiError::invalid_parameter("query", "is not a valid query string"));
        ready(match given {
            Ok(None) => Ok(NoQuery),
            Ok(Some(name)) => Err(ApiError::invalid_parameter(
                &name,
                "is not a parameter of this endpoint (it takes none)",
            )),
            Err(invalid) => Err(invalid),
        })
    }
}
