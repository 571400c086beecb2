//! Configuration from the environment. Every problem names the variable at fault.

use std::net::SocketAddr;
use std::time::Duration;

pub use order_adapters::{CallPolicy, DatabaseUrl};
use order_adapters::{CircuitSettings, DatabaseOptions, masked_url};
use order_domain::{EffectPolicy, PlacementPolicy};
use tracing_subscriber::EnvFilter;

/// A variable that is set to something the service cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable.
    pub variable: &'static str,
    /// What is wrong with its value.
    pub problem: String,
}

/// The service's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address and port to serve on (`ORDERS_LISTEN_ADDR`); port 0 picks a free one.
    pub listen_addr: SocketAddr,
    /// Where orders are stored (`ORDERS_DATABASE_URL`).
    pub database: DatabaseUrl,
    /// Connection pooling (`ORDERS_DATABASE_POOL_SIZE`, `ORDERS_DATABASE_TIMEOUT_MS`).
    pub database_options: DatabaseOptions,
    /// Customer service base URL (`ORDERS_CUSTOMER_SERVICE_URL`); `None`: demo directory.
    pub customer_service_url: Option<String>,
    /// Inventory service base URL (`ORDERS_INVENTORY_SERVICE_URL`); `None`: demo directory.
    pub inventory_service_url: Option<String>,
    /// Notification service base URL (`ORDERS_NOTIFICATION_SERVICE_URL`); `None`: the
    /// demo directory writes notifications to the log.
    pub notification_service_url: Option<String>,
    /// Timeouts, retries and circuits of calls to the upstream services
    /// (`ORDERS_UPSTREAM_*`, `ORDERS_CIRCUIT_*`).
    pub upstream_policy: CallPolicy,
    /// How log lines are written (`ORDERS_LOG_FORMAT`); `None`: JSON, or text when
    /// standard output is a terminal.
    pub log_format: Option<LogFormat>,
    /// Which log lines are written (`RUST_LOG`, such as `info` or `order_http=debug`).
    pub log_filter: String,
    /// How long SIGTERM waits for requests in flight (`ORDERS_SHUTDOWN_TIMEOUT_MS`).
    pub shutdown_timeout: Duration,
    /// How often due effects (stock releases, …) are looked for.
    pub release_retry_interval: Duration,
    /// How placements are kept safe against retries, hang-ups and crashes.
    pub placement_policy: PlacementPolicy,
    /// How effects outside the database are carried out and tried again.
    pub effect_policy: EffectPolicy,
    /// How long the event feed keeps events (`ORDERS_EVENT_RETENTION_HOURS`).
    pub event_retention: Duration,
    /// The NATS server whose JetStream receives the events (`ORDERS_NATS_URL`); `None`:
    /// events are only in the feed.
    pub nats_url: Option<String>,
}

impl Config {
    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    /// [`ConfigError`] for the first variable whose value cannot be used.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration from `lookup` (the environment, or a test's map).
    ///
    /// # Errors
    /// [`ConfigError`] for the first variable whose value cannot be used.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let listen = set("ORDERS_LISTEN_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen_addr = listen.parse().map_err(|_| ConfigError {
            variable: "ORDERS_LISTEN_ADDR",
            problem: format!("{listen:?} is not an address and port such as 127.0.0.1:8080"),
        })?;
        let database_url =
            set("ORDERS_DATABASE_URL").unwrap_or_else(|| "sqlite://orders.db".into());
        let database = DatabaseUrl::parse(&database_url).map_err(|problem| ConfigError {
            variable: "ORDERS_DATABASE_URL",
            problem: format!("{database_url:?} {problem}"),
        })?;
        let number =
            |variable: &'static str, default: u64, range: std::ops::RangeInclusive<u64>| {
                set(variable).map_or(Ok(default), |text| {
                    text.parse::<u64>()
                        .ok()
                        .filter(|n| range.contains(n))
                        .ok_or_else(|| ConfigError {
                            variable,
                            problem: format!(
                                "{text:?} is not a whole number from {} to {}",
                                range.start(),
                                range.end()
                            ),
                        })
                })
            };
        let millis = |variable: &'static str, default: Duration| {
            let default = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
            number(variable, default, 1..=600_000).map(Duration::from_millis)
        };
        let count = |variable: &'static str, default: u32, range: std::ops::RangeInclusive<u64>| {
            number(variable, u64::from(default), range).map(|n| u32::try_from(n).unwrap_or(default))
        };
        let defaults = DatabaseOptions::default();
        let database_options = DatabaseOptions {
            pool_size: count("ORDERS_DATABASE_POOL_SIZE", defaults.pool_size, 1..=512)?,
            connection_timeout: millis("ORDERS_DATABASE_TIMEOUT_MS", defaults.connection_timeout)?,
            ..defaults
        };
        let defaults = CallPolicy::default();
        let upstream_policy = CallPolicy {
            attempt_timeout: millis(
                "ORDERS_UPSTREAM_ATTEMPT_TIMEOUT_MS",
                defaults.attempt_timeout,
            )?,
            max_attempts: count(
                "ORDERS_UPSTREAM_MAX_ATTEMPTS",
                defaults.max_attempts,
                1..=10,
            )?,
            call_timeout: millis("ORDERS_UPSTREAM_CALL_TIMEOUT_MS", defaults.call_timeout)?,
            first_backoff: millis("ORDERS_UPSTREAM_BACKOFF_MS", defaults.first_backoff)?,
            max_backoff: millis("ORDERS_UPSTREAM_MAX_BACKOFF_MS", defaults.max_backoff)?,
            circuit: CircuitSettings {
                failure_threshold: count(
                    "ORDERS_CIRCUIT_FAILURE_THRESHOLD",
                    defaults.circuit.failure_threshold,
                    1..=1000,
                )?,
                open_for: millis("ORDERS_CIRCUIT_OPEN_MS", defaults.circuit.open_for)?,
            },
        };
        if upstream_policy.max_backoff < upstream_policy.first_backoff {
            return Err(ConfigError {
                variable: "ORDERS_UPSTREAM_MAX_BACKOFF_MS",
                problem: "must not be less than ORDERS_UPSTREAM_BACKOFF_MS".into(),
            });
        }
        let service_url = |variable: &'static str| {
            set(variable)
                .map(|url| {
                    if url.starts_with("http://") || url.starts_with("https://") {
                        Ok(url)
                    } else {
                        Err(ConfigError {
                            variable,
                            problem: format!("{url:?} is not an http:// or https:// URL"),
                        })
                    }
                })
                .transpose()
        };
        let log_format = match set("ORDERS_LOG_FORMAT").as_deref() {
            None => None,
            Some("json") => Some(LogFormat::Json),
            Some("text") => Some(LogFormat::Text),
            Some(other) => {
                return Err(ConfigError {
                    variable: "ORDERS_LOG_FORMAT",
                    problem: format!("{other:?} is neither json nor text"),
                });
            }
        };
        let log_filter = set("RUST_LOG").unwrap_or_else(|| "info".into());
        if let Err(error) = EnvFilter::try_new(&log_filter) {
            return Err(ConfigError {
                variable: "RUST_LOG",
                problem: format!("{log_filter:?} is not a log filter: {error}"),
            });
        }
        Ok(Self {
            listen_addr,
            database,
            database_options,
            customer_service_url: service_url("ORDERS_CUSTOMER_SERVICE_URL")?,
            inventory_service_url: service_url("ORDERS_INVENTORY_SERVICE_URL")?,
            notification_service_url: service_url("ORDERS_NOTIFICATION_SERVICE_URL")?,
            upstream_policy,
            log_format,
            log_filter,
            shutdown_timeout: millis("ORDERS_SHUTDOWN_TIMEOUT_MS", Duration::from_secs(30))?,
            release_retry_interval: Duration::from_secs(1),
            placement_policy: PlacementPolicy {
                abandon_after: millis(
                    "ORDERS_ABANDON_AFTER_MS",
                    PlacementPolicy::default().abandon_after,
                )?,
                ..PlacementPolicy::default()
            },
            effect_policy: EffectPolicy::default(),
            event_retention: Duration::from_secs(
                3600 * number("ORDERS_EVENT_RETENTION_HOURS", 168, 1..=87_600)?,
            ),
            nats_url: set("ORDERS_NATS_URL")
                .map(|url| {
                    if url.starts_with("nats://") || url.starts_with("tls://") {
                        Ok(url)
                    } else {
                        Err(ConfigError {
                            variable: "ORDERS_NATS_URL",
                            problem: format!("{url:?} is not a nats:// or tls:// URL"),
                        })
                    }
                })
                .transpose()?,
        })
    }

    /// Every setting as the variable that sets it and its effective value, passwords
    /// masked: what `order-service check-config` prints.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let millis = |duration: Duration| duration.as_millis().to_string();
        let service = |url: &Option<String>| {
            url.as_deref()
                .map_or_else(|| "(unset: the demo directory)".to_owned(), masked_url)
        };
        let policy = &self.upstream_policy;
        vec![
            ("ORDERS_LISTEN_ADDR", self.listen_addr.to_string()),
            ("ORDERS_DATABASE_URL", self.database.masked()),
            (
                "ORDERS_DATABASE_POOL_SIZE",
                self.database_options.pool_size.to_string(),
            ),
            (
                "ORDERS_DATABASE_TIMEOUT_MS",
                millis(self.database_options.connection_timeout),
            ),
            (
                "ORDERS_CUSTOMER_SERVICE_URL",
                service(&self.customer_service_url),
            ),
            (
                "ORDERS_INVENTORY_SERVICE_URL",
                service(&self.inventory_service_url),
            ),
            (
                "ORDERS_NOTIFICATION_SERVICE_URL",
                service(&self.notification_service_url),
            ),
            (
                "ORDERS_UPSTREAM_ATTEMPT_TIMEOUT_MS",
                millis(policy.attempt_timeout),
            ),
            (
                "ORDERS_UPSTREAM_MAX_ATTEMPTS",
                policy.max_attempts.to_string(),
            ),
            (
                "ORDERS_UPSTREAM_CALL_TIMEOUT_MS",
                millis(policy.call_timeout),
            ),
            ("ORDERS_UPSTREAM_BACKOFF_MS", millis(policy.first_backoff)),
            ("ORDERS_UPSTREAM_MAX_BACKOFF_MS", millis(policy.max_backoff)),
            (
                "ORDERS_CIRCUIT_FAILURE_THRESHOLD",
                policy.circuit.failure_threshold.to_string(),
            ),
            ("ORDERS_CIRCUIT_OPEN_MS", millis(policy.circuit.open_for)),
            (
                "ORDERS_LOG_FORMAT",
                self.log_format.map_or_else(
                    || "(unset: json, or text on a terminal)".to_owned(),
                    |format| format.as_str().to_owned(),
                ),
            ),
            ("RUST_LOG", self.log_filter.clone()),
            ("ORDERS_SHUTDOWN_TIMEOUT_MS", millis(self.shutdown_timeout)),
            (
                "ORDERS_ABANDON_AFTER_MS",
                millis(self.placement_policy.abandon_after),
            ),
            (
                "ORDERS_EVENT_RETENTION_HOURS",
                (self.event_retention.as_secs() / 3600).to_string(),
            ),
            (
                "ORDERS_NATS_URL",
                self.nats_url
                    .as_deref()
                    .map_or_else(|| "(unset: events only in the feed)".to_owned(), masked_url),
            ),
        ]
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
    /// The format's name in `ORDERS_LOG_FORMAT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Text => "text",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn an_empty_environment_gives_the_embedded_defaults() -> Result<(), ConfigError> {
        let config = config(&[])?;
        assert_eq!(config.listen_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database, DatabaseUrl::Sqlite("orders.db".into()));
        assert_eq!(config.customer_service_url, None);
        assert_eq!(config.inventory_service_url, None);
        assert_eq!(config.upstream_policy, CallPolicy::default());
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
            ("ORDERS_NOTIFICATION_SERVICE_URL", "notifications"),
            ("ORDERS_LOG_FORMAT", "xml"),
            ("RUST_LOG", "info,=nonsense=[["),
            ("ORDERS_SHUTDOWN_TIMEOUT_MS", "forever"),
            ("ORDERS_ABANDON_AFTER_MS", "0"),
            ("ORDERS_EVENT_RETENTION_HOURS", "0"),
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
    fn the_description_names_every_variable_and_masks_passwords() -> Result<(), ConfigError> {
        let config = config(&[
            ("ORDERS_DATABASE_URL", "postgres://app:s3cret@db/orders"),
            (
                "ORDERS_CUSTOMER_SERVICE_URL",
                "https://svc:t0ken@customers.internal",
            ),
        ])?;
        let described = config.describe();
        let text = format!("{described:?}");
        assert!(
            !text.contains("s3cret") && !text.contains("t0ken"),
            "{text}"
        );
        assert!(text.contains("postgres://app:***@db/orders"), "{text}");
        for variable in [
            "ORDERS_LISTEN_ADDR",
            "ORDERS_DATABASE_URL",
            "ORDERS_UPSTREAM_CALL_TIMEOUT_MS",
            "ORDERS_CIRCUIT_OPEN_MS",
            "RUST_LOG",
        ] {
            assert!(
                described.iter().any(|(name, _)| *name == variable),
                "{variable}"
            );
        }
        Ok(())
    }
}
