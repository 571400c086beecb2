//! The keys that sign callers' tokens, each pinned to its one algorithm: a shared
//! secret (HS256), or a JWKS document of public keys (RS256, ES256) read from a file or
//! fetched from the identity provider, and fetched again when a token names a key it
//! does not hold (a rotation), at most once every 30 s whatever tokens arrive.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Mutex;

/// The least time between two fetches of the JWKS document.
pub const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(30);

/// How long one fetch of the JWKS document may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// A key, and the one algorithm tokens it verifies may use.
#[derive(Clone)]
pub struct PinnedKey {
    /// The key.
    pub key: DecodingKey,
    /// Its algorithm.
    pub algorithm: Algorithm,
}

impl std::fmt::Debug for PinnedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// What looking a key up found.
#[derive(Debug)]
pub enum KeyLookup {
    /// The key.
    Found(Arc<PinnedKey>),
    /// No key by that id, even after fetching the keys again (when allowed).
    Unknown,
}

/// The keys tokens are checked with.
#[derive(Debug)]
pub enum Keys {
    /// One shared secret: every token's key, whatever its `kid`.
    Secret(Arc<PinnedKey>),
    /// Public keys by `kid`.
    Set(KeySet),
}

impl Keys {
    /// The shared secret's key (HS256).
    ///
    /// # Errors
    /// When the secret cannot be a key.
    pub fn secret(secret: &str) -> anyhow::Result<Self> {
        Ok(Self::Secret(Arc::new(PinnedKey {
            key: DecodingKey::from_secret(secret.as_bytes())?,
            algorithm: Algorithm::HS256,
        })))
    }

    /// The keys of the JWKS document in `path`.
    ///
    /// # Errors
    /// When the file cannot be read, or is not a JWKS document.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the JWKS file {}", path.display()))?;
        let set: JwkSet = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a JWKS document", path.display()))?;
        Ok(Self::Set(KeySet {
            keys: RwLock::new(pinned(&set)),
            fetched_from: None,
        }))
    }

    /// The keys of the JWKS document at `url`, fetched now (an identity provider that
    /// does not answer yet is asked again when a token needs a key).
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub async fn from_url(url: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .context("cannot build the JWKS client")?;
        let fetcher = Fetcher {
            http,
            url: url.to_owned(),
            last_fetch: Mutex::new(None),
        };
        let keys = match fetcher.fetch().await {
            Ok(keys) => keys,
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "the JWKS document cannot be fetched now; it is fetched again when a token needs a key"
                );
                HashMap::new()
            }
        };
        Ok(Self::Set(KeySet {
            keys: RwLock::new(keys),
            fetched_from: Some(fetcher),
        }))
    }

    /// The key a token with this `kid` is signed with.
    pub async fn find(&self, kid: Option<&str>) -> KeyLookup {
        match self {
            Self::Secret(key) => KeyLookup::Found(Arc::clone(key)),
            Self::Set(set) => set.find(kid).await,
        }
    }
}

/// Public keys by `kid`, and where to fetch them again.
#[derive(Debug)]
pub struct KeySet {
    keys: RwLock<HashMap<String, Arc<PinnedKey>>>,
    fetched_from: Option<Fetcher>,
}

impl KeySet {
    async fn find(&self, kid: Option<&str>) -> KeyLookup {
        if let Some(key) = self.held(kid) {
            return KeyLookup::Found(key);
        }
        let Some(fetcher) = &self.fetched_from else {
            return KeyLookup::Unknown;
        };
        // One fetch at a time: tokens arriving together for a new key wait for it.
        let mut last_fetch = fetcher.last_fetch.lock().await;
        if let Some(key) = self.held(kid) {
            return KeyLookup::Found(key);
        }
        if last_fetch.is_some_and(|at| at.elapsed() < REFETCH_AT_MOST_EVERY) {
            return KeyLookup::Unknown;
        }
        *last_fetch = Some(Instant::now());
        match fetcher.fetch().await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "the JWKS document was fetched again");
                *self
                    .keys
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = keys;
            }
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "the JWKS document cannot be fetched"
                );
            }
        }
        self.held(kid).map_or(KeyLookup::Unknown, KeyLookup::Found)
    }

    /// The key held for `kid`; a token without one is signed by the only key there
    /// is, if there is only one.
    fn held(&self, kid: Option<&str>) -> Option<Arc<PinnedKey>> {
        let keys = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match kid {
            Some(kid) => keys.get(kid).cloned(),
            None if keys.len() == 1 => keys.values().next().cloned(),
            None => None,
        }
    }
}

/// Fetches a JWKS document over HTTP.
#[derive(Debug)]
struct Fetcher {
    http: reqwest::Client,
    url: String,
    /// When it was last fetched: held while fetching, so that one fetch runs at a time.
    last_fetch: Mutex<Option<Instant>>,
}

impl Fetcher {
    async fn fetch(&self) -> anyhow::Result<HashMap<String, Arc<PinnedKey>>> {
        let set: JwkSet = self
            .http
            .get(&self.url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
            .context("not a JWKS document")?;
        Ok(pinned(&set))
    }
}

/// The keys of `set` that sign with an algorithm this service accepts, each pinned to
/// it; others (symmetric keys, other curves) are left out.
fn pinned(set: &JwkSet) -> HashMap<String, Arc<PinnedKey>> {
    set.keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let algorithm = algorithm_of(jwk)?;
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some((kid, Arc::new(PinnedKey { key, algorithm })))
        })
        .collect()
}

/// RS256 for an RSA key, ES256 for a P-256 one: what the key says, if it says, must be
/// one of those and agree with its type.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(params) if params.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(by_type),
        Some(KeyAlgorithm::RS256) if by_type == Algorithm::RS256 => Some(by_type),
        Some(KeyAlgorithm::ES256) if by_type == Algorithm::ES256 => Some(by_type),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_jwk(kid: &str) -> serde_json::Value {
        let path = format!(
            "{}/tests/fixtures/auth/{kid}.jwk.json",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn a_jwks_file_pins_each_key_to_its_algorithm_and_leaves_out_the_rest()
    -> anyhow::Result<()> {
        let mut mislabeled = fixture_jwk("rsa-2");
        mislabeled["alg"] = "ES256".into();
        let document = serde_json::json!({"keys": [
            fixture_jwk("rsa-1"),
            fixture_jwk("ec-1"),
            mislabeled,
            {"kty": "oct", "kid": "shared", "k": "c2VjcmV0"},
        ]});
        let file = tempfile::NamedTempFile::new()?;
        std::fs::write(file.path(), document.to_string())?;
        let keys = Keys::from_file(file.path())?;
        let keys = &keys;
        let algorithm = |kid| async move {
            match keys.find(Some(kid)).await {
                KeyLookup::Found(key) => Some(key.algorithm),
                KeyLookup::Unknown => None,
            }
        };
        assert_eq!(algorithm("rsa-1").await, Some(Algorithm::RS256));
        assert_eq!(algorithm("ec-1").await, Some(Algorithm::ES256));
        assert_eq!(algorithm("rsa-2").await, None, "an RSA key labeled ES256");
        assert_eq!(algorithm("shared").await, None, "a symmetric key");
        assert!(
            matches!(keys.find(None).await, KeyLookup::Unknown),
            "which of two?"
        );
        Ok(())
    }
}
