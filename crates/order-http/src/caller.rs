//! Who is calling: the domain's [`Caller`] a request's credentials proved, for the use
//! cases to decide what it may see and do. Whatever checks credentials puts the caller
//! in the request's extensions; a request nobody vouched for is anyone's, which is what
//! open mode (no authentication configured) means.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use order_domain::Caller;

use crate::error::ApiError;

/// The caller of the request being served.
#[derive(Debug, Clone)]
pub struct CurrentCaller(pub Caller);

impl FromRequest for CurrentCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = req
            .extensions()
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller::Anyone);
        ready(Ok(Self(caller)))
    }
}
