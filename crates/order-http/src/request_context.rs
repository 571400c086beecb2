//! What every request gets: an id (`X-Request-Id`, in and out), a span that every log
//! line it causes carries, one log line when it is answered, and its count and latency
//! in the metrics.

use std::borrow::Cow;
use std::future::{Ready, ready};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest, web};
use order_domain::RequestId;
use tracing::Instrument;

use crate::metrics::Metrics;
use crate::routes::RouteLabel;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The route of a request no route matched, in logs and metrics: raw paths would let
/// any client mint new label values.
const UNMATCHED: &str = "unmatched";

/// The request's id: the client's, when it sent a usable one, else a fresh one.
#[derive(Debug, Clone)]
pub struct CurrentRequestId(pub RequestId);

impl FromRequest for CurrentRequestId {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let id = req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::generate);
        ready(Ok(Self(id)))
    }
}

/// The pattern of the route that answered: its label when the route has one (ours
/// do), else found by routing the path again (the `/docs` redirect), else `unmatched`.
fn route_of(request: &HttpRequest) -> Cow<'static, str> {
    match request.app_data::<RouteLabel>() {
        Some(RouteLabel(pattern)) => Cow::Borrowed(pattern),
        None => request
            .match_pattern()
            .map_or(Cow::Borrowed(UNMATCHED), Cow::Owned),
    }
}

/// Gives the request its id and span, echoes the id on the response, then logs and
/// counts the exchange.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| RequestId::parse(value).ok())
        .unwrap_or_else(RequestId::generate);
    req.extensions_mut().insert(request_id.clone());
    let method = req.method().clone();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        route = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut response = next.call(req).instrument(span.clone()).await?;
    let took = started.elapsed();
    let route = route_of(response.request());
    span.record("route", route.as_ref());
    if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            path = %response.request().path(),
            status,
            latency_ms = took.as_micros() as f64 / 1000.0,
            "request answered"
        );
    });
    if let Some(metrics) = metrics {
        metrics.request_answered(method.as_str(), &route, status, took);
    }
    Ok(response)
}
