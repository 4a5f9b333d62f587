//! A model's monitoring report: discrimination, calibration by score band, and the
//! stability of a later sample against the development one, as text and as an HTML page
//! with charts.
//!
//! ```text
//!  development sample: scores, PD, outcomes ─▶ AUC / Gini / KS, calibration by band
//!  later sample:       scores, PD[, outcomes] ─▶ PSI over the development bands, CSI per
//!                                               characteristic[, AUC / calibration]
//!  Report ─▶ text() for the terminal, html() for a page with three SVG charts
//! ```
//!
//! Why bands from the development scores: PSI compares the share of each sample in the
//! same score ranges, so the ranges must be fixed by the sample the model was built on
//! (deciles by default), as validation teams compute it. PSI reads by the usual rule of
//! thumb: under 0.10 stable, 0.10–0.25 a shift to look into, over 0.25 a shift that
//! calls for a review of the model.
//!
//! The HTML is self-contained (inline SVG, no scripts, no external assets) so it can be
//! attached to a validation file or mailed; every text taken from the data is escaped.

use crate::monitor::{self, Band, Discrimination};
use std::fmt::Write as _;

/// One sample's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Where it came from (a file name).
    pub name: String,
    /// Rows.
    pub n: usize,
    /// Share of bad outcomes, when labelled.
    pub bad_rate: Option<f64>,
    /// AUC / Gini / KS of PD against the outcome, when labelled.
    pub discrimination: Option<Discrimination>,
    /// Mean PD and bad rate per score band, when labelled.
    pub calibration: Vec<Band>,
    /// Rows per score band (the development sample's bands).
    pub counts: Vec<u64>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The model file.
    pub model: String,
    /// Its characteristics.
    pub characteristics: Vec<String>,
    /// Score band edges, from the development sample.
    pub edges: Vec<f64>,
    /// The development sample.
    pub dev: Sample,
    /// A later sample, if compared.
    pub recent: Option<Sample>,
    /// Population stability index of the scores, later against development.
    pub psi: Option<f64>,
    /// Characteristic stability index per characteristic (scorecards).
    pub csi: Vec<(String, f64)>,
}

fn counts(scores: &[f64], edges: &[f64]) -> Vec<u64> {
    let mut c = vec![0u64; edges.len() + 1];
    for &s in scores {
        c[edges.partition_point(|&e| e <= s)] += 1;
    }
    c
}

fn sample(name: &str, scores: &[f64], pd: &[f64], y: Option<&[bool]>, edges: &[f64]) -> Sample {
    let (bad_rate, discrimination, calibration) = match y {
        Some(y) if !y.is_empty() => (
            Some(y.iter().filter(|&&b| b).count() as f64 / y.len() as f64),
            Some(monitor::discrimination(pd, y)),
            monitor::calibration(scores, pd, y, edges),
        ),
        _ => (None, None, Vec::new()),
    };
    Sample {
        name: name.to_string(),
        n: scores.len(),
        bad_rate,
        discrimination,
        calibration,
        counts: counts(scores, edges),
    }
}

/// The usual reading of a PSI or CSI value.
pub fn stability(psi: f64) -> &'static str {
    if psi < 0.10 {
        "stable"
    } else if psi <= 0.25 {
        "some shift: look into it"
    } else {
        "major shift: review the model"
    }
}

impl Report {
    /// A report on the development sample (`scores`, `pd`, outcomes `y`, true = bad),
    /// with `bands` score bands cut at its quantiles.
    pub fn new(
        model: &str,
        sample_name: &str,
        characteristics: Vec<String>,
        scores: &[f64],
        pd: &[f64],
        y: &[bool],
        bands: usize,
    ) -> Report {
        let edges = monitor::quantile_edges(scores, bands);
        Report {
            model: model.to_string(),
            characteristics,
            dev: sample(sample_name, scores, pd, Some(y), &edges),
            edges,
            recent: None,
            psi: None,
            csi: Vec::new(),
        }
    }

    /// Adds a later sample: its PSI against development over the same bands, the CSI
    /// per characteristic computed by the caller, and its own figures when labelled.
    pub fn compare(
        &mut self,
        name: &str,
        scores: &[f64],
        pd: &[f64],
        y: Option<&[bool]>,
        csi: Vec<(String, f64)>,
    ) {
        let s = sample(name, scores, pd, y, &self.edges);
        self.psi = Some(monitor::psi_counts(&self.dev.counts, &s.counts));
        self.recent = Some(s);
        self.csi = csi;
    }

    /// Band `k` as text: `< 512`, `512 – 540`, `≥ 610`.
    pub fn band_label(&self, k: usize) -> String {
        match (k.checked_sub(1).map(|i| self.edges[i]), self.edges.get(k)) {
            (None, Some(hi)) => format!("< {hi}"),
            (Some(lo), Some(hi)) => format!("{lo} – {hi}"),
            (Some(lo), None) => format!("≥ {lo}"),
            (None, None) => "all".into(),
        }
    }

    /// The report for a terminal (Markdown tables).
    pub fn text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "# Model report: {}\n", self.model);
        for s in std::iter::once(&self.dev).chain(&self.recent) {
            let _ = write!(o, "{}: {} rows", s.name, s.n);
            if let Some(b) = s.bad_rate {
                let _ = write!(o, ", bad rate {:.2} %", 100.0 * b);
            }
            if let Some(d) = s.discrimination {
                let _ = write!(o, "; AUC {:.4}, Gini {:.4}, KS {:.4}", d.auc, d.gini, d.ks);
            }
            o.push('\n');
        }
        let _ = writeln!(o, "\n## Calibration by score band ({})\n", self.dev.name);
        let _ = writeln!(o, "| band | rows | mean PD | bad rate |");
        let _ = writeln!(o, "|---|---:|---:|---:|");
        for (k, b) in self.dev.calibration.iter().enumerate() {
            let _ = writeln!(
                o,
                "| {} | {} | {:.4} | {:.4} |",
                self.band_label(k),
                b.n,
                b.mean_pd,
                b.bad_rate
            );
        }
        if let (Some(r), Some(psi)) = (&self.recent, self.psi) {
            let _ = writeln!(
                o,
                "\n## Stability: {} against {}\n\nPSI {psi:.4} ({})\n",
                r.name,
                self.dev.name,
                stability(psi)
            );
            let _ = writeln!(o, "| band | development % | later % |");
            let _ = writeln!(o, "|---|---:|---:|");
            let (td, tr) = (self.dev.n.max(1) as f64, r.n.max(1) as f64);
            for (k, (d, l)) in self.dev.counts.iter().zip(&r.counts).enumerate() {
                let _ = writeln!(
                    o,
                    "| {} | {:.2} | {:.2} |",
                    self.band_label(k),
                    100.0 * *d as f64 / td,
                    100.0 * *l as f64 / tr
                );
            }
            if !self.csi.is_empty() {
                let _ = writeln!(o, "\n| characteristic | CSI | reading |");
                let _ = writeln!(o, "|---|---:|---|");
                for (c, v) in &self.csi {
                    let _ = writeln!(o, "| {c} | {v:.4} | {} |", stability(*v));
                }
            }
        }
        o
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A grouped bar chart: one group per label, one bar per series, values ≥ 0.
fn bars(title: &str, labels: &[String], series: &[(&str, &str, Vec<f64>)], unit: &str) -> String {
    let (w, h, left, bottom, top) = (720.0, 300.0, 56.0, 70.0, 30.0);
    let max = series
        .iter()
        .flat_map(|s| s.2.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-12);
    let n = labels.len().max(1) as f64;
    let group = (w - left - 10.0) / n;
    let bar = group * 0.8 / series.len().max(1) as f64;
    let plot_h = h - top - bottom;
    let mut o = format!(
        "<figure><svg viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{t}\">\
         <text x=\"{left}\" y=\"18\" font-weight=\"bold\">{t}</text>",
        t = escape(title)
    );
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let y = top + plot_h * (1.0 - f64::from(i) / 4.0);
        let _ = write!(
            o,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\">{v:.3}{}</text>",
            w - 10.0,
            left - 4.0,
            y + 4.0,
            escape(unit)
        );
    }
    for (g, label) in labels.iter().enumerate() {
        let x0 = left + group * g as f64 + group * 0.1;
        for (k, (_, colour, vals)) in series.iter().enumerate() {
            let v = vals.get(g).copied().unwrap_or(0.0).max(0.0);
            let bh = plot_h * v / max;
            let _ = write!(
                o,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{colour}\"><title>{}: {v:.4}</title></rect>",
                x0 + bar * k as f64,
                top + plot_h - bh,
                bar * 0.95,
                escape(label)
            );
        }
        let _ = write!(
            o,
            "<text transform=\"translate({:.1},{:.1}) rotate(35)\" font-size=\"11\">{}</text>",
            x0,
            h - bottom + 14.0,
            escape(label)
        );
    }
    let mut lx = left;
    for (name, colour, _) in series {
        let _ = write!(
            o,
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{}</text>",
            h - 12.0,
            lx + 14.0,
            h - 3.0,
            escape(name)
        );
        lx += 14.0 + 8.0 * name.chars().count() as f64 + 20.0;
    }
    o.push_str("</svg></figure>");
    o
}

/// The report as one self-contained HTML page: the text's tables and three charts
/// (score distribution, calibration, characteristic stability).
pub fn html(r: &Report) -> String {
    let labels: Vec<String> = (0..=r.edges.len()).map(|k| r.band_label(k)).collect();
    let share = |c: &[u64], n: usize| -> Vec<f64> {
        c.iter().map(|&x| x as f64 / n.max(1) as f64).collect()
    };
    let mut dist = vec![("development", "#4477aa", share(&r.dev.counts, r.dev.n))];
    if let Some(s) = &r.recent {
        dist.push(("later", "#ee6677", share(&s.counts, s.n)));
    }
    let mut o = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Model report</title>\
         <style>body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}\
         table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}\
         th:first-child,td:first-child{text-align:left}figure{margin:1em 0}</style></head><body>",
    );
    let _ = write!(o, "<h1>Model report: {}</h1><ul>", escape(&r.model));
    for s in std::iter::once(&r.dev).chain(&r.recent) {
        let _ = write!(o, "<li>{}: {} rows", escape(&s.name), s.n);
        if let Some(b) = s.bad_rate {
            let _ = write!(o, ", bad rate {:.2} %", 100.0 * b);
        }
        if let Some(d) = s.discrimination {
            let _ = write!(o, "; AUC {:.4}, Gini {:.4}, KS {:.4}", d.auc, d.gini, d.ks);
        }
        o.push_str("</li>");
    }
    o.push_str("</ul>");
    if let Some(psi) = r.psi {
        let _ = write!(
            o,
            "<p><strong>PSI {psi:.4}</strong>: {}</p>",
            escape(stability(psi))
        );
    }
    o.push_str(&bars(
        "Share of applications per score band",
        &labels,
        &dist,
        "",
    ));
    let cal = &r.dev.calibration;
    if !cal.is_empty() {
        o.push_str(&bars(
            "Calibration (development): mean PD against observed bad rate",
            &labels,
            &[
                (
                    "mean PD",
                    "#4477aa",
                    cal.iter().map(|b| b.mean_pd).collect(),
                ),
                (
                    "bad rate",
                    "#228833",
                    cal.iter().map(|b| b.bad_rate).collect(),
                ),
            ],
            "",
        ));
        o.push_str("<table><tr><th>band</th><th>rows</th><th>mean PD</th><th>bad rate</th></tr>");
        for (k, b) in cal.iter().enumerate() {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td></tr>",
                escape(&labels[k]),
                b.n,
                b.mean_pd,
                b.bad_rate
            );
        }
        o.push_str("</table>");
    }
    if !r.csi.is_empty() {
        let names: Vec<String> = r.csi.iter().map(|c| c.0.clone()).collect();
        o.push_str(&bars(
            "Characteristic stability index (CSI)",
            &names,
            &[("CSI", "#aa3377", r.csi.iter().map(|c| c.1).collect())],
            "",
        ));
        o.push_str("<table><tr><th>characteristic</th><th>CSI</th><th>reading</th></tr>");
        for (c, v) in &r.csi {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{v:.4}</td><td>{}</td></tr>",
                escape(c),
                escape(stability(*v))
            );
        }
        o.push_str("</table>");
    }
    o.push_str("</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_is_zero_for_the_same_sample_and_grows_with_a_shift() {
        let scores: Vec<f64> = (0..1000).map(f64::from).collect();
        let pd: Vec<f64> = scores.iter().map(|s| 1.0 - s / 1000.0).collect();
        let y: Vec<bool> = (0..1000).map(|i| i % 7 == 0).collect();
        let mut r = Report::new("m", "dev", vec![], &scores, &pd, &y, 10);
        r.compare("same", &scores, &pd, Some(&y), vec![]);
        assert!(r.psi.unwrap().abs() < 1e-12);
        let shifted: Vec<f64> = scores.iter().map(|s| s + 300.0).collect();
        r.compare("shifted", &shifted, &pd, None, vec![]);
        assert!(r.psi.unwrap() > 0.25, "{}", r.psi.unwrap());
        assert_eq!(stability(r.psi.unwrap()), "major shift: review the model");
        assert_eq!(r.recent.as_ref().unwrap().counts.iter().sum::<u64>(), 1000);
    }

    #[test]
    fn html_escapes_names_from_the_data() {
        let scores = [1.0, 2.0, 3.0, 4.0];
        let pd = [0.9, 0.5, 0.3, 0.1];
        let y = [true, false, true, false];
        let mut r = Report::new("<card>", "a&b", vec![], &scores, &pd, &y, 2);
        r.compare("later", &scores, &pd, None, vec![("<script>x".into(), 0.3)]);
        let h = html(&r);
        assert!(!h.contains("<script>"));
        assert!(
            h.contains("&lt;script&gt;x") && h.contains("a&amp;b") && h.contains("&lt;card&gt;")
        );
        assert!(h.contains("<svg") && h.matches("<figure>").count() == 3);
    }
}
