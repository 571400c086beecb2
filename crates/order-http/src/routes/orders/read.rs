//! `GET /v1/orders/{id}` and `GET /v1/orders/{id}/history`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use order_domain::{OrderId, OrderService, ReadOrderError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::routes::orders::view::{HistoryEntryView, OrderView, order_response};
use crate::routes::{NoQuery, repository_error};

/// An id that is not a UUID names no order.
pub fn order_id(path: &str) -> Result<OrderId, ApiError> {
    OrderId::parse(path).map_err(|_| ApiError::order_not_found())
}

pub fn read_error(error: ReadOrderError) -> ApiError {
    match error {
        ReadOrderError::NotFound => ApiError::order_not_found(),
        ReadOrderError::Repository(error) => repository_error(error),
    }
}

/// One order.
#[utoipa::path(
    get,
    path = "/v1/orders/{id}",
    operation_id = "getOrder",
    tag = "orders",
    params(("id" = String, Path, format = Uuid, description = "The order's id")),
    responses(
        (status = 200, description = "The order", body = OrderView,
         headers(("ETag" = String, description = "The order's version, quoted"))),
        (status = 400, description = "invalid_parameter: a query parameter (this endpoint takes none)",
         body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "order_not_found: no such order, a deleted one, or an id that is not a UUID",
         body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "service_unavailable: the database cannot be reached",
         body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_order(
    service: web::Data<OrderService>,
    path: web::Path<String>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let order = service
        .get_order(order_id(&path)?)
        .await
        .map_err(read_error)?;
    Ok(order_response(StatusCode::OK, &order))
}

/// An order's history, oldest first.
#[derive(Serialize, ToSchema)]
pub struct History {
    /// One entry per change, the placement first.
    items: Vec<HistoryEntryView>,
}

/// What happened to an order, oldest first: one entry per change. A deleted order's
/// history stays readable; it ends with `order_deleted`.
#[utoipa::path(
    get,
    path = "/v1/orders/{id}/history",
    operation_id = "getOrderHistory",
    tag = "orders",
    params(("id" = String, Path, format = Uuid, description = "The order's id")),
    responses(
        (status = 200, description = "The history", body = History),
        (status = 400, description = "invalid_parameter: a query parameter (this endpoint takes none)",
         body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "order_not_found: no order ever had this id",
         body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "service_unavailable: the database cannot be reached",
         body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_order_history(
    service: web::Data<OrderService>,
    path: web::Path<String>,
    _: NoQuery,
) -> Result<HttpResponse, ApiError> {
    let history = service
        .order_history(order_id(&path)?)
        .await
        .map_err(read_error)?;
    let items = history.iter().map(HistoryEntryView::from).collect();
    Ok(HttpResponse::Ok().json(History { items }))
}
