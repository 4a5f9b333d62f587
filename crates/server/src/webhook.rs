//! The alert webhook, shared by every part of the service that raises alerts (the forecast
//! early warning, the monitoring alert rules) and by `riskstream forecast watch`: its
//! config keys, the HMAC-SHA256 signature and the POST with retries.
//!
//! ```text
//!  alerts ─▶ JSON body ─▶ POST url  (content-type: application/json,
//!                                    x-riskstream-signature: sha256=<hex HMAC of the body>)
//!                 └─ a connection error, a timeout or a non-2xx answer: retry after
//!                    0.5 s, 1 s, 2 s, … (`retries` times)
//! ```
//!
//! `http://` or `https://` (rustls, the system's roots plus `webhook_ca_file`; see
//! [`crate::client`]). The secret comes from an environment variable the config names, never
//! from the file, and is never printed.

use crate::client;

use riskstream_core::{Diagnostic, Diagnostics};
use std::path::PathBuf;
use std::time::Duration;

/// An alert webhook.
#[derive(Clone)]
pub struct Webhook {
    /// `http://` or `https://` URL.
    pub url: String,
    /// Extra trusted roots for an `https://` URL (PEM), beside the system's.
    pub ca_file: Option<PathBuf>,
    /// HMAC-SHA256 key (from the environment variable the config names), if any.
    pub secret: Option<Vec<u8>>,
    /// Per attempt.
    pub timeout: Duration,
    /// Attempts after the first.
    pub retries: u32,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret is never printed.
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("ca_file", &self.ca_file)
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

/// The webhook keys of a config section, as written.
#[derive(Debug, Clone, Default)]
pub struct RawWebhook<'a> {
    /// `webhook_url`.
    pub url: Option<&'a str>,
    /// `webhook_secret_env`.
    pub secret_env: Option<&'a str>,
    /// `webhook_timeout` (a duration, default 5s).
    pub timeout: Option<&'a str>,
    /// `webhook_retries` (0 to 20, default 3).
    pub retries: Option<i64>,
    /// `webhook_ca_file`, already resolved against the config's directory.
    pub ca_file: Option<PathBuf>,
}

/// Checks the webhook keys of `[section]`, reporting every problem to `diags` under
/// `section.webhook_*`; the webhook, when a URL is given.
pub fn read(diags: &mut Diagnostics, section: &str, c: RawWebhook<'_>) -> Option<Webhook> {
    let key = |k: &str| format!("{section}.{k}");
    let webhook = c.url.map(|url| {
        let https = url.starts_with("https://");
        let host_given = url
            .split_once("://")
            .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
        if !(https || url.starts_with("http://"))
            || !host_given
            || url.parse::<axum::http::Uri>().is_err()
        {
            diags.push(
                Diagnostic::new(
                    key("webhook_url"),
                    format!("`{url}` is not an http:// or https:// URL with a host"),
                )
                .hint("e.g. https://alerts.internal/hook"),
            );
        }
        if let Some(p) = &c.ca_file {
            if !https {
                diags.push(
                    Diagnostic::new(key("webhook_ca_file"), "given for a plain http:// webhook_url")
                        .hint("trusted roots only matter for an https:// URL"),
                );
            } else if let Err(e) = riskstream_http::client_tls_config(Some(p)) {
                diags.push(Diagnostic::new(key("webhook_ca_file"), e).hint(
                    "a PEM file with the certificate(s) of the CA that signed the receiver's certificate",
                ));
            }
        }
        let secret = c
            .secret_env
            .and_then(|var| match std::env::var(var) {
                Ok(s) if !s.is_empty() => Some(s.into_bytes()),
                _ => {
                    diags.push(Diagnostic::new(
                        key("webhook_secret_env"),
                        format!("the environment variable `{var}` is not set or empty"),
                    ));
                    None
                }
            });
        let timeout = riskstream_core::diag::positive_duration(
            diags,
            &key("webhook_timeout"),
            c.timeout,
            "5s",
        )
        .unwrap_or(Duration::from_secs(5));
        let retries = c.retries.unwrap_or(3);
        if !(0..=20).contains(&retries) {
            diags.push(Diagnostic::new(
                key("webhook_retries"),
                format!("{retries} is out of range: give 0 to 20"),
            ));
        }
        Webhook {
            url: url.to_string(),
            ca_file: c.ca_file.clone(),
            secret,
            timeout,
            retries: retries.clamp(0, 20) as u32,
        }
    });
    if webhook.is_none() && c.ca_file.is_some() {
        diags.push(Diagnostic::new(
            key("webhook_ca_file"),
            "given without webhook_url",
        ));
    }
    if webhook.is_none() && c.secret_env.is_some() {
        diags.push(Diagnostic::new(
            key("webhook_secret_env"),
            "given without webhook_url",
        ));
    }
    webhook
}

/// `sha256=<hex>` of HMAC-SHA256(secret, body): the `X-Riskstream-Signature` header.
pub fn signature(secret: &[u8], body: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut m = match Hmac::<sha2::Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        // HMAC takes keys of any length; this cannot happen.
        Err(_) => return String::new(),
    };
    m.update(body.as_bytes());
    let tag = m.finalize().into_bytes();
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256=");
    for b in tag {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// POSTs `body` (JSON) to the webhook (`http://` or `https://`, see [`crate::client`]): each
/// attempt within `timeout`, `retries` more after a failure (a connection or TLS error, a
/// timeout or a non-2xx answer), waiting 0.5 s, 1 s, 2 s, … between them. Returns the
/// attempts made, or the last failure.
pub async fn deliver(w: &Webhook, body: &str) -> Result<u32, String> {
    let mut headers = Vec::new();
    if let Some(s) = &w.secret {
        headers.push(("x-riskstream-signature", signature(s, body)));
    }
    let mut last = String::new();
    for attempt in 0..=w.retries {
        if attempt > 0 {
            let wait = 500u64.saturating_mul(1 << (attempt - 1).min(6));
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        match client::post(&w.url, &headers, body, w.timeout, w.ca_file.as_deref()).await {
            Ok(status) if (200..300).contains(&status) => return Ok(attempt + 1),
            Ok(status) => last = format!("{} answered {status}", w.url),
            Err(e) => last = format!("{}: {e}", w.url),
        }
    }
    Err(format!("{last} (after {} attempts)", w.retries + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn every_webhook_problem_is_reported_under_its_section() {
        let mut d = Diagnostics::default();
        let w = read(
            &mut d,
            "alerts",
            RawWebhook {
                url: Some("ftp://example.org/hook"),
                secret_env: Some("RISKSTREAM_TEST_NO_SUCH_VARIABLE_SET"),
                timeout: Some("0s"),
                retries: Some(99),
                ca_file: Some("alerts-ca.pem".into()),
            },
        );
        assert!(w.is_some());
        let text = format!("{d:?}");
        for k in [
            "alerts.webhook_url",
            "alerts.webhook_secret_env",
            "alerts.webhook_timeout",
            "alerts.webhook_retries",
            "alerts.webhook_ca_file",
        ] {
            assert!(text.contains(k), "{k} in {text}");
        }
        let mut d = Diagnostics::default();
        assert!(read(
            &mut d,
            "forecast",
            RawWebhook {
                secret_env: Some("X"),
                ..Default::default()
            }
        )
        .is_none());
        assert!(format!("{d:?}").contains("given without webhook_url"));
    }
}
