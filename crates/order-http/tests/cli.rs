//! The command line, as an operator uses it: `--help`, `--version`, `check-config`,
//! `migrate`, and a bad configuration refused with the variable named.

mod process;

use order_http::config::Config;
use process::run;

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
                "postgres://app:s3cret@db.internal/orders",
            ),
            ("ORDERS_CIRCUIT_OPEN_MS", "2500"),
        ],
    )?;
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout)?;
    assert!(!stdout.contains("s3cret"), "{stdout}");
    for line in [
        "ORDERS_LISTEN_ADDR=127.0.0.1:8080",
        "ORDERS_DATABASE_URL=postgres://app:***@db.internal/orders",
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
    for command in ["serve", "migrate", "check-config"] {
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
    for _ in 0..2 {
        let output = run(&["migrate"], &env)?;
        assert!(output.status.success(), "{output:?}");
        let log = String::from_utf8(output.stdout)?;
        assert!(log.contains("\"message\":\"migrations applied\""), "{log}");
    }
    assert!(dir.path().join("orders.db").metadata()?.len() > 0);
    Ok(())
}
