//! Diagnostics: a problem in a user-supplied file, with where it is and how to fix it.
//!
//! Config and schema loaders collect every problem into [`Diagnostics`] instead of stopping
//! at the first, so a user fixes a file in one round trip.

use std::fmt;

/// One problem in a user-supplied file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Key path inside the file, e.g. `field[3] (TX_AMOUNT).type`; empty for file-level problems.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when we can tell.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint on how to fix the problem.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "{}: {}", self.path, self.message)?;
        }
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

/// Every problem found in one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    /// Where the file came from (a path, or a label such as `<built-in fraud-handbook-raw>`).
    pub origin: String,
    /// The problems, in file order where that is known.
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty report for `origin`.
    pub fn new(origin: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            items: Vec::new(),
        }
    }

    /// Records a problem.
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Reads a user's file as text; a file that cannot be read is a one-problem report
    /// naming it (every loader of a TOML file starts here).
    pub fn read(path: &std::path::Path) -> Result<String, Diagnostics> {
        std::fs::read_to_string(path).map_err(|e| {
            let mut d = Diagnostics::new(path.display().to_string());
            d.push(Diagnostic::new("", format!("cannot read the file: {e}")));
            d
        })
    }

    /// `Ok(value)` when no problem was recorded, otherwise the whole report.
    pub fn finish<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.items.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.items.len();
        writeln!(
            f,
            "{}: {} problem{}",
            self.origin,
            n,
            if n == 1 { "" } else { "s" }
        )?;
        for d in &self.items {
            writeln!(f, "  - {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Problems found across several files checked together (a pipeline file and the feature
/// spec, policy and model it names): one [`Diagnostics`] per file that has any, so every
/// problem is reported in one run with its file and key path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Per file, in the order the files were checked.
    pub files: Vec<Diagnostics>,
}

impl Findings {
    /// Nothing found yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one file's report (kept only if it holds problems).
    pub fn add(&mut self, d: Diagnostics) {
        if !d.is_empty() {
            self.files.push(d);
        }
    }

    /// Adds one problem in file `origin` (merged into that file's report if it has one).
    pub fn push(&mut self, origin: &str, d: Diagnostic) {
        match self.files.iter_mut().find(|f| f.origin == origin) {
            Some(f) => f.push(d),
            None => {
                let mut f = Diagnostics::new(origin);
                f.push(d);
                self.files.push(f);
            }
        }
    }

    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Problems in all files.
    pub fn count(&self) -> usize {
        self.files.iter().map(|f| f.items.len()).sum()
    }

    /// `Ok(value)` when no problem was recorded, otherwise every file's report.
    pub fn finish<T>(self, value: T) -> Result<T, Findings> {
        if self.files.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl From<Diagnostics> for Findings {
    fn from(d: Diagnostics) -> Self {
        let mut f = Findings::new();
        f.add(d);
        f
    }
}

impl fmt::Display for Findings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.files.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Findings {}

impl crate::Classify for Findings {
    /// Problems in the user's files.
    fn class(&self) -> crate::ErrorClass {
        crate::ErrorClass::User
    }
}

/// Suggests the closest of `candidates` to `got`, for "did you mean" hints.
pub fn did_you_mean<'a>(
    got: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(&got.to_ascii_lowercase(), &c.to_ascii_lowercase());
        if score > 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}

/// Checks a config duration (`500ms`, `2s`, `1m`, `1h`; `default` when absent) that must be
/// longer than zero; a problem is pushed under `key` and gives `None`.
pub fn positive_duration(
    d: &mut Diagnostics,
    key: &str,
    v: Option<&str>,
    default: &str,
) -> Option<std::time::Duration> {
    let v = v.unwrap_or(default);
    match crate::time::parse_duration(v) {
        Ok(us) if us > 0 => Some(std::time::Duration::from_micros(us as u64)),
        Ok(_) => {
            d.push(Diagnostic::new(key, "must be longer than zero"));
            None
        }
        Err(e) => {
            d.push(
                Diagnostic::new(key, format!("`{v}`: {e}"))
                    .hint("durations look like 500ms, 2s, 1m, 1h"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        assert_eq!(
            did_you_mean("flaot", ["int", "float", "string"]).as_deref(),
            Some("did you mean `float`?")
        );
        assert_eq!(did_you_mean("zzz", ["int", "float"]), None);
    }

    #[test]
    fn report_lists_every_problem() {
        let mut d = Diagnostics::new("s.toml");
        d.push(Diagnostic::new("a", "bad").hint("fix"));
        d.push(Diagnostic::new("", "worse"));
        let text = d.to_string();
        assert!(text.contains("2 problems"));
        assert!(text.contains("a: bad (hint: fix)"));
        assert!(text.contains("  - worse"));
    }
}
