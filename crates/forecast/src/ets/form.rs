//! The model form of an exponential-smoothing state-space model: error, trend, season.

use crate::error::{ForecastError, Result};

/// How the error enters the observation equation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ErrorType {
    /// y = forecast + ε.
    Additive,
    /// y = forecast · (1 + ε); needs strictly positive data.
    Multiplicative,
}

/// The trend component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum TrendType {
    /// No trend.
    None,
    /// Additive (linear) trend.
    Additive,
    /// Additive trend damped by φ.
    Damped,
}

/// The seasonal component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SeasonType {
    /// No season.
    None,
    /// Seasonal figures added to the level.
    Additive,
    /// Seasonal factors multiplying the level; needs strictly positive data.
    Multiplicative,
}

/// An ETS form such as ETS(A,Ad,A).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Form {
    /// Error.
    pub error: ErrorType,
    /// Trend.
    pub trend: TrendType,
    /// Season.
    pub season: SeasonType,
}

impl Form {
    /// Every form of the family (multiplicative trends are left out, as R's `ets` and
    /// statsforecast do by default), in the order the automatic search tries them.
    pub fn all() -> Vec<Form> {
        let mut v = Vec::new();
        for error in [ErrorType::Additive, ErrorType::Multiplicative] {
            for trend in [TrendType::None, TrendType::Additive, TrendType::Damped] {
                for season in [
                    SeasonType::None,
                    SeasonType::Additive,
                    SeasonType::Multiplicative,
                ] {
                    v.push(Form {
                        error,
                        trend,
                        season,
                    });
                }
            }
        }
        v
    }

    /// Whether the form is left out of the automatic search: additive errors with
    /// multiplicative seasons give unstable forecast variances (R's `restrict = TRUE`).
    pub fn is_restricted(&self) -> bool {
        self.error == ErrorType::Additive && self.season == SeasonType::Multiplicative
    }

    /// Whether the form needs strictly positive data.
    pub fn needs_positive(&self) -> bool {
        self.error == ErrorType::Multiplicative || self.season == SeasonType::Multiplicative
    }

    /// Class 1 of Hyndman et al. (2008): linear, with analytic forecast variances.
    pub fn is_linear(&self) -> bool {
        self.error == ErrorType::Additive && self.season != SeasonType::Multiplicative
    }

    /// The short code used by R and statsforecast's `components`, e.g. `AAdA`.
    pub fn code(&self) -> String {
        let e = match self.error {
            ErrorType::Additive => "A",
            ErrorType::Multiplicative => "M",
        };
        let t = match self.trend {
            TrendType::None => "N",
            TrendType::Additive => "A",
            TrendType::Damped => "Ad",
        };
        let s = match self.season {
            SeasonType::None => "N",
            SeasonType::Additive => "A",
            SeasonType::Multiplicative => "M",
        };
        format!("{e}{t}{s}")
    }

    /// Parses `AAdA`, `ETS(A,Ad,A)` or `A,Ad,A` (case-insensitive).
    pub fn parse(s: &str) -> Result<Form> {
        let body = s.trim();
        let body = body
            .strip_prefix("ETS")
            .or_else(|| body.strip_prefix("ets"))
            .unwrap_or(body);
        let t: String = body
            .chars()
            .filter(|c| c.is_ascii_alphabetic())
            .collect::<String>()
            .to_ascii_uppercase();
        let bad = || {
            ForecastError::param(
                "ets form",
                s,
                "write error, trend and season as e.g. AAdA, ANA, MNM or ETS(A,Ad,A) (error A/M; trend N/A/Ad; season N/A/M)",
            )
        };
        let mut chars = t.chars();
        let error = match chars.next() {
            Some('A') => ErrorType::Additive,
            Some('M') => ErrorType::Multiplicative,
            _ => return Err(bad()),
        };
        let rest: String = chars.collect();
        let (trend, season) = match rest.as_str() {
            "NN" => (TrendType::None, SeasonType::None),
            "NA" => (TrendType::None, SeasonType::Additive),
            "NM" => (TrendType::None, SeasonType::Multiplicative),
            "AN" => (TrendType::Additive, SeasonType::None),
            "AA" => (TrendType::Additive, SeasonType::Additive),
            "AM" => (TrendType::Additive, SeasonType::Multiplicative),
            "ADN" => (TrendType::Damped, SeasonType::None),
            "ADA" => (TrendType::Damped, SeasonType::Additive),
            "ADM" => (TrendType::Damped, SeasonType::Multiplicative),
            _ => return Err(bad()),
        };
        Ok(Form {
            error,
            trend,
            season,
        })
    }
}

impl std::fmt::Display for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.code();
        let (e, rest) = c.split_at(1);
        let (t, s) = rest.split_at(rest.len() - 1);
        write!(f, "ETS({e},{t},{s})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses_back_from_its_code_and_name() {
        for f in Form::all() {
            assert_eq!(Form::parse(&f.code()).unwrap(), f);
            assert_eq!(Form::parse(&f.to_string()).unwrap(), f);
        }
        assert!(Form::parse("XYZ").is_err());
    }
}
