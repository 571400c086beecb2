//! HTTP clients of the customer and inventory services, per the upstream contracts of
//! the order API spec. Each translates the remote answers into the ports' terms: a
//! remote 404 is "unknown", anything unusable is [`UpstreamUnavailable`].
//!
//! Every call is kept in bounds the same way ([`Upstream::call`]): each attempt has a
//! timeout; a failed or timed-out attempt is retried with exponential backoff and full
//! jitter (every call these clients make is safe to repeat); the whole call gives up
//! within its budget; and the service's [`CircuitBreaker`] refuses calls at once while
//! the service keeps failing.

mod circuit;
mod customer;
mod inventory;
pub(crate) mod notification;
mod payment;
mod shipping;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use order_domain::{RequestId, UpstreamService, UpstreamUnavailable};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, RequestBuilder};
use reqwest_retry::policies::ExponentialBackoff;
use reqwest_retry::{Jitter, RetryTransientMiddleware};

pub use circuit::{CallPermit, CircuitBreaker, CircuitSettings, CircuitState};
pub(crate) use customer::CustomerBody;
pub use customer::HttpCustomerDirectory;
pub use inventory::HttpInventory;
pub use notification::HttpNotifier;
pub use payment::HttpPayments;
pub use shipping::HttpShipping;

/// How calls to an upstream service are kept in bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPolicy {
    /// The longest one HTTP attempt may take, connection included.
    pub attempt_timeout: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// The longest a whole call may take, retries and waits included.
    pub call_timeout: Duration,
    /// The most the wait before the first retry may be; it doubles for each further
    /// retry, and the actual wait is drawn at random below it (full jitter).
    pub first_backoff: Duration,
    /// The most any wait between attempts may be.
    pub max_backoff: Duration,
    /// When the service's circuit opens, and for how long.
    pub circuit: CircuitSettings,
}

impl Default for CallPolicy {
    /// The spec's defaults: 1 s per attempt, 3 attempts, 3 s per call, and a circuit
    /// that opens for 10 s after 5 consecutive failed calls.
    fn default() -> Self {
        Self {
            attempt_timeout: Duration::from_secs(1),
            max_attempts: 3,
            call_timeout: Duration::from_secs(3),
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            circuit: CircuitSettings::default(),
        }
    }
}

/// How an upstream call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallOutcome {
    /// The service gave a usable answer (a refusal within its contract included).
    Succeeded,
    /// No usable answer within the call's attempts and budget.
    Failed,
    /// Not made: the service's circuit is open.
    Refused,
}

impl CallOutcome {
    /// The outcome's name in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Refused => "refused",
        }
    }
}

/// Told how every upstream call ended and how long it took, for metrics.
pub trait CallObserver: Send + Sync + fmt::Debug {
    /// A call to `service` ended with `outcome` after `took`.
    fn call_ended(&self, service: UpstreamService, outcome: CallOutcome, took: Duration);

    /// An answer of `service` was looked for among those kept in memory, and was there
    /// (`hit`) or not, in which case the service is called.
    fn cache_lookup(&self, service: UpstreamService, hit: bool);
}

/// Where an upstream service is and how calls to it are kept in bounds.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// Base URL, such as `http://customers.internal:8080`.
    pub base_url: String,
    /// Timeouts, retries and the circuit.
    pub policy: CallPolicy,
    /// Told of every call's outcome.
    pub observer: Arc<dyn CallObserver>,
}

/// One upstream service: where it is, an HTTP client that retries failed attempts, and
/// the service's circuit.
#[derive(Debug, Clone)]
struct Upstream {
    service: UpstreamService,
    base_url: String,
    http: ClientWithMiddleware,
    call_timeout: Duration,
    circuit: Arc<CircuitBreaker>,
    observer: Arc<dyn CallObserver>,
}

impl Upstream {
    fn new(service: UpstreamService, settings: &UpstreamSettings) -> anyhow::Result<Self> {
        let policy = settings.policy;
        let http = reqwest::Client::builder()
            .timeout(policy.attempt_timeout)
            .connect_timeout(policy.attempt_timeout)
            .build()
            .context("cannot build an HTTP client")?;
        let backoff = ExponentialBackoff::builder()
            .retry_bounds(
                policy.first_backoff,
                policy.max_backoff.max(policy.first_backoff),
            )
            .jitter(Jitter::Full)
            .base(2)
            .build_with_max_retries(policy.max_attempts.saturating_sub(1));
        // Retries 5xx, 408, 429, timeouts and connection failures; any other answer is
        // the service's word and goes back to the caller as it is.
        let http = ClientBuilder::new(http)
            .with(RetryTransientMiddleware::new_with_policy(backoff))
            .build();
        Ok(Self {
            service,
            base_url: settings.base_url.trim_end_matches('/').to_owned(),
            http,
            call_timeout: policy.call_timeout,
            circuit: Arc::new(CircuitBreaker::new(service, policy.circuit)),
            observer: Arc::clone(&settings.observer),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The URL of `path` followed by `segment`, which is escaped (dots too, so that `..`
    /// cannot climb): a reference with a `/` or a `?` in it names one resource, not
    /// another path.
    fn url_with_segment(&self, path: &str, segment: &str) -> String {
        let escaped: String = segment
            .bytes()
            .map(|byte| match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'~' => {
                    char::from(byte).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect();
        format!("{}{path}{escaped}", self.base_url)
    }

    /// Sends `request` with the caller's request id, retrying as the policy says, and
    /// lets `interpret` read the answer, all within the call's budget. `interpret`
    /// returns `Err` with the reason when the answer is unusable: that, like no answer
    /// at all, counts as a failed call for the circuit.
    #[tracing::instrument(name = "upstream_call", skip_all, fields(service = %self.service))]
    async fn call<T, F, Fut>(
        &self,
        request: RequestBuilder,
        request_id: &RequestId,
        interpret: F,
    ) -> Result<T, UpstreamUnavailable>
    where
        F: FnOnce(reqwest::Response) -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let started = Instant::now();
        let permit = match self.circuit.try_call() {
            Ok(permit) => permit,
            Err(wait) => {
                self.observer
                    .call_ended(self.service, CallOutcome::Refused, started.elapsed());
                return Err(UpstreamUnavailable {
                    service: self.service,
                    reason: "its circuit is open".to_owned(),
                    retry_after: Some(wait),
                });
            }
        };
        let exchange = async {
            let response = request
                .header("X-Request-Id", request_id.as_str())
                .send()
                .await
                .map_err(|error| format!("{error:#}"))?;
            interpret(response).await
        };
        let outcome = tokio::time::timeout(self.call_timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {:?}", self.call_timeout)));
        let (ended, result) = match outcome {
            Ok(answer) => {
                permit.succeeded();
                (CallOutcome::Succeeded, Ok(answer))
            }
            Err(reason) => {
                permit.failed();
                let unavailable = UpstreamUnavailable {
                    service: self.service,
                    reason,
                    retry_after: None,
                };
                (CallOutcome::Failed, Err(unavailable))
            }
        };
        self.observer
            .call_ended(self.service, ended, started.elapsed());
        result
    }
}

/// The reason an answer with `status` is unusable.
fn unexpected(status: reqwest::StatusCode) -> String {
    format!("answered {status}")
}

/// Reads a JSON body, or says why it cannot be read.
async fn json_body<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, String> {
    response
        .json()
        .await
        .map_err(|error| format!("unreadable answer: {error}"))
}
