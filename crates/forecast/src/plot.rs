//! One self-contained SVG per series: the recent history, the forecast, and the 80 % and
//! 95 % intervals as bands. No script, no external file: a browser or an image viewer
//! opens it as is, and a report can inline it.

use crate::model::Forecast;

/// Escapes text for XML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SVG of `history` (the last `show` values; `NaN` = missing) followed by `f`.
/// `title` is escaped; `first_label`/`last_label` name the x axis ends.
pub fn svg(
    title: &str,
    history: &[f64],
    f: &Forecast,
    show: usize,
    first_label: &str,
    last_label: &str,
) -> String {
    svg_with_actuals(title, history, f, show, &[], first_label, last_label)
}

/// [`svg`] with what actually happened over the forecast's days drawn on top: `actual[i]`
/// is day i of the forecast (`NaN` = not known yet), a line with a dot per day, the dots
/// outside the 95 % interval drawn hollow and red (`class="actual-point outside"`).
pub fn svg_with_actuals(
    title: &str,
    history: &[f64],
    f: &Forecast,
    show: usize,
    actual: &[f64],
    first_label: &str,
    last_label: &str,
) -> String {
    let (w, h) = (900.0, 320.0);
    let (ml, mr, mt, mb) = (50.0, 10.0, 28.0, 28.0);
    let hist = &history[history.len().saturating_sub(show)..];
    let total = (hist.len() + f.len()).max(2);
    let vals = hist
        .iter()
        .chain(&f.lo95)
        .chain(&f.hi95)
        .chain(&f.mean)
        .chain(actual.iter().take(f.len()))
        .copied()
        .filter(|v| v.is_finite());
    let (mut lo, mut hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        hi = lo + 1.0;
    }
    let x = |i: usize| ml + (w - ml - mr) * i as f64 / (total - 1) as f64;
    let y = |v: f64| mt + (h - mt - mb) * (1.0 - (v - lo) / (hi - lo));
    let line = |pts: &mut dyn Iterator<Item = (usize, f64)>| -> String {
        let mut d = String::new();
        let mut pen = false;
        for (i, v) in pts {
            if v.is_finite() {
                d.push_str(&format!(
                    "{}{:.1},{:.1} ",
                    if pen { "L" } else { "M" },
                    x(i),
                    y(v)
                ));
                pen = true;
            } else {
                pen = false;
            }
        }
        d
    };
    let band = |lo: &[f64], hi: &[f64]| -> String {
        let off = hist.len();
        let mut d = String::new();
        for (i, v) in hi.iter().enumerate() {
            d.push_str(&format!(
                "{}{:.1},{:.1} ",
                if i == 0 { "M" } else { "L" },
                x(off + i),
                y(*v)
            ));
        }
        for (i, v) in lo.iter().enumerate().rev() {
            d.push_str(&format!("L{:.1},{:.1} ", x(off + i), y(*v)));
        }
        d.push('Z');
        d
    };
    let off = hist.len();
    let hist_d = line(&mut hist.iter().copied().enumerate());
    let mean_d = line(&mut f.mean.iter().enumerate().map(|(i, v)| (off + i, *v)));
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <title>{t}</title>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{ml}\" y=\"18\" font-size=\"14\">{t}</text>\n",
        t = esc(title)
    );
    if !f.is_empty() {
        s.push_str(&format!(
            "<path d=\"{}\" fill=\"#c6dbef\"/>\n",
            band(&f.lo95, &f.hi95)
        ));
        s.push_str(&format!(
            "<path d=\"{}\" fill=\"#6baed6\" fill-opacity=\"0.6\"/>\n",
            band(&f.lo80, &f.hi80)
        ));
    }
    s.push_str(&format!(
        "<path d=\"{hist_d}\" fill=\"none\" stroke=\"#333\" stroke-width=\"1.2\"/>\n"
    ));
    s.push_str(&format!(
        "<path d=\"{mean_d}\" fill=\"none\" stroke=\"#08519c\" stroke-width=\"2\"/>\n"
    ));
    let actual = &actual[..actual.len().min(f.len())];
    if actual.iter().any(|v| v.is_finite()) {
        let act_d = line(&mut actual.iter().enumerate().map(|(i, v)| (off + i, *v)));
        s.push_str(&format!(
            "<path class=\"actual\" d=\"{act_d}\" fill=\"none\" stroke=\"#a50f15\" stroke-width=\"1.5\"/>\n"
        ));
        for (i, v) in actual.iter().enumerate().filter(|(_, v)| v.is_finite()) {
            let out = *v < f.lo95[i] || *v > f.hi95[i];
            s.push_str(&format!(
                "<circle class=\"actual-point{}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"{}\" fill=\"{}\" stroke=\"#a50f15\" stroke-width=\"1.5\"/>\n",
                if out { " outside" } else { "" },
                x(off + i),
                y(*v),
                if out { 5 } else { 3 },
                if out { "white" } else { "#a50f15" },
            ));
        }
    }
    s.push_str(&format!(
        "<line x1=\"{ml}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#999\"/>\n\
         <text x=\"{ml}\" y=\"{ty}\">{fl}</text><text x=\"{r}\" y=\"{ty}\" text-anchor=\"end\">{ll}</text>\n\
         <text x=\"4\" y=\"{yt:.1}\">{hi:.1}</text><text x=\"4\" y=\"{yb:.1}\">{lo:.1}</text>\n\
         <text x=\"{r}\" y=\"18\" text-anchor=\"end\">{legend}</text>\n</svg>\n",
        legend = if actual.iter().any(|v| v.is_finite()) {
            "history · forecast · 80 % / 95 % intervals · actual (hollow: outside 95 %)"
        } else {
            "history · forecast · 80 % / 95 % intervals"
        },
        b = h - mb,
        r = w - mr,
        ty = h - 8.0,
        fl = esc(first_label),
        ll = esc(last_label),
        yt = y(hi) + 4.0,
        yb = y(lo),
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_svg_escapes_the_title_and_draws_the_bands() {
        let f = Forecast::normal(vec![5.0, 6.0], &[1.0, 1.0]);
        let s = svg(
            "a<b",
            &[1.0, f64::NAN, 3.0],
            &f,
            100,
            "2020-01-01",
            "2020-01-05",
        );
        assert!(s.starts_with("<svg") && s.contains("a&lt;b") && s.matches("<path").count() == 4);
        assert!(!s.contains("actual"));
    }

    #[test]
    fn actuals_are_drawn_with_the_ones_outside_the_95_interval_marked() {
        let f = Forecast::normal(vec![10.0, 10.0, 10.0], &[1.0, 1.0, 1.0]);
        let s = svg_with_actuals("s", &[9.0, 11.0], &f, 10, &[10.5, 2.0, f64::NAN], "a", "b");
        assert_eq!(s.matches("class=\"actual-point\"").count(), 1, "{s}");
        assert_eq!(
            s.matches("class=\"actual-point outside\"").count(),
            1,
            "{s}"
        );
        assert!(s.contains("class=\"actual\""));
    }
}
