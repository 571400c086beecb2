//! Who may call, and how often: bearer tokens turned into the domain's [`Caller`], and
//! each caller's rate limit. The rules of what a caller may see and do are the
//! domain's; this is only the proof of who is asking.
//!
//! The API under `/v1/` is guarded; the probes, the metrics, the OpenAPI document and
//! its page are not (operators and tools reach them without a token), nor limited.

mod keys;
mod limit;
mod token;

use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, ResponseError, web};
use order_domain::{Caller, Principal};

pub use keys::{Keys, REFETCH_AT_MOST_EVERY};
pub use limit::{MAX_CALLERS, RateLimits, Verdict};
pub use token::{LEEWAY_SECONDS, MintedClaims, Rejected, TokenVerifier};

use crate::config::{AuthSettings, Config};
use crate::error::ApiError;

/// What guards the API: the token verifier (`None`: open mode) and the rate limits
/// (`None`: none).
#[derive(Debug)]
pub struct Gate {
    verifier: Option<TokenVerifier>,
    limits: Option<RateLimits>,
}

impl Gate {
    /// The gate `config` asks for: with a key source, tokens are required; the rate
    /// limit is on as `ORDERS_RATE_LIMIT_*` say (by default only with tokens).
    ///
    /// # Errors
    /// When the keys cannot be read.
    pub async fn from_config(config: &Config) -> anyhow::Result<Self> {
        let auth = &config.auth;
        let keys = if let Some(secret) = &auth.hs256_secret {
            Some(Keys::secret(secret.expose())?)
        } else if let Some(path) = &auth.jwks_file {
            Some(Keys::from_file(path)?)
        } else if let Some(url) = &auth.jwks_url {
            Some(Keys::from_url(url).await?)
        } else {
            None
        };
        let verifier = match (keys, &auth.issuer, &auth.audience) {
            (Some(keys), Some(issuer), Some(audience)) => {
                tracing::info!(issuer, audience, "callers must present a bearer token");
                Some(TokenVerifier::new(keys, issuer.clone(), audience.clone()))
            }
            _ => {
                tracing::warn!(
                    "authentication is off (open mode): every request is allowed; set \
                     ORDERS_AUTH_JWKS_URL, ORDERS_AUTH_JWKS_FILE or ORDERS_AUTH_HS256_SECRET \
                     to require tokens"
                );
                None
            }
        };
        let limits = config
            .rate_limit
            .effective(verifier.is_some())
            .and_then(NonZeroU32::new)
            .zip(NonZeroU32::new(config.rate_limit.burst))
            .map(|(per_second, burst)| RateLimits::new(per_second, burst));
        Ok(Self { verifier, limits })
    }

    /// Who is calling: the principal the request's token proves, or anyone in open
    /// mode.
    async fn caller(&self, request: &ServiceRequest) -> Result<Caller, ApiError> {
        let Some(verifier) = &self.verifier else {
            return Ok(Caller::Anyone);
        };
        let sent = request.headers().get(header::AUTHORIZATION);
        let token = sent
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|token| !token.is_empty());
        let Some(token) = token else {
            let rejected = if sent.is_some() {
                Rejected::Malformed
            } else {
                Rejected::Missing
            };
            return Err(ApiError::unauthenticated(
                rejected.to_string(),
                sent.is_some(),
            ));
        };
        match verifier.verify(token).await {
            Ok(principal) => Ok(Caller::Principal(principal)),
            Err(rejected) => {
                tracing::warn!(reason = %rejected, "a token was refused");
                Err(ApiError::unauthenticated(rejected.to_string(), true))
            }
        }
    }
}

/// A token proving `principal` for `ttl`, signed with the configured shared secret:
/// what `order-service token` prints, for trying the service as any caller.
///
/// # Errors
/// When no shared secret is configured (tokens come from the identity provider then).
pub fn mint(
    settings: &AuthSettings,
    principal: &Principal,
    ttl: Duration,
) -> anyhow::Result<String> {
    let (Some(secret), Some(issuer), Some(audience)) =
        (&settings.hs256_secret, &settings.issuer, &settings.audience)
    else {
        anyhow::bail!(
            "ORDERS_AUTH_HS256_SECRET, ORDERS_AUTH_ISSUER and ORDERS_AUTH_AUDIENCE must be set: \
             tokens are minted with the shared secret, for the service that has it"
        );
    };
    let now = jsonwebtoken::get_current_timestamp();
    MintedClaims {
        sub: principal.subject().to_string(),
        scope: principal
            .scopes()
            .iter()
            .map(|scope| scope.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        store_id: principal.store().map(ToString::to_string),
        iat: now,
        exp: now.saturating_add(ttl.as_secs()),
        iss: issuer.clone(),
        aud: audience.clone(),
    }
    .sign(secret.expose())
}

/// Whom a caller's rate limit is kept for: its subject, or in open mode its address.
fn limit_key(caller: &Caller, request: &ServiceRequest) -> String {
    match caller {
        Caller::Principal(principal) => format!("sub:{}", principal.subject()),
        Caller::Anyone => format!(
            "ip:{}",
            request
                .peer_addr()
                .map_or_else(String::new, |address| address.ip().to_string())
        ),
    }
}

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Authenticates each request to the API and takes it from its caller's rate limit;
/// the domain's [`Caller`] goes into the request's extensions for the handlers.
pub async fn guard(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let gate = request.app_data::<web::Data<Gate>>().cloned();
    let Some(gate) = gate.filter(|_| request.path().starts_with("/v1/")) else {
        return next
            .call(request)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let caller = match gate.caller(&request).await {
        Ok(caller) => caller,
        Err(refused) => return Ok(refuse(request, &refused)),
    };
    let Some(limits) = &gate.limits else {
        request.extensions_mut().insert(caller);
        return next
            .call(request)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let policy = limits.policy();
    let verdict = limits.check(&limit_key(&caller, &request));
    let state = match verdict {
        Verdict::Allowed { remaining, reset } => format!("\"caller\";r={remaining};t={reset}"),
        Verdict::Limited { retry_after } => format!("\"caller\";r=0;t={retry_after}"),
    };
    let mut response = match verdict {
        Verdict::Allowed { .. } => {
            request.extensions_mut().insert(caller);
            next.call(request).await?.map_into_left_body()
        }
        Verdict::Limited { retry_after } => refuse(request, &ApiError::rate_limited(retry_after)),
    };
    for (name, value) in [(RATELIMIT_POLICY, policy), (RATELIMIT, state)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

/// The request answered with `error`, unprocessed.
fn refuse<B>(request: ServiceRequest, error: &ApiError) -> ServiceResponse<EitherBody<B>> {
    let (request, _) = request.into_parts();
    ServiceResponse::new(request, error.error_response()).map_into_right_body()
}
