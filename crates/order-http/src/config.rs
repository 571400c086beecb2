//! Configuration from the environment, defined once: `Config::define` says, for every
//! variable, its name, its meaning, what it accepts, its default and the field it sets.
//! Parsing, `check-config`, `--help` and the README's table are all read from there, so
//! a new variable is a field and an entry in `define`, nothing more.

mod document;
mod environment;
mod kinds;

use std::net::SocketAddr;
use std::time::Duration;

pub use document::help;
use environment::Environment;
pub use environment::{ConfigError, Shown, Variable};
pub use kinds::Secret;
use kinds::{
    Address, Database, FilePath, HTTP_URL, Kind, LogFilter, OneOf, SecretText, Span, Text, Url,
    Whole,
};
pub use order_adapters::{CallPolicy, DatabaseUrl};
use order_adapters::{CircuitSettings, DatabaseOptions};
use order_domain::{EffectPolicy, PlacementPolicy};

/// The service's configuration. Which variable sets each field, with its meaning,
/// default and accepted values, is in `Config::define`. Tests build one as
/// `Config { listen_addr: …, ..Config::default() }`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address and port to serve on; port 0 picks a free one.
    pub listen_addr: SocketAddr,
    /// The most client connections open at once, over the whole process.
    pub max_connections: usize,
    /// The longest a request's body may take to arrive after its head.
    pub request_body_timeout: Duration,
    /// How long SIGTERM waits for requests in flight.
    pub shutdown_timeout: Duration,
    /// Where orders are stored.
    pub database: DatabaseUrl,
    /// Connection pooling.
    pub database_options: DatabaseOptions,
    /// Customer service base URL; `None`: the demo directory.
    pub customer_service_url: Option<String>,
    /// How long a customer found by the customer service is remembered; zero: not at all.
    pub customer_cache_ttl: Duration,
    /// The most customers remembered at once.
    pub customer_cache_size: u64,
    /// Inventory service base URL; `None`: the demo directory.
    pub inventory_service_url: Option<String>,
    /// Notification service base URL; `None`: the demo directory writes notifications
    /// to the log.
    pub notification_service_url: Option<String>,
    /// Payment service base URL; `None`: the demo directory.
    pub payment_service_url: Option<String>,
    /// Shipping service base URL; `None`: the demo directory.
    pub shipping_service_url: Option<String>,
    /// Timeouts, retries and circuits of calls to the upstream services.
    pub upstream_policy: CallPolicy,
    /// How log lines are written; `None`: JSON, or text when standard output is a
    /// terminal.
    pub log_format: Option<LogFormat>,
    /// Which log lines are written, such as `info` or `order_http=debug`.
    pub log_filter: String,
    /// How often due effects (stock releases, …) are looked for (not configurable:
    /// tests shorten it).
    pub release_retry_interval: Duration,
    /// How placements are kept safe against retries, hang-ups and crashes.
    pub placement_policy: PlacementPolicy,
    /// How effects outside the database are carried out and tried again (not
    /// configurable: tests shorten it).
    pub effect_policy: EffectPolicy,
    /// How long the event feed keeps events.
    pub event_retention: Duration,
    /// The NATS server whose JetStream receives the events; `None`: events are only in
    /// the feed.
    pub nats_url: Option<String>,
    /// How callers prove who they are.
    pub auth: AuthSettings,
    /// How many requests each caller may make.
    pub rate_limit: RateLimitSettings,
}

/// Where the keys that sign callers' tokens come from, and what tokens must say.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// A JWKS document to fetch (and fetch again for an unknown key).
    pub jwks_url: Option<String>,
    /// A JWKS document on disk.
    pub jwks_file: Option<std::path::PathBuf>,
    /// A shared secret, for HS256 tokens (development and tests).
    pub hs256_secret: Option<Secret>,
    /// The `iss` tokens must name.
    pub issuer: Option<String>,
    /// The `aud` tokens must name.
    pub audience: Option<String>,
    /// `ORDERS_AUTH`: `off` says open mode is meant (on any address); `on` that
    /// authentication is; unset, it is on exactly when a key source is set.
    pub switch: Option<Switch>,
}

impl AuthSettings {
    /// Whether callers must present tokens.
    pub fn is_on(&self) -> bool {
        self.key_sources() > 0
    }

    fn key_sources(&self) -> usize {
        usize::from(self.jwks_url.is_some())
            + usize::from(self.jwks_file.is_some())
            + usize::from(self.hs256_secret.is_some())
    }
}

/// A setting that is switched on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    /// On.
    On,
    /// Off.
    Off,
}

impl Switch {
    const NAMED: &'static [(&'static str, Switch)] = &[("on", Switch::On), ("off", Switch::Off)];
}

/// Each caller's token bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Requests a second, refilled; 0: no limit. `None`: 50 with authentication, no
    /// limit in open mode.
    pub per_second: Option<u32>,
    /// The most requests a caller may make at once.
    pub burst: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            per_second: None,
            burst: 100,
        }
    }
}

impl RateLimitSettings {
    /// Requests a second with authentication on or off, `None` for no limit.
    pub fn effective(&self, authenticated: bool) -> Option<u32> {
        match self.per_second {
            Some(0) => None,
            Some(rate) => Some(rate),
            None => authenticated.then_some(50),
        }
    }
}

/// The range of every duration in milliseconds: a millisecond to ten minutes.
const MILLIS: Span = Span::millis(1..=600_000);

impl Config {
    /// The definition: every variable, read from `env` into its field.
    fn define(env: &mut Environment<'_>) -> Self {
        let database = DatabaseOptions::default();
        let upstream = CallPolicy::default();
        let placement = PlacementPolicy::default();
        let config = Self {
            listen_addr: env.read(
                "ORDERS_LISTEN_ADDR",
                "address and port to serve on; port 0 picks a free one",
                Address.by_default(SocketAddr::from(([127, 0, 0, 1], 8080))),
            ),
            max_connections: env.read(
                "ORDERS_MAX_CONNECTIONS",
                "most client connections open at once, the whole process",
                Whole(1..=1_000_000).by_default(10_000),
            ),
            request_body_timeout: env.read(
                "ORDERS_REQUEST_BODY_TIMEOUT_MS",
                "longest a request's body may take to arrive after its head, else 408",
                MILLIS.by_default(Duration::from_secs(10)),
            ),
            shutdown_timeout: env.read(
                "ORDERS_SHUTDOWN_TIMEOUT_MS",
                "how long SIGTERM or SIGINT waits for requests in flight",
                MILLIS.by_default(Duration::from_secs(30)),
            ),
            database: env.read(
                "ORDERS_DATABASE_URL",
                "where orders are stored: an SQLite file (`sqlite://orders.db`, or absolute as \
                 `sqlite:///var/lib/orders.db`) or PostgreSQL \
                 (`postgres://user:password@host:5432/db`)",
                Database.by_default(DatabaseUrl::Sqlite("orders.db".into())),
            ),
            database_options: DatabaseOptions {
                pool_size: env.read(
                    "ORDERS_DATABASE_POOL_SIZE",
                    "database connections (on SQLite: readers; writes have their own)",
                    Whole(1..=512).by_default(database.pool_size),
                ),
                connection_timeout: env.read(
                    "ORDERS_DATABASE_TIMEOUT_MS",
                    "longest wait for a database connection before answering 503",
                    MILLIS.by_default(database.connection_timeout),
                ),
                write_queue: env.read(
                    "ORDERS_DATABASE_WRITE_QUEUE",
                    "on SQLite, most writes waiting for the one writer; past it a write is \
                     503 with Retry-After at once, nothing stored",
                    Whole(1..=1_000_000).by_default(database.write_queue),
                ),
                write_timeout: env.read(
                    "ORDERS_DATABASE_WRITE_TIMEOUT_MS",
                    "on SQLite, longest a write may wait for and run on the one writer before \
                     answering 503: a write still queued then is dropped, never made",
                    MILLIS.by_default(database.write_timeout),
                ),
                ..database
            },
            customer_service_url: env.read(
                "ORDERS_CUSTOMER_SERVICE_URL",
                "customer service base URL",
                HTTP_URL.unset_means("the demo directory"),
            ),
            customer_cache_ttl: env.read(
                "ORDERS_CUSTOMER_CACHE_MS",
                "how long a customer the customer service found is remembered, sparing it a \
                 look-up per placement; a change to the customer (an address on file) is seen \
                 once it expires; 0 remembers nothing. Unknown customers are never remembered",
                Span::millis(0..=600_000).by_default(Duration::from_secs(10)),
            ),
            customer_cache_size: env.read(
                "ORDERS_CUSTOMER_CACHE_SIZE",
                "the most customers remembered at once; the least used go first",
                Whole(1..=10_000_000).by_default(10_000),
            ),
            inventory_service_url: env.read(
                "ORDERS_INVENTORY_SERVICE_URL",
                "inventory service base URL",
                HTTP_URL.unset_means("the demo directory"),
            ),
            notification_service_url: env.read(
                "ORDERS_NOTIFICATION_SERVICE_URL",
                "notification service base URL (the demo directory writes notifications to the \
                 log)",
                HTTP_URL.unset_means("the demo directory"),
            ),
            payment_service_url: env.read(
                "ORDERS_PAYMENT_SERVICE_URL",
                "payment service base URL (the demo directory takes every `pay_…` reference for \
                 a captured payment)",
                HTTP_URL.unset_means("the demo directory"),
            ),
            shipping_service_url: env.read(
                "ORDERS_SHIPPING_SERVICE_URL",
                "shipping service base URL (the demo directory quotes a flat rate per country)",
                HTTP_URL.unset_means("the demo directory"),
            ),
            upstream_policy: CallPolicy {
                attempt_timeout: env.read(
                    "ORDERS_UPSTREAM_ATTEMPT_TIMEOUT_MS",
                    "longest one HTTP attempt to an upstream service may take",
                    MILLIS.by_default(upstream.attempt_timeout),
                ),
                max_attempts: env.read(
                    "ORDERS_UPSTREAM_MAX_ATTEMPTS",
                    "attempts per upstream call, the first included",
                    Whole(1..=10).by_default(upstream.max_attempts),
                ),
                call_timeout: env.read(
                    "ORDERS_UPSTREAM_CALL_TIMEOUT_MS",
                    "longest a whole upstream call may take, retries included",
                    MILLIS.by_default(upstream.call_timeout),
                ),
                first_backoff: env.read(
                    "ORDERS_UPSTREAM_BACKOFF_MS",
                    "the wait before the first retry, doubling for each further one \
                     (drawn at random below it)",
                    MILLIS.by_default(upstream.first_backoff),
                ),
                max_backoff: env.read(
                    "ORDERS_UPSTREAM_MAX_BACKOFF_MS",
                    "the cap on that wait, no less than `ORDERS_UPSTREAM_BACKOFF_MS`",
                    MILLIS.by_default(upstream.max_backoff),
                ),
                circuit: CircuitSettings {
                    failure_threshold: env.read(
                        "ORDERS_CIRCUIT_FAILURE_THRESHOLD",
                        "consecutive failed calls that open a service's circuit",
                        Whole(1..=1000).by_default(upstream.circuit.failure_threshold),
                    ),
                    open_for: env.read(
                        "ORDERS_CIRCUIT_OPEN_MS",
                        "how long an open circuit fails calls at once before one trial call",
                        MILLIS.by_default(upstream.circuit.open_for),
                    ),
                },
            },
            log_format: env.read(
                "ORDERS_LOG_FORMAT",
                "how log lines are written: one JSON object a line, or text for a person",
                OneOf(LogFormat::NAMED).unset_means("json, or text on a terminal"),
            ),
            log_filter: env.read(
                "RUST_LOG",
                "which log lines are written",
                LogFilter.by_default("info".into()),
            ),
            release_retry_interval: Duration::from_secs(1),
            placement_policy: PlacementPolicy {
                abandon_after: env.read(
                    "ORDERS_ABANDON_AFTER_MS",
                    "how long a placement may be under way before it counts as abandoned (its \
                     process died): its `Idempotency-Key` may then be used afresh and any stock \
                     it reserved is given back",
                    MILLIS.by_default(placement.abandon_after),
                ),
                ..placement
            },
            effect_policy: EffectPolicy::default(),
            event_retention: env.read(
                "ORDERS_EVENT_RETENTION_HOURS",
                "how long the event feed (`GET /v1/events`) keeps events",
                Span::hours(1..=87_600).by_default(Duration::from_secs(168 * 3600)),
            ),
            nats_url: env.read(
                "ORDERS_NATS_URL",
                "NATS server whose JetStream receives every event (stream `ORDERS`, subjects \
                 `orders.<event>`), such as `nats://127.0.0.1:4222`",
                Url(&["nats", "tls"]).unset_means("events only in the feed"),
            ),
            auth: AuthSettings {
                jwks_url: env.read(
                    "ORDERS_AUTH_JWKS_URL",
                    "a JWKS document of the keys that sign callers' tokens (RS256, ES256), \
                     fetched again for a key it does not know, at most every 30 s",
                    HTTP_URL.unset_means("no key source from a URL"),
                ),
                jwks_file: env.read(
                    "ORDERS_AUTH_JWKS_FILE",
                    "the same, from a file",
                    FilePath.unset_means("no key source from a file"),
                ),
                hs256_secret: env.read(
                    "ORDERS_AUTH_HS256_SECRET",
                    "a shared secret for HS256 tokens, for development and tests \
                     (`order-service token` mints them)",
                    SecretText(32).unset_means("no shared secret"),
                ),
                issuer: env.read(
                    "ORDERS_AUTH_ISSUER",
                    "the `iss` a token must name; required with a key source",
                    Text("any text").unset_means("none"),
                ),
                audience: env.read(
                    "ORDERS_AUTH_AUDIENCE",
                    "the `aud` a token must name; required with a key source",
                    Text("any text").unset_means("none"),
                ),
                switch: env.read(
                    "ORDERS_AUTH",
                    "`off` runs in open mode (every request allowed) on any address; `on` \
                     insists on authentication",
                    OneOf(Switch::NAMED).unset_means(
                        "on with a key source, else open mode (on a loopback address only)",
                    ),
                ),
            },
            rate_limit: RateLimitSettings {
                per_second: env.read(
                    "ORDERS_RATE_LIMIT_PER_SECOND",
                    "requests a second each caller (its `sub`, or in open mode its IP \
                     address) may make; 0: no limit",
                    Whole(0..=1_000_000).unset_means("50 with authentication, none in open mode"),
                ),
                burst: env.read(
                    "ORDERS_RATE_LIMIT_BURST",
                    "the most requests a caller may make at once",
                    Whole(1..=1_000_000).by_default(RateLimitSettings::default().burst),
                ),
            },
        };
        config.check_authentication(env);
        let policy = &config.upstream_policy;
        env.require(
            policy.max_backoff >= policy.first_backoff,
            "ORDERS_UPSTREAM_MAX_BACKOFF_MS",
            "must not be less than ORDERS_UPSTREAM_BACKOFF_MS",
        );
        config
    }

    /// The rules that hold between the authentication variables: one key source at
    /// most, with an issuer and an audience; no `ORDERS_AUTH=off` beside one; and open
    /// mode only on a loopback address, unless `ORDERS_AUTH=off` says it is meant.
    fn check_authentication(&self, env: &mut Environment<'_>) {
        let auth = &self.auth;
        env.require(
            auth.key_sources() <= 1,
            "ORDERS_AUTH_JWKS_URL",
            "set one key source: ORDERS_AUTH_JWKS_URL, ORDERS_AUTH_JWKS_FILE or \
             ORDERS_AUTH_HS256_SECRET, not several",
        );
        env.require(
            !(auth.is_on() && auth.switch == Some(Switch::Off)),
            "ORDERS_AUTH",
            "is off, but a key source (ORDERS_AUTH_JWKS_URL, ORDERS_AUTH_JWKS_FILE or \
             ORDERS_AUTH_HS256_SECRET) is set",
        );
        env.require(
            auth.is_on() || auth.switch != Some(Switch::On),
            "ORDERS_AUTH",
            "is on, but no key source (ORDERS_AUTH_JWKS_URL, ORDERS_AUTH_JWKS_FILE or \
             ORDERS_AUTH_HS256_SECRET) is set",
        );
        env.require(
            !auth.is_on() || auth.issuer.is_some(),
            "ORDERS_AUTH_ISSUER",
            "is required with a key source",
        );
        env.require(
            !auth.is_on() || auth.audience.is_some(),
            "ORDERS_AUTH_AUDIENCE",
            "is required with a key source",
        );
        env.require(
            auth.is_on() || auth.switch == Some(Switch::Off) || self.listen_addr.ip().is_loopback(),
            "ORDERS_LISTEN_ADDR",
            "is not a loopback address, and no key source is set: open mode would let anyone \
             do anything. Set ORDERS_AUTH_JWKS_URL (or _FILE, or ORDERS_AUTH_HS256_SECRET), or \
             ORDERS_AUTH=off to mean it",
        );
    }

    /// Reads the configuration from `lookup` (the process environment, or a test's
    /// map), with every variable as `check-config` prints it.
    ///
    /// # Errors
    /// [`ConfigError`] for the first variable whose value cannot be used.
    pub fn read(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(Self, Vec<Variable>), ConfigError> {
        let mut env = Environment::new(&lookup);
        let config = Self::define(&mut env);
        match env.finish() {
            (variables, None) => Ok((config, variables)),
            (_, Some(error)) => Err(error),
        }
    }

    /// Reads the configuration from `lookup` (the process environment, or a test's map).
    ///
    /// # Errors
    /// [`ConfigError`] for the first variable whose value cannot be used.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(lookup).map(|(config, _)| config)
    }

    /// Every variable with its default, in the order of the definition.
    pub fn variables() -> Vec<Variable> {
        let mut env = Environment::new(&|_| None);
        Self::define(&mut env);
        env.finish().0
    }
}

impl Default for Config {
    /// The embedded defaults: what an empty environment gives.
    fn default() -> Self {
        Self::define(&mut Environment::new(&|_| None))
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object a line, for log collectors.
    Json,
    /// Readable text, for a person at a terminal.
    Text,
}

impl LogFormat {
    /// Each format by its name in `ORDERS_LOG_FORMAT`.
    const NAMED: &[(&str, Self)] = &[("json", Self::Json), ("text", Self::Text)];
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn environment(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(environment(vars))
    }

    #[test]
    fn an_empty_environment_gives_the_embedded_defaults() -> Result<(), ConfigError> {
        let config = config(&[])?;
        assert_eq!(config.listen_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database, DatabaseUrl::Sqlite("orders.db".into()));
        assert_eq!(
            format!("{:?}", config.database_options),
            format!("{:?}", DatabaseOptions::default())
        );
        assert_eq!(config.customer_service_url, None);
        assert_eq!(config.inventory_service_url, None);
        assert_eq!(config.upstream_policy, CallPolicy::default());
        assert_eq!(config.log_format, None);
        assert_eq!(config.log_filter, "info");
        assert_eq!(config.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(config.placement_policy, PlacementPolicy::default());
        assert_eq!(config.event_retention, Duration::from_secs(168 * 3600));
        assert_eq!(config.request_body_timeout, Duration::from_secs(10));
        assert_eq!(config.max_connections, 10_000);
        assert_eq!(format!("{:?}", Config::default()), format!("{config:?}"));
        Ok(())
    }

    #[test]
    fn authentication_variables_must_agree_and_open_mode_stays_on_loopback() {
        let secret = (
            "ORDERS_AUTH_HS256_SECRET",
            "0123456789abcdef0123456789abcdef",
        );
        let issuer = ("ORDERS_AUTH_ISSUER", "https://id.example.com/");
        let audience = ("ORDERS_AUTH_AUDIENCE", "orders");
        let everywhere = ("ORDERS_LISTEN_ADDR", "0.0.0.0:8080");
        let cases: [(&[(&str, &str)], &str); 7] = [
            (
                &[
                    secret,
                    ("ORDERS_AUTH_JWKS_URL", "https://id/jwks"),
                    issuer,
                    audience,
                ],
                "ORDERS_AUTH_JWKS_URL",
            ),
            (
                &[secret, issuer, audience, ("ORDERS_AUTH", "off")],
                "ORDERS_AUTH",
            ),
            (&[("ORDERS_AUTH", "on")], "ORDERS_AUTH"),
            (&[secret, audience], "ORDERS_AUTH_ISSUER"),
            (&[secret, issuer], "ORDERS_AUTH_AUDIENCE"),
            (
                &[("ORDERS_AUTH_HS256_SECRET", "too short"), issuer, audience],
                "ORDERS_AUTH_HS256_SECRET",
            ),
            (&[everywhere], "ORDERS_LISTEN_ADDR"),
        ];
        for (vars, variable) in cases {
            assert_eq!(
                config(vars).err().map(|e| e.variable),
                Some(variable),
                "{vars:?}"
            );
        }
        for vars in [
            &[everywhere, ("ORDERS_AUTH", "off")][..],
            &[everywhere, secret, issuer, audience],
        ] {
            assert!(config(vars).is_ok(), "{vars:?}");
        }
        let open = config(&[]).map(|c| c.rate_limit.effective(c.auth.is_on()));
        assert_eq!(open.ok(), Some(None), "no limit in open mode by default");
        let on =
            config(&[secret, issuer, audience]).map(|c| c.rate_limit.effective(c.auth.is_on()));
        assert_eq!(on.ok(), Some(Some(50)));
    }

    #[test]
    fn every_variable_is_read_into_its_field() -> Result<(), ConfigError> {
        let config = config(&[
            ("ORDERS_LISTEN_ADDR", "0.0.0.0:9000"),
            ("ORDERS_MAX_CONNECTIONS", "25000"),
            ("ORDERS_REQUEST_BODY_TIMEOUT_MS", "2500"),
            ("ORDERS_SHUTDOWN_TIMEOUT_MS", "45000"),
            ("ORDERS_DATABASE_URL", "postgres://db/orders"),
            ("ORDERS_DATABASE_POOL_SIZE", "16"),
            ("ORDERS_DATABASE_TIMEOUT_MS", "750"),
            ("ORDERS_CUSTOMER_SERVICE_URL", "http://customers"),
            ("ORDERS_INVENTORY_SERVICE_URL", "https://inventory"),
            ("ORDERS_UPSTREAM_ATTEMPT_TIMEOUT_MS", "200"),
            ("ORDERS_UPSTREAM_MAX_ATTEMPTS", "5"),
            ("ORDERS_UPSTREAM_CALL_TIMEOUT_MS", "900"),
            ("ORDERS_UPSTREAM_BACKOFF_MS", "20"),
            ("ORDERS_UPSTREAM_MAX_BACKOFF_MS", "40"),
            ("ORDERS_CIRCUIT_FAILURE_THRESHOLD", "7"),
            ("ORDERS_CIRCUIT_OPEN_MS", "3000"),
            ("ORDERS_LOG_FORMAT", "text"),
            ("RUST_LOG", "order_http=debug"),
            ("ORDERS_ABANDON_AFTER_MS", "90000"),
            ("ORDERS_EVENT_RETENTION_HOURS", "24"),
            ("ORDERS_NOTIFICATION_SERVICE_URL", "http://notifications"),
            ("ORDERS_PAYMENT_SERVICE_URL", "http://payments"),
            ("ORDERS_SHIPPING_SERVICE_URL", "https://shipping"),
            ("ORDERS_NATS_URL", "nats://broker:4222"),
            (
                "ORDERS_AUTH_HS256_SECRET",
                "0123456789abcdef0123456789abcdef",
            ),
            ("ORDERS_AUTH_ISSUER", "https://id.example.com/"),
            ("ORDERS_AUTH_AUDIENCE", "orders"),
            ("ORDERS_AUTH", "on"),
            ("ORDERS_RATE_LIMIT_PER_SECOND", "20"),
            ("ORDERS_RATE_LIMIT_BURST", "40"),
        ])?;
        let millis = Duration::from_millis;
        assert_eq!(config.listen_addr.to_string(), "0.0.0.0:9000");
        assert_eq!(config.max_connections, 25_000);
        assert_eq!(config.request_body_timeout, millis(2500));
        assert_eq!(config.shutdown_timeout, millis(45_000));
        assert_eq!(
            config.database,
            DatabaseUrl::Postgres("postgres://db/orders".into())
        );
        assert_eq!(config.database_options.pool_size, 16);
        assert_eq!(config.database_options.connection_timeout, millis(750));
        assert_eq!(
            config.customer_service_url.as_deref(),
            Some("http://customers")
        );
        assert_eq!(
            config.inventory_service_url.as_deref(),
            Some("https://inventory")
        );
        assert_eq!(
            config.notification_service_url.as_deref(),
            Some("http://notifications")
        );
        assert_eq!(config.nats_url.as_deref(), Some("nats://broker:4222"));
        assert_eq!(
            config.payment_service_url.as_deref(),
            Some("http://payments")
        );
        assert_eq!(
            config.shipping_service_url.as_deref(),
            Some("https://shipping")
        );
        let expected = CallPolicy {
            attempt_timeout: millis(200),
            max_attempts: 5,
            call_timeout: millis(900),
            first_backoff: millis(20),
            max_backoff: millis(40),
            circuit: CircuitSettings {
                failure_threshold: 7,
                open_for: millis(3000),
            },
        };
        assert_eq!(config.upstream_policy, expected);
        assert_eq!(config.log_format, Some(LogFormat::Text));
        assert_eq!(config.log_filter, "order_http=debug");
        assert_eq!(config.placement_policy.abandon_after, millis(90_000));
        assert_eq!(config.event_retention, Duration::from_secs(24 * 3600));
        Ok(())
    }

    #[test]
    fn empty_or_blank_variables_count_as_unset() -> Result<(), ConfigError> {
        let config = config(&[
            ("ORDERS_LISTEN_ADDR", ""),
            ("ORDERS_DATABASE_POOL_SIZE", "  "),
            ("ORDERS_CUSTOMER_SERVICE_URL", ""),
            ("ORDERS_LOG_FORMAT", " "),
        ])?;
        assert_eq!(format!("{config:?}"), format!("{:?}", Config::default()));
        Ok(())
    }

    #[test]
    fn sqlite_urls_may_name_relative_or_absolute_paths() -> Result<(), ConfigError> {
        let absolute = config(&[("ORDERS_DATABASE_URL", "sqlite:///var/lib/orders.db")])?;
        assert_eq!(
            absolute.database,
            DatabaseUrl::Sqlite("/var/lib/orders.db".into())
        );
        Ok(())
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let cases = [
            ("ORDERS_LISTEN_ADDR", "localhost"),
            ("ORDERS_MAX_CONNECTIONS", "0"),
            ("ORDERS_MAX_CONNECTIONS", "1000001"),
            ("ORDERS_REQUEST_BODY_TIMEOUT_MS", "600001"),
            ("ORDERS_DATABASE_URL", "mysql://db"),
            ("ORDERS_DATABASE_POOL_SIZE", "0"),
            ("ORDERS_DATABASE_TIMEOUT_MS", "soon"),
            ("ORDERS_UPSTREAM_ATTEMPT_TIMEOUT_MS", "0"),
            ("ORDERS_UPSTREAM_MAX_ATTEMPTS", "11"),
            ("ORDERS_UPSTREAM_CALL_TIMEOUT_MS", "-1"),
            ("ORDERS_UPSTREAM_BACKOFF_MS", "1.5"),
            ("ORDERS_UPSTREAM_MAX_BACKOFF_MS", "1"),
            ("ORDERS_CIRCUIT_FAILURE_THRESHOLD", "none"),
            ("ORDERS_CIRCUIT_OPEN_MS", "10s"),
            ("ORDERS_CUSTOMER_SERVICE_URL", "customers:80"),
            ("ORDERS_INVENTORY_SERVICE_URL", "ftp://inventory"),
            ("ORDERS_LOG_FORMAT", "xml"),
            ("RUST_LOG", "info,=nonsense=[["),
            ("ORDERS_SHUTDOWN_TIMEOUT_MS", "forever"),
            ("ORDERS_ABANDON_AFTER_MS", "0"),
            ("ORDERS_EVENT_RETENTION_HOURS", "87601"),
            ("ORDERS_NOTIFICATION_SERVICE_URL", "notifications"),
            ("ORDERS_PAYMENT_SERVICE_URL", "payments:443"),
            ("ORDERS_SHIPPING_SERVICE_URL", "ship"),
            ("ORDERS_NATS_URL", "http://127.0.0.1:4222"),
        ];
        for (variable, value) in cases {
            let error = config(&[(variable, value)]).err();
            assert_eq!(
                error.map(|e| e.variable),
                Some(variable),
                "{variable}={value}"
            );
        }
    }

    #[test]
    fn a_refusal_says_what_the_variable_accepts_without_its_password() {
        let refused = |name, value| config(&[(name, value)]).err().map(|e| e.to_string());
        assert_eq!(
            refused("ORDERS_DATABASE_POOL_SIZE", "0").as_deref(),
            Some("ORDERS_DATABASE_POOL_SIZE: \"0\" is not a whole number from 1 to 512")
        );
        assert_eq!(
            refused("ORDERS_LOG_FORMAT", "xml").as_deref(),
            Some("ORDERS_LOG_FORMAT: \"xml\" is not json or text")
        );
        assert_eq!(
            refused("ORDERS_DATABASE_URL", "mysql://app:s3cret@db").as_deref(),
            Some(
                "ORDERS_DATABASE_URL: \"mysql://app:***@db\" is not a sqlite://PATH or postgres:// URL"
            )
        );
    }

    #[test]
    fn the_first_bad_value_is_the_one_named() {
        let error = config(&[("ORDERS_LISTEN_ADDR", "localhost"), ("RUST_LOG", "=[[")]).err();
        assert_eq!(error.map(|e| e.variable), Some("ORDERS_LISTEN_ADDR"));
    }

    #[test]
    fn every_variable_is_described_with_passwords_masked() -> Result<(), ConfigError> {
        let (_, described) = Config::read(environment(&[
            ("ORDERS_DATABASE_URL", "postgres://app:s3cret@db/orders"),
            (
                "ORDERS_CUSTOMER_SERVICE_URL",
                "https://svc:t0ken@customers.internal",
            ),
        ]))?;
        let text = format!("{described:?}");
        assert!(
            !text.contains("s3cret") && !text.contains("t0ken"),
            "{text}"
        );
        let value = |name| {
            described
                .iter()
                .find(|variable| variable.name == name)
                .map(|variable| variable.value.to_string())
        };
        assert_eq!(
            value("ORDERS_DATABASE_URL").as_deref(),
            Some("postgres://app:***@db/orders")
        );
        assert_eq!(
            value("ORDERS_CUSTOMER_SERVICE_URL").as_deref(),
            Some("https://svc:***@customers.internal")
        );
        assert_eq!(
            value("ORDERS_INVENTORY_SERVICE_URL").as_deref(),
            Some("(unset: the demo directory)")
        );
        assert_eq!(value("ORDERS_MAX_CONNECTIONS").as_deref(), Some("10000"));
        Ok(())
    }

    #[test]
    fn what_check_config_prints_reads_back_as_the_same_configuration() -> Result<(), ConfigError> {
        let (config, described) = Config::read(environment(&[
            ("ORDERS_DATABASE_URL", "postgres://db/orders"),
            ("ORDERS_INVENTORY_SERVICE_URL", "http://inventory:8080"),
            ("ORDERS_UPSTREAM_BACKOFF_MS", "250"),
            ("ORDERS_LOG_FORMAT", "json"),
        ]))?;
        let printed: HashMap<&str, String> = described
            .iter()
            .filter_map(|variable| match &variable.value {
                Shown::Value(value) => Some((variable.name, value.clone())),
                Shown::Unset(_) => None,
            })
            .collect();
        let (again, described_again) = Config::read(|name| printed.get(name).cloned())?;
        assert_eq!(format!("{again:?}"), format!("{config:?}"));
        assert_eq!(described_again, described);
        Ok(())
    }

    #[test]
    fn every_default_is_a_value_its_variable_accepts() -> Result<(), ConfigError> {
        let defaults: HashMap<&str, String> = Config::variables()
            .into_iter()
            .filter_map(|variable| match variable.default {
                Shown::Value(value) => Some((variable.name, value)),
                Shown::Unset(_) => None,
            })
            .collect();
        let (config, _) = Config::read(|name| defaults.get(name).cloned())?;
        assert_eq!(format!("{config:?}"), format!("{:?}", Config::default()));
        Ok(())
    }

    #[test]
    fn a_secret_variable_never_shows_its_value() {
        use kinds::SecretText;
        let lookup = |_: &str| Some("hunter2".to_owned());
        let mut env = Environment::new(&lookup);
        let secret = env.read("SECRET", "a key", SecretText(1).unset_means("no key"));
        assert_eq!(secret.as_ref().map(Secret::expose), Some("hunter2"));
        let described = format!("{env:?} {secret:?}");
        assert!(!described.contains("hunter2"), "{described}");
        assert!(described.contains("***"), "{described}");
    }
}
