//! Logging: `tracing` events to standard output, filtered by `RUST_LOG`, as JSON lines
//! (for log collectors) or readable text (for a person at a terminal).
//!
//! What is logged is chosen so that no secret ever is: request and response bodies,
//! headers and payment references are never logged, and database URLs are logged with
//! their passwords masked.
//!
//! ERROR is kept for what an operator must act on. actix logs a client's own mistakes
//! there (a request head too large, an invalid header, a connection cut mid-request:
//! `stream error: …` from `actix_http`), so any client could fill the ERROR log; those
//! lines are logged at WARN instead, as our own (see [`ClientFaults`]).

use std::fmt::Write as _;
use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, filter};

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
    let lines = tracing_subscriber::fmt::layer().with_ansi(terminal);
    // actix's ERROR lines are not written as they are: `ClientFaults` writes them again.
    let not_actix_errors = filter::filter_fn(|metadata| !is_actix_error(metadata));
    let lines = match format {
        // One object a line: the event's fields at the top level, with the fields of
        // the span it happened in (the request's id, the order's id) beside them.
        LogFormat::Json => lines
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(not_actix_errors)
            .boxed(),
        LogFormat::Text => lines.with_filter(not_actix_errors).boxed(),
    };
    // Outermost, so that what it logs comes after the line it replaces is done with.
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(lines)
        .with(ClientFaults)
        .try_init();
    // Tests start many apps in one process: only the first installs.
    drop(installed);
}

/// Whether an event is an ERROR line of actix's HTTP layer.
fn is_actix_error(metadata: &Metadata<'_>) -> bool {
    *metadata.level() == Level::ERROR && metadata.target().starts_with("actix_http::")
}

/// Whether an ERROR line of actix's HTTP layer tells of a client's fault: a request it
/// could not parse, a connection the client cut or let stall, or one that would not take
/// the answer. Its other ERROR lines (a response body of ours that failed) are ours.
fn is_client_fault(message: &str) -> bool {
    [
        "stream error",
        "write zero",
        "MAX_BUFFER_SIZE",
        "Internal server error: unexpected",
    ]
    .iter()
    .any(|start| message.starts_with(start))
}

/// Logs actix's ERROR lines again as lines of ours: at WARN when they tell of a client's
/// fault, at ERROR otherwise.
struct ClientFaults;

impl<S: Subscriber> Layer<S> for ClientFaults {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if !is_actix_error(event.metadata()) {
            return;
        }
        let mut message = Message::default();
        event.record(&mut message);
        let (message, source) = (message.0, event.metadata().target());
        if is_client_fault(&message) {
            tracing::warn!(
                error = message,
                source,
                "a client broke the HTTP protocol or its connection; the connection is closed"
            );
        } else {
            tracing::error!(error = message, source, "the HTTP server failed");
        }
    }
}

/// An event's message, as written.
#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actix_lines_of_a_clients_fault_are_told_from_those_of_ours() {
        for fault in [
            "stream error: Request parse error: Invalid Header provided",
            "stream error: Request parse error: message head is too large",
            "write zero; closing",
            "MAX_BUFFER_SIZE unprocessed data reached, closing",
        ] {
            assert!(is_client_fault(fault), "{fault}");
        }
        assert!(!is_client_fault("Response payload stream error: …"));
    }
}
