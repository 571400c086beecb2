//! `GET /v1/orders`: filtered, newest first, paged by an opaque cursor.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use order_domain::{
    CustomerId, OrderId, OrderQuery, OrderService, OrderStatus, PagePosition, PageSize, StoreId,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::caller::CurrentCaller;
use crate::error::ApiError;
use crate::json_schema;
use crate::routes::orders::documentation::ListProblems;
use crate::routes::orders::read::read_error;
use crate::routes::orders::view::OrderView;

const PARAMETERS: &[&str] = &["customerId", "storeId", "status", "limit", "cursor"];

/// List orders, newest first (ties broken by id), filtered and paged. Paging while
/// orders are created never repeats or skips one that existed when paging began.
/// Deleted orders are not listed.
#[utoipa::path(
    get,
    path = "/v1/orders",
    operation_id = "listOrders",
    tag = "orders",
    params(
        ("customerId" = Option<json_schema::CustomerId>, Query, description = "Only this customer's orders"),
        ("storeId" = Option<json_schema::StoreId>, Query, description = "Only this store's orders"),
        ("status" = Option<json_schema::OrderStatus>, Query, description = "Only orders in this status"),
        ("limit" = Option<json_schema::PageSize>, Query, description = "Orders per page; 20 when absent"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page; any other text is 400"),
    ),
    responses(
        (status = 200, description = "One page; `nextCursor` is null on the last", body = OrderList),
        ListProblems,
    )
)]
pub async fn list_orders(
    service: web::Data<OrderService>,
    request: HttpRequest,
    CurrentCaller(caller): CurrentCaller,
) -> Result<HttpResponse, ApiError> {
    let query = parse_query(request.query_string())?;
    let page = service
        .list_orders(&caller, query)
        .await
        .map_err(read_error)?;
    Ok(HttpResponse::Ok().json(OrderList {
        items: page.orders.iter().map(OrderView::from).collect(),
        next_cursor: page.next.map(encode_cursor),
    }))
}

/// One page of a listing.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderList<'a> {
    items: Vec<OrderView<'a>>,
    /// Where the next page starts: pass it as `cursor`. `null` on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

fn parse_query(query_string: &str) -> Result<OrderQuery, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query_string)
        .map_err(|_| ApiError::invalid_parameter("query", "is not a valid query string"))?;
    let mut query = OrderQuery {
        customer_id: None,
        store_id: None,
        status: None,
        limit: PageSize::DEFAULT,
        after: None,
    };
    let mut seen = Vec::new();
    for (name, value) in &pairs {
        let invalid = |problem: String| ApiError::invalid_parameter(name, problem);
        if !PARAMETERS.contains(&name.as_str()) {
            return Err(invalid(format!(
                "is not a parameter of this endpoint (it takes {})",
                PARAMETERS.join(", ")
            )));
        }
        if seen.contains(name) {
            return Err(invalid("must be given at most once".into()));
        }
        seen.push(name.clone());
        match name.as_str() {
            "customerId" => {
                query.customer_id =
                    Some(CustomerId::parse(value.as_str()).map_err(|e| invalid(e.to_string()))?)
            }
            "storeId" => {
                query.store_id =
                    Some(StoreId::parse(value.as_str()).map_err(|e| invalid(e.to_string()))?)
            }
            "status" => {
                query.status = Some(OrderStatus::parse(value).map_err(|e| invalid(e.to_string()))?)
            }
            "limit" => {
                let limit = value
                    .parse::<i64>()
                    .map_err(|_| invalid("must be an integer from 1 to 100".into()))?;
                query.limit = PageSize::new(limit).map_err(|e| invalid(e.to_string()))?;
            }
            _ => {
                query.after = Some(
                    decode_cursor(value)
                        .ok_or_else(|| invalid("is not a cursor this service issued".into()))?,
                )
            }
        }
    }
    Ok(query)
}

/// The cursor is opaque to clients: the position of the last order of a page.
fn encode_cursor(position: PagePosition) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}|{}",
        position.created_at.timestamp_micros(),
        position.id
    ))
}

fn decode_cursor(cursor: &str) -> Option<PagePosition> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (micros, id) = text.split_once('|')?;
    // Orders are stamped by the service's clock: none is older than 1970. An earlier
    // time was made by hand, and some are beyond what PostgreSQL can compare.
    let micros: i64 = micros.parse().ok().filter(|micros| *micros >= 0)?;
    Some(PagePosition {
        created_at: DateTime::from_timestamp_micros(micros)?,
        id: OrderId::parse(id).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let position = PagePosition {
            created_at: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap_or_default(),
            id: OrderId::from_uuid(uuid::Uuid::now_v7()),
        };
        assert_eq!(decode_cursor(&encode_cursor(position)), Some(position));
        assert_eq!(decode_cursor("not-a-cursor"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("12|nope")), None);
        let before_1970 = format!("-1|{}", position.id);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode(before_1970)), None);
    }
}
