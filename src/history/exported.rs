//! A run exported as JSON (`trialrun export`, `report::export`) read back: `merge` takes
//! shards as such files, and `compare` a run that is not in this store (a CI job's
//! artifact).

use super::{RunData, RUN_JSON_FORMAT};
use crate::store::{
    CallLogRecord, CaseRecord, EvaluationRecord, Review, RunRecord, RunStatus, StoredRun,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

/// The run in an export file, as records.
pub struct Exported {
    /// The file and the run's id, for messages.
    pub source: String,
    pub run: RunRecord,
    pub status: RunStatus,
    pub ended_at: Option<f64>,
    pub stop_reason: Option<String>,
    pub cases: Vec<CaseRecord>,
    pub evaluations: Vec<EvaluationRecord>,
    pub call_logs: Vec<CallLogRecord>,
}

#[derive(Deserialize)]
struct Document {
    format: String,
    run: DocumentRun,
    cases: Vec<DocumentCase>,
    #[serde(default)]
    call_logs: Vec<DocumentCallLog>,
}

#[derive(Deserialize)]
struct DocumentCallLog {
    case_index: u32,
    #[serde(default)]
    trial: u32,
    #[serde(default)]
    evaluator_id: Option<String>,
    attempts: Option<Box<RawValue>>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
}

#[derive(Deserialize)]
struct DocumentRun {
    id: String,
    suite_id: String,
    kind: String,
    started_at: f64,
    grid: Option<Box<RawValue>>,
    git_commit: Option<String>,
    git_branch: Option<String>,
    #[serde(default)]
    trials: Option<Box<RawValue>>,
    #[serde(default)]
    shard: Option<String>,
    #[serde(default)]
    rescored_from: Option<String>,
    status: String,
    ended_at: Option<f64>,
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct DocumentCase {
    index: u32,
    hash: String,
    #[serde(default)]
    trial: u32,
    #[serde(default)]
    label: Option<String>,
    test_case: Box<RawValue>,
    output: Option<Box<RawValue>>,
    duration_s: f64,
    error: Option<String>,
    evaluations: Vec<DocumentEvaluation>,
}

#[derive(Deserialize)]
struct DocumentEvaluation {
    #[serde(default)]
    trial: u32,
    evaluator_id: String,
    score: Option<f64>,
    threshold: Option<Box<RawValue>>,
    verdict: String,
    metadata: Option<Box<RawValue>>,
    error: Option<String>,
    duration_s: f64,
}

fn raw(value: Option<Box<RawValue>>) -> Option<String> {
    value.map(|v| v.get().to_string())
}

/// Reads the export at `path`; the error names the file and what is wrong with it.
pub fn read(path: &Path) -> Result<Exported, String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: cannot be read: {e}"))?;
    let doc: Document = serde_json::from_str(&text).map_err(|e| {
        format!("{name}: neither a run store nor a run exported as JSON (trialrun export): {e}")
    })?;
    if doc.format != RUN_JSON_FORMAT {
        return Err(format!(
            "{name}: an export in format {:?}; this trialrun reads {RUN_JSON_FORMAT:?}",
            doc.format
        ));
    }
    let source = format!("{name} (run {})", doc.run.id);
    let status = RunStatus::parse(&doc.run.status)
        .ok_or_else(|| format!("{source}: unknown status {:?}", doc.run.status))?;
    let run_id: Arc<str> = Arc::from(doc.run.id.as_str());
    let mut cases = Vec::with_capacity(doc.cases.len());
    let mut evaluations = vec![];
    for case in doc.cases {
        let hash: Arc<str> = Arc::from(case.hash);
        for e in case.evaluations {
            evaluations.push(EvaluationRecord {
                run_id: run_id.clone(),
                case_index: case.index,
                case_hash: hash.clone(),
                trial: e.trial,
                evaluator_id: Arc::from(e.evaluator_id),
                score: e.score,
                threshold: raw(e.threshold).map(Arc::from),
                verdict: Arc::from(e.verdict),
                metadata: raw(e.metadata),
                error: e.error,
                duration_s: e.duration_s,
            });
        }
        cases.push(CaseRecord {
            run_id: run_id.clone(),
            index: case.index,
            hash,
            trial: case.trial,
            label: case.label.map(Arc::from),
            test_case: Arc::from(case.test_case.get()),
            output: raw(case.output),
            duration_s: case.duration_s,
            error: case.error,
        });
    }
    let call_logs = doc
        .call_logs
        .into_iter()
        .map(|l| CallLogRecord {
            run_id: run_id.clone(),
            case_index: l.case_index,
            trial: l.trial,
            evaluator_id: l.evaluator_id.map(Arc::from),
            attempts: raw(l.attempts),
            input_tokens: l.input_tokens,
            output_tokens: l.output_tokens,
        })
        .collect();
    Ok(Exported {
        source,
        run: RunRecord {
            id: doc.run.id,
            suite_id: doc.run.suite_id,
            kind: doc.run.kind,
            started_at: doc.run.started_at,
            grid: raw(doc.run.grid),
            git_commit: doc.run.git_commit,
            git_branch: doc.run.git_branch,
            trials: raw(doc.run.trials),
            shard: doc.run.shard,
            rescored_from: doc.run.rescored_from,
        },
        status,
        ended_at: doc.run.ended_at,
        stop_reason: doc.run.stop_reason,
        cases,
        evaluations,
        call_logs,
    })
}

impl Exported {
    /// The run as `compare` takes it. A run that repeats its cases is refused: its export
    /// keeps only their first trials, so pass rates could not be compared.
    pub fn into_run_data(self) -> Result<RunData, String> {
        if self.run.trials.is_some() {
            return Err(format!(
                "{}: the run repeats its cases, and an export keeps only their first \
                 trials: compare the stored runs instead",
                self.source
            ));
        }
        let errored = self.cases.iter().filter(|c| c.error.is_some()).count();
        let failed: HashSet<u32> = self
            .evaluations
            .iter()
            .filter(|e| matches!(&*e.verdict, "failed" | "errored"))
            .map(|e| e.case_index)
            .collect();
        let failed = failed.len();
        let run = StoredRun {
            run: self.run,
            status: self.status,
            ended_at: self.ended_at,
            stop_reason: self.stop_reason,
            cases: self.cases.len() as u64,
            errored_cases: errored as u64,
            failed_cases: failed as u64,
            verdict: "",
            pass_rate: None,
        }
        .with_counts();
        Ok(RunData {
            run,
            cases: self.cases,
            evaluations: self.evaluations,
            review: Review::default(),
            trials: None,
            call_logs: self.call_logs,
        })
    }
}
