//! `GET /v1/orders/{id}` and `GET /v1/orders/{id}/history`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use order_domain::{OrderId, OrderService, ReadOrderError};
use serde_json::json;

use crate::error::ApiError;
use crate::routes::orders::view::{HistoryEntryView, order_response};
use crate::routes::repository_error;

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

pub async fn get_order(
    service: web::Data<OrderService>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = service
        .get_order(order_id(&path)?)
        .await
        .map_err(read_error)?;
    Ok(order_response(StatusCode::OK, &order))
}

pub async fn order_history(
    service: web::Data<OrderService>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let history = service
        .order_history(order_id(&path)?)
        .await
        .map_err(read_error)?;
    let items: Vec<HistoryEntryView> = history.iter().map(HistoryEntryView::from).collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}
