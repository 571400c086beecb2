//! The API's routes, and the answers for paths and methods it does not have.

pub(crate) mod operations;
pub(crate) mod orders;

pub use operations::{Operations, Upstream};

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use order_domain::RepositoryError;

use crate::error::ApiError;
use crate::openapi;

/// Mounts every route on an app.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/health/live")
                .route(web::get().to(operations::live))
                .default_service(method_not_allowed("GET")),
        )
        .service(
            web::resource("/health/ready")
                .route(web::get().to(operations::ready))
                .default_service(method_not_allowed("GET")),
        )
        .service(
            web::resource("/metrics")
                .route(web::get().to(operations::metrics))
                .default_service(method_not_allowed("GET")),
        )
        .service(
            web::resource("/openapi.json")
                .route(web::get().to(openapi::serve_document))
                .default_service(method_not_allowed("GET")),
        )
        .service(web::redirect("/docs", "/docs/"))
        .service(openapi::browsable_page())
        .service(
            web::resource("/v1/orders")
                .route(web::get().to(orders::list_orders))
                .route(web::post().to(orders::place_order))
                .default_service(method_not_allowed("GET, POST")),
        )
        .service(
            web::resource("/v1/orders/{id}")
                .route(web::get().to(orders::get_order))
                .route(web::delete().to(orders::delete_order))
                .default_service(method_not_allowed("GET, DELETE")),
        )
        .service(
            web::resource("/v1/orders/{id}/history")
                .route(web::get().to(orders::order_history))
                .default_service(method_not_allowed("GET")),
        )
        .service(action(
            "/v1/orders/{id}/payment",
            Method::PUT,
            orders::parse_payment,
        ))
        .service(action(
            "/v1/orders/{id}/shipping",
            Method::PUT,
            orders::parse_shipping,
        ))
        .service(action(
            "/v1/orders/{id}/shipment/tracking",
            Method::PUT,
            orders::parse_tracking,
        ))
        .service(action(
            "/v1/orders/{id}/confirm-payment",
            Method::POST,
            orders::parse_confirm_payment,
        ))
        .service(action(
            "/v1/orders/{id}/confirm-delivery",
            Method::POST,
            orders::parse_confirm_delivery,
        ))
        .service(action(
            "/v1/orders/{id}/cancel",
            Method::POST,
            orders::parse_cancel,
        ))
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::route_not_found())
        }));
}

/// A business action on an order: one method, a body parsed into its command.
fn action(path: &str, method: Method, parse: orders::ParseCommand) -> actix_web::Resource {
    web::resource(path)
        .route(
            web::route()
                .method(method.clone())
                .to(orders::changing(parse)),
        )
        .default_service(method_not_allowed(method.as_str()))
}

fn method_not_allowed(allow: &str) -> actix_web::Route {
    let allow = allow.to_owned();
    web::to(move || {
        let error = ApiError::method_not_allowed(allow.clone());
        async move { Err::<HttpResponse, _>(error) }
    })
}

/// A database failure: a passing outage is 503, anything else 500.
pub fn repository_error(error: RepositoryError) -> ApiError {
    match &error {
        RepositoryError::Unavailable(_) => ApiError::service_unavailable(&error),
        RepositoryError::Internal(_) => ApiError::internal(&error),
    }
}
