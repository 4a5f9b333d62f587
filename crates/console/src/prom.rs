//! Reading the service's own Prometheus metrics (the text `/metrics` serves) for the
//! dashboard: sums of counters by label, and quantiles of histograms.
//!
//! Why read the text rather than keep a second set of counters: the dashboard must show
//! what the metrics endpoint shows — one source of truth, the recorder the handlers
//! already update — and the exposition format is stable and simple. Quantiles are
//! estimated as Prometheus' `histogram_quantile` does: linear interpolation inside the
//! bucket that holds the rank, so they are as fine as the service's buckets.

/// One sample line: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric's name (with `_bucket`, `_sum`, `_count` for histograms).
    pub name: String,
    /// Label pairs, in order.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// The value of label `k`.
    pub fn label(&self, k: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses `key="value",...` (with `\"`, `\\` and `\n` escapes); `None` if malformed.
fn labels(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let mut key = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        if chars.next() != Some('"') {
            return None;
        }
        let mut val = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => val.push('\n'),
                    c => val.push(c),
                },
                c => val.push(c),
            }
        }
        out.push((key.trim().to_string(), val));
    }
}

/// The samples of an exposition text; comments and malformed lines are skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (head, value) = match line.rfind('}') {
            Some(close) => (&line[..=close], line[close + 1..].trim()),
            // An opened label set that never closes is malformed.
            None if line.contains('{') => continue,
            None => match line.split_once(char::is_whitespace) {
                Some((h, v)) => (h, v.trim()),
                None => continue,
            },
        };
        // A timestamp may follow the value.
        let value = value.split_whitespace().next().unwrap_or("");
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => match v.parse::<f64>() {
                Ok(v) => v,
                Err(_) => continue,
            },
        };
        let (name, labels) = match head.split_once('{') {
            Some((n, rest)) => match labels(rest.trim_end_matches('}')) {
                Some(l) => (n.trim(), l),
                None => continue,
            },
            None => (head.trim(), Vec::new()),
        };
        out.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    out
}

/// The sum of every sample named `name` whose labels pass `keep`.
pub fn sum(samples: &[Sample], name: &str, keep: impl Fn(&Sample) -> bool) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && keep(s))
        .map(|s| s.value)
        .sum()
}

/// The `q` quantile (0 < q < 1) of histogram `name` (its `_bucket` samples, summed over
/// other labels), interpolated linearly inside the bucket holding the rank; `None` without
/// observations. A rank in the `+Inf` bucket answers the largest finite bound.
pub fn quantile(samples: &[Sample], name: &str, q: f64) -> Option<f64> {
    let bucket = format!("{name}_bucket");
    let mut bounds: Vec<(f64, f64)> = Vec::new();
    for s in samples.iter().filter(|s| s.name == bucket) {
        let le = match s.label("le")? {
            "+Inf" => f64::INFINITY,
            v => v.parse().ok()?,
        };
        match bounds.iter_mut().find(|(b, _)| *b == le) {
            Some((_, n)) => *n += s.value,
            None => bounds.push((le, s.value)),
        }
    }
    bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = bounds.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lo, mut below) = (0.0, 0.0);
    for &(le, n) in &bounds {
        if n >= rank {
            if le.is_infinite() {
                return Some(lo);
            }
            let inside = n - below;
            let frac = if inside > 0.0 {
                (rank - below) / inside
            } else {
                1.0
            };
            return Some(lo + (le - lo) * frac);
        }
        lo = le;
        below = n;
    }
    Some(lo)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TEXT: &str = r#"# TYPE riskstream_decisions_total counter
riskstream_decisions_total{outcome="approve",route="champion"} 90
riskstream_decisions_total{outcome="review",route="champion"} 8
riskstream_decisions_total{outcome="decline",route="challenger"} 2
weird{a="x\"y,z"} 1 1700000000000
# TYPE riskstream_decision_seconds histogram
riskstream_decision_seconds_bucket{le="0.0001"} 50
riskstream_decision_seconds_bucket{le="0.0002"} 90
riskstream_decision_seconds_bucket{le="0.0005"} 100
riskstream_decision_seconds_bucket{le="+Inf"} 100
riskstream_decision_seconds_sum 0.012
riskstream_decision_seconds_count 100
broken{a="1" 3
"#;

    #[test]
    fn counters_sum_by_label() {
        let s = parse(TEXT);
        assert_eq!(sum(&s, "riskstream_decisions_total", |_| true), 100.0);
        assert_eq!(
            sum(&s, "riskstream_decisions_total", |x| x.label("outcome")
                == Some("review")),
            8.0
        );
        let w = s.iter().find(|x| x.name == "weird").unwrap();
        assert_eq!(w.label("a"), Some("x\"y,z"));
        assert_eq!(w.value, 1.0);
        assert!(!s.iter().any(|x| x.name.starts_with("broken")));
        assert_eq!(
            sum(&s, "riskstream_decision_seconds_count", |_| true),
            100.0
        );
    }

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let s = parse(TEXT);
        let p50 = quantile(&s, "riskstream_decision_seconds", 0.5).unwrap();
        assert!((p50 - 0.0001).abs() < 1e-12, "{p50}");
        let p70 = quantile(&s, "riskstream_decision_seconds", 0.7).unwrap();
        assert!((p70 - 0.00015).abs() < 1e-12, "{p70}");
        let p99 = quantile(&s, "riskstream_decision_seconds", 0.99).unwrap();
        assert!((p99 - 0.00047).abs() < 1e-12, "{p99}");
        assert_eq!(quantile(&s, "nothing", 0.5), None);
        let inf = parse("h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 10\n");
        assert_eq!(quantile(&inf, "h", 0.99), Some(1.0));
    }
}
