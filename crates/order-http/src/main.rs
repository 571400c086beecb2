//! The order service binary: configuration from the environment, then serve.

use std::process::ExitCode;

use order_http::config::Config;
use order_http::startup::Application;
use order_http::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("invalid configuration: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.json_logs);
    let served = match Application::build(&config).await {
        Ok(app) => app.run_until_stopped().await.map_err(anyhow::Error::from),
        Err(error) => Err(error),
    };
    match served {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "the service failed");
            ExitCode::FAILURE
        }
    }
}
