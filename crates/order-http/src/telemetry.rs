//! Logging: `tracing` events to standard output, filtered by `RUST_LOG` (default
//! `info`), as JSON lines when `ORDERS_LOG_FORMAT=json`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    let installed = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // Tests start many apps in one process: only the first installs.
    drop(installed);
}
