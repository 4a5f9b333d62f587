//! `[time]`: event-time settings (out-of-orderness bound, late-event policy, TTL).
//!
//! Each key is checked on its own; a bad one keeps its default and the others are read.

use super::keys::duration;
use super::{LatePolicy, TimeSettings};
use riskstream_core::diag::{did_you_mean, Diagnostic, Diagnostics};

/// The `[time]` table (`v`), or the defaults when there is none.
pub(super) fn parse_time(v: Option<&toml::Value>, diags: &mut Diagnostics) -> TimeSettings {
    let mut time = TimeSettings {
        max_out_of_orderness: 0,
        late_events: LatePolicy::DeadLetter,
        ttl: None,
    };
    if let Some(v) = v {
        let keys = ["max_out_of_orderness", "late_events", "ttl"];
        match v.as_table() {
            None => diags.push(
                Diagnostic::new("time", "must be a table")
                    .hint("write `[time]` followed by its keys"),
            ),
            Some(t) => {
                for (k, val) in t {
                    let path = format!("time.{k}");
                    match (k.as_str(), val.as_str()) {
                        ("max_out_of_orderness", Some(s)) => {
                            time.max_out_of_orderness = duration(s, &path, diags).unwrap_or(0)
                        }
                        ("ttl", Some(s)) => time.ttl = duration(s, &path, diags),
                        ("late_events", Some(s)) => {
                            match toml::Value::String(s.to_string()).try_into::<LatePolicy>() {
                                Ok(p) => time.late_events = p,
                                Err(_) => diags.push(
                                    Diagnostic::new(path, format!("unknown policy `{s}`"))
                                        .hint("use update, drop or dead_letter"),
                                ),
                            }
                        }
                        (k, None) if keys.contains(&k) => {
                            diags.push(Diagnostic::new(path, "must be a string"))
                        }
                        (k, _) => {
                            let d = Diagnostic::new(path, format!("unknown key `{k}`"));
                            diags.push(match did_you_mean(k, keys) {
                                Some(h) => d.hint(h),
                                None => d.hint(format!("allowed: {}", keys.join(", "))),
                            });
                        }
                    }
                }
            }
        }
    }
    time
}
