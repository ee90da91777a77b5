//! Scores, thresholds and verdicts: the rules that decide whether an evaluation passed,
//! and (trials, stats) whether a case passed over several trials.

pub mod stats;
pub mod trials;

use std::fmt;
use std::sync::{Arc, OnceLock};

/// A range a score must fall in to pass. Any combination of bounds; all set bounds must hold.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Threshold {
    pub lt: Option<f64>,
    pub lte: Option<f64>,
    pub gt: Option<f64>,
    pub gte: Option<f64>,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Passed,
    Failed,
    /// A score without a threshold: reported, neither passed nor failed (as in Autoblocks).
    NoThreshold,
    /// The evaluator raised or returned something that is not an evaluation.
    Errored,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::NoThreshold => "no_threshold",
            Verdict::Errored => "errored",
        }
    }

    /// `as_str` as a shared string: a stored record keeps one without allocating.
    pub fn shared_str(self) -> Arc<str> {
        static NAMES: OnceLock<[Arc<str>; 4]> = OnceLock::new();
        let all = [
            Verdict::Passed,
            Verdict::Failed,
            Verdict::NoThreshold,
            Verdict::Errored,
        ];
        NAMES.get_or_init(|| all.map(|v| Arc::from(v.as_str())))[self as usize].clone()
    }

    /// A verdict as stored (`as_str`); None for text trialrun never writes.
    pub fn parse(text: &str) -> Option<Verdict> {
        Some(match text {
            "passed" => Verdict::Passed,
            "failed" => Verdict::Failed,
            "no_threshold" => Verdict::NoThreshold,
            "errored" => Verdict::Errored,
            _ => return None,
        })
    }

    /// True for verdicts that make a suite fail.
    pub fn is_failure(self) -> bool {
        matches!(self, Verdict::Failed | Verdict::Errored)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a threshold or score was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidEvaluation(pub String);

impl fmt::Display for InvalidEvaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidEvaluation {}

impl Threshold {
    /// A threshold whose bounds are numbers and can all hold at once for some score.
    pub fn new(
        lt: Option<f64>,
        lte: Option<f64>,
        gt: Option<f64>,
        gte: Option<f64>,
    ) -> Result<Threshold, InvalidEvaluation> {
        let t = Threshold { lt, lte, gt, gte };
        for (name, bound) in t.bounds() {
            if let Some(v) = bound {
                if v.is_nan() {
                    return Err(InvalidEvaluation(format!("Threshold {name} is NaN")));
                }
            }
        }
        // Scores lie in [0, 1]: a bound that leaves none of it can never pass either.
        if let Some((name, v, strict)) = t.lower() {
            if v > 1.0 || (strict && v >= 1.0) {
                return Err(InvalidEvaluation(format!(
                    "Threshold({name}={}) can never pass: scores are between 0 and 1, \
                     and none is {} {}",
                    fmt_number(v),
                    if strict { ">" } else { ">=" },
                    fmt_number(v),
                )));
            }
        }
        if let Some((name, v, strict)) = t.upper() {
            if v < 0.0 || (strict && v <= 0.0) {
                return Err(InvalidEvaluation(format!(
                    "Threshold({name}={}) can never pass: scores are between 0 and 1, \
                     and none is {} {}",
                    fmt_number(v),
                    if strict { "<" } else { "<=" },
                    fmt_number(v),
                )));
            }
        }
        if let (Some((lower_name, lower, lower_strict)), Some((upper_name, upper, upper_strict))) =
            (t.lower(), t.upper())
        {
            let empty = if lower_strict || upper_strict {
                lower >= upper
            } else {
                lower > upper
            };
            if empty {
                return Err(InvalidEvaluation(format!(
                    "Threshold({lower_name}={lower}, {upper_name}={upper}) can never pass: \
                     no score is {} {lower} and {} {upper}",
                    if lower_strict { ">" } else { ">=" },
                    if upper_strict { "<" } else { "<=" },
                )));
            }
        }
        Ok(t)
    }

    fn bounds(&self) -> [(&'static str, Option<f64>); 4] {
        [
            ("lt", self.lt),
            ("lte", self.lte),
            ("gt", self.gt),
            ("gte", self.gte),
        ]
    }

    /// The tightest lower bound: (name, value, strict).
    fn lower(&self) -> Option<(&'static str, f64, bool)> {
        match (self.gt, self.gte) {
            (Some(gt), Some(gte)) if gte > gt => Some(("gte", gte, false)),
            (Some(gt), _) => Some(("gt", gt, true)),
            (None, Some(gte)) => Some(("gte", gte, false)),
            (None, None) => None,
        }
    }

    /// The tightest upper bound: (name, value, strict).
    fn upper(&self) -> Option<(&'static str, f64, bool)> {
        match (self.lt, self.lte) {
            (Some(lt), Some(lte)) if lte < lt => Some(("lte", lte, false)),
            (Some(lt), _) => Some(("lt", lt, true)),
            (None, Some(lte)) => Some(("lte", lte, false)),
            (None, None) => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.bounds().iter().all(|(_, b)| b.is_none())
    }

    /// Whether `score` satisfies every set bound.
    pub fn contains(&self, score: f64) -> bool {
        self.lt.is_none_or(|b| score < b)
            && self.lte.is_none_or(|b| score <= b)
            && self.gt.is_none_or(|b| score > b)
            && self.gte.is_none_or(|b| score >= b)
    }

    /// JSON object with only the set bounds, as stored and exported.
    pub fn to_json(self) -> String {
        let mut map = serde_json::Map::new();
        for (name, bound) in self.bounds() {
            if let Some(v) = bound {
                map.insert(name.to_string(), serde_json::json!(v));
            }
        }
        serde_json::Value::Object(map).to_string()
    }

    /// `Threshold(gte=0.5, lt=1)` as the user would write it.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .bounds()
            .iter()
            .filter_map(|(name, b)| b.map(|v| format!("{name}={}", fmt_number(v))))
            .collect();
        format!("Threshold({})", parts.join(", "))
    }
}

/// Checks a score is a finite number in [0, 1].
pub fn check_score(score: f64) -> Result<f64, InvalidEvaluation> {
    if !score.is_finite() || !(0.0..=1.0).contains(&score) {
        return Err(InvalidEvaluation(format!(
            "score must be a number between 0 and 1, got {}",
            fmt_number(score)
        )));
    }
    Ok(score)
}

/// The verdict of a valid score against an optional threshold.
pub fn verdict(score: f64, threshold: Option<&Threshold>) -> Verdict {
    match threshold {
        None => Verdict::NoThreshold,
        Some(t) if t.is_empty() => Verdict::NoThreshold,
        Some(t) if t.contains(score) => Verdict::Passed,
        Some(_) => Verdict::Failed,
    }
}

/// A score for display: at most three decimals.
pub fn fmt_score(v: f64) -> String {
    fmt_number((v * 1000.0).round() / 1000.0)
}

/// Numbers as a person writes them: 1 rather than 1.0, 0.25 rather than 2.5e-1.
pub fn fmt_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(lt: Option<f64>, lte: Option<f64>, gt: Option<f64>, gte: Option<f64>) -> Threshold {
        Threshold::new(lt, lte, gt, gte).unwrap()
    }

    #[test]
    fn seed_examples() {
        // Evaluation(score=0.5, threshold=Threshold(lt=0.6)) passes.
        assert_eq!(
            verdict(0.5, Some(&t(Some(0.6), None, None, None))),
            Verdict::Passed
        );
        // score=0 with Threshold(gte=1) fails.
        assert_eq!(
            verdict(0.0, Some(&t(None, None, None, Some(1.0)))),
            Verdict::Failed
        );
        // score only: no verdict.
        assert_eq!(verdict(0.5, None), Verdict::NoThreshold);
        // gte=0.4 and lt=0.6
        let band = t(Some(0.6), None, None, Some(0.4));
        assert_eq!(verdict(0.5, Some(&band)), Verdict::Passed);
        assert_eq!(verdict(0.6, Some(&band)), Verdict::Failed);
        assert_eq!(verdict(0.4, Some(&band)), Verdict::Passed);
        assert_eq!(verdict(0.39, Some(&band)), Verdict::Failed);
    }

    #[test]
    fn bounds_are_inclusive_or_strict_as_named() {
        assert!(t(None, Some(0.5), None, None).contains(0.5));
        assert!(!t(Some(0.5), None, None, None).contains(0.5));
        assert!(t(None, None, None, Some(0.5)).contains(0.5));
        assert!(!t(None, None, Some(0.5), None).contains(0.5));
    }

    #[test]
    fn impossible_thresholds_are_refused() {
        let err = Threshold::new(Some(0.4), None, Some(0.6), None).unwrap_err();
        assert!(err.0.contains("gt=0.6"), "{}", err.0);
        assert!(err.0.contains("lt=0.4"), "{}", err.0);
        assert!(Threshold::new(Some(0.5), None, None, Some(0.5)).is_err());
        assert!(Threshold::new(None, Some(0.5), Some(0.5), None).is_err());
        // lte == gte leaves exactly one score: allowed.
        assert!(Threshold::new(None, Some(0.5), None, Some(0.5)).is_ok());
        // the tighter of two lower bounds decides
        assert!(Threshold::new(None, Some(0.5), Some(0.1), Some(0.7)).is_err());
        assert!(Threshold::new(Some(f64::NAN), None, None, None).is_err());
    }

    #[test]
    fn thresholds_outside_the_score_range_are_refused() {
        // Scores lie in [0, 1], so these leave no passing score.
        let gt1 = Threshold::new(None, None, Some(1.0), None).unwrap_err();
        assert!(
            gt1.0.contains("Threshold(gt=1) can never pass"),
            "{}",
            gt1.0
        );
        let lt0 = Threshold::new(Some(0.0), None, None, None).unwrap_err();
        assert!(
            lt0.0.contains("Threshold(lt=0) can never pass"),
            "{}",
            lt0.0
        );
        assert!(Threshold::new(None, None, None, Some(1.5)).is_err());
        assert!(Threshold::new(None, Some(-0.1), None, None).is_err());
        assert!(Threshold::new(None, None, Some(2.0), Some(0.5)).is_err());
        // The edges themselves can still pass.
        assert!(Threshold::new(None, None, None, Some(1.0)).is_ok());
        assert!(Threshold::new(None, Some(0.0), None, None).is_ok());
        assert!(Threshold::new(Some(1.0), None, Some(0.0), None).is_ok());
        // Bounds beyond the range that do not exclude it stay allowed.
        assert!(Threshold::new(Some(2.0), None, Some(-1.0), None).is_ok());
    }

    #[test]
    fn scores_outside_unit_interval_are_refused() {
        assert!(check_score(1.5).is_err());
        assert!(check_score(-0.1).is_err());
        assert!(check_score(f64::NAN).is_err());
        assert_eq!(check_score(1.0), Ok(1.0));
        assert_eq!(check_score(0.0), Ok(0.0));
    }

    #[test]
    fn json_and_description_name_only_set_bounds() {
        let th = t(Some(0.6), None, None, Some(0.4));
        assert_eq!(th.to_json(), r#"{"gte":0.4,"lt":0.6}"#);
        assert_eq!(th.describe(), "Threshold(lt=0.6, gte=0.4)");
        assert_eq!(
            t(None, None, None, Some(1.0)).describe(),
            "Threshold(gte=1)"
        );
    }
}
