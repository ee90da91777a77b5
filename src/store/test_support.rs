//! Test support: a throwaway folder under the system temp dir (removed on drop), and
//! finished runs written through the real Writer.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{CaseRecord, EvaluationRecord, RunRecord, RunStatus, Writer};

pub(crate) struct TestDir(PathBuf);

impl TestDir {
    /// `name` keeps leftover folders recognizable; pid + counter + time make them unique
    /// across parallel tests and repeated runs.
    pub(crate) fn new(name: &str) -> TestDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = format!(
            "trialrun-store-{name}-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            super::now_unix().to_bits()
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).expect("cannot create a test folder");
        TestDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A case to write: (hash, fn error, [(evaluator, score, verdict, metadata)]).
pub(crate) type Case<'a> = (
    &'a str,
    Option<&'a str>,
    Vec<(&'a str, Option<f64>, &'a str, Option<&'a str>)>,
);

/// Writes one finished run of `suite` with `cases` (test case JSON holds HTML-special
/// characters, so renderings of it are checked for escaping).
pub(crate) fn write_run(w: &Writer, id: &str, suite: &str, started_at: f64, cases: &[Case]) {
    w.begin_run(RunRecord {
        id: id.into(),
        suite_id: suite.into(),
        kind: "suite".into(),
        started_at,
        grid: None,
        git_commit: Some("0123456789abcdef".into()),
        git_branch: Some("main".into()),
        trials: None,
        shard: None,
        rescored_from: None,
    });
    for (i, (hash, error, evaluations)) in cases.iter().enumerate() {
        w.case(CaseRecord {
            run_id: id.into(),
            index: i as u32,
            hash: (*hash).into(),
            trial: 0,
            label: None,
            test_case: format!(r#"{{"question":"<b>{hash}</b>"}}"#).into(),
            output: error.is_none().then(|| r#""an answer""#.to_string()),
            duration_s: 0.5,
            error: error.map(str::to_string),
        });
        for (evaluator, score, verdict, metadata) in evaluations {
            w.evaluation(EvaluationRecord {
                run_id: id.into(),
                case_index: i as u32,
                case_hash: (*hash).into(),
                trial: 0,
                evaluator_id: (*evaluator).into(),
                score: *score,
                threshold: Some(r#"{"gte":0.5}"#.into()),
                verdict: (*verdict).into(),
                metadata: metadata.map(str::to_string),
                error: None,
                duration_s: 0.01,
            });
        }
    }
    w.finish_run(id, RunStatus::Completed, started_at + 2.0);
}
