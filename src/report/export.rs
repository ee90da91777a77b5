//! A run as data: one JSON document (`run_json`) or one CSV table (`run_csv`).
//!
//! This module also holds the reading helpers every report format shares (JUnit and HTML
//! use them too): grouping evaluations under their case, verdicts, thresholds, grid labels,
//! times and JSON layout. They live here because JSON and CSV are the plainest renderings
//! of the same records.

use super::text::fmt_time;
use crate::evaluation::{fmt_number, Threshold, Verdict};
use crate::history::RunData;
use crate::store::{CaseRecord, EvaluationRecord, RunRecord, StoredRun};
use crate::suite::tally::EvaluatorTally;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::fmt;

/// Marks the JSON document's layout, so readers can tell versions apart later.
pub const RUN_JSON_FORMAT: &str = "trialrun.run/1";

/// The CSV columns, in order.
pub const CSV_HEADER: [&str; 14] = [
    "run_id",
    "suite_id",
    "grid",
    "case_index",
    "case_hash",
    "evaluator_id",
    "score",
    "threshold",
    "verdict",
    "metadata",
    "error",
    "case_error",
    "output",
    "duration_s",
];

// ---------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------

#[derive(Serialize)]
struct RunDocument<'a> {
    format: &'static str,
    run: &'a StoredRun,
    cases: Vec<CaseDocument<'a>>,
    /// Evaluations whose case row is missing from the store (a damaged store); kept so an
    /// export never drops data silently.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unmatched_evaluations: Vec<&'a EvaluationRecord>,
}

#[derive(Serialize)]
struct CaseDocument<'a> {
    #[serde(flatten)]
    case: &'a CaseRecord,
    evaluations: Vec<&'a EvaluationRecord>,
}

/// The run as one pretty JSON document: `{"format", "run", "cases": [{..., "evaluations"}]}`.
/// JSON-valued fields (grid, test_case, output, threshold, metadata) are embedded as JSON.
pub fn run_json(run: &RunData) -> String {
    let grouped = group_by_case(run);
    let document = RunDocument {
        format: RUN_JSON_FORMAT,
        run: &run.run,
        cases: grouped
            .cases
            .into_iter()
            .map(|c| CaseDocument { case: c.case, evaluations: c.evaluations })
            .collect(),
        unmatched_evaluations: grouped.unmatched,
    };
    // Only maps with non-string keys can fail to serialize, and these records have none.
    serde_json::to_string_pretty(&document).expect("run records always serialize")
}

// ---------------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------------

/// The run as an RFC 4180 table (CRLF line ends): one row per case x evaluation, one row
/// with empty evaluator columns for a case without evaluations. JSON-valued columns hold
/// JSON text; `duration_s` is the case's fn duration (the same in each of its rows).
pub fn run_csv(run: &RunData) -> String {
    let mut out = String::new();
    push_csv_row(&mut out, CSV_HEADER.iter().map(|h| h.to_string()));
    let grouped = group_by_case(run);
    for c in &grouped.cases {
        if c.evaluations.is_empty() {
            push_csv_row(&mut out, csv_fields(&run.run.run, Some(c.case), c.case.hash.as_str(), None));
        }
        for e in &c.evaluations {
            push_csv_row(&mut out, csv_fields(&run.run.run, Some(c.case), c.case.hash.as_str(), Some(e)));
        }
    }
    for e in &grouped.unmatched {
        push_csv_row(&mut out, csv_fields(&run.run.run, None, &e.case_hash, Some(e)));
    }
    out
}

/// One row's fields, in `CSV_HEADER` order.
fn csv_fields(
    run: &RunRecord,
    case: Option<&CaseRecord>,
    hash: &str,
    e: Option<&EvaluationRecord>,
) -> impl Iterator<Item = String> {
    let text = |v: Option<&String>| v.cloned().unwrap_or_default();
    [
        run.id.clone(),
        run.suite_id.clone(),
        text(run.grid.as_ref()),
        case.map(|c| c.index.to_string()).unwrap_or_default(),
        hash.to_string(),
        text(e.map(|e| &e.evaluator_id)),
        e.and_then(|e| e.score).map(fmt_number).unwrap_or_default(),
        text(e.and_then(|e| e.threshold.as_ref())),
        text(e.map(|e| &e.verdict)),
        text(e.and_then(|e| e.metadata.as_ref())),
        text(e.and_then(|e| e.error.as_ref())),
        text(case.and_then(|c| c.error.as_ref())),
        text(case.and_then(|c| c.output.as_ref())),
        case.map(|c| c.duration_s.to_string()).unwrap_or_default(),
    ]
    .into_iter()
}

fn push_csv_row(out: &mut String, fields: impl Iterator<Item = String>) {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_csv_field(out, &field);
    }
    out.push_str("\r\n");
}

/// RFC 4180: a field holding a comma, quote, CR or LF is quoted, its quotes doubled.
fn push_csv_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

// ---------------------------------------------------------------------------------------
// Shared by every report format
// ---------------------------------------------------------------------------------------

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
        .map(|case| CaseEvaluations { case, evaluations: by_hash.remove(case.hash.as_str()).unwrap_or_default() })
        .collect();
    // What is left belongs to no case; keep the store's order.
    let unmatched = run.evaluations.iter().filter(|e| by_hash.contains_key(e.case_hash.as_str())).collect();
    GroupedRun { cases, unmatched }
}

/// A stored verdict. Text no trialrun writes counts as errored: a report should rather
/// show too much red than hide a problem.
pub fn parse_verdict(text: &str) -> Verdict {
    match text {
        "passed" => Verdict::Passed,
        "failed" => Verdict::Failed,
        "no_threshold" => Verdict::NoThreshold,
        _ => Verdict::Errored,
    }
}

/// Counts and mean score per evaluator, in order of first appearance.
pub fn evaluator_tallies(run: &RunData) -> Vec<EvaluatorTally> {
    let mut tallies: Vec<EvaluatorTally> = vec![];
    for e in &run.evaluations {
        let at = match tallies.iter().position(|t| t.id == e.evaluator_id) {
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
    Threshold { lt: bound("lt"), lte: bound("lte"), gt: bound("gt"), gte: bound("gte") }.describe()
}

/// Why an evaluation did not pass, in one line: `score 0.2 outside Threshold(gte=1)` for a
/// failure, the exception line of the traceback for an error.
pub fn failure_reason(e: &EvaluationRecord) -> String {
    match parse_verdict(&e.verdict) {
        Verdict::Failed => {
            let score = e.score.map(fmt_number).unwrap_or_else(|| "none".into());
            let threshold = e.threshold.as_deref().map(describe_threshold).unwrap_or_else(|| "its threshold".into());
            format!("score {score} outside {threshold}")
        }
        Verdict::Errored => match e.error.as_deref().and_then(last_line) {
            Some(line) => line.to_string(),
            None => format!("evaluator errored ({})", e.verdict),
        },
        _ => e.verdict.clone(),
    }
}

/// The last non-blank line of a traceback: Python puts the exception there.
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
            let text = serde_json::from_str::<String>(value.get()).unwrap_or_else(|_| value.get().to_string());
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
pub(crate) mod tests {
    use super::*;
    use crate::store::RunStatus;

    /// A run with a grid, a passing case, a failing case with tricky text, a case whose fn
    /// raised and a case without evaluators. Shared with the JUnit and HTML tests.
    pub(crate) fn sample_run() -> RunData {
        let case = |index: u32, hash: &str, output: Option<&str>, error: Option<&str>| CaseRecord {
            run_id: "run-1".into(),
            index,
            hash: hash.into(),
            test_case: format!(r#"{{"input":"q{index}"}}"#),
            output: output.map(str::to_string),
            duration_s: 0.5,
            error: error.map(str::to_string),
        };
        let eval = |hash: &str, evaluator: &str, score: Option<f64>, verdict: &str| EvaluationRecord {
            run_id: "run-1".into(),
            case_hash: hash.into(),
            evaluator_id: evaluator.into(),
            score,
            threshold: Some(r#"{"gte":1}"#.into()),
            verdict: verdict.into(),
            metadata: None,
            error: None,
            duration_s: 0.25,
        };
        let mut failing = eval("tricky", "judge", Some(0.2), "failed");
        failing.metadata = Some(r#"{"reason":"said \"no\", then\nleft","z":1,"a":[]}"#.into());
        let mut errored = eval("tricky", "length", None, "errored");
        errored.threshold = None;
        errored.error = Some("Traceback (most recent call last):\n  ...\nValueError: bad <&\"'> \u{1b}[31m\n".into());
        let mut no_threshold = eval("ok", "length", Some(0.7), "no_threshold");
        no_threshold.threshold = None;
        RunData {
            run: StoredRun {
                run: RunRecord {
                    id: "run-1".into(),
                    suite_id: "my-suite".into(),
                    kind: "suite".into(),
                    started_at: 1_709_210_096.75,
                    grid: Some(r#"{"model":"a","temperature":0}"#.into()),
                    git_commit: Some("0123456789abcdef".into()),
                    git_branch: Some("main".into()),
                },
                status: RunStatus::Completed,
                ended_at: Some(1_709_210_100.0),
                cases: 4,
                errored_cases: 1,
            },
            cases: vec![
                case(0, "ok", Some(r#"{"answer":"yes"}"#), None),
                case(1, "tricky", Some(r#""a, \"quoted\"\nline""#), None),
                case(2, "raises", None, Some("Traceback (most recent call last):\nKeyError: 'x'")),
                case(3, "bare", Some("1"), None),
            ],
            evaluations: vec![
                eval("ok", "judge", Some(1.0), "passed"),
                no_threshold,
                failing,
                errored,
            ],
        }
    }

    /// A small RFC 4180 reader: quoted fields, doubled quotes, CRLF records.
    fn read_csv(text: &str) -> Vec<Vec<String>> {
        let (mut rows, mut row, mut field) = (vec![], vec![], String::new());
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.next_if_eq(&'"').is_some() => field.push('"'),
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') => quoted = true,
                (false, ',') => row.push(std::mem::take(&mut field)),
                (false, '\r') => {
                    assert_eq!(chars.next(), Some('\n'), "CR outside quotes must start CRLF");
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                (false, c) => field.push(c),
            }
        }
        assert!(!quoted && field.is_empty() && row.is_empty(), "the text ends with a full record");
        rows
    }

    #[test]
    fn csv_round_trips_tricky_fields() {
        let run = sample_run();
        let rows = read_csv(&run_csv(&run));
        assert_eq!(rows[0], CSV_HEADER);
        // ok x2, tricky x2, raises, bare
        assert_eq!(rows.len(), 1 + 6);
        assert!(rows.iter().all(|r| r.len() == CSV_HEADER.len()));
        let col = |name: &str| CSV_HEADER.iter().position(|h| *h == name).unwrap();
        let judge = &rows[3];
        assert_eq!((judge[col("case_hash")].as_str(), judge[col("evaluator_id")].as_str()), ("tricky", "judge"));
        assert_eq!(judge[col("grid")], r#"{"model":"a","temperature":0}"#);
        assert_eq!(judge[col("metadata")], run.evaluations[2].metadata.clone().unwrap());
        assert_eq!(judge[col("output")], run.cases[1].output.clone().unwrap());
        assert_eq!(judge[col("score")], "0.2");
        assert_eq!(rows[4][col("error")], run.evaluations[3].error.clone().unwrap());
        let raises = &rows[5];
        assert_eq!(raises[col("evaluator_id")], "");
        assert_eq!(raises[col("case_error")], run.cases[2].error.clone().unwrap());
        assert_eq!(raises[col("case_index")], "2");
        assert_eq!(raises[col("duration_s")], "0.5");
    }

    #[test]
    fn json_nests_evaluations_and_embeds_json_fields() {
        let doc: serde_json::Value = serde_json::from_str(&run_json(&sample_run())).unwrap();
        assert_eq!(doc["format"], "trialrun.run/1");
        assert_eq!(doc["run"]["id"], "run-1");
        assert_eq!(doc["run"]["status"], "completed");
        assert_eq!(doc["run"]["grid"]["model"], "a");
        let cases = doc["cases"].as_array().unwrap();
        assert_eq!(cases.len(), 4);
        assert_eq!(cases[0]["output"]["answer"], "yes", "output is embedded JSON");
        assert_eq!(cases[0]["test_case"]["input"], "q0");
        let tricky = &cases[1]["evaluations"];
        assert_eq!(tricky.as_array().unwrap().len(), 2);
        assert_eq!(tricky[0]["metadata"]["z"], 1, "metadata is embedded JSON, not a string");
        assert_eq!(tricky[0]["threshold"]["gte"], 1);
        assert!(cases[2]["evaluations"].as_array().unwrap().is_empty());
        assert!(doc.get("unmatched_evaluations").is_none());
    }

    #[test]
    fn unmatched_evaluations_are_kept() {
        let mut run = sample_run();
        run.evaluations[0].case_hash = "lost".into();
        let doc: serde_json::Value = serde_json::from_str(&run_json(&run)).unwrap();
        assert_eq!(doc["unmatched_evaluations"][0]["case_hash"], "lost");
        let rows = read_csv(&run_csv(&run));
        assert_eq!(rows.last().unwrap()[4], "lost");
        // ok now has only its no_threshold evaluation; the row count stays 1 + 6
        assert_eq!(rows.len(), 7);
    }

    #[test]
    fn shared_helpers() {
        assert_eq!(describe_threshold(r#"{"gte":1}"#), "Threshold(gte=1)");
        assert_eq!(describe_threshold(r#"{"gte":0.5,"lt":1}"#), "Threshold(lt=1, gte=0.5)");
        assert_eq!(describe_threshold("oops"), "oops");
        assert_eq!(grid_label(r#"{"temperature":0,"model":"a","tags":["x"]}"#), r#"temperature=0, model=a, tags=["x"]"#);
        assert_eq!(run_title(&sample_run().run.run), "my-suite [model=a, temperature=0]");
        assert_eq!(iso_utc(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_utc(951_782_400.0), "2000-02-29T00:00:00Z");
        assert_eq!(iso_utc(1_709_210_096.75), "2024-02-29T12:34:56Z");
        assert_eq!(iso_utc(-86_400.0), "1969-12-31T00:00:00Z");
        assert_eq!(iso_utc(4_102_444_800.0), "2100-01-01T00:00:00Z");
        assert_eq!(iso_utc(f64::NAN), "");
        assert_eq!(last_line("Traceback\n  x\nValueError: no\n\n"), Some("ValueError: no"));
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
}
