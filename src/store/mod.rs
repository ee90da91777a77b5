//! The run store: one SQLite file holding every run, its cases and their evaluations.
//!
//! - `open` gives a configured, migrated connection (for reading);
//! - `Writer` is the one way runs are written: batched, on its own thread;
//! - `list_runs`, `run_cases`, `run_evaluations` read them back;
//! - `review` keeps the local human review queue (jobs, fields, grades).
//!
//! Pure Rust: conversions from Python objects live in `py/`.

mod baselines;
mod batch;
mod cache;
mod case_page;
mod error;
mod evaluator_scores;
mod git;
pub mod label;
mod liveness;
pub mod model;
mod open;
mod read;
pub mod review;
mod schema;
#[cfg(test)]
pub(crate) mod test_support;
mod writer;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

pub use baselines::{baseline, save_baseline, BaselineKey};
pub use cache::{cache_sizes, cached_outputs, clear_cache};
pub use case_page::{
    case_page, cases_at, CasePageError, CaseQuery, CaseSort, CaseWithEvaluations, StatusFilter,
};
pub use error::StoreError;
pub use evaluator_scores::{evaluator_scores, EvaluatorScores};
pub use git::git_info;
pub use model::{CacheRecord, CallLogRecord, CaseRecord, EvaluationRecord, RunRecord, RunStatus};
pub use open::{open, open_read};
pub use read::{
    delete_old_runs, grid_siblings, latest_run, list_runs, old_runs, previous_run, run_call_logs,
    run_case_trials, run_cases, run_evaluations, run_outline, run_trial_plan, run_trials,
    runs_matching, StoredRun,
};
pub use review::{
    grade_case, run_review, save_review, CaseFields, Grade, Review, ReviewError, ReviewJob,
};
pub use writer::Writer;

/// `$TRIALRUN_HOME/trialrun.db` when TRIALRUN_HOME is set (and not empty); else the nearest
/// `.trialrun/trialrun.db` in the current directory or one of its parents (as git finds
/// `.git`, so commands work from a project's subfolders); else `.trialrun/trialrun.db`
/// under the current directory, created on first write.
pub fn default_path() -> PathBuf {
    let home = std::env::var_os("TRIALRUN_HOME").filter(|home| !home.is_empty());
    match home {
        Some(home) => PathBuf::from(home).join("trialrun.db"),
        // Made absolute now, so the path in messages and later use does not depend on a
        // working directory that may change; relative if even the cwd is unknown.
        None => store_under(&std::env::current_dir().unwrap_or_default()),
    }
}

/// The store `dir` uses: the nearest existing `.trialrun/trialrun.db` at or above it, else
/// a new one in `dir`.
pub fn store_under(dir: &std::path::Path) -> PathBuf {
    dir.ancestors()
        .map(|d| d.join(".trialrun").join("trialrun.db"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| dir.join(".trialrun").join("trialrun.db"))
}

/// Seconds since the Unix epoch (0.0 if the clock is set before 1970).
pub fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs_f64())
        .unwrap_or(0.0)
}

/// A new run id: a UUID v7, so ids sort by creation time.
pub fn new_run_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_unique_and_time_ordered() {
        let ids: Vec<String> = (0..1000).map(|_| new_run_id()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, ids);
        assert_eq!(uuid::Uuid::parse_str(&ids[0]).unwrap().get_version_num(), 7);
    }

    #[test]
    fn now_is_after_2024() {
        assert!(now_unix() > 1_704_067_200.0);
    }

    #[test]
    fn the_nearest_store_above_a_folder_is_found() {
        let dir = test_support::TestDir::new("store-under");
        let project = dir.path().join("project");
        let deep = project.join("src").join("deep");
        std::fs::create_dir_all(&deep).unwrap();
        // Nothing above: a new store in the folder itself.
        assert_eq!(store_under(&deep), deep.join(".trialrun/trialrun.db"));
        std::fs::create_dir_all(project.join(".trialrun")).unwrap();
        // A .trialrun folder without a store is not a store.
        assert_eq!(store_under(&deep), deep.join(".trialrun/trialrun.db"));
        std::fs::write(project.join(".trialrun/trialrun.db"), b"").unwrap();
        assert_eq!(store_under(&deep), project.join(".trialrun/trialrun.db"));
        assert_eq!(store_under(&project), project.join(".trialrun/trialrun.db"));
        // A nearer store wins.
        std::fs::create_dir_all(deep.join(".trialrun")).unwrap();
        std::fs::write(deep.join(".trialrun/trialrun.db"), b"").unwrap();
        assert_eq!(store_under(&deep), deep.join(".trialrun/trialrun.db"));
    }

    #[test]
    fn default_path_ends_in_trialrun_db() {
        // TRIALRUN_HOME is left alone: other tests in this process may read it.
        let path = default_path();
        assert!(path.ends_with("trialrun.db"));
        match std::env::var_os("TRIALRUN_HOME").filter(|h| !h.is_empty()) {
            Some(home) => assert_eq!(path, PathBuf::from(home).join("trialrun.db")),
            None => assert!(path.ends_with(".trialrun/trialrun.db") && path.is_absolute()),
        }
    }
}
