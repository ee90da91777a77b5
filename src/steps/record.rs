//! A sequence's record in the run store: one run (kind "steps"), one case per executed
//! step and round (its hash is "name [round N]", readable in show and compare), and one
//! "outcome" evaluation per case, so `trialrun runs/show/compare` and the viewer cover
//! sequences with the suites' schema.

use super::sequencer::StepOutcome;
use crate::store::{self, CaseRecord, EvaluationRecord, RunRecord, RunStatus, StoreError, Writer};
use std::path::Path;
use std::sync::Arc;

pub struct Recorder {
    writer: Writer,
    run_id: Arc<str>,
    next_index: u32,
}

/// One finished step, as the store keeps it.
pub struct StepRecord<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub worker: &'a str,
    pub round: u32,
    pub outcome: StepOutcome,
    /// JSON of execute's return value.
    pub output: Option<String>,
    /// Traceback text.
    pub error: Option<String>,
    /// Why a step skipped itself.
    pub reason: Option<String>,
    pub attempts: u32,
    pub duration_s: f64,
}

/// The case hash of a step in a round: stable across runs, so `compare` matches them.
pub fn step_hash(name: &str, round: u32) -> String {
    format!("{name} [round {round}]")
}

impl Recorder {
    pub fn start(path: &Path, suite_id: &str, project_dir: &Path) -> Result<Recorder, StoreError> {
        let writer = Writer::start(path)?;
        let run_id: Arc<str> = store::new_run_id().into();
        let (git_commit, git_branch) = store::git_info(project_dir);
        writer.begin_run(RunRecord {
            id: run_id.to_string(),
            suite_id: suite_id.to_string(),
            kind: "steps".into(),
            started_at: store::now_unix(),
            grid: None,
            git_commit,
            git_branch,
            trials: None,
            shard: None,
            rescored_from: None,
        });
        Ok(Recorder {
            writer,
            run_id,
            next_index: 0,
        })
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn step(&mut self, step: &StepRecord<'_>) {
        let hash: Arc<str> = step_hash(step.name, step.round).into();
        let test_case = serde_json::json!({
            "name": step.name, "description": step.description, "worker": step.worker, "round": step.round,
        });
        let index = self.next_index;
        self.next_index += 1;
        self.writer.case(CaseRecord {
            run_id: self.run_id.clone(),
            index,
            hash: hash.clone(),
            trial: 0,
            label: None,
            test_case: test_case.to_string().into(),
            output: step.output.clone(),
            duration_s: step.duration_s,
            error: step.error.clone(),
        });
        let (score, verdict) = match step.outcome {
            StepOutcome::Passed => (Some(1.0), "passed"),
            StepOutcome::Failed => (Some(0.0), "failed"),
            StepOutcome::Errored => (None, "errored"),
            StepOutcome::Skipped => (None, "no_threshold"),
        };
        let mut metadata =
            serde_json::json!({"outcome": step.outcome.as_str(), "attempts": step.attempts});
        if let Some(reason) = &step.reason {
            metadata["reason"] = reason.clone().into();
        }
        self.writer.evaluation(EvaluationRecord {
            run_id: self.run_id.clone(),
            case_index: index,
            case_hash: hash,
            trial: 0,
            evaluator_id: "outcome".into(),
            score,
            threshold: score.map(|_| r#"{"gte":1}"#.into()),
            verdict: verdict.into(),
            metadata: Some(metadata.to_string()),
            error: match step.outcome {
                StepOutcome::Errored | StepOutcome::Failed => {
                    step.error.as_ref().map(|e| last_line(e))
                }
                _ => None,
            },
            duration_s: step.duration_s,
        });
    }

    pub fn finish(self, status: RunStatus) -> Result<(), StoreError> {
        self.writer
            .finish_run(&self.run_id, status, store::now_unix());
        self.writer.close()
    }
}

fn last_line(text: &str) -> String {
    text.trim_end().lines().last().unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_become_cases_with_an_outcome_evaluation() {
        let dir = std::env::temp_dir().join(format!("trialrun-record-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("trialrun.db");
        let mut rec = Recorder::start(&path, "task", &dir).unwrap();
        let run_id = rec.run_id().to_string();
        let base = StepRecord {
            name: "create",
            description: "makes one",
            worker: "w1",
            round: 1,
            outcome: StepOutcome::Passed,
            output: Some("{\"id\":1}".into()),
            error: None,
            reason: None,
            attempts: 1,
            duration_s: 0.5,
        };
        rec.step(&base);
        rec.step(&StepRecord {
            name: "check",
            outcome: StepOutcome::Skipped,
            output: None,
            reason: Some("nothing to do".into()),
            ..base
        });
        rec.finish(RunStatus::Completed).unwrap();

        let conn = store::open(&path).unwrap();
        let runs = store::list_runs(&conn, Some("task"), 10).unwrap();
        assert_eq!(
            (runs[0].run.kind.as_str(), runs[0].status),
            ("steps", RunStatus::Completed)
        );
        let cases = store::run_cases(&conn, &run_id).unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(&*cases[0].hash, step_hash("create", 1));
        assert!(cases[0].test_case.contains("\"worker\":\"w1\""));
        let evals = store::run_evaluations(&conn, &run_id).unwrap();
        assert_eq!((&*evals[0].verdict, evals[0].score), ("passed", Some(1.0)));
        assert_eq!((&*evals[1].verdict, evals[1].score), ("no_threshold", None));
        assert!(evals[1]
            .metadata
            .as_deref()
            .unwrap()
            .contains("nothing to do"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hashes_are_stable_and_differ_by_round() {
        assert_eq!(step_hash("a", 1), "a [round 1]");
        assert_ne!(step_hash("a", 1), step_hash("a", 2));
    }
}
