//! `GET /v1/orders/{id}` and `GET /v1/orders/{id}/history`.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use order_domain::{OrderId, OrderService, ReadOrderError};
use serde::Serialize;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::{IntoParams, ToSchema};

use crate::caller::CurrentCaller;
use crate::error::ApiError;
use crate::routes::orders::documentation::{self, ReadProblems};
use crate::routes::orders::view::{HistoryEntryView, OrderView, order_response};
use crate::routes::{NoQuery, repository_error};

/// The order's id as the path writes it: read by `order_id` once the request's other
/// problems are answered, since an id that names no order is a 404.
#[derive(Debug)]
pub struct OrderPath(pub String);

impl FromRequest for OrderPath {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        ready(
            web::Path::<String>::from_request(req, payload)
                .into_inner()
                .map(|path| Self(path.into_inner())),
        )
    }
}

impl IntoParams for OrderPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![documentation::order_id()]
    }
}

/// An id that is not a UUID names no order.
pub fn order_id(path: &str) -> Result<OrderId, ApiError> {
    OrderId::parse(path).map_err(|_| ApiError::order_not_found())
}

/// Why a listing is refused to a caller who may not see what it asks for.
pub(crate) const LISTING_FORBIDDEN: &str = "Only your own orders (or your store's) can be \
    listed: customerId or storeId names others'.";

pub fn read_error(error: ReadOrderError) -> ApiError {
    match error {
        ReadOrderError::NotFound => ApiError::order_not_found(),
        ReadOrderError::Forbidden => ApiError::forbidden(LISTING_FORBIDDEN),
        ReadOrderError::Repository(error) => repository_error(error),
    }
}

/// One order.
#[utoipa::path(
    get,
    path = "/v1/orders/{id}",
    operation_id = "getOrder",
    tag = "orders",
    params(OrderPath),
    responses(
        (status = 200, description = "The order", body = OrderView,
         headers(("ETag" = String, description = "The order's version, quoted"))),
        ReadProblems,
    )
)]
pub async fn get_order(
    service: web::Data<OrderService>,
    OrderPath(path): OrderPath,
    _: NoQuery,
    CurrentCaller(caller): CurrentCaller,
) -> Result<HttpResponse, ApiError> {
    let order = service
        .get_order(&caller, order_id(&path)?)
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
    params(OrderPath),
    responses(
        (status = 200, description = "The history", body = History),
        ReadProblems,
    )
)]
pub async fn get_order_history(
    service: web::Data<OrderService>,
    OrderPath(path): OrderPath,
    _: NoQuery,
    CurrentCaller(caller): CurrentCaller,
) -> Result<HttpResponse, ApiError> {
    let history = service
        .order_history(&caller, order_id(&path)?)
        .await
        .map_err(read_error)?;
    let items = history.iter().map(HistoryEntryView::from).collect();
    Ok(HttpResponse::Ok().json(History { items }))
}
