//! API-key authentication and role checks.
//!
//! Keys arrive as `Authorization: Bearer rsk_…` (or `x-api-key`). The registry stores only
//! their SHA-256; a verified key is cached here by that hash for a short time so the hot path
//! does not query the database on every decision. Revoking a key through this service clears
//! the cache at once; a key revoked elsewhere stops working within [`CACHE_TTL`]. Keys never
//! reach a log line or an audit record: only their names do.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use riskstream_registry::{Principal, Role};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a verified key is trusted without asking the registry again.
pub const CACHE_TTL: Duration = Duration::from_secs(30);
const CACHE_MAX: usize = 10_000;

/// Verified keys by the SHA-256 of the key.
#[derive(Debug, Default)]
pub struct KeyCache {
    map: Mutex<HashMap<[u8; 32], (Principal, Instant)>>,
}

impl KeyCache {
    fn get(&self, h: &[u8; 32]) -> Option<Principal> {
        let m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        m.get(h)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(p, _)| p.clone())
    }

    fn put(&self, h: [u8; 32], p: Principal) {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= CACHE_MAX {
            m.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if m.len() >= CACHE_MAX {
                m.clear();
            }
        }
        m.insert(h, (p, Instant::now()));
    }

    /// Forgets every cached key (after a revocation).
    pub fn clear(&self) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Caller {
    /// The key's name, for audit records.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether the key may act as `role`: it holds it, or `admin` (which may do everything).
    pub fn may(&self, role: Role) -> bool {
        self.0.roles.contains(&role) || self.0.roles.contains(&Role::Admin)
    }

    /// Refuses with 403 unless the key has `role` (or `admin`, which may do everything).
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.may(role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "key `{}` lacks the `{}` role needed here",
                self.0.name,
                role.as_str()
            )))
        }
    }
}

/// Checks an API key exactly as every API request is checked (the same cache, the same
/// registry lookup): the caller it belongs to, 401 for an unknown or revoked key, 503 when
/// the registry cannot be asked. The console's sign-in calls this too.
pub async fn authenticate(state: &AppState, key: &str) -> Result<Caller, ApiError> {
    let h: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    if let Some(p) = state.keys.get(&h) {
        return Ok(Caller(p));
    }
    match state.registry.verify_key(key).await {
        Ok(Some(p)) => {
            state.keys.put(h, p.clone());
            Ok(Caller(p))
        }
        Ok(None) => Err(ApiError::unauthorized("unknown or revoked API key")),
        Err(e) => Err(ApiError::unavailable(format!(
            "cannot check the API key: the registry is unavailable ({e})"
        ))),
    }
}

fn key_from(parts: &Parts) -> Option<&str> {
    if let Some(v) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let s = v.to_str().ok()?;
        return s
            .strip_prefix("Bearer ")
            .or_else(|| s.strip_prefix("bearer "))
            .map(str::trim);
    }
    parts
        .headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let Some(key) = key_from(parts) else {
            return Err(ApiError::unauthorized(
                "no API key: send `Authorization: Bearer <key>` (create keys with `riskstream keys create`)",
            ));
        };
        authenticate(state, key).await
    }
}
