//! `X-Request-Id` on every request and response, and one log line per request.

use std::future::{Ready, ready};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest};
use order_domain::RequestId;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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

/// Gives the request its id, echoes the id on the response, and logs the exchange.
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
    let path = req.path().to_owned();
    let started = Instant::now();
    let mut response = next.call(req).await?;
    if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    tracing::info!(
        request_id = %request_id,
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    Ok(response)
}
