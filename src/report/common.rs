//! Reading helpers every report format shares (terminal text, JSON, CSV, JUnit, HTML):
//! evaluations grouped under their case, verdicts, thresholds, grid labels, times and
//! JSON layout.

use crate::evaluation::{fmt_number, Threshold, Verdict};
use crate::history::RunData;
use crate::store::{CaseRecord, EvaluationRecord, RunRecord};
use crate::suite::tally::EvaluatorTally;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::fmt;

/// Seconds since the epoch as "2026-11-22 02:51:07" (UTC).
pub fn fmt_time(unix: f64) -> String {
    let secs = unix.floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// One case with its evaluations, in evaluator order.
pub struct CaseEvaluations<'a> {
    pub case: &'a CaseRecord,
    pub evaluations: Vec<&'a EvaluationRecord>,
}

pub struct GroupedRun<'a> {
    /// Every case, in the suite's order.
    pub cases: Vec<CaseEvaluations<'a>>,
    /// Evaluations of hashes with no case row (only a damaged store has them).
    pub unmatched: Vec<&'a EvaluationRecord>,
}

/// The run's evaluations under their cases. Matched by hash rather than by position, so
/// the result does not depend on how the store ordered the rows.
pub fn group_by_case(run: &RunData) -> GroupedRun<'_> {
    let mut by_hash = run.evaluations_by_case();
    let cases = run
        .cases
        .iter()
        .map(|case| CaseEvaluations {
            case,
            evaluations: by_hash.remove(&*case.hash).unwrap_or_default(),
        })
        .collect();
    // What is left belongs to no case; keep the store's order.
    let unmatched = run
        .evaluations
        .iter()
        .filter(|e| by_hash.contains_key(&*e.case_hash))
        .collect();
    GroupedRun { cases, unmatched }
}

/// A stored verdict. Text no trialrun writes counts as errored: a report should rather
/// show too much red than hide a problem.
pub fn parse_verdict(text: &str) -> Verdict {
    Verdict::parse(text).unwrap_or(Verdict::Errored)
}

/// Counts and mean score per evaluator, in order of first appearance.
pub fn evaluator_tallies(run: &RunData) -> Vec<EvaluatorTally> {
    let mut tallies: Vec<EvaluatorTally> = vec![];
    for e in &run.evaluations {
        let at = match tallies.iter().position(|t| *t.id == *e.evaluator_id) {
            Some(i) => i,
            None => {
                tallies.push(EvaluatorTally::new(&e.evaluator_id));
                tallies.len() - 1
            }
        };
        tallies[at].add(parse_verdict(&e.verdict), e.score);
    }
    tallies
}

/// Stored threshold JSON (`{"gte":1}`) as the user writes it: `Threshold(gte=1)`.
/// Text that is not such an object is returned as it is.
pub fn describe_threshold(json: &str) -> String {
    let Ok(serde_json::Value::Object(bounds)) = serde_json::from_str(json) else {
        return json.to_string();
    };
    let bound = |name: &str| bounds.get(name).and_then(serde_json::Value::as_f64);
    // Built directly, not through Threshold::new: a stored threshold is shown, not judged.
    Threshold {
        lt: bound("lt"),
        lte: bound("lte"),
        gt: bound("gt"),
        gte: bound("gte"),
    }
    .describe()
}

/// Why an evaluation did not pass, in one line: `score 0.2 outside Threshold(gte=1)` for a
/// failure, the exception line of the traceback for an error.
pub fn failure_reason(e: &EvaluationRecord) -> String {
    match parse_verdict(&e.verdict) {
        Verdict::Failed => {
            let score = e.score.map(fmt_number).unwrap_or_else(|| "none".into());
            let threshold = e
                .threshold
                .as_deref()
                .map(describe_threshold)
                .unwrap_or_else(|| "its threshold".into());
            format!("score {score} outside {threshold}")
        }
        Verdict::Errored => match e.error.as_deref().and_then(last_line) {
            Some(line) => line.to_string(),
            None => format!("evaluator errored ({})", e.verdict),
        },
        _ => e.verdict.to_string(),
    }
}

/// The last non-blank line of a traceback: Python puts the exception there.
/// A case as people name it: its label with the hash beside it, or the hash alone.
pub fn case_name(hash: &str, label: Option<&str>) -> String {
    match label {
        Some(label) if label != hash => format!("{label} [{hash}]"),
        _ => hash.to_string(),
    }
}

pub fn last_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).rfind(|l| !l.is_empty())
}

/// A grid combination's JSON object as `model=a, temperature=0`, in the user's key order.
/// String values appear without quotes; text that is not an object is returned as it is.
pub fn grid_label(json: &str) -> String {
    let Ok(Entries(entries)) = serde_json::from_str::<Entries>(json) else {
        return json.to_string();
    };
    let parts: Vec<String> = entries
        .iter()
        .map(|(key, value)| {
            let text = serde_json::from_str::<String>(value.get())
                .unwrap_or_else(|_| value.get().to_string());
            format!("{key}={text}")
        })
        .collect();
    parts.join(", ")
}

/// A run's name in reports: the suite id, plus the grid combination when there is one
/// (`my-suite [model=a, temperature=0]`).
pub fn run_title(run: &RunRecord) -> String {
    match &run.grid {
        Some(grid) => format!("{} [{}]", run.suite_id, grid_label(grid)),
        None => run.suite_id.clone(),
    }
}

/// Unix seconds as ISO-8601 UTC to the second (`2024-02-29T12:34:56Z`); empty when the time
/// is not a number.
pub fn iso_utc(unix: f64) -> String {
    if !unix.is_finite() {
        return String::new();
    }
    // The terminal views' calendar arithmetic, in ISO form.
    format!("{}Z", fmt_time(unix).replacen(' ', "T", 1))
}

/// JSON text laid out over lines with two-space indents, keeping key order and number
/// text exactly as stored (parsing into serde_json::Value would sort keys and round
/// big integers). Text that is not JSON is returned as it is.
pub fn pretty_json(text: &str) -> String {
    if serde_json::from_str::<IgnoredAny>(text).is_err() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut chars = text.chars().peekable();
    let (mut in_string, mut escaped) = (false, false);
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
                // An empty container stays on one line: {} and [].
                if let Some(close) = chars.next_if(|&n| n == '}' || n == ']') {
                    out.push(close);
                } else {
                    depth += 1;
                    push_newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                push_newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                push_newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_ascii_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

fn push_newline(out: &mut String, depth: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n("  ", depth));
}

/// A JSON object's entries in their written order (serde_json's Map sorts keys).
struct Entries(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = vec![];
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::export::tests::sample_run;

    #[test]
    fn shared_helpers() {
        assert_eq!(describe_threshold(r#"{"gte":1}"#), "Threshold(gte=1)");
        assert_eq!(
            describe_threshold(r#"{"gte":0.5,"lt":1}"#),
            "Threshold(lt=1, gte=0.5)"
        );
        assert_eq!(describe_threshold("oops"), "oops");
        assert_eq!(
            grid_label(r#"{"temperature":0,"model":"a","tags":["x"]}"#),
            r#"temperature=0, model=a, tags=["x"]"#
        );
        assert_eq!(
            run_title(&sample_run().run.run),
            "my-suite [model=a, temperature=0]"
        );
        assert_eq!(iso_utc(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_utc(951_782_400.0), "2000-02-29T00:00:00Z");
        assert_eq!(iso_utc(1_709_210_096.75), "2024-02-29T12:34:56Z");
        assert_eq!(iso_utc(-86_400.0), "1969-12-31T00:00:00Z");
        assert_eq!(iso_utc(4_102_444_800.0), "2100-01-01T00:00:00Z");
        assert_eq!(iso_utc(f64::NAN), "");
        assert_eq!(
            last_line("Traceback\n  x\nValueError: no\n\n"),
            Some("ValueError: no")
        );
    }

    #[test]
    fn pretty_json_keeps_order_and_strings() {
        let text = r#"{"z":1,"a":{"s":"x, \"y\": [z]","n":12345678901234567890},"e":[],"o":{}}"#;
        let pretty = pretty_json(text);
        assert_eq!(
            pretty,
            "{\n  \"z\": 1,\n  \"a\": {\n    \"s\": \"x, \\\"y\\\": [z]\",\n    \"n\": 12345678901234567890\n  },\n  \"e\": [],\n  \"o\": {}\n}"
        );
        assert_eq!(pretty_json("not json {"), "not json {");
        assert_eq!(pretty_json("\"plain\""), "\"plain\"");
    }

    #[test]
    fn times_are_utc_calendar_dates() {
        assert_eq!(fmt_time(0.0), "1970-01-01 00:00:00");
        assert_eq!(fmt_time(951_782_400.0), "2000-02-29 00:00:00");
        assert_eq!(fmt_time(1_795_316_467.9), "2026-11-22 03:01:07");
    }
}
