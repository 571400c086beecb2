//! Configuration from the environment. Every problem names the variable at fault.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A variable that is set to something the service cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable.
    pub variable: &'static str,
    /// What is wrong with its value.
    pub problem: String,
}

/// Where orders are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An embedded SQLite file (`sqlite://PATH`).
    Sqlite(PathBuf),
}

/// The service's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address and port to serve on (`ORDERS_LISTEN_ADDR`); port 0 picks a free one.
    pub listen_addr: SocketAddr,
    /// Where orders are stored (`ORDERS_DATABASE_URL`).
    pub database: DatabaseUrl,
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
        let database = parse_database_url(
            &set("ORDERS_DATABASE_URL").unwrap_or_else(|| "sqlite://orders.db".into()),
        )?;
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
            customer_service_url: service_url("ORDERS_CUSTOMER_SERVICE_URL")?,
            inventory_service_url: service_url("ORDERS_INVENTORY_SERVICE_URL")?,
            upstream_attempt_timeout: Duration::from_secs(1),
            json_logs,
            shutdown_timeout: Duration::from_secs(30),
            release_retry_interval: Duration::from_secs(1),
        })
    }
}

fn parse_database_url(url: &str) -> Result<DatabaseUrl, ConfigError> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .filter(|path| !path.is_empty());
    match path {
        Some(path) => Ok(DatabaseUrl::Sqlite(PathBuf::from(path))),
        None => Err(ConfigError {
            variable: "ORDERS_DATABASE_URL",
            problem: format!("{url:?} is not a sqlite://PATH URL"),
        }),
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
