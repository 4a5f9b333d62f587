//! The sign-in rate limit: after too many failed sign-ins from one client address, or with
//! keys that start alike, sign-in is refused (429 with `Retry-After`) for a while.
//!
//! API keys carry 256 random bits, so guessing one is hopeless; what this stops is a
//! client hammering the sign-in form (each attempt costs a registry lookup) and a
//! partially leaked key being completed by trial. Two counters see every failure: the
//! client's address, and the first [`PREFIX_CHARS`] characters of the key tried (so
//! attempts spread over many addresses at one key are caught too). A counter that reaches
//! [`Limits::max_failures`] within [`Limits::window`] locks its address or prefix for
//! [`Limits::lockout`]; while locked, even a right key is refused, or the lock would only
//! slow the search down. Success does not clear a counter (an attacker holding one valid
//! key could otherwise reset it between guesses); counters expire with their window.
//!
//! ```text
//!  POST /console/signin ─▶ locked(addr) or locked(prefix)? ── yes ─▶ 429 Retry-After: s
//!        │ no
//!        ▼
//!   authenticate ── unknown key ─▶ failed(addr, prefix): count; at max ─▶ lock both
//! ```
//!
//! Counters live in memory like the sessions, bounded by [`MAX_TRACKED`]: beyond it the
//! expired ones are dropped first, then the table starts afresh (a flood of addresses
//! cannot exhaust memory; it can at worst reset the counters).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How much of a key counts as its prefix (`rsk_` and 8 hex digits).
pub const PREFIX_CHARS: usize = 12;
/// The most addresses and prefixes tracked at once.
pub const MAX_TRACKED: usize = 100_000;

/// When to lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failures within `window` that lock an address or a prefix.
    pub max_failures: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long a lock lasts.
    pub lockout: Duration,
}

impl Default for Limits {
    /// 10 failures in 10 minutes lock for 15 minutes.
    fn default() -> Self {
        Self {
            max_failures: 10,
            window: Duration::from_secs(600),
            lockout: Duration::from_secs(900),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    failures: u32,
    since: Instant,
    locked_until: Option<Instant>,
}

/// The sign-in failure counters.
#[derive(Debug)]
pub struct SigninLimiter {
    limits: Limits,
    map: Mutex<HashMap<String, Counter>>,
}

/// The counters a sign-in attempt is held to: its client address and its key's prefix.
pub fn subjects(addr: Option<std::net::IpAddr>, key: &str) -> [String; 2] {
    let prefix: String = key.trim().chars().take(PREFIX_CHARS).collect();
    [
        format!(
            "addr:{}",
            addr.map_or_else(|| "unknown".into(), |a| a.to_string())
        ),
        format!("key:{prefix}"),
    ]
}

impl SigninLimiter {
    /// No failures yet.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Counter>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Some(wait)` when any of `subjects` is locked: how long until it opens again.
    pub fn locked(&self, subjects: &[String]) -> Option<Duration> {
        let now = Instant::now();
        let m = self.lock();
        subjects
            .iter()
            .filter_map(|s| m.get(s)?.locked_until)
            .filter(|&until| until > now)
            .map(|until| until - now)
            .max()
    }

    /// Counts a failed sign-in against every one of `subjects`; returns `Some(lockout)`
    /// when this failure locked one of them.
    pub fn failed(&self, subjects: &[String]) -> Option<Duration> {
        let now = Instant::now();
        let l = self.limits;
        let mut m = self.lock();
        if m.len() + subjects.len() > MAX_TRACKED {
            m.retain(|_, c| c.locked_until.is_some_and(|u| u > now) || now - c.since < l.window);
            if m.len() + subjects.len() > MAX_TRACKED {
                m.clear();
            }
        }
        let mut locked = None;
        for s in subjects {
            let c = m.entry(s.clone()).or_insert(Counter {
                failures: 0,
                since: now,
                locked_until: None,
            });
            if now - c.since >= l.window || c.locked_until.is_some_and(|u| u <= now) {
                *c = Counter {
                    failures: 0,
                    since: now,
                    locked_until: None,
                };
            }
            c.failures = c.failures.saturating_add(1);
            if c.failures >= l.max_failures && c.locked_until.is_none() {
                c.locked_until = Some(now + l.lockout);
                locked = Some(l.lockout);
            }
        }
        locked
    }
}

/// Whole seconds to put in `Retry-After` (at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tight(max: u32, window_ms: u64, lockout_ms: u64) -> SigninLimiter {
        SigninLimiter::new(Limits {
            max_failures: max,
            window: Duration::from_millis(window_ms),
            lockout: Duration::from_millis(lockout_ms),
        })
    }

    #[test]
    fn failures_lock_the_address_and_the_prefix_for_a_while() {
        let l = tight(3, 60_000, 80);
        let a = subjects(Some("10.0.0.1".parse().unwrap()), "rsk_0123456789abcdef");
        assert!(l.locked(&a).is_none());
        assert!(l.failed(&a).is_none());
        assert!(l.failed(&a).is_none());
        assert_eq!(l.failed(&a), Some(Duration::from_millis(80)));
        assert!(l.locked(&a).is_some());
        // Another address with the same key prefix is locked too; an unrelated one is not.
        let same_prefix = subjects(Some("10.0.0.2".parse().unwrap()), "rsk_01234567ffff");
        assert!(l.locked(&same_prefix).is_some());
        let other = subjects(Some("10.0.0.3".parse().unwrap()), "rsk_ffffffff");
        assert!(l.locked(&other).is_none());
        std::thread::sleep(Duration::from_millis(100));
        assert!(l.locked(&a).is_none(), "the lock ends");
        assert!(l.failed(&a).is_none(), "and counting starts afresh");
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let l = tight(2, 30, 1_000);
        let a = subjects(None, "x");
        assert!(l.failed(&a).is_none());
        std::thread::sleep(Duration::from_millis(40));
        assert!(l.failed(&a).is_none(), "the first failure aged out");
        assert!(l.failed(&a).is_some());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(900)), 900);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
    }
}
