//! Bearer tokens (RFC 6750): JWTs (RFC 7519), checked as RFC 8725 asks. The algorithm
//! is the key's, never the token's choice (`none` never verifies anything), and `iss`,
//! `aud`, `exp`, `nbf` and `iat` are checked with a minute of leeway. What a token
//! proves becomes the domain's [`Principal`].

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use order_domain::{Principal, Scope, StoreId, Subject};
use serde::{Deserialize, Serialize};

use super::keys::{KeyLookup, Keys};

/// How far clocks may disagree: a token is taken a minute past its `exp`, and a minute
/// before its `nbf` and `iat`.
pub const LEEWAY_SECONDS: u64 = 60;

/// Why a token was not accepted; said in the 401's `detail`, never with the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// No `Authorization: Bearer` header.
    #[error("no bearer token was sent (Authorization: Bearer <token>)")]
    Missing,
    /// Not a JWT at all.
    #[error("the token is not a JWT")]
    Malformed,
    /// Its algorithm is not the one its key is pinned to (`none` included).
    #[error("the token's algorithm is not the one its key is for")]
    WrongAlgorithm,
    /// No key known by its `kid`.
    #[error("the token is signed with a key this service does not know")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the token's signature does not verify")]
    BadSignature,
    /// Past its `exp`.
    #[error("the token has expired")]
    Expired,
    /// Before its `nbf`, or issued (`iat`) in the future.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// Another `iss`.
    #[error("the token's issuer is not the one this service trusts")]
    WrongIssuer,
    /// Another `aud`.
    #[error("the token is not for this service (wrong audience)")]
    WrongAudience,
    /// A claim that must be there is not, or is not what it must be.
    #[error("the token's {0} claim is missing or invalid")]
    BadClaim(&'static str),
}

/// The claims this service reads beyond those `jsonwebtoken` checks (`exp`, `nbf`,
/// `iss`, `aud`, in whichever form the token has them).
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    /// Its scopes, space-separated.
    #[serde(default)]
    scope: Option<String>,
    /// Its scopes, as a list (another spelling of `scope`).
    #[serde(default)]
    scp: Option<Vec<String>>,
    /// The store a store's staff works for.
    #[serde(default)]
    store_id: Option<String>,
    #[serde(default)]
    iat: Option<u64>,
}

/// The claims of a token this service mints (`order-service token`).
#[derive(Debug, Serialize)]
pub struct MintedClaims {
    /// Who the caller is.
    pub sub: String,
    /// Its scopes, space-separated.
    pub scope: String,
    /// The store a store's staff works for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    /// When it was issued.
    pub iat: u64,
    /// When it expires.
    pub exp: u64,
    /// Its issuer.
    pub iss: String,
    /// Its audience.
    pub aud: String,
}

impl MintedClaims {
    /// A token of these claims, signed with the shared `secret` (HS256): what a
    /// developer presents to a service configured with the same secret.
    ///
    /// # Errors
    /// When the token cannot be signed.
    pub fn sign(&self, secret: &str) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            self,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())?,
        )?)
    }
}

/// Checks tokens against the configured keys, issuer and audience.
#[derive(Debug)]
pub struct TokenVerifier {
    keys: Keys,
    issuer: String,
    audience: String,
}

impl TokenVerifier {
    /// A verifier of tokens signed by `keys`, for `issuer` and `audience`.
    pub fn new(keys: Keys, issuer: String, audience: String) -> Self {
        Self {
            keys,
            issuer,
            audience,
        }
    }

    /// Who `token` proves the caller is.
    ///
    /// # Errors
    /// [`Rejected`] saying which check failed.
    pub async fn verify(&self, token: &str) -> Result<Principal, Rejected> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            // A header that names an algorithm jsonwebtoken does not know (`none`, say).
            if names_an_algorithm(token) {
                Rejected::WrongAlgorithm
            } else {
                Rejected::Malformed
            }
        })?;
        let key = match self.keys.find(header.kid.as_deref()).await {
            KeyLookup::Found(key) => key,
            KeyLookup::Unknown => return Err(Rejected::UnknownKey),
        };
        if header.alg != key.algorithm {
            return Err(Rejected::WrongAlgorithm);
        }
        let claims = self.decode(token, &key.key, key.algorithm)?;
        let now = jsonwebtoken::get_current_timestamp();
        if claims.iat.is_some_and(|iat| iat > now + LEEWAY_SECONDS) {
            return Err(Rejected::NotYetValid);
        }
        principal_of(claims)
    }

    fn decode(
        &self,
        token: &str,
        key: &DecodingKey,
        algorithm: Algorithm,
    ) -> Result<Claims, Rejected> {
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.required_spec_claims =
            HashSet::from(["exp", "iss", "aud", "sub"].map(str::to_owned));
        jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                ErrorKind::InvalidSignature => Rejected::BadSignature,
                ErrorKind::ExpiredSignature => Rejected::Expired,
                ErrorKind::ImmatureSignature => Rejected::NotYetValid,
                ErrorKind::InvalidIssuer => Rejected::WrongIssuer,
                ErrorKind::InvalidAudience => Rejected::WrongAudience,
                ErrorKind::InvalidAlgorithm => Rejected::WrongAlgorithm,
                ErrorKind::MissingRequiredClaim(claim) => Rejected::BadClaim(claim_name(claim)),
                ErrorKind::InvalidClaimFormat(claim) => Rejected::BadClaim(claim_name(claim)),
                _ => Rejected::Malformed,
            })
    }
}

/// Whether the token's header is JSON naming an algorithm, whichever.
fn names_an_algorithm(token: &str) -> bool {
    token
        .split('.')
        .next()
        .and_then(|header| URL_SAFE_NO_PAD.decode(header).ok())
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .is_some_and(|header| header["alg"].is_string())
}

/// The claim's name, as one of those this service checks.
fn claim_name(claim: &str) -> &'static str {
    ["exp", "iss", "aud", "sub", "nbf", "iat"]
        .into_iter()
        .find(|known| *known == claim)
        .unwrap_or("a")
}

/// The principal `claims` name: its subject, the scopes of ours it was granted (others
/// are ignored), and its store.
fn principal_of(claims: Claims) -> Result<Principal, Rejected> {
    let subject = Subject::parse(claims.sub).map_err(|_| Rejected::BadClaim("sub"))?;
    let named = claims
        .scope
        .iter()
        .flat_map(|scope| scope.split_whitespace().map(str::to_owned))
        .chain(claims.scp.into_iter().flatten());
    let scopes: Vec<Scope> = named.filter_map(|name| Scope::parse(&name)).collect();
    let store = claims
        .store_id
        .map(StoreId::parse)
        .transpose()
        .map_err(|_| Rejected::BadClaim("store_id"))?;
    Ok(Principal::new(subject, scopes, store))
}
