use super::*;
use crate::history::compare::Change;
use crate::store::test_support::{write_run, TestDir};
use crate::store::Writer;

fn store_with_two_runs(dir: &TestDir) -> Connection {
    let path = dir.path().join("t.db");
    let w = Writer::start(&path).unwrap();
    write_run(
        &w,
        "run-a",
        "suite",
        100.0,
        &[
            ("same", None, vec![("judge", Some(1.0), "passed", None)]),
            ("breaks", None, vec![("judge", Some(0.9), "passed", None)]),
            ("heals", None, vec![("judge", Some(0.1), "failed", None)]),
            ("raises", None, vec![("judge", Some(1.0), "passed", None)]),
            ("gone", None, vec![("judge", Some(1.0), "passed", None)]),
        ],
    );
    write_run(
        &w,
        "run-b",
        "suite",
        200.0,
        &[
            ("same", None, vec![("judge", Some(0.6), "passed", None)]),
            ("breaks", None, vec![("judge", Some(0.2), "failed", None)]),
            ("heals", None, vec![("judge", Some(0.8), "passed", None)]),
            ("raises", Some("Traceback\nValueError"), vec![]),
            ("new", None, vec![("judge", Some(1.0), "passed", None)]),
        ],
    );
    w.close().unwrap();
    store::open(&path).unwrap()
}

fn comparison(conn: &Connection) -> Comparison {
    let (base, head) = resolve_pair(conn, None, None, None).unwrap();
    compare(&load(conn, base).unwrap(), &load(conn, head).unwrap())
}

#[test]
fn default_pair_is_previous_against_latest() {
    let dir = TestDir::new("history-pair");
    let conn = store_with_two_runs(&dir);
    let (base, head) = resolve_pair(&conn, None, None, None).unwrap();
    assert_eq!(
        (base.run.id.as_str(), head.run.id.as_str()),
        ("run-a", "run-b")
    );
    let err = resolve_pair(&conn, None, Some("run-a"), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("first of suite"), "{err}");
}

#[test]
fn references_by_prefix_and_latest() {
    let dir = TestDir::new("history-refs");
    let conn = store_with_two_runs(&dir);
    assert_eq!(resolve(&conn, "run-a", None).unwrap().run.id, "run-a");
    assert_eq!(
        resolve(&conn, "latest", Some("suite")).unwrap().run.id,
        "run-b"
    );
    let ambiguous = resolve(&conn, "run-", None).unwrap_err().to_string();
    assert!(
        ambiguous.contains("matches 2") && ambiguous.contains("run-a"),
        "{ambiguous}"
    );
    assert!(resolve(&conn, "zzz", None)
        .unwrap_err()
        .to_string()
        .contains("no run matches"));
    assert!(resolve(&conn, "latest", Some("other"))
        .unwrap_err()
        .to_string()
        .contains("\"other\""));
}

#[test]
fn cases_are_matched_by_hash() {
    let dir = TestDir::new("history-match");
    let c = comparison(&store_with_two_runs(&dir));
    assert_eq!(c.added, vec!["new"]);
    assert_eq!(c.removed, vec!["gone"]);
    let hashes: Vec<&str> = c.cases.iter().map(|c| c.hash.as_str()).collect();
    assert_eq!(hashes, vec!["same", "breaks", "heals", "raises"]);
    let judge = &c.evaluators[0];
    assert_eq!(judge.newly_failing, vec!["breaks"]);
    assert_eq!(judge.newly_passing, vec!["heals"]);
    assert_eq!(judge.compared, 3);
    // deltas over cases scored in both: -0.4, -0.7, +0.7
    assert!((judge.mean_delta.unwrap() - (-0.4 / 3.0)).abs() < 1e-9);
    // The means are over the same cases as the delta (not over every case of each run,
    // which read "base mean 0.667, head mean 1, delta +0"), so they agree with it.
    let (base_mean, head_mean) = (judge.base_mean.unwrap(), judge.head_mean.unwrap());
    assert!((head_mean - base_mean - judge.mean_delta.unwrap()).abs() < 1e-9);
    assert!((base_mean - 2.0 / 3.0).abs() < 1e-9 && (head_mean - 1.6 / 3.0).abs() < 1e-9);
    assert!(c.cases[3].newly_errored());
    assert_eq!(c.cases[3].evaluations[0].change, Change::Removed);
}

#[test]
fn regressions_follow_the_policy() {
    let dir = TestDir::new("history-policy");
    let c = comparison(&store_with_two_runs(&dir));
    let found = |p: &Policy| -> Vec<(String, String)> {
        c.regressions(p)
            .into_iter()
            .map(|r| (r.hash, r.reason))
            .collect()
    };
    assert_eq!(
        found(&Policy::default()),
        vec![
            ("breaks".into(), "passed -> failed".into()),
            ("raises".into(), "fn newly raised".into())
        ]
    );
    let strict = Policy {
        max_score_drop: Some(0.3),
        removed_cases: true,
        ..Policy::default()
    };
    assert_eq!(
        found(&strict),
        vec![
            ("same".into(), "score dropped by 0.4 (more than 0.3)".into()),
            ("breaks".into(), "passed -> failed".into()),
            ("raises".into(), "fn newly raised".into()),
            ("gone".into(), "case removed".into()),
        ]
    );
    let none = Policy {
        newly_failing: false,
        newly_errored: false,
        max_score_drop: None,
        removed_cases: false,
        alpha: 0.05,
    };
    assert!(found(&none).is_empty());
}

#[test]
fn gc_keeps_the_newest_runs_of_each_series() {
    let dir = TestDir::new("history-gc");
    let conn = store_with_two_runs(&dir);
    // The dry run names what would go and deletes nothing.
    assert_eq!(store::old_runs(&conn, 1).unwrap(), vec!["run-a"]);
    assert_eq!(store::old_runs(&conn, 2).unwrap(), Vec::<String>::new());
    assert_eq!(store::list_runs(&conn, None, 10).unwrap().len(), 2);
    assert_eq!(store::delete_old_runs(&conn, 1).unwrap(), 1);
    let left: Vec<String> = store::list_runs(&conn, None, 10)
        .unwrap()
        .into_iter()
        .map(|r| r.run.id)
        .collect();
    assert_eq!(left, vec!["run-b"]);
    let orphans: i64 = conn
        .query_row(
            "SELECT count(*) FROM cases WHERE run NOT IN (SELECT seq FROM runs)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0, "cases go with their run");
    let kept: i64 = conn
        .query_row("SELECT count(*) FROM cases", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, 5, "run-b's cases stay");
}

#[test]
fn human_grades_of_both_runs_are_compared_by_hash() {
    let dir = TestDir::new("history-review");
    let mut conn = store_with_two_runs(&dir);
    let grade = |v: &str, s: Option<f64>, n: Option<&str>| store::Grade::new(v, s, n).unwrap();
    store::grade_case(
        &conn,
        "run-a",
        "breaks",
        &grade("pass", Some(0.9), None),
        1.0,
    )
    .unwrap();
    store::grade_case(
        &conn,
        "run-b",
        "breaks",
        &grade("fail", None, Some("rude")),
        2.0,
    )
    .unwrap();
    store::grade_case(&conn, "run-b", "new", &grade("pass", None, None), 2.0).unwrap();
    store::grade_case(&conn, "run-a", "gone", &grade("fail", Some(0.0), None), 2.0).unwrap();
    // Fields without a grade are not a grade.
    let fields = store::CaseFields {
        case_hash: "same".into(),
        input_fields: Some("[]".into()),
        output_fields: None,
    };
    store::save_review(&mut conn, "run-b", None, &[fields]).unwrap();

    let c = comparison(&conn);
    let shown: Vec<(&str, Option<&str>, Option<&str>)> = c
        .reviews
        .iter()
        .map(|r| {
            (
                r.hash.as_str(),
                r.base.as_ref().map(|g| g.grade),
                r.head.as_ref().map(|g| g.grade),
            )
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            ("breaks", Some("pass"), Some("fail")),
            ("new", None, Some("pass")),
            ("gone", Some("fail"), None),
        ]
    );
    assert_eq!(c.reviews[0].base.as_ref().unwrap().score, Some(0.9));
    assert_eq!(
        c.reviews[0].head.as_ref().unwrap().note.as_deref(),
        Some("rude")
    );
}

#[test]
fn an_outline_compares_as_the_whole_run_without_outputs_or_metadata() {
    let dir = TestDir::new("history-outline");
    let conn = store_with_two_runs(&dir);
    let (base, head) = resolve_pair(&conn, None, None, None).unwrap();
    let whole = load(&conn, head.clone()).unwrap();
    let outline = load_outline(&conn, head).unwrap();
    assert_eq!(outline.cases.len(), whole.cases.len());
    assert!(outline
        .cases
        .iter()
        .all(|c| c.output.is_none() && c.test_case.is_empty()));
    assert!(whole.cases[0].output.is_some());
    let by_outline = compare(&load_outline(&conn, base).unwrap(), &outline);
    assert_eq!(
        serde_json::to_value(&by_outline).unwrap(),
        serde_json::to_value(comparison(&conn)).unwrap()
    );
}
