//! The order service binary: `serve` (the default), `migrate`, `check-config` or
//! `token`, all configured from the environment.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use order_domain::{Principal, Scope, StoreId, Subject};
use order_http::auth;
use order_http::config::{self, Config};
use order_http::startup::{Application, migrate};
use order_http::telemetry;
use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, Parser)]
#[command(
    name = "order-service",
    version,
    about = "The order service: places, keeps and answers for a marketplace's orders."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API until SIGTERM or SIGINT, then finish the requests in flight (the
    /// default).
    Serve,
    /// Apply the database's pending migrations, then exit.
    Migrate,
    /// Print the effective configuration, passwords masked; exit with 2 when it is
    /// invalid.
    CheckConfig,
    /// Print a token for trying the service as any caller, signed with
    /// ORDERS_AUTH_HS256_SECRET for ORDERS_AUTH_ISSUER and ORDERS_AUTH_AUDIENCE (for
    /// development: in production, the identity provider issues tokens).
    Token(TokenArgs),
}

/// Whom the token names, and for how long.
#[derive(Debug, Args)]
struct TokenArgs {
    /// The caller (`sub`): with orders:customer, the customer's id.
    #[arg(long, value_parser = parse_subject)]
    sub: Subject,
    /// A scope to grant; repeat for more: orders:customer, orders:store,
    /// orders:payments, orders:fulfillment or orders:admin.
    #[arg(long = "scope", required = true, value_parser = parse_scope)]
    scopes: Vec<Scope>,
    /// The store the caller works for (`store_id`), which orders:store needs.
    #[arg(long, value_parser = parse_store)]
    store: Option<StoreId>,
    /// Seconds until the token expires (at most 30 days).
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=MAX_TTL_SECONDS))]
    ttl: u64,
}

/// The longest a minted token lives: a development token is not a credential to keep.
const MAX_TTL_SECONDS: u64 = 30 * 24 * 3600;

fn parse_subject(text: &str) -> Result<Subject, String> {
    Subject::parse(text).map_err(|error| error.to_string())
}

fn parse_scope(text: &str) -> Result<Scope, String> {
    Scope::parse(text).ok_or_else(|| {
        let known: Vec<_> = Scope::ALL.map(Scope::as_str).into();
        format!("must be one of {}", known.join(", "))
    })
}

fn parse_store(text: &str) -> Result<StoreId, String> {
    StoreId::parse(text).map_err(|error| error.to_string())
}

// The service allocates on every request; under load the system allocator took some
// 15% of its time, and mimalloc made placements about 40% faster for about 13 MiB
// more memory (docs/performance.md). Built without transparent huge pages (`no_thp`):
// mimalloc asked the kernel for them, and each 2 MiB page it got was resident whole,
// a third of the service's memory under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The exit code of an invalid configuration, as for a usage error.
const INVALID_CONFIGURATION: u8 = 2;

/// The command line, with `--help` ending in every variable from the configuration's
/// definition; exits on `--help`, `--version` or a usage error.
fn parse_command_line() -> Cli {
    let matches = Cli::command()
        .after_help(config::help(&Config::variables()))
        .get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
}

/// Serves until SIGTERM or SIGINT, either of which stops the service gracefully.
async fn serve(config: &Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    let stopper = app.stopper();
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        let received = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "SIGINT",
        };
        tracing::info!(
            signal = received,
            "stopping: no new connections, finishing the requests in flight"
        );
        stopper.stop().await;
    });
    app.run_until_stopped().await
}

/// Prints the token `args` ask for; a store's scope without its store is a usage error.
fn print_token(config: &Config, args: TokenArgs) -> ExitCode {
    if args.scopes.contains(&Scope::Store) && args.store.is_none() {
        Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "orders:store needs --store <STORE>: the store the caller works for",
            )
            .exit();
    }
    let principal = Principal::new(args.sub, args.scopes, args.store);
    match auth::mint(&config.auth, &principal, Duration::from_secs(args.ttl)) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("cannot mint a token: {error:#}");
            ExitCode::from(INVALID_CONFIGURATION)
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let command = parse_command_line().command.unwrap_or(Command::Serve);
    let (config, variables) = match Config::read(|name| std::env::var(name).ok()) {
        Ok(read) => read,
        Err(error) => {
            eprintln!("invalid configuration: {error}");
            return ExitCode::from(INVALID_CONFIGURATION);
        }
    };
    if let Command::CheckConfig = command {
        for variable in variables {
            println!("{}={}", variable.name, variable.value);
        }
        return ExitCode::SUCCESS;
    }
    if let Command::Token(args) = command {
        return print_token(&config, args);
    }
    telemetry::init(config.log_format, &config.log_filter);
    let outcome = match command {
        Command::Migrate => migrate(&config).await,
        _ => serve(&config).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "the service failed");
            ExitCode::FAILURE
        }
    }
}
