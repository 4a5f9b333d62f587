//! The tenant's request budget: `[server] rate_limit` requests per second, up to
//! `rate_burst` at once, shared by every key of the tenant (a service serves one tenant).
//!
//! Past the budget a request is answered 429 with `Retry-After` before it takes a decision
//! slot, reads the state or writes anything, so one tenant's burst costs its own service
//! little, and a caller is told when to come back rather than queued. `max_inflight` (503)
//! still bounds what is admitted. The limiter is `governor`'s (the generic cell rate
//! algorithm: one atomic compare-and-swap per check, no lock, no timer), which holds a
//! rate exactly over any window instead of resetting at second boundaries.

use crate::error::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;

/// The budget and its limiter.
pub struct TenantLimit {
    limiter: DefaultDirectRateLimiter,
    clock: DefaultClock,
    rate: u32,
    burst: u32,
}

impl std::fmt::Debug for TenantLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantLimit")
            .field("rate", &self.rate)
            .field("burst", &self.burst)
            .finish()
    }
}

impl TenantLimit {
    /// `rate` requests a second, `burst` at once (both at least 1).
    pub fn new(rate: u32, burst: u32) -> TenantLimit {
        let r = NonZeroU32::new(rate.max(1)).unwrap_or(NonZeroU32::MIN);
        let b = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        TenantLimit {
            limiter: RateLimiter::direct(Quota::per_second(r).allow_burst(b)),
            clock: DefaultClock::default(),
            rate: r.get(),
            burst: b.get(),
        }
    }

    /// Takes `n` requests' worth (a batch counts each transaction), or says when to retry.
    pub fn take(&self, n: usize) -> Result<(), ApiError> {
        let cells = u32::try_from(n.max(1)).unwrap_or(u32::MAX);
        let refuse = |wait: std::time::Duration| {
            metrics::counter!("riskstream_rate_limited_total").increment(1);
            ApiError::rate_limited(
                format!(
                    "the tenant's request budget is spent ({} a second, {} at once: server.rate_limit, server.rate_burst); retry after the time in Retry-After",
                    self.rate, self.burst
                ),
                wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            )
        };
        match self
            .limiter
            .check_n(NonZeroU32::new(cells).unwrap_or(NonZeroU32::MIN))
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(refuse(not_until.wait_time_from(self.clock.now()))),
            Err(_) => {
                metrics::counter!("riskstream_rate_limited_total").increment(1);
                Err(ApiError::rate_limited(
                    format!(
                        "{n} requests at once are more than the tenant's burst ({}, server.rate_burst): split the batch",
                        self.burst
                    ),
                    1,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burst_passes_then_429_with_a_wait() {
        let l = TenantLimit::new(10, 3);
        for _ in 0..3 {
            l.take(1).unwrap();
        }
        let e = l.take(1).unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(e.retry_after, Some(1));
        assert!(e.message.contains("server.rate_limit"), "{}", e.message);
        let e = l.take(4).unwrap_err();
        assert!(e.message.contains("split the batch"), "{}", e.message);
    }

    #[test]
    fn the_budget_comes_back_at_the_rate() {
        let l = TenantLimit::new(1000, 1);
        l.take(1).unwrap();
        assert!(l.take(1).is_err());
        std::thread::sleep(std::time::Duration::from_millis(5));
        l.take(1).unwrap();
    }
}
