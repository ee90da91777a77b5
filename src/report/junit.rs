//! JUnit XML as CI systems read it (GitHub, GitLab, Jenkins): one <testsuite> per run, one
//! <testcase> per case x evaluator, named `{case label} [{case hash}] / {evaluator id}`
//! (`{case hash} / {evaluator id}` for a case without a label); with trials, one per case,
//! named by its label and hash, its trials in properties and system-out.
//!
//! Also home of the XML escaping, which the HTML report shares.

use super::common::{
    case_name, describe_threshold, failure_reason, group_by_case, iso_utc, last_line,
    parse_verdict, pretty_json, run_title,
};
use crate::evaluation::{fmt_number, fmt_score, Verdict};
use crate::history::trials::RunTrials;
use crate::history::RunData;
use crate::store::{CaseRecord, EvaluationRecord};
use crate::xml::{xml_attr, xml_text};
use std::fmt::Write;

/// How one testcase ended, in JUnit's terms.
enum CaseOutcome {
    Passed,
    /// Passed, with a line for <system-out> (a score without a threshold).
    PassedWithNote(String),
    Failure {
        message: String,
        text: String,
    },
    Error {
        message: String,
        text: String,
    },
}

struct TestCase {
    name: String,
    time: f64,
    outcome: CaseOutcome,
    /// <properties> of the testcase (a case's trials: trials, passed, pass rate, ...).
    properties: Vec<(&'static str, String)>,
}

#[derive(Default)]
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
    time: f64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.tests += other.tests;
        self.failures += other.failures;
        self.errors += other.errors;
        self.time += other.time;
    }
}

/// One JUnit document for any number of runs (a suite with a grid has one run per
/// combination).
pub fn junit_xml(runs: &[RunData]) -> String {
    let suites: Vec<(&RunData, Vec<TestCase>)> =
        runs.iter().map(|run| (run, testcases(run))).collect();
    let mut total = Counts::default();
    for (run, cases) in &suites {
        total.add(&counts(run, cases));
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        r#"<testsuites name="trialrun" tests="{}" failures="{}" errors="{}" time="{}">"#,
        total.tests,
        total.failures,
        total.errors,
        seconds(total.time)
    );
    for (run, cases) in &suites {
        push_suite(&mut out, run, cases);
    }
    out.push_str("</testsuites>\n");
    out
}

/// The run's testcases in suite order: per case a `fn` testcase when fn raised (its
/// evaluators never ran) or when there is nothing else to report, then one per evaluation.
fn testcases(run: &RunData) -> Vec<TestCase> {
    if run.run.run.kind == "steps" {
        return step_testcases(run);
    }
    if let Some(trials) = &run.trials {
        return trial_testcases(trials);
    }
    let grouped = group_by_case(run);
    let mut out = vec![];
    for c in &grouped.cases {
        if c.case.error.is_some() || c.evaluations.is_empty() {
            out.push(fn_testcase(c.case));
        }
        let label = c.case.label.as_deref();
        out.extend(c.evaluations.iter().map(|e| evaluation_testcase(e, label)));
    }
    // Evaluations without a case row still count: CI should see them.
    out.extend(
        grouped
            .unmatched
            .iter()
            .map(|e| evaluation_testcase(e, None)),
    );
    out
}

/// A run with trials: one testcase per case, named by its hash, failing only when the
/// case fails its verdict policies. A flaky case passes, marked by a `flaky` property
/// and its system-out; every trial's outcome is listed in system-out (or the failure).
fn trial_testcases(trials: &RunTrials) -> Vec<TestCase> {
    trials
        .cases
        .iter()
        .map(|c| {
            let lines: Vec<String> = c
                .outcomes
                .iter()
                .map(|t| {
                    if t.passed {
                        format!("trial {}: passed", t.trial)
                    } else {
                        format!("trial {}: failed ({})", t.trial, t.failures.join("; "))
                    }
                })
                .collect();
            let summary = format!(
                "{}/{} trials passed (pass rate {}, 95% CI {}-{}) under {}",
                c.passed_trials,
                c.trials,
                fmt_score(c.pass_rate),
                fmt_score(c.ci.0),
                fmt_score(c.ci.1),
                trials.plan
            );
            let text = format!("{summary}\n{}", lines.join("\n"));
            let outcome = match c.verdict {
                "failed" => CaseOutcome::Failure {
                    message: summary,
                    text,
                },
                "flaky" => CaseOutcome::PassedWithNote(format!("FLAKY: {text}")),
                _ => CaseOutcome::PassedWithNote(text),
            };
            TestCase {
                name: c.hash.clone(),
                time: c.outcomes.iter().map(|t| t.duration_s).sum(),
                outcome,
                properties: vec![
                    ("verdict", c.verdict.to_string()),
                    ("flaky", c.flaky.to_string()),
                    ("trials", c.trials.to_string()),
                    ("passed_trials", c.passed_trials.to_string()),
                    ("pass_rate", fmt_score(c.pass_rate)),
                    ("ci_low", fmt_score(c.ci.0)),
                    ("ci_high", fmt_score(c.ci.1)),
                ],
            }
        })
        .collect()
}

/// A step sequence's run: one testcase per step and round, named `step [round N]`, with
/// the step's traceback as the failure or error text.
fn step_testcases(run: &RunData) -> Vec<TestCase> {
    group_by_case(run)
        .cases
        .iter()
        .map(|c| {
            let info: serde_json::Value =
                serde_json::from_str(&c.case.test_case).unwrap_or_default();
            let name = match (info["name"].as_str(), info["round"].as_u64()) {
                (Some(step), Some(round)) => format!("{step} [round {round}]"),
                _ => c.case.hash.to_string(),
            };
            let outcome_eval = c.evaluations.iter().find(|e| &*e.evaluator_id == "outcome");
            let traceback = c.case.error.clone().unwrap_or_default();
            let message = last_line(&traceback).unwrap_or("").to_string();
            let outcome = match outcome_eval.map(|e| parse_verdict(&e.verdict)) {
                Some(Verdict::Failed) => CaseOutcome::Failure {
                    message,
                    text: traceback,
                },
                Some(Verdict::Errored) | None => CaseOutcome::Error {
                    message,
                    text: traceback,
                },
                Some(Verdict::NoThreshold) => {
                    let meta: serde_json::Value = outcome_eval
                        .and_then(|e| e.metadata.as_deref())
                        .and_then(|m| serde_json::from_str(m).ok())
                        .unwrap_or_default();
                    CaseOutcome::PassedWithNote(format!(
                        "skipped: {}",
                        meta["reason"].as_str().unwrap_or("")
                    ))
                }
                Some(Verdict::Passed) => CaseOutcome::Passed,
            };
            TestCase {
                name,
                time: c.case.duration_s,
                outcome,
                properties: vec![],
            }
        })
        .collect()
}

fn fn_testcase(case: &CaseRecord) -> TestCase {
    let outcome = match &case.error {
        Some(traceback) => CaseOutcome::Error {
            message: format!(
                "fn raised {}",
                last_line(traceback).unwrap_or("an exception")
            ),
            text: traceback.clone(),
        },
        None => CaseOutcome::Passed,
    };
    TestCase {
        name: format!("{} / fn", case_name(&case.hash, case.label.as_deref())),
        time: case.duration_s,
        outcome,
        properties: vec![],
    }
}

/// Named `{label} [{hash}] / {evaluator}` (the hash alone when the case has no label).
fn evaluation_testcase(e: &EvaluationRecord, label: Option<&str>) -> TestCase {
    let outcome = match parse_verdict(&e.verdict) {
        Verdict::Passed => CaseOutcome::Passed,
        Verdict::NoThreshold => {
            let score = e.score.map(fmt_number).unwrap_or_else(|| "none".into());
            CaseOutcome::PassedWithNote(format!("score {score} (no threshold)"))
        }
        Verdict::Failed => CaseOutcome::Failure {
            message: failure_reason(e),
            text: details(e),
        },
        Verdict::Errored => CaseOutcome::Error {
            message: failure_reason(e),
            text: details(e),
        },
    };
    TestCase {
        name: format!("{} / {}", case_name(&e.case_hash, label), e.evaluator_id),
        time: e.duration_s,
        outcome,
        properties: vec![],
    }
}

/// The body of a <failure> or <error>: score, threshold, metadata and traceback, as far
/// as the evaluation has them.
fn details(e: &EvaluationRecord) -> String {
    let mut parts = vec![];
    if let Some(score) = e.score {
        parts.push(format!("score: {}", fmt_number(score)));
    }
    if let Some(threshold) = &e.threshold {
        parts.push(format!("threshold: {}", describe_threshold(threshold)));
    }
    if let Some(metadata) = &e.metadata {
        parts.push(format!("metadata:\n{}", pretty_json(metadata)));
    }
    if let Some(traceback) = &e.error {
        parts.push(traceback.trim_end().to_string());
    }
    parts.join("\n")
}

fn counts(run: &RunData, cases: &[TestCase]) -> Counts {
    let count = |pick: fn(&CaseOutcome) -> bool| cases.iter().filter(|c| pick(&c.outcome)).count();
    Counts {
        tests: cases.len(),
        failures: count(|o| matches!(o, CaseOutcome::Failure { .. })),
        errors: count(|o| matches!(o, CaseOutcome::Error { .. })),
        // Wall time when the run finished; the testcases' own times while it runs.
        time: match run.run.ended_at {
            Some(end) => end - run.run.run.started_at,
            None => cases.iter().map(|c| c.time).sum(),
        },
    }
}

fn push_suite(out: &mut String, run: &RunData, cases: &[TestCase]) {
    let record = &run.run.run;
    let n = counts(run, cases);
    let _ = writeln!(
        out,
        r#"  <testsuite name="{}" tests="{}" failures="{}" errors="{}" skipped="0" time="{}" timestamp="{}">"#,
        xml_attr(&run_title(record)),
        n.tests,
        n.failures,
        n.errors,
        seconds(n.time),
        iso_utc(record.started_at)
    );
    push_properties(out, run);
    let classname = xml_attr(&record.suite_id);
    for case in cases {
        push_testcase(out, &classname, case);
    }
    out.push_str("  </testsuite>\n");
}

fn push_properties(out: &mut String, run: &RunData) {
    let record = &run.run.run;
    let properties = [
        ("run_id", Some(record.id.as_str())),
        ("status", Some(run.run.status.as_str())),
        ("git_commit", record.git_commit.as_deref()),
        ("git_branch", record.git_branch.as_deref()),
        ("grid", record.grid.as_deref()),
    ];
    out.push_str("    <properties>\n");
    for (name, value) in properties {
        if let Some(value) = value {
            let _ = writeln!(
                out,
                r#"      <property name="{name}" value="{}"/>"#,
                xml_attr(value)
            );
        }
    }
    out.push_str("    </properties>\n");
}

fn push_testcase(out: &mut String, classname: &str, case: &TestCase) {
    let _ = write!(
        out,
        r#"    <testcase classname="{classname}" name="{}" time="{}""#,
        xml_attr(&case.name),
        seconds(case.time)
    );
    let mut properties = String::new();
    if !case.properties.is_empty() {
        properties.push_str("<properties>");
        for (name, value) in &case.properties {
            let _ = write!(
                properties,
                r#"<property name="{name}" value="{}"/>"#,
                xml_attr(value)
            );
        }
        properties.push_str("</properties>\n      ");
    }
    let body = match &case.outcome {
        CaseOutcome::Passed if properties.is_empty() => return out.push_str("/>\n"),
        CaseOutcome::Passed => String::new(),
        CaseOutcome::PassedWithNote(note) => format!("<system-out>{}</system-out>", xml_text(note)),
        CaseOutcome::Failure { message, text } => problem("failure", "failed", message, text),
        CaseOutcome::Error { message, text } => problem("error", "errored", message, text),
    };
    let _ = writeln!(out, ">\n      {properties}{body}\n    </testcase>");
}

fn problem(element: &str, kind: &str, message: &str, text: &str) -> String {
    format!(
        r#"<{element} message="{}" type="{kind}">{}</{element}>"#,
        xml_attr(message),
        xml_text(text)
    )
}

/// JUnit times: seconds with millisecond precision, never negative or NaN.
fn seconds(v: f64) -> String {
    format!("{:.3}", if v.is_finite() && v > 0.0 { v } else { 0.0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::export::tests::sample_run;

    /// A parsed XML element: just enough of XML to check what this module writes.
    #[derive(Debug)]
    struct Element {
        name: String,
        attributes: Vec<(String, String)>,
        children: Vec<Element>,
        text: String,
    }

    impl Element {
        fn attr(&self, name: &str) -> &str {
            self.attributes
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("no {name} on {}", self.name))
        }
        fn all(&self, name: &str) -> Vec<&Element> {
            self.children.iter().filter(|c| c.name == name).collect()
        }
        fn child(&self, name: &str) -> &Element {
            self.all(name)
                .into_iter()
                .next()
                .unwrap_or_else(|| panic!("no <{name}> in <{}>", self.name))
        }
    }

    fn unescape(s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(at) = rest.find('&') {
            out.push_str(&rest[..at]);
            let end = rest[at..].find(';').expect("entity ends with ;") + at;
            out.push(match &rest[at + 1..end] {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                num => char::from_u32(
                    num.strip_prefix('#')
                        .expect("known entity")
                        .parse()
                        .unwrap(),
                )
                .unwrap(),
            });
            rest = &rest[end + 1..];
        }
        out + rest
    }

    /// Parses one element (and its subtree) at the start of `s`; returns it and the rest.
    fn parse_element(s: &str) -> (Element, &str) {
        let s = s
            .trim_start()
            .strip_prefix('<')
            .expect("element starts with <");
        let tag_end = s.find('>').unwrap();
        let (tag, mut rest) = (&s[..tag_end], &s[tag_end + 1..]);
        let (tag, empty) = match tag.strip_suffix('/') {
            Some(t) => (t, true),
            None => (tag, false),
        };
        let name = tag.split_whitespace().next().unwrap().to_string();
        let mut attributes = vec![];
        let mut attrs = &tag[name.len()..];
        while let Some(eq) = attrs.find("=\"") {
            let close = attrs[eq + 2..].find('"').unwrap() + eq + 2;
            attributes.push((
                attrs[..eq].trim().to_string(),
                unescape(&attrs[eq + 2..close]),
            ));
            attrs = &attrs[close + 1..];
        }
        let mut element = Element {
            name,
            attributes,
            children: vec![],
            text: String::new(),
        };
        if empty {
            return (element, rest);
        }
        let closing = format!("</{}>", element.name);
        loop {
            let next = rest.find('<').unwrap();
            element.text.push_str(&unescape(&rest[..next]));
            rest = &rest[next..];
            if let Some(after) = rest.strip_prefix(closing.as_str()) {
                return (element, after);
            }
            let (child, after) = parse_element(rest);
            element.children.push(child);
            rest = after;
        }
    }

    fn parse(xml: &str) -> Element {
        let body = xml
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
            .expect("XML declaration");
        let (root, rest) = parse_element(body);
        assert!(rest.trim().is_empty(), "one root element");
        root
    }

    #[test]
    fn counts_names_and_failure_messages() {
        let xml = junit_xml(&[sample_run()]);
        let root = parse(&xml);
        assert_eq!(root.name, "testsuites");
        // ok/judge, ok/length, tricky/judge, tricky/length, raises/fn, bare/fn
        assert_eq!(
            (
                root.attr("tests"),
                root.attr("failures"),
                root.attr("errors")
            ),
            ("6", "1", "2")
        );
        let suite = root.child("testsuite");
        assert_eq!(suite.attr("name"), "my-suite [model=a, temperature=0]");
        assert_eq!(
            (
                suite.attr("tests"),
                suite.attr("failures"),
                suite.attr("errors")
            ),
            ("6", "1", "2")
        );
        assert_eq!((suite.attr("skipped"), suite.attr("time")), ("0", "3.250"));
        assert_eq!(suite.attr("timestamp"), "2024-02-29T12:34:56Z");
        let properties: Vec<(&str, &str)> = suite
            .child("properties")
            .all("property")
            .iter()
            .map(|p| (p.attr("name"), p.attr("value")))
            .collect();
        assert!(properties.contains(&("run_id", "run-1")));
        assert!(properties.contains(&("git_branch", "main")));
        assert!(properties.contains(&("grid", r#"{"model":"a","temperature":0}"#)));

        let cases = suite.all("testcase");
        let names: Vec<&str> = cases.iter().map(|c| c.attr("name")).collect();
        assert_eq!(
            names,
            [
                "ok / judge",
                "ok / length",
                "tricky / judge",
                "tricky / length",
                "raises / fn",
                "bare / fn"
            ]
        );
        assert!(cases.iter().all(|c| c.attr("classname") == "my-suite"));
        assert!(cases[0].children.is_empty());
        assert_eq!(cases[0].attr("time"), "0.250");
        assert_eq!(
            cases[1].child("system-out").text,
            "score 0.7 (no threshold)"
        );

        let failure = cases[2].child("failure");
        assert_eq!(
            failure.attr("message"),
            "score 0.2 outside Threshold(gte=1)"
        );
        assert_eq!(failure.attr("type"), "failed");
        assert!(
            failure
                .text
                .contains("score: 0.2\nthreshold: Threshold(gte=1)\nmetadata:\n{\n  \"reason\""),
            "{}",
            failure.text
        );

        let raised = cases[4].child("error");
        assert_eq!(raised.attr("message"), "fn raised KeyError: 'x'");
        assert!(raised
            .text
            .starts_with("Traceback (most recent call last):\n"));
    }

    #[test]
    fn step_sequences_have_a_testcase_per_step_and_round() {
        let mut run = sample_run();
        run.run.run.kind = "steps".into();
        let mut step = |i: usize, name: &str, round: u32, error: Option<&str>| {
            let case = &mut run.cases[i];
            case.test_case =
                format!(r#"{{"name":"{name}","description":"","worker":"w1","round":{round}}}"#)
                    .into();
            case.error = error.map(str::to_string);
            case.hash.clone()
        };
        let hashes = [
            step(0, "create", 1, None),
            step(
                1,
                "check",
                1,
                Some("Traceback ...\nAssertionError: told to fail"),
            ),
            step(2, "skip", 1, None),
        ];
        run.cases.truncate(3);
        let verdicts = ["passed", "failed", "no_threshold"];
        run.evaluations = hashes
            .iter()
            .zip(verdicts)
            .enumerate()
            .map(|(i, (hash, verdict))| EvaluationRecord {
                run_id: "run-1".into(),
                case_index: i as u32,
                case_hash: hash.clone(),
                trial: 0,
                evaluator_id: "outcome".into(),
                score: None,
                threshold: None,
                verdict: verdict.into(),
                metadata: Some(r#"{"outcome":"x","reason":"not needed"}"#.into()),
                error: None,
                duration_s: 0.1,
            })
            .collect();
        let root = parse(&junit_xml(&[run]));
        let suite = root.child("testsuite");
        assert_eq!(
            (
                suite.attr("tests"),
                suite.attr("failures"),
                suite.attr("errors")
            ),
            ("3", "1", "0")
        );
        let cases = suite.all("testcase");
        let names: Vec<&str> = cases.iter().map(|c| c.attr("name")).collect();
        assert_eq!(
            names,
            ["create [round 1]", "check [round 1]", "skip [round 1]"]
        );
        assert_eq!(
            cases[1].child("failure").attr("message"),
            "AssertionError: told to fail"
        );
        assert_eq!(cases[2].child("system-out").text, "skipped: not needed");
    }

    #[test]
    fn escapes_markup_and_control_characters() {
        let mut run = sample_run();
        run.cases[0].hash = "a<b>&\"c'".into();
        for e in run.evaluations.iter_mut().filter(|e| &*e.case_hash == "ok") {
            e.case_hash = "a<b>&\"c'".into();
        }
        let xml = junit_xml(&[run]);
        assert!(
            !xml.chars()
                .any(|c| c < ' ' && !matches!(c, '\n' | '\t' | '\r')),
            "no forbidden characters"
        );
        let root = parse(&xml);
        let cases = root.child("testsuite").all("testcase");
        assert_eq!(cases[0].attr("name"), "a<b>&\"c' / judge");
        let error = cases[3].child("error");
        // The ESC before [31m is replaced; everything else reads back as written.
        assert_eq!(error.attr("message"), "ValueError: bad <&\"'> \u{FFFD}[31m");
        assert!(
            error.text.ends_with("ValueError: bad <&\"'> \u{FFFD}[31m"),
            "{}",
            error.text
        );
    }

    #[test]
    fn attributes_keep_line_breaks() {
        assert_eq!(xml_attr("a\nb\tc\rd"), "a&#10;b&#9;c&#13;d");
        assert_eq!(xml_text("a\nb\tc\rd\u{0}"), "a\nb\tc&#13;d\u{FFFD}");
    }

    #[test]
    fn several_runs_add_up() {
        let mut second = sample_run();
        second.run.run.grid = None;
        second.run.ended_at = None;
        let root = parse(&junit_xml(&[sample_run(), second]));
        assert_eq!(
            (
                root.attr("tests"),
                root.attr("failures"),
                root.attr("errors")
            ),
            ("12", "2", "4")
        );
        let suites = root.all("testsuite");
        assert_eq!(suites[1].attr("name"), "my-suite");
        // still running: the testcases' own times, 4 x 0.25 + 2 x 0.5
        assert_eq!(suites[1].attr("time"), "2.000");
        assert_eq!(root.attr("time"), "5.250");
    }
}
