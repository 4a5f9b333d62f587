//! What every feature-engine bench prints: one line per system and job, with events/s and
//! the ratio of ours to the peer's on the same job, as a table or JSON lines.

use riskstream_io::table::thousands;
use std::io::Write;

/// One measured line.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Line {
    pub(crate) system: String,
    pub(crate) query: String,
    pub(crate) events: u64,
    pub(crate) seconds: f64,
    pub(crate) events_per_s: f64,
    pub(crate) note: String,
    /// Events/s of our run of the same job, when it is not the first line's.
    #[serde(skip)]
    pub(crate) versus: Option<f64>,
}

impl Line {
    /// A system that gave no result, and why.
    pub(crate) fn none(system: &str, note: impl Into<String>) -> Line {
        Line {
            system: system.into(),
            query: "-".into(),
            events: 0,
            seconds: 0.0,
            events_per_s: 0.0,
            note: note.into(),
            versus: None,
        }
    }

    /// A peer's result: one JSON line its job printed (`version`, `events`, `wall_s`,
    /// `events_per_s`), under `query` with `note`.
    pub(crate) fn from_peer(
        peer: &str,
        v: &serde_json::Value,
        query: &str,
        note: String,
    ) -> Option<Line> {
        Some(Line {
            system: format!("{peer} {}", v["version"].as_str().unwrap_or("")),
            query: query.into(),
            events: v["events"].as_u64().unwrap_or(0),
            seconds: v["wall_s"].as_f64().unwrap_or(0.0),
            events_per_s: v["events_per_s"].as_f64()?,
            note,
            versus: None,
        })
    }
}

/// The median of some run times, and the note saying how many and their range.
pub(crate) fn median_of(mut secs: Vec<f64>) -> (f64, String) {
    secs.sort_by(f64::total_cmp);
    let Some(&mid) = secs.get(secs.len() / 2) else {
        return (f64::NAN, "no runs".to_string());
    };
    let note = if secs.len() == 1 {
        "1 run".to_string()
    } else {
        format!(
            "median of {} runs, {:.3}–{:.3} s",
            secs.len(),
            secs[0],
            secs[secs.len() - 1]
        )
    };
    (mid, note)
}

/// Prints the measurements with each one's ratio to our run of the same job (`versus`, or
/// else `base`), or as JSON lines.
pub(crate) fn print_lines(
    stdout: &mut dyn Write,
    lines: &[Line],
    base: f64,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        for l in lines {
            writeln!(stdout, "{}", serde_json::to_string(l)?)?;
        }
        return Ok(());
    }
    writeln!(
        stdout,
        "{:<28} {:<22} {:>12} {:>9} {:>14} {:>10}  note",
        "system", "job", "events", "seconds", "events/s", "ours ÷ it"
    )?;
    for l in lines {
        // Ratios compare us with peers; our own rows have none.
        let ratio = if l.events_per_s > 0.0 && !l.system.starts_with("riskstream") {
            format!("{:.1}×", l.versus.unwrap_or(base) / l.events_per_s)
        } else {
            "-".into()
        };
        writeln!(
            stdout,
            "{:<28} {:<22} {:>12} {:>9.3} {:>14.0} {:>10}  {}",
            l.system,
            l.query,
            thousands(l.events),
            l.seconds,
            l.events_per_s,
            ratio,
            l.note
        )?;
    }
    Ok(())
}
