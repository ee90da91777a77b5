//! A run as data: one JSON document (`run_json`) or one CSV table (`run_csv`).

use super::common::group_by_case;
use crate::evaluation::fmt_number;
use crate::history::RunData;
use crate::store::{CaseRecord, EvaluationRecord, Review, RunRecord, StoredRun};
use serde::Serialize;

pub use crate::history::RUN_JSON_FORMAT;

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
    /// The human review queue (jobs, fields, grades), when the run has one.
    #[serde(skip_serializing_if = "is_empty_review")]
    review: &'a Review,
    /// With trials: each case's trials, pass rate, interval and verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    trials: Option<&'a crate::history::trials::RunTrials>,
    /// Retried attempts and reported usage of fn and evaluator calls.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    call_logs: &'a [crate::store::CallLogRecord],
}

fn is_empty_review(review: &&Review) -> bool {
    review.jobs.is_empty() && review.items.is_empty()
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
            .map(|c| CaseDocument {
                case: c.case,
                evaluations: c.evaluations,
            })
            .collect(),
        unmatched_evaluations: grouped.unmatched,
        review: &run.review,
        trials: run.trials.as_ref(),
        call_logs: &run.call_logs,
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
            push_csv_row(
                &mut out,
                csv_fields(&run.run.run, Some(c.case), &c.case.hash, None),
            );
        }
        for e in &c.evaluations {
            push_csv_row(
                &mut out,
                csv_fields(&run.run.run, Some(c.case), &c.case.hash, Some(e)),
            );
        }
    }
    for e in &grouped.unmatched {
        push_csv_row(
            &mut out,
            csv_fields(&run.run.run, None, &e.case_hash, Some(e)),
        );
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
    let text = |v: Option<&str>| v.map(str::to_string).unwrap_or_default();
    [
        run.id.clone(),
        run.suite_id.clone(),
        text(run.grid.as_deref()),
        case.map(|c| c.index.to_string()).unwrap_or_default(),
        hash.to_string(),
        text(e.map(|e| &*e.evaluator_id)),
        e.and_then(|e| e.score).map(fmt_number).unwrap_or_default(),
        text(e.and_then(|e| e.threshold.as_deref())),
        text(e.map(|e| &*e.verdict)),
        text(e.and_then(|e| e.metadata.as_deref())),
        text(e.and_then(|e| e.error.as_deref())),
        text(case.and_then(|c| c.error.as_deref())),
        text(case.and_then(|c| c.output.as_deref())),
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
            trial: 0,
            label: None,
            test_case: format!(r#"{{"input":"q{index}"}}"#).into(),
            output: output.map(str::to_string),
            duration_s: 0.5,
            error: error.map(str::to_string),
        };
        let eval =
            |hash: &str, evaluator: &str, score: Option<f64>, verdict: &str| EvaluationRecord {
                run_id: "run-1".into(),
                // the position of the case above (99: a case with no row)
                case_index: ["ok", "tricky", "raises", "bare"]
                    .iter()
                    .position(|h| *h == hash)
                    .unwrap_or(99) as u32,
                case_hash: hash.into(),
                trial: 0,
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
        errored.error = Some(
            "Traceback (most recent call last):\n  ...\nValueError: bad <&\"'> \u{1b}[31m\n".into(),
        );
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
                    trials: None,
                    shard: None,
                    rescored_from: None,
                },
                status: RunStatus::Completed,
                ended_at: Some(1_709_210_100.0),
                stop_reason: None,
                cases: 4,
                errored_cases: 1,
                failed_cases: 1,
                verdict: "",
                pass_rate: None,
            }
            .with_counts(),
            cases: vec![
                case(0, "ok", Some(r#"{"answer":"yes"}"#), None),
                case(1, "tricky", Some(r#""a, \"quoted\"\nline""#), None),
                case(
                    2,
                    "raises",
                    None,
                    Some("Traceback (most recent call last):\nKeyError: 'x'"),
                ),
                case(3, "bare", Some("1"), None),
            ],
            evaluations: vec![
                eval("ok", "judge", Some(1.0), "passed"),
                no_threshold,
                failing,
                errored,
            ],
            review: Default::default(),
            trials: None,
            call_logs: vec![],
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
                    assert_eq!(
                        chars.next(),
                        Some('\n'),
                        "CR outside quotes must start CRLF"
                    );
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                (false, c) => field.push(c),
            }
        }
        assert!(
            !quoted && field.is_empty() && row.is_empty(),
            "the text ends with a full record"
        );
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
        assert_eq!(
            (
                judge[col("case_hash")].as_str(),
                judge[col("evaluator_id")].as_str()
            ),
            ("tricky", "judge")
        );
        assert_eq!(judge[col("grid")], r#"{"model":"a","temperature":0}"#);
        assert_eq!(
            judge[col("metadata")],
            run.evaluations[2].metadata.clone().unwrap()
        );
        assert_eq!(judge[col("output")], run.cases[1].output.clone().unwrap());
        assert_eq!(judge[col("score")], "0.2");
        assert_eq!(
            rows[4][col("error")],
            run.evaluations[3].error.clone().unwrap()
        );
        let raises = &rows[5];
        assert_eq!(raises[col("evaluator_id")], "");
        assert_eq!(
            raises[col("case_error")],
            run.cases[2].error.clone().unwrap()
        );
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
        assert_eq!(
            cases[0]["output"]["answer"], "yes",
            "output is embedded JSON"
        );
        assert_eq!(cases[0]["test_case"]["input"], "q0");
        let tricky = &cases[1]["evaluations"];
        assert_eq!(tricky.as_array().unwrap().len(), 2);
        assert_eq!(
            tricky[0]["metadata"]["z"], 1,
            "metadata is embedded JSON, not a string"
        );
        assert_eq!(tricky[0]["threshold"]["gte"], 1);
        assert!(cases[2]["evaluations"].as_array().unwrap().is_empty());
        assert!(doc.get("unmatched_evaluations").is_none());
        assert!(doc.get("review").is_none(), "no queue, no key");
    }

    #[test]
    fn json_carries_the_review_queue() {
        let mut run = sample_run();
        run.review.items.push(crate::store::review::ReviewItem {
            case_hash: "ok".into(),
            input_fields: Some(r#"[{"name":"q","value":"v","contentType":"text"}]"#.into()),
            output_fields: None,
            grade: Some(crate::store::review::Verdict::Fail),
            score: Some(0.5),
            note: Some("meh".into()),
            graded_at: Some(2.0),
        });
        let doc: serde_json::Value = serde_json::from_str(&run_json(&run)).unwrap();
        let item = &doc["review"]["items"][0];
        assert_eq!(
            (&item["grade"], &item["note"]),
            (&"fail".into(), &"meh".into())
        );
        assert_eq!(item["input_fields"][0]["name"], "q");
        assert_eq!(doc["review"]["jobs"], serde_json::json!([]));
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
}
