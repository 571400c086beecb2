//! A circuit breaker per upstream service: after `failure_threshold` consecutive failed
//! calls it opens and refuses calls at once for `open_for`; then one trial call decides
//! whether it closes again or stays open for another `open_for`.
//!
//! Written here rather than taken from a crate: `failsafe` counts in whole seconds and
//! `recloser` trips on a failure rate over a window and lets several trial calls through;
//! neither reports its state or its changes, which the health check, the metrics and the
//! log need.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use order_domain::UpstreamService;
use tokio::time::Instant;

/// When a circuit opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitSettings {
    /// Consecutive failed calls that open the circuit.
    pub failure_threshold: u32,
    /// How long an open circuit refuses calls before it lets one trial call through.
    pub open_for: Duration,
}

impl Default for CircuitSettings {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            open_for: Duration::from_secs(10),
        }
    }
}

/// What a circuit does with calls now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls are refused at once.
    Open,
    /// The cool-down is over: the next call is a trial, and while it is under way
    /// other calls are refused.
    HalfOpen,
}

impl CircuitState {
    /// The state's name in logs, metrics and the health check.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { consecutive_failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

impl State {
    fn public(self) -> CircuitState {
        match self {
            Self::Closed { .. } => CircuitState::Closed,
            Self::Open { .. } => CircuitState::Open,
            Self::HalfOpen => CircuitState::HalfOpen,
        }
    }
}

/// The circuit of one upstream service. Shared by every call to it.
#[derive(Debug)]
pub struct CircuitBreaker {
    service: UpstreamService,
    settings: CircuitSettings,
    state: Mutex<State>,
}

/// The right to make one call, given by [`CircuitBreaker::try_call`]. Its outcome must
/// be reported with [`CallPermit::succeeded`] or [`CallPermit::failed`]; a trial call
/// dropped unreported (its request was abandoned) counts as failed, so that the circuit
/// never waits for a trial that will not end.
#[derive(Debug)]
pub struct CallPermit<'a> {
    circuit: &'a CircuitBreaker,
    trial: bool,
    reported: bool,
}

impl CallPermit<'_> {
    /// The call got a usable answer.
    pub fn succeeded(mut self) {
        self.reported = true;
        self.circuit.record(self.trial, true);
    }

    /// The call got no usable answer.
    pub fn failed(mut self) {
        self.reported = true;
        self.circuit.record(self.trial, false);
    }
}

impl Drop for CallPermit<'_> {
    fn drop(&mut self) {
        if !self.reported && self.trial {
            self.circuit.record(true, false);
        }
    }
}

impl CircuitBreaker {
    /// A closed circuit for calls to `service`.
    pub fn new(service: UpstreamService, settings: CircuitSettings) -> Self {
        Self {
            service,
            settings,
            state: Mutex::new(State::Closed {
                consecutive_failures: 0,
            }),
        }
    }

    /// The service whose calls this circuit guards.
    pub fn service(&self) -> UpstreamService {
        self.service
    }

    /// What the circuit does with calls now. An open circuit whose cool-down is over
    /// is half-open: it lets the next call through as its trial, whenever that comes.
    pub fn state(&self) -> CircuitState {
        match *self.lock() {
            State::Open { until } if Instant::now() >= until => CircuitState::HalfOpen,
            state => state.public(),
        }
    }

    /// Lets a call through, or refuses it with how long the caller should wait.
    ///
    /// # Errors
    /// The time until the circuit lets a trial call through, while it is open; the
    /// full `open_for` while another call is the trial.
    pub fn try_call(&self) -> Result<CallPermit<'_>, Duration> {
        let mut state = self.lock();
        let trial = match *state {
            State::Closed { .. } => false,
            State::Open { until } => {
                let now = Instant::now();
                if now < until {
                    return Err(until - now);
                }
                self.change(&mut state, State::HalfOpen);
                true
            }
            State::HalfOpen => return Err(self.settings.open_for),
        };
        Ok(CallPermit {
            circuit: self,
            trial,
            reported: false,
        })
    }

    fn record(&self, trial: bool, success: bool) {
        let mut state = self.lock();
        let next = match (*state, trial, success) {
            (State::Closed { .. }, _, true) | (State::HalfOpen, true, true) => State::Closed {
                consecutive_failures: 0,
            },
            (
                State::Closed {
                    consecutive_failures,
                },
                _,
                false,
            ) => {
                let failures = consecutive_failures.saturating_add(1);
                if failures >= self.settings.failure_threshold {
                    self.open_until()
                } else {
                    State::Closed {
                        consecutive_failures: failures,
                    }
                }
            }
            (State::HalfOpen, true, false) => self.open_until(),
            // A call that began before the circuit opened ends late: the circuit has
            // already decided without it.
            (State::Open { .. } | State::HalfOpen, _, _) => return,
        };
        self.change(&mut state, next);
    }

    fn open_until(&self) -> State {
        State::Open {
            until: Instant::now() + self.settings.open_for,
        }
    }

    fn change(&self, state: &mut State, next: State) {
        let (from, to) = (state.public(), next.public());
        *state = next;
        if from == to {
            return;
        }
        match to {
            CircuitState::Open => tracing::warn!(
                service = %self.service,
                from = %from,
                to = %to,
                open_for_ms = self.settings.open_for.as_millis() as u64,
                "circuit opened: calls to the service fail at once"
            ),
            CircuitState::HalfOpen | CircuitState::Closed => tracing::info!(
                service = %self.service,
                from = %from,
                to = %to,
                "circuit changed"
            ),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value, valid whatever a panicking holder was doing.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN_FOR: Duration = Duration::from_secs(10);

    fn circuit() -> CircuitBreaker {
        CircuitBreaker::new(
            UpstreamService::Inventory,
            CircuitSettings {
                failure_threshold: 3,
                open_for: OPEN_FOR,
            },
        )
    }

    fn fail(circuit: &CircuitBreaker, times: usize) {
        for _ in 0..times {
            if let Ok(permit) = circuit.try_call() {
                permit.failed();
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn it_opens_after_the_threshold_of_consecutive_failures_only() {
        let circuit = circuit();
        fail(&circuit, 2);
        circuit.try_call().map(CallPermit::succeeded).ok();
        fail(&circuit, 2);
        assert_eq!(
            circuit.state(),
            CircuitState::Closed,
            "a success resets the count"
        );
        fail(&circuit, 1);
        assert_eq!(circuit.state(), CircuitState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_circuit_refuses_at_once_saying_how_long_to_wait() {
        let circuit = circuit();
        fail(&circuit, 3);
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(circuit.try_call().err(), Some(Duration::from_secs(6)));
        assert_eq!(circuit.state(), CircuitState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_cool_down_one_trial_call_goes_through_and_its_success_closes() {
        let circuit = circuit();
        fail(&circuit, 3);
        tokio::time::advance(OPEN_FOR).await;
        assert_eq!(
            circuit.state(),
            CircuitState::HalfOpen,
            "shown as half-open before any call comes"
        );
        let trial = circuit.try_call();
        assert!(trial.is_ok());
        assert_eq!(circuit.state(), CircuitState::HalfOpen);
        assert!(circuit.try_call().is_err(), "only one trial at a time");
        trial.map(CallPermit::succeeded).ok();
        assert_eq!(circuit.state(), CircuitState::Closed);
        assert!(circuit.try_call().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_or_abandoned_trial_opens_the_circuit_for_another_cool_down() {
        let circuit = circuit();
        fail(&circuit, 3);
        tokio::time::advance(OPEN_FOR).await;
        fail(&circuit, 1);
        assert_eq!(circuit.try_call().err(), Some(OPEN_FOR));

        tokio::time::advance(OPEN_FOR).await;
        drop(circuit.try_call());
        assert_eq!(circuit.state(), CircuitState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_that_end_after_the_circuit_opened_change_nothing() {
        let circuit = circuit();
        let late = circuit.try_call();
        fail(&circuit, 3);
        late.map(CallPermit::succeeded).ok();
        assert_eq!(circuit.state(), CircuitState::Open);
    }
}
