//! The command line, as an operator uses it: `--help`, `--version`, `check-config`,
//! `migrate`, `token`, and a bad configuration refused with the variable named.

mod process;

use order_adapters::DatabaseUrl;
use order_adapters::testing::{PostgresSchema, postgres_server};
use order_http::config::Config;
use process::{run, start_instance};
use reqwest::StatusCode;
use serde_json::{Value, json};

type TestResult = anyhow::Result<()>;

#[test]
fn a_bad_configuration_is_refused_at_start_up_naming_the_variable() -> TestResult {
    for (variable, value) in [
        ("ORDERS_DATABASE_URL", "mysql://db/orders"),
        ("ORDERS_LISTEN_ADDR", "localhost"),
        ("ORDERS_UPSTREAM_MAX_ATTEMPTS", "0"),
        ("ORDERS_MAX_CONNECTIONS", "0"),
    ] {
        for command in [&[][..], &["serve"], &["check-config"], &["migrate"]] {
            let output = run(command, &[(variable, value)])?;
            assert_eq!(output.status.code(), Some(2), "{command:?} {variable}");
            let stderr = String::from_utf8(output.stderr)?;
            assert!(
                stderr.starts_with(&format!("invalid configuration: {variable}: ")),
                "{command:?}: {stderr}"
            );
        }
    }
    Ok(())
}

#[test]
fn check_config_prints_every_setting_with_passwords_masked() -> TestResult {
    let output = run(
        &["check-config"],
        &[
            (
                "ORDERS_DATABASE_URL",
                "postgres://app:s3cret@db.internal/orders?sslmode=require&password=s3cret",
            ),
            ("ORDERS_CIRCUIT_OPEN_MS", "2500"),
        ],
    )?;
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout)?;
    assert!(!stdout.contains("s3cret"), "{stdout}");
    for line in [
        "ORDERS_LISTEN_ADDR=127.0.0.1:8080",
        "ORDERS_DATABASE_URL=postgres://app:***@db.internal/orders?sslmode=require&password=***",
        "ORDERS_CUSTOMER_SERVICE_URL=(unset: the demo directory)",
        "ORDERS_UPSTREAM_MAX_ATTEMPTS=3",
        "ORDERS_CIRCUIT_OPEN_MS=2500",
        "ORDERS_MAX_CONNECTIONS=10000",
        "ORDERS_REQUEST_BODY_TIMEOUT_MS=10000",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "{line} missing in:\n{stdout}"
        );
    }
    let printed: Vec<_> = stdout
        .lines()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .collect();
    let defined: Vec<_> = Config::variables().iter().map(|v| v.name).collect();
    assert_eq!(printed, defined, "{stdout}");
    Ok(())
}

#[test]
fn help_lists_the_commands_and_every_variable_and_version_names_the_release() -> TestResult {
    let help = String::from_utf8(run(&["--help"], &[])?.stdout)?;
    for command in ["serve", "migrate", "check-config", "token"] {
        assert!(help.contains(command), "{command} missing in:\n{help}");
    }
    for line in [
        "ORDERS_LISTEN_ADDR=127.0.0.1:8080".to_owned(),
        "ORDERS_CUSTOMER_SERVICE_URL=(unset: the demo directory)".to_owned(),
    ]
    .into_iter()
    .chain(
        Config::variables()
            .iter()
            .map(|variable| format!("{}={}", variable.name, variable.default)),
    ) {
        assert!(
            help.lines().any(|l| l.trim() == line),
            "{line} missing in:\n{help}"
        );
    }
    let version = String::from_utf8(run(&["--version"], &[])?.stdout)?;
    assert_eq!(
        version.trim(),
        format!("order-service {}", env!("CARGO_PKG_VERSION"))
    );
    let unknown = run(&["frobnicate"], &[])?;
    assert_eq!(unknown.status.code(), Some(2));
    Ok(())
}

#[test]
fn migrate_applies_the_migrations_and_exits() -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("orders.db").display());
    let env = [
        ("ORDERS_DATABASE_URL", url.as_str()),
        ("ORDERS_LOG_FORMAT", "json"),
    ];
    let known = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../migrations/sqlite"
    ))?
    .count();
    // The first run applies every migration and names each; the second has none left.
    for expected in [known, 0] {
        let output = run(&["migrate"], &env)?;
        assert!(output.status.success(), "{output:?}");
        let log = String::from_utf8(output.stdout)?;
        assert!(log.contains("\"message\":\"migrations applied\""), "{log}");
        assert!(log.contains(&format!("\"applied\":{expected}")), "{log}");
        let named = log.matches("\"message\":\"migration applied\"").count();
        assert_eq!(named, expected, "{log}");
    }
    assert!(dir.path().join("orders.db").metadata()?.len() > 0);
    Ok(())
}

/// The log of `command` run against a database at `url` that does not answer; the
/// command fails, saying so.
fn log_of_unreachable(command: &str, url: &str) -> anyhow::Result<String> {
    let output = run(
        &[command],
        &[
            ("ORDERS_DATABASE_URL", url),
            ("ORDERS_DATABASE_TIMEOUT_MS", "300"),
            ("ORDERS_LOG_FORMAT", "json"),
        ],
    )?;
    anyhow::ensure!(!output.status.success(), "{output:?}");
    let log = String::from_utf8(output.stdout)? + &String::from_utf8(output.stderr)?;
    anyhow::ensure!(log.contains("cannot open a database connection"), "{log}");
    Ok(log)
}

#[test]
fn an_unreachable_database_is_logged_without_build_paths() -> TestResult {
    let log = log_of_unreachable("migrate", "postgres://app@127.0.0.1:1/orders")?;
    for leak in [".cargo", "/src/", "log.file"] {
        assert!(!log.contains(leak), "{leak} in {log}");
    }
    Ok(())
}

/// Every credential a database URL can carry: the user's password and the query's.
const CREDENTIALS: &str = "password=s3cret-query&sslpassword=s3cret-ssl";

/// `url` (`postgres://user@host/…?…`) with a password for its user and [`CREDENTIALS`].
fn with_credentials(url: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| anyhow::anyhow!("not a URL: {url}"))?;
    let (user, rest) = rest
        .split_once('@')
        .ok_or_else(|| anyhow::anyhow!("no user in {url}"))?;
    let user = user.split_once(':').map_or(user, |(user, _)| user);
    let separator = if rest.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{scheme}://{user}:s3cret-user@{rest}{separator}{CREDENTIALS}"
    ))
}

#[test]
fn the_start_up_log_never_shows_a_database_credential() -> TestResult {
    // A start-up that fails: the database does not answer.
    let unreachable = with_credentials("postgres://app@127.0.0.1:1/orders?sslmode=disable")?;
    let log = log_of_unreachable("serve", &unreachable)?;
    assert!(!log.contains("s3cret"), "{log}");

    // A start-up that succeeds, naming the database it opened.
    let Some(server) = postgres_server() else {
        return Ok(());
    };
    let schema = PostgresSchema::create(&server)?;
    let DatabaseUrl::Postgres(url) = schema.url() else {
        anyhow::bail!("not a PostgreSQL URL");
    };
    let url = with_credentials(&url)?;
    let instance = start_instance(&[("ORDERS_DATABASE_URL", url.as_str())])?;
    let log = instance.read_log();
    let ready = log
        .iter()
        .find(|event| event["message"] == "database ready")
        .ok_or_else(|| anyhow::anyhow!("no \"database ready\" in {log:?}"))?;
    assert!(ready.to_string().contains(":***@"), "masked: {ready}");
    for event in &log {
        assert!(!event.to_string().contains("s3cret"), "{event}");
    }
    Ok(())
}

#[test]
fn a_malformed_request_head_is_logged_at_warn_never_error() -> TestResult {
    use std::io::{Read, Write};

    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("orders.db").display());
    let instance = start_instance(&[("ORDERS_DATABASE_URL", url.as_str())])?;
    let address = instance.address.trim_start_matches("http://");
    let invalid = "GET /v1/orders HTTP/1.1\r\nHost: test\r\nNot a header\r\n\r\n".to_owned();
    let too_large = format!(
        "GET /v1/orders HTTP/1.1\r\nHost: test\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(256 * 1024)
    );
    for head in [invalid, too_large] {
        let mut stream = std::net::TcpStream::connect(address)?;
        stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
        // The service may answer and close before the whole of a head too large is sent.
        let _ = stream.write_all(head.as_bytes());
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        instance.until_logged(
            "a client broke the HTTP protocol or its connection; the connection is closed",
            std::time::Duration::from_secs(10),
        )?;
    }
    let errors: Vec<Value> = instance
        .read_log()
        .into_iter()
        .filter(|event| event["level"] == "ERROR")
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    Ok(())
}

#[test]
fn open_mode_is_refused_off_loopback_unless_meant() -> TestResult {
    let everywhere = ("ORDERS_LISTEN_ADDR", "0.0.0.0:8080");
    let refused = run(&["serve"], &[everywhere])?;
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8(refused.stderr)?;
    for named in [
        "ORDERS_LISTEN_ADDR",
        "ORDERS_AUTH_JWKS_URL",
        "ORDERS_AUTH=off",
    ] {
        assert!(stderr.contains(named), "{named} missing in: {stderr}");
    }
    let meant = run(&["check-config"], &[everywhere, ("ORDERS_AUTH", "off")])?;
    assert!(meant.status.success(), "{meant:?}");
    let with_keys = run(
        &["check-config"],
        &[
            everywhere,
            ("ORDERS_AUTH_HS256_SECRET", SECRET),
            ("ORDERS_AUTH_ISSUER", "dev"),
            ("ORDERS_AUTH_AUDIENCE", "orders"),
        ],
    )?;
    assert!(with_keys.status.success(), "{with_keys:?}");
    Ok(())
}

const SECRET: &str = "a-development-secret-of-32-bytes-at-least";

/// As the README shows: a developer mints a token with the service's own secret and
/// calls the authenticated service with it; the service refuses a call without one.
#[tokio::test]
async fn a_minted_token_lets_its_caller_in_and_its_changes_name_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("orders.db").display());
    let env = [
        ("ORDERS_DATABASE_URL", url.as_str()),
        ("ORDERS_AUTH_HS256_SECRET", SECRET),
        ("ORDERS_AUTH_ISSUER", "order-service-dev"),
        ("ORDERS_AUTH_AUDIENCE", "order-service"),
    ];
    let instance = start_instance(&env)?;
    let minted = run(
        &[
            "token",
            "--sub",
            "cust-1",
            "--scope",
            "orders:customer",
            "--ttl",
            "600",
        ],
        &env,
    )?;
    assert!(minted.status.success(), "{minted:?}");
    let token = String::from_utf8(minted.stdout)?.trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "{token}");
    let client = reqwest::Client::new();
    let orders = format!("{}/v1/orders", instance.address);
    let anonymous = client.get(&orders).send().await?;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let body = json!({"storeId": "store-1", "customerId": "cust-1", "shippingCost": 0,
                      "taxAmount": 0, "items": [{"productId": "prod-1", "quantity": 1, "unitPrice": 5}]});
    let placed = client
        .post(&orders)
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await?;
    assert_eq!(placed.status(), StatusCode::CREATED);
    let order: Value = placed.json().await?;
    let history: Value = client
        .get(format!(
            "{orders}/{}/history",
            order["id"].as_str().unwrap_or_default()
        ))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        history["items"][0]["actor"],
        json!({"sub": "cust-1", "scope": "orders:customer"})
    );
    let listed: Value = client
        .get(&orders)
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(listed["items"][0]["id"], order["id"]);
    Ok(())
}

#[test]
fn token_refuses_what_would_mint_a_useless_token() -> TestResult {
    let keys = [
        ("ORDERS_AUTH_HS256_SECRET", SECRET),
        ("ORDERS_AUTH_ISSUER", "dev"),
        ("ORDERS_AUTH_AUDIENCE", "orders"),
    ];
    for (args, env, said) in [
        (
            &["token", "--sub", "clerk", "--scope", "orders:store"][..],
            &keys[..],
            "--store",
        ),
        (
            &["token", "--sub", "cust-1", "--scope", "orders:everything"],
            &keys,
            "orders:customer, orders:store",
        ),
        (&["token", "--sub", "cust-1"], &keys, "--scope"),
        (
            &[
                "token",
                "--sub",
                "cust-1",
                "--scope",
                "orders:admin",
                "--ttl",
                "0",
            ],
            &keys,
            "--ttl",
        ),
        (
            &["token", "--sub", "cust-1", "--scope", "orders:customer"],
            &[],
            "ORDERS_AUTH_HS256_SECRET",
        ),
    ] {
        let output = run(args, env)?;
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8(output.stderr)?;
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
    let store = run(
        &[
            "token",
            "--sub",
            "clerk",
            "--scope",
            "orders:store",
            "--store",
            "store-1",
        ],
        &keys,
    )?;
    assert!(store.status.success(), "{store:?}");
    Ok(())
}
