//! Configuration from the environment. Every problem names the variable at fault.

use std::net::SocketAddr;
use std::time::Duration;

use order_adapters::DatabaseOptions;
pub use order_adapters::DatabaseUrl;

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
    /// The longest one call to an upstream service may take.
    pub upstream_attempt_timeout: Duration,
    /// Log JSON lines instead of text (`ORDERS_LOG_FORMAT=json`).
    pub json_logs: bool,
    /// How long SIGTERM waits for requests in flight.
    pub shutdown_timeout: Duration,
    /// How often failed stock releases are looked at again.
    pub release_retry_interval: Duration,
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
        let defaults = DatabaseOptions::default();
        let database_options = DatabaseOptions {
            pool_size: u32::try_from(number(
                "ORDERS_DATABASE_POOL_SIZE",
                u64::from(defaults.pool_size),
                1..=512,
            )?)
            .unwrap_or(defaults.pool_size),
            connection_timeout: Duration::from_millis(number(
                "ORDERS_DATABASE_TIMEOUT_MS",
                u64::try_from(defaults.connection_timeout.as_millis()).unwrap_or(5000),
                1..=600_000,
            )?),
            ..defaults
        };
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
        let log_format = set("ORDERS_LOG_FORMAT").unwrap_or_else(|| "text".into());
        let json_logs = match log_format.as_str() {
            "json" => true,
            "text" => false,
            other => {
                return Err(ConfigError {
                    variable: "ORDERS_LOG_FORMAT",
                    problem: format!("{other:?} is neither json nor text"),
                });
            }
        };
        Ok(Self {
            listen_addr,
            database,
            database_options,
            customer_service_url: service_url("ORDERS_CUSTOMER_SERVICE_URL")?,
            inventory_service_url: service_url("ORDERS_INVENTORY_SERVICE_URL")?,
            upstream_attempt_timeout: Duration::from_secs(1),
            json_logs,
            shutdown_timeout: Duration::from_secs(30),
            release_retry_interval: Duration::from_secs(1),
        })
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
            ("ORDERS_CUSTOMER_SERVICE_URL", "customers:80"),
            ("ORDERS_INVENTORY_SERVICE_URL", "ftp://inventory"),
            ("ORDERS_LOG_FORMAT", "xml"),
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
}
