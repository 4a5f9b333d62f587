//! PII keys: where they come from, their ids, and which one is active.
//!
//! A key file (TOML, readable by the service's user only) holds every key still in use:
//!
//! ```toml
//! active = "k2"          # new tokens are made with this key
//!
//! [[key]]
//! id = "k1"              # letters, digits, `_` and `-`; at most 32 characters
//! secret = "…64 or more hex digits (32+ random bytes)…"
//!
//! [[key]]
//! id = "k2"
//! secret = "…"
//! ```
//!
//! `RISKSTREAM_PII_KEYS_FILE` names such a file; `RISKSTREAM_PII_KEYS` may instead hold the
//! keys inline as `id:hex,id:hex` (the first is active) for a container that injects
//! secrets as variables. Rotation: add the new key, make it active, keep the old one while
//! data tokenized under it is still joined; every token says which key made it.

use crate::diag::{Diagnostic, Diagnostics};
use zeroize::Zeroizing;

/// The variable naming a key file.
pub const KEYS_FILE_ENV: &str = "RISKSTREAM_PII_KEYS_FILE";
/// The variable holding keys inline (`id:hex,id:hex`, the first active).
pub const KEYS_ENV: &str = "RISKSTREAM_PII_KEYS";

/// The shortest secret accepted, in bytes (HMAC-SHA-256's output size).
const MIN_SECRET: usize = 32;

struct Key {
    id: String,
    secret: Zeroizing<Vec<u8>>,
}

/// A validated set of keys, one of them active. Secrets are wiped from memory on drop and
/// never printed.
#[derive(Clone)]
pub struct Keys {
    keys: std::sync::Arc<Vec<Key>>,
    active: usize,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("ids", &self.ids())
            .field("active", &self.active_id())
            .finish()
    }
}

impl Keys {
    /// The key ids, in file order.
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// The active key's id.
    pub fn active_id(&self) -> &str {
        &self.keys[self.active].id
    }

    pub(crate) fn active_index(&self) -> usize {
        self.active
    }

    pub(super) fn index_of(&self, id: &str) -> Option<usize> {
        self.keys.iter().position(|k| k.id == id)
    }

    pub(super) fn id(&self, i: usize) -> &str {
        &self.keys[i].id
    }

    pub(crate) fn secrets(&self) -> impl Iterator<Item = &[u8]> {
        self.keys.iter().map(|k| k.secret.as_slice())
    }

    /// Reads the keys the environment names: [`KEYS_FILE_ENV`] (a key file) or
    /// [`KEYS_ENV`] (inline); `None` when neither is set.
    pub fn from_env() -> Result<Option<Keys>, Diagnostics> {
        Keys::from_env_vars(KEYS_FILE_ENV, KEYS_ENV)
    }

    /// [`Keys::from_env`] with other variable names (the master keys of `crate::crypt`
    /// share this file format).
    pub(crate) fn from_env_vars(
        file_env: &str,
        inline_env: &str,
    ) -> Result<Option<Keys>, Diagnostics> {
        let file = std::env::var_os(file_env).filter(|v| !v.is_empty());
        let inline = std::env::var(inline_env).ok().filter(|v| !v.is_empty());
        match (file, inline) {
            (Some(_), Some(_)) => {
                let mut d = Diagnostics::new("environment");
                d.push(
                    Diagnostic::new(
                        inline_env,
                        format!("both {file_env} and {inline_env} are set"),
                    )
                    .hint("set one of them: which keys to use must not be a guess"),
                );
                Err(d)
            }
            (Some(path), None) => Keys::from_file(std::path::Path::new(&path)).map(Some),
            (None, Some(text)) => Keys::parse_inline(&text, inline_env).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// Reads a key file.
    pub fn from_file(path: &std::path::Path) -> Result<Keys, Diagnostics> {
        let text = Zeroizing::new(Diagnostics::read(path)?);
        Keys::parse_toml(&text, &path.display().to_string())
    }

    /// Parses `id:hex,id:hex` (the first key is active).
    pub fn parse_inline(text: &str, origin: &str) -> Result<Keys, Diagnostics> {
        let mut d = Diagnostics::new(origin);
        let mut keys = Vec::new();
        for (i, part) in text.split(',').enumerate() {
            let path = format!("key[{i}]");
            match part.trim().split_once(':') {
                Some((id, hex)) => {
                    if let Some(k) = check_key(id.trim(), hex.trim(), &path, &mut d) {
                        keys.push(k);
                    }
                }
                None => d.push(
                    Diagnostic::new(path, "must be `id:secret`")
                        .hint("write e.g. `k1:<64 hex digits>`; separate keys with commas"),
                ),
            }
        }
        finish(keys, Some(0), d)
    }

    /// Parses a key file's text (see the module docs for its shape).
    pub fn parse_toml(text: &str, origin: &str) -> Result<Keys, Diagnostics> {
        let mut d = Diagnostics::new(origin);
        let table: toml::Table = match toml::from_str(text) {
            Ok(t) => t,
            Err(e) => {
                // The message could quote a secret: say where, not what.
                let at = e
                    .span()
                    .map_or(String::new(), |s| format!("at byte {}", s.start));
                d.push(
                    Diagnostic::new(at, "not valid TOML")
                        .hint("see the key file example in the riskstream README"),
                );
                return Err(d);
            }
        };
        for k in table.keys() {
            if k != "active" && k != "key" {
                d.push(
                    Diagnostic::new(k, format!("unknown key `{k}`")).hint("allowed: active, key"),
                );
            }
        }
        let mut keys = Vec::new();
        match table.get("key") {
            Some(toml::Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("key[{i}]");
                    let Some(t) = item.as_table() else {
                        d.push(Diagnostic::new(path, "must be a table").hint("write `[[key]]`"));
                        continue;
                    };
                    for k in t.keys() {
                        if k != "id" && k != "secret" {
                            d.push(
                                Diagnostic::new(
                                    format!("{path}.{k}"),
                                    format!("unknown key `{k}`"),
                                )
                                .hint("allowed: id, secret"),
                            );
                        }
                    }
                    let id = t.get("id").and_then(toml::Value::as_str);
                    let secret = t.get("secret").and_then(toml::Value::as_str);
                    match (id, secret) {
                        (Some(id), Some(secret)) => {
                            if let Some(k) = check_key(id, secret, &path, &mut d) {
                                keys.push(k);
                            }
                        }
                        _ => d.push(
                            Diagnostic::new(path, "needs `id` and `secret` (strings)").hint(
                                "secret = 64 or more hex digits, e.g. from `openssl rand -hex 32`",
                            ),
                        ),
                    }
                }
            }
            Some(_) => d.push(
                Diagnostic::new("key", "must be an array of tables")
                    .hint("write `[[key]]` for each key"),
            ),
            None => {}
        }
        let active = match table.get("active") {
            None if keys.len() == 1 => Some(0),
            None => {
                d.push(
                    Diagnostic::new("active", "missing")
                        .hint("name the key new tokens are made with, e.g. `active = \"k2\"`"),
                );
                None
            }
            Some(toml::Value::String(a)) => match keys.iter().position(|k: &Key| k.id == *a) {
                Some(i) => Some(i),
                None => {
                    d.push(Diagnostic::new(
                        "active",
                        format!("names key `{a}`, which is not declared"),
                    ));
                    None
                }
            },
            Some(_) => {
                d.push(Diagnostic::new("active", "must be a key id (a string)"));
                None
            }
        };
        finish(keys, active, d)
    }
}

fn finish(keys: Vec<Key>, active: Option<usize>, mut d: Diagnostics) -> Result<Keys, Diagnostics> {
    if keys.is_empty() && d.is_empty() {
        d.push(
            Diagnostic::new("key", "no key is declared")
                .hint("add one `[[key]]` with `id` and `secret`"),
        );
    }
    for (i, k) in keys.iter().enumerate() {
        if keys[..i].iter().any(|o| o.id == k.id) {
            d.push(Diagnostic::new(
                format!("key[{i}].id"),
                format!("`{}` is declared twice", k.id),
            ));
        }
    }
    let active = active.filter(|a| *a < keys.len());
    d.finish(())?;
    Ok(Keys {
        keys: std::sync::Arc::new(keys),
        active: active.unwrap_or(0),
    })
}

fn check_key(id: &str, hex: &str, path: &str, d: &mut Diagnostics) -> Option<Key> {
    let mut ok = true;
    if id.is_empty()
        || id.len() > 32
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        d.push(
            Diagnostic::new(format!("{path}.id"), format!("`{id}` is not a key id"))
                .hint("1 to 32 letters, digits, `_` or `-` (it is written into every token)"),
        );
        ok = false;
    }
    let secret = decode_hex(hex);
    match &secret {
        None => {
            // Never echo the secret.
            d.push(
                Diagnostic::new(format!("{path}.secret"), "is not hexadecimal")
                    .hint("write the secret as hex digits, e.g. from `openssl rand -hex 32`"),
            );
            ok = false;
        }
        Some(s) if s.len() < MIN_SECRET => {
            d.push(
                Diagnostic::new(
                    format!("{path}.secret"),
                    format!("is {} bytes; at least {MIN_SECRET} are needed", s.len()),
                )
                .hint("generate one with `openssl rand -hex 32`"),
            );
            ok = false;
        }
        Some(_) => {}
    }
    if !ok {
        return None;
    }
    Some(Key {
        id: id.to_string(),
        secret: secret?,
    })
}

fn decode_hex(s: &str) -> Option<Zeroizing<Vec<u8>>> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() % 2 != 0 {
        return None;
    }
    let nib = |c: u8| (c as char).to_digit(16).map(|v| v as u8);
    let mut out = Zeroizing::new(Vec::with_capacity(b.len() / 2));
    for pair in b.chunks(2) {
        out.push((nib(pair[0])? << 4) | nib(pair[1])?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const S1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn key_files_declare_ids_and_the_active_key() {
        let text = format!(
            "active = \"k2\"\n[[key]]\nid = \"k1\"\nsecret = \"{S1}\"\n[[key]]\nid = \"k2\"\nsecret = \"{S1}ff\"\n"
        );
        let k = Keys::parse_toml(&text, "keys.toml").unwrap();
        assert_eq!(k.ids(), ["k1", "k2"]);
        assert_eq!(k.active_id(), "k2");
        assert!(!format!("{k:?}").contains(S1));
        let one = Keys::parse_inline(&format!("a:{S1}"), "env").unwrap();
        assert_eq!(one.active_id(), "a");
    }

    #[test]
    fn every_key_problem_is_reported_at_once_without_the_secret() {
        let text = "active = \"k9\"\ncolour = 1\n[[key]]\nid = \"bad id\"\nsecret = \"abc\"\n\
                    [[key]]\nid = \"k1\"\nsecret = \"00ff\"\n[[key]]\nid = \"k2\"\n";
        let d = Keys::parse_toml(text, "keys.toml").unwrap_err();
        let all = d.to_string();
        for want in [
            "colour: unknown key",
            "key[0].id: `bad id` is not a key id",
            "key[0].secret: is not hexadecimal",
            "key[1].secret: is 2 bytes; at least 32",
            "key[2]: needs `id` and `secret`",
            "active: names key `k9`",
        ] {
            assert!(all.contains(want), "missing `{want}` in\n{all}");
        }
        assert!(!all.contains("00ff"));
        let d = Keys::parse_inline(&format!("k1:{S1},k1:{S1},oops"), "env").unwrap_err();
        let all = d.to_string();
        assert!(
            all.contains("declared twice") && all.contains("key[2]: must be `id:secret`"),
            "{all}"
        );
    }
}
