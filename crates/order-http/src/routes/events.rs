//! `GET /v1/events`: the events of every order, in commit order, for consumers that
//! page through them.

use actix_web::{HttpRequest, HttpResponse, web};
use order_domain::{FeedPageSize, FeedStart, OrderService, ReadFeedError};
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::caller::CurrentCaller;
use crate::error::ApiError;
use crate::events::CloudEvent;
use crate::routes::orders::documentation::FeedProblems;
use crate::routes::repository_error;

const PARAMETERS: &[&str] = &["after", "limit"];

/// Why the feed is refused to a caller who is not an operator.
pub(crate) const FEED_FORBIDDEN: &str = "Only operators (orders:admin) may read the event feed.";

/// Why an `after` that is not a position is refused.
pub(crate) const INVALID_AFTER: &str = "must be a position (a whole number from 0) or now";

/// The events of every order, in commit order: start with `after=0` (or `after=now`
/// for only what comes next) and keep passing `nextAfter` to see every event once, in
/// order, whichever instance committed it. Events of one order come in version order.
#[utoipa::path(
    get,
    path = "/v1/events",
    operation_id = "listEvents",
    tag = "events",
    params(
        ("after" = Option<String>, Query, description = "A position from an earlier page's `nextAfter`; `0` (the default) starts at the oldest event kept, `now` at the end"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Events per page; 100 when absent"),
    ),
    responses(
        (status = 200, description = "A page of events; `nextAfter` is where the next starts", body = EventFeed),
        FeedProblems,
    )
)]
pub async fn list_events(
    service: web::Data<OrderService>,
    request: HttpRequest,
    CurrentCaller(caller): CurrentCaller,
) -> Result<HttpResponse, ApiError> {
    let (start, size) = parse_query(request.query_string())?;
    let page = service
        .read_feed(&caller, start, size)
        .await
        .map_err(|error| match error {
            ReadFeedError::Forbidden => ApiError::forbidden(FEED_FORBIDDEN),
            ReadFeedError::Expired => ApiError::events_expired(),
            ReadFeedError::Repository(error) => repository_error(error),
        })?;
    let items = page
        .events
        .iter()
        .map(|event| {
            // Stored as it was rendered: sent as it is, not parsed again.
            let body = std::str::from_utf8(&event.event.body)
                .ok()
                .and_then(|text| RawValue::from_string(text.to_owned()).ok())
                .ok_or_else(|| {
                    ApiError::internal(&std::io::Error::other(format!(
                        "event {} is not JSON",
                        event.event.id
                    )))
                })?;
            Ok(FeedItem {
                position: event.position,
                event: body,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(HttpResponse::Ok().json(EventFeed {
        items,
        next_after: page.next_after,
    }))
}

/// A page of the event feed.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventFeed {
    items: Vec<FeedItem>,
    /// Pass it as `after` for the next page; when the page is empty, where it started.
    next_after: u64,
}

/// One event, at its position in the feed.
#[derive(Serialize, ToSchema)]
pub struct FeedItem {
    /// Grows in commit order.
    position: u64,
    #[schema(value_type = CloudEvent)]
    event: Box<RawValue>,
}

fn parse_query(query_string: &str) -> Result<(FeedStart, FeedPageSize), ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query_string)
        .map_err(|_| ApiError::invalid_parameter("query", "is not a valid query string"))?;
    let mut start = FeedStart::Oldest;
    let mut size = FeedPageSize::DEFAULT;
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
        if name == "after" {
            start = match value.as_str() {
                "now" => FeedStart::End,
                "0" => FeedStart::Oldest,
                position => FeedStart::After(
                    position
                        .parse()
                        .map_err(|_| invalid(INVALID_AFTER.into()))?,
                ),
            };
        } else {
            let limit = value
                .parse::<i64>()
                .map_err(|_| invalid("must be an integer from 1 to 1000".into()))?;
            size = FeedPageSize::new(limit).map_err(|e| invalid(e.to_string()))?;
        }
    }
    Ok((start, size))
}
