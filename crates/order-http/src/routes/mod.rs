//! The API's routes, and the answers for paths and methods it does not have.

mod orders;

use actix_web::{HttpResponse, web};
use order_domain::RepositoryError;

use crate::error::ApiError;

/// Mounts every route on an app.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/v1/orders")
                .route(web::get().to(orders::list_orders))
                .route(web::post().to(orders::place_order))
                .default_service(method_not_allowed("GET, POST")),
        )
        .service(
            web::resource("/v1/orders/{id}")
                .route(web::get().to(orders::get_order))
                .default_service(method_not_allowed("GET")),
        )
        .service(
            web::resource("/v1/orders/{id}/history")
                .route(web::get().to(orders::order_history))
                .default_service(method_not_allowed("GET")),
        )
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::route_not_found())
        }));
}

fn method_not_allowed(allow: &'static str) -> actix_web::Route {
    web::to(move || async move { Err::<HttpResponse, _>(ApiError::method_not_allowed(allow)) })
}

/// A database failure: a passing outage is 503, anything else 500.
pub fn repository_error(error: RepositoryError) -> ApiError {
    match &error {
        RepositoryError::Unavailable(_) => ApiError::service_unavailable(&error),
        RepositoryError::Internal(_) => ApiError::internal(&error),
    }
}
