//! Running the `order-service` binary itself, as an operator does: for the tests that
//! need a real process (several instances, signals, the command line).

#![allow(dead_code, reason = "each test binary uses the part it needs")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary, with an environment holding only what a test gives it (and `PATH`), so
/// that nothing from the test's own environment leaks in.
pub fn order_service(env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_order-service"));
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command.envs(env.iter().copied());
    command
}

/// Runs the binary to its end.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Output> {
    Ok(order_service(env).args(args).output()?)
}

/// A running `order-service`, killed when dropped.
pub struct Instance {
    process: Child,
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    log: mpsc::Receiver<Value>,
    /// The log lines read so far.
    read: Mutex<Vec<Value>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Starts the binary on a free port with `env` (plus JSON logs) and waits, up to 30 s,
/// for its "listening" log line.
pub fn start_instance(env: &[(&str, &str)]) -> anyhow::Result<Instance> {
    let mut process = order_service(env)
        .env("ORDERS_LISTEN_ADDR", "127.0.0.1:0")
        .env("ORDERS_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = process
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    // Read the log on a thread of its own, or the instance blocks once the pipe is full.
    let (sender, log) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender
                .send(serde_json::from_str(&line).unwrap_or_default())
                .is_err()
            {
                break;
            }
        }
    });
    let mut instance = Instance {
        process,
        address: String::new(),
        log,
        read: Mutex::default(),
    };
    let listening = instance.until_logged("listening", Duration::from_secs(30))?;
    let port = listening["port"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("no port in {listening}"))?;
    instance.address = format!("http://127.0.0.1:{port}");
    Ok(instance)
}

impl Instance {
    /// Waits, up to `within`, for a log line whose message is `message`.
    pub fn until_logged(&self, message: &str, within: Duration) -> anyhow::Result<Value> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self
                .log
                .recv_timeout(left)
                .map_err(|_| anyhow::anyhow!("no {message:?} logged within {within:?}"))?;
            self.read
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(event.clone());
            if event["message"] == message {
                return Ok(event);
            }
        }
    }

    /// The log lines read so far: up to "listening" once started, and through each
    /// line [`Instance::until_logged`] waited for since.
    pub fn read_log(&self) -> Vec<Value> {
        self.read
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sends the process a signal, as `kill -<signal>` does.
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.process.id().to_string())
            .status()?;
        anyhow::ensure!(sent.success(), "kill -{signal} failed");
        Ok(())
    }

    /// Waits, up to `within`, for the process to exit.
    pub fn until_exited(&mut self, within: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.process.try_wait()? {
                return Ok(status);
            }
            anyhow::ensure!(Instant::now() < deadline, "still running after {within:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
