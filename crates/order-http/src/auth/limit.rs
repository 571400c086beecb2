//! Per-caller rate limits: a token bucket (GCRA, from `governor`) for each caller, its
//! `sub` or, in open mode, its IP address. The number of callers tracked is bounded, so
//! that memory does not grow with the number of distinct callers ever seen: past the
//! bound, the callers whose buckets are full again are forgotten (they lose nothing),
//! and if that is not enough, every bucket starts afresh.

use std::num::NonZeroU32;
use std::sync::{PoisonError, RwLock};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// The most callers tracked at once.
pub const MAX_CALLERS: usize = 10_000;

type Limiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// What a caller's bucket said of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead: `remaining` more requests may follow at once, and the bucket is full
    /// again in `reset` seconds.
    Allowed {
        /// Requests left in the bucket.
        remaining: u32,
        /// Whole seconds until it is full again.
        reset: u64,
    },
    /// Over the limit: nothing is processed; another request may be made in
    /// `retry_after` seconds.
    Limited {
        /// Whole seconds to wait, rounded up.
        retry_after: u64,
    },
}

/// Every caller's token bucket.
#[derive(Debug)]
pub struct RateLimits {
    limiter: RwLock<Limiter>,
    quota: Quota,
    per_second: NonZeroU32,
    burst: NonZeroU32,
    clock: DefaultClock,
}

impl RateLimits {
    /// Buckets of `burst` requests, refilled at `per_second`.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Self {
            limiter: RwLock::new(limiter(quota)),
            quota,
            per_second,
            burst,
            clock: DefaultClock::default(),
        }
    }

    /// The policy, as `RateLimit-Policy` says it: the bucket's size, and the seconds it
    /// takes to fill.
    pub fn policy(&self) -> String {
        let window = self.burst.get().div_ceil(self.per_second.get());
        format!("\"caller\";q={};w={window}", self.burst)
    }

    /// Takes one request from `caller`'s bucket, if it has one left.
    pub fn check(&self, caller: &str) -> Verdict {
        self.bound();
        let limiter = self.limiter.read().unwrap_or_else(PoisonError::into_inner);
        match limiter.check_key(&caller.to_owned()) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                let missing = self.burst.get().saturating_sub(remaining);
                Verdict::Allowed {
                    remaining,
                    reset: u64::from(missing / self.per_second.get()),
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Verdict::Limited {
                    retry_after: wait
                        .as_millis()
                        .div_ceil(1000)
                        .max(1)
                        .try_into()
                        .unwrap_or(u64::MAX),
                }
            }
        }
    }

    /// How many callers are tracked now.
    pub fn tracked(&self) -> usize {
        self.limiter
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Keeps the number of callers tracked at [`MAX_CALLERS`] at most.
    fn bound(&self) {
        if self.tracked() < MAX_CALLERS {
            return;
        }
        let mut limiter = self.limiter.write().unwrap_or_else(PoisonError::into_inner);
        limiter.retain_recent();
        if limiter.len() >= MAX_CALLERS {
            *limiter = self::limiter(self.quota);
        } else {
            limiter.shrink_to_fit();
        }
    }
}

fn limiter(quota: Quota) -> Limiter {
    RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_second: u32, burst: u32) -> RateLimits {
        let nonzero = |n| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        RateLimits::new(nonzero(per_second), nonzero(burst))
    }

    #[test]
    fn a_burst_beyond_the_bucket_is_limited_and_others_are_not() {
        let limits = limits(1, 3);
        let verdicts: Vec<Verdict> = (0..4).map(|_| limits.check("sub:ada")).collect();
        assert_eq!(
            verdicts[..3],
            [
                Verdict::Allowed {
                    remaining: 2,
                    reset: 1
                },
                Verdict::Allowed {
                    remaining: 1,
                    reset: 2
                },
                Verdict::Allowed {
                    remaining: 0,
                    reset: 3
                },
            ]
        );
        assert_eq!(verdicts[3], Verdict::Limited { retry_after: 1 });
        assert!(matches!(
            limits.check("sub:bob"),
            Verdict::Allowed { remaining: 2, .. }
        ));
        assert_eq!(limits.policy(), "\"caller\";q=3;w=3");
    }

    #[test]
    fn memory_stays_bounded_however_many_callers_come() {
        let limits = limits(50, 100);
        for caller in 0..100_000 {
            assert!(matches!(
                limits.check(&format!("ip:{caller}")),
                Verdict::Allowed { .. }
            ));
            assert!(
                limits.tracked() <= MAX_CALLERS,
                "{} tracked",
                limits.tracked()
            );
        }
    }
}
