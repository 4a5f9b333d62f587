//! Console sessions: held in memory, ended by logout, idle expiry or the end of the process.
//!
//! A session is made by signing in with an API key, checked exactly as the API checks it
//! ([`riskstream_server::auth::authenticate`]). What the session keeps is the key's **name
//! and roles** (the [`Principal`]), never the key: the cookie carries a random 256-bit
//! session id, and the table here is keyed by the SHA-256 of that id, so neither the key
//! nor a usable cookie sits in memory. Every [`RECHECK`] the key's name is looked up again
//! in the registry: a revoked key ends its sessions, changed roles take effect.
//!
//! Each session has its own random CSRF token, put into every form and compared on every
//! POST. The cookie is `HttpOnly` and `SameSite=Strict` (and `Secure` when the service
//! serves TLS), scoped to `/console`.
//!
//! Sessions end with the process: a restart signs everyone out. That is deliberate for a
//! first version (nothing to store, nothing to leak from disk); several instances behind a
//! load balancer need sticky sessions until sessions move to the registry.

use riskstream_registry::Principal;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "rs_console";
/// The cookie of the sign-in form's CSRF token (before there is a session).
pub const SIGNIN_COOKIE: &str = "rs_console_signin";
/// How often a session's key is looked up again (revocation, role changes).
pub const RECHECK: Duration = Duration::from_secs(30);
/// The most sessions held at once; beyond it the least recently used one ends.
pub const MAX_SESSIONS: usize = 10_000;

/// A signed-in analyst.
#[derive(Debug, Clone)]
pub struct Session {
    /// The key's name and roles (not the key).
    pub principal: Principal,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    last_seen: Instant,
    checked: Instant,
}

impl Session {
    /// Whether the key's name and roles are due to be looked up again.
    pub fn due_for_check(&self) -> bool {
        self.checked.elapsed() >= RECHECK
    }
}

/// The session table.
#[derive(Debug)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
    idle: Duration,
}

/// 32 random bytes from the operating system, as 64 hex characters.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    // The OS generator failing is not recoverable here; a fixed token would be worse.
    getrandom::fill(&mut b).expect("the operating system's random generator failed");
    hex::encode(b)
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Sessions {
    /// An empty table whose sessions end after `idle` unused.
    pub fn new(idle: Duration) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            idle,
        }
    }

    /// How long an unused session lasts.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a session for `principal`; returns the id to put in the cookie.
    pub fn create(&self, principal: Principal) -> String {
        let id = random_token();
        let now = Instant::now();
        let mut m = self.lock();
        let idle = self.idle;
        m.retain(|_, s| s.last_seen.elapsed() < idle);
        if m.len() >= MAX_SESSIONS {
            if let Some(oldest) = m.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| *k) {
                m.remove(&oldest);
            }
        }
        m.insert(
            digest(&id),
            Session {
                principal,
                csrf: random_token(),
                last_seen: now,
                checked: now,
            },
        );
        id
    }

    /// The live session with this id (its idle clock restarts), or `None` (unknown,
    /// ended, or idle too long: then it is removed).
    pub fn get(&self, id: &str) -> Option<Session> {
        let k = digest(id);
        let mut m = self.lock();
        let s = m.get_mut(&k)?;
        if s.last_seen.elapsed() >= self.idle {
            m.remove(&k);
            return None;
        }
        s.last_seen = Instant::now();
        Some(s.clone())
    }

    /// After a recheck: the key's current roles (`Some`), or the key is gone (`None`: the
    /// session ends).
    pub fn refresh(&self, id: &str, principal: Option<Principal>) {
        let k = digest(id);
        let mut m = self.lock();
        match principal {
            Some(p) => {
                if let Some(s) = m.get_mut(&k) {
                    s.principal = p;
                    s.checked = Instant::now();
                }
            }
            None => {
                m.remove(&k);
            }
        }
    }

    /// Ends the session (logout).
    pub fn remove(&self, id: &str) {
        self.lock().remove(&digest(id));
    }

    /// Sessions held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// A `Set-Cookie` value for the console's cookies: HttpOnly, SameSite=Strict, path
/// `/console`, `Secure` under TLS; `max_age` 0 deletes it.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<u64>) -> String {
    let mut c = format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    c
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use riskstream_registry::Role;

    fn p() -> Principal {
        Principal {
            name: "ana".into(),
            roles: vec![Role::Analyst],
        }
    }

    #[test]
    fn ids_and_tokens_are_256_bit_and_differ() {
        let s = Sessions::new(Duration::from_secs(60));
        let a = s.create(p());
        let b = s.create(p());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        let (sa, sb) = (s.get(&a).unwrap(), s.get(&b).unwrap());
        assert_ne!(sa.csrf, sb.csrf);
        assert_eq!(sa.csrf.len(), 64);
        assert!(s.get("nope").is_none());
    }

    #[test]
    fn idle_sessions_end_and_logout_ends_them() {
        let s = Sessions::new(Duration::from_millis(30));
        let a = s.create(p());
        assert!(s.get(&a).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(s.get(&a).is_none(), "idle too long");
        let s = Sessions::new(Duration::from_secs(60));
        let a = s.create(p());
        s.remove(&a);
        assert!(s.get(&a).is_none());
        let b = s.create(p());
        s.refresh(&b, None);
        assert!(s.get(&b).is_none(), "a revoked key ends its session");
    }

    #[test]
    fn the_table_keeps_no_usable_id() {
        let s = Sessions::new(Duration::from_secs(60));
        let a = s.create(p());
        let dump = format!("{:?}", s);
        assert!(!dump.contains(&a));
    }

    #[test]
    fn cookies_parse_and_carry_their_attributes() {
        assert_eq!(cookie("a=1; rs_console=xyz; b=2", COOKIE), Some("xyz"));
        assert_eq!(cookie("rs_console_signin=1", COOKIE), None);
        let c = set_cookie(COOKIE, "v", true, None);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(!set_cookie(COOKIE, "v", false, Some(0)).contains("Secure"));
        assert!(same_token("abc", "abc") && !same_token("abc", "abd") && !same_token("a", "ab"));
    }
}
