//! The models page's drift and rule sections: a view over the report
//! `GET /v1/monitoring/drift` answers ([`riskstream_server::drift::report`]), as tables
//! and SVG charts drawn on the server.
//!
//! ```text
//!  DriftReport ─▶ per model: score PSI + band shares (paired bars: reference | recent)
//!              │             input PSI, largest first (bars, lines at 0.10 and 0.25)
//!              └▶ rules: precision from labels (bars), hit rate of the recent decisions
//! ```

use riskstream_core::time::format_micros;
use riskstream_server::drift::{DriftReport, Psi, Sample};

/// Width of the charts (SVG units).
pub const W: f64 = 300.0;
/// Height of a band chart.
pub const BAND_H: f64 = 80.0;
/// Height of one bar in the horizontal bar charts.
pub const ROW_H: f64 = 16.0;
/// PSI at the right edge of the feature charts.
const PSI_MAX: f64 = 0.5;

/// A bar (coordinates in the chart's units).
#[derive(Debug)]
pub struct Bar {
    /// Left.
    pub x: String,
    /// Top.
    pub y: String,
    /// Width.
    pub w: String,
    /// Height.
    pub h: String,
    /// CSS class.
    pub class: &'static str,
    /// Tooltip.
    pub title: String,
}

/// One PSI, ready to show.
#[derive(Debug)]
pub struct PsiView {
    /// `score` or the input's name.
    pub name: String,
    /// Four decimals.
    pub psi: String,
    /// Exact, for tests and scripts (`data-value`).
    pub exact: String,
    /// The usual reading.
    pub reading: String,
    /// `ok`, `warn` or `bad` (below 0.10, to 0.25, above).
    pub class: &'static str,
    /// Values compared.
    pub reference_n: usize,
    /// Values compared.
    pub recent_n: usize,
    /// Band shares, reference and recent side by side.
    pub bands: Vec<Bar>,
}

/// One model's drift.
#[derive(Debug)]
pub struct ModelView {
    /// Registry id.
    pub id: String,
    /// Slot name.
    pub name: String,
    /// champion, challenger, shadow.
    pub role: String,
    /// Its score's PSI.
    pub score: Option<PsiView>,
    /// Its inputs' PSI, largest first.
    pub features: Vec<PsiView>,
    /// The inputs as bars.
    pub feature_bars: Vec<Bar>,
    /// Height of that chart.
    pub feature_h: f64,
    /// x of 0.10 and 0.25 on it.
    pub x10: String,
    /// x of 0.25.
    pub x25: String,
}

/// One rule.
#[derive(Debug)]
pub struct RuleView {
    /// Name.
    pub rule: String,
    /// Labelled decisions it fired on.
    pub labelled_hits: usize,
    /// Of which fraud.
    pub frauds: usize,
    /// Percent, two decimals, or –.
    pub precision: String,
    /// Exact.
    pub exact: String,
    /// Recent decisions it fired on.
    pub recent_hits: usize,
    /// Percent.
    pub hit_rate: String,
}

/// The sections.
#[derive(Debug)]
pub struct DriftView {
    /// The reference sample, in words.
    pub reference: String,
    /// The recent sample.
    pub recent: String,
    /// Whether decisions carry feature values.
    pub features_stored: bool,
    /// Per model.
    pub models: Vec<ModelView>,
    /// Per rule.
    pub rules: Vec<RuleView>,
    /// Precision bars.
    pub rule_bars: Vec<Bar>,
    /// Height of the rule chart.
    pub rule_h: f64,
    /// Labelled decisions behind the precision.
    pub labelled: usize,
    /// The window as asked (for the form).
    pub from: String,
    /// The window as asked.
    pub to: String,
}

fn n1(v: f64) -> String {
    format!("{v:.1}")
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{:.2} %", v * 100.0))
}

fn sample(s: &Sample) -> String {
    match (s.from, s.to) {
        (Some(a), Some(b)) => format!(
            "{} decisions, {} to {} UTC",
            s.decisions,
            format_micros(a - a % 1_000_000),
            format_micros(b - b % 1_000_000)
        ),
        _ => "no decisions".into(),
    }
}

fn class_of(psi: f64) -> &'static str {
    if psi < 0.10 {
        "ok"
    } else if psi <= 0.25 {
        "warn"
    } else {
        "bad"
    }
}

fn band_bars(p: &Psi) -> Vec<Bar> {
    let max = p
        .bands
        .iter()
        .flat_map(|b| [b.reference, b.recent])
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let slot = W / p.bands.len().max(1) as f64;
    let bound =
        |v: Option<f64>, inf: &str| v.map_or_else(|| inf.to_string(), |v| format!("{v:.4}"));
    let mut out = Vec::new();
    for (i, b) in p.bands.iter().enumerate() {
        let range = format!("[{}, {})", bound(b.lo, "−∞"), bound(b.hi, "+∞"));
        for (k, (share, class, what)) in [
            (b.reference, "ref", "reference"),
            (b.recent, "bar", "recent"),
        ]
        .into_iter()
        .enumerate()
        {
            let h = share / max * BAND_H;
            out.push(Bar {
                x: n1(i as f64 * slot + k as f64 * slot / 2.0),
                y: n1(BAND_H - h),
                w: n1(slot / 2.0 - 1.0),
                h: n1(h),
                class,
                title: format!("{range}: {what} {:.2} %", share * 100.0),
            });
        }
    }
    out
}

fn view(p: &Psi) -> PsiView {
    PsiView {
        name: p.name.clone(),
        psi: format!("{:.4}", p.psi),
        exact: format!("{:?}", p.psi),
        reading: p.reading.clone(),
        class: class_of(p.psi),
        reference_n: p.reference_n,
        recent_n: p.recent_n,
        bands: band_bars(p),
    }
}

fn hbars<'a>(items: impl Iterator<Item = (&'a str, f64, &'static str)>, max: f64) -> Vec<Bar> {
    items
        .enumerate()
        .map(|(i, (name, v, class))| Bar {
            x: "0".into(),
            y: n1(i as f64 * ROW_H + 1.0),
            w: n1((v / max).clamp(0.0, 1.0) * W),
            h: n1(ROW_H - 2.0),
            class,
            title: format!("{name}: {v:.4}"),
        })
        .collect()
}

/// The view of `r`; `from` and `to` as the page was asked (kept in the window form).
pub fn drift_view(r: &DriftReport, from: &str, to: &str) -> DriftView {
    let models = r
        .models
        .iter()
        .map(|m| {
            let bars = hbars(
                m.features
                    .iter()
                    .map(|f| (f.name.as_str(), f.psi, class_of(f.psi))),
                PSI_MAX,
            );
            ModelView {
                id: m.model.clone(),
                name: m.name.clone(),
                role: m.role.clone(),
                score: m.score.as_ref().map(view),
                features: m.features.iter().map(view).collect(),
                feature_h: m.features.len() as f64 * ROW_H,
                feature_bars: bars,
                x10: n1(0.10 / PSI_MAX * W),
                x25: n1(0.25 / PSI_MAX * W),
            }
        })
        .collect();
    let rule_bars = hbars(
        r.rules
            .iter()
            .map(|x| (x.rule.as_str(), x.precision.unwrap_or(0.0), "bar")),
        1.0,
    );
    DriftView {
        reference: sample(&r.reference),
        recent: sample(&r.recent),
        features_stored: r.features_stored,
        rules: r
            .rules
            .iter()
            .map(|x| RuleView {
                rule: x.rule.clone(),
                labelled_hits: x.labelled_hits,
                frauds: x.frauds,
                precision: pct(x.precision),
                exact: x.precision.map_or_else(String::new, |v| format!("{v:?}")),
                recent_hits: x.recent_hits,
                hit_rate: pct(x.hit_rate),
            })
            .collect(),
        rule_h: r.rules.len() as f64 * ROW_H,
        rule_bars,
        models,
        labelled: r.labelled,
        from: from.to_string(),
        to: to.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_and_bars_scale_to_their_largest() {
        let p = riskstream_server::drift::psi("score", &[1.0, 2.0, 3.0, 4.0], &[4.0, 4.0]).unwrap();
        let v = view(&p);
        assert_eq!(v.class, "bad");
        // Edges 1, 2, 3, 4: five bands, two bars each; the recent sample's last band
        // (all of it) is the fullest.
        assert_eq!(v.bands.len(), 10);
        assert_eq!(v.bands[9].h, n1(BAND_H));
        assert_eq!(v.bands[9].y, n1(0.0));
        assert_eq!(v.bands[8].h, n1(BAND_H / 4.0), "a quarter of the reference");
        let b = hbars([("a", 0.25, "warn"), ("b", 1.0, "bad")].into_iter(), 0.5);
        assert_eq!((b[0].w.as_str(), b[1].w.as_str()), ("150.0", "300.0"));
        assert_eq!(class_of(0.05), "ok");
        assert_eq!(class_of(0.1), "warn");
    }
}
