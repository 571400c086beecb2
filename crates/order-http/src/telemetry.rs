//! Logging: `tracing` events to standard output, filtered by `RUST_LOG`, as JSON lines
//! (for log collectors) or readable text (for a person at a terminal).
//!
//! What is logged is chosen so that no secret ever is: request and response bodies,
//! headers and payment references are never logged, and database URLs are logged with
//! their passwords masked.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber once; later calls do nothing. Without a `format`,
/// JSON lines, or text when standard output is a terminal.
pub fn init(format: Option<LogFormat>, filter: &str) {
    let terminal = std::io::stdout().is_terminal();
    let format = format.unwrap_or(if terminal {
        LogFormat::Text
    } else {
        LogFormat::Json
    });
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal);
    let installed = match format {
        // One object a line: the event's fields at the top level, with the fields of
        // the span it happened in (the request's id, the order's id) beside them.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    // Tests start many apps in one process: only the first installs.
    drop(installed);
}
