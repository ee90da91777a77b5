//! `trialrun merge`: the shards of a suite (`suite::shard`), run on several machines and
//! brought back as run stores or exported runs (`trialrun export`), made into one run per
//! suite and grid combination, as if one machine had run the whole suite.
//!
//! Every group is checked before anything is written: each shard present once, all of
//! one split (the same n), of one commit (unless mixed commits are allowed), of one trial
//! plan, with no case in two shards. Cases keep their places in the whole suite (shards
//! store them at their positions in it), so the merged run reads as the unsharded one.

use super::exported;
use crate::store::{
    self, CallLogRecord, CaseRecord, EvaluationRecord, RunRecord, RunStatus, StoreError,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One shard's run with every trial of its cases, and where it came from.
pub struct ShardRun {
    /// The file it was read from, and the run's id, for error messages.
    pub source: String,
    pub run: RunRecord,
    pub status: RunStatus,
    pub ended_at: Option<f64>,
    pub index: u32,
    pub count: u32,
    pub cases: Vec<CaseRecord>,
    pub evaluations: Vec<EvaluationRecord>,
    pub call_logs: Vec<CallLogRecord>,
}

/// A run made by merging shards.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    pub run_id: String,
    pub suite_id: String,
    pub grid: Option<String>,
    pub shards: u32,
    pub cases: usize,
    pub status: RunStatus,
}

#[derive(Debug)]
pub enum MergeError {
    Store(StoreError),
    /// The sources cannot be merged as given; the text says which and why.
    Refused(String),
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::Store(e) => e.fmt(f),
            MergeError::Refused(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for MergeError {}

impl From<StoreError> for MergeError {
    fn from(e: StoreError) -> Self {
        MergeError::Store(e)
    }
}

fn refused<T>(msg: String) -> Result<T, MergeError> {
    Err(MergeError::Refused(msg))
}

/// The shard runs in each source: a run store (every run tagged with a shard) or a run
/// exported as JSON (which must be a shard).
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<ShardRun>, MergeError> {
    let mut shards = vec![];
    for path in paths {
        if is_sqlite(path)? {
            shards.extend(from_store(path)?);
        } else {
            shards.push(from_export(path)?);
        }
    }
    Ok(shards)
}

fn is_sqlite(path: &Path) -> Result<bool, MergeError> {
    use std::io::Read;
    let mut head = [0u8; 16];
    let mut file = std::fs::File::open(path)
        .or_else(|e| refused(format!("{}: cannot be read: {e}", path.display())))?;
    let n = file.read(&mut head).unwrap_or(0);
    Ok(n == 16 && &head == b"SQLite format 3\0")
}

fn from_store(path: &Path) -> Result<Vec<ShardRun>, MergeError> {
    let conn = store::open_read(path)?;
    let mut shards = vec![];
    for stored in store::list_runs(&conn, None, usize::MAX)? {
        let Some(tag) = stored.run.shard.clone() else {
            continue;
        };
        let (cases, evaluations) = store::run_trials(&conn, &stored.run.id)?;
        let call_logs = store::run_call_logs(&conn, &stored.run.id)?;
        let source = format!("{} (run {})", path.display(), stored.run.id);
        let (index, count) = parse_tag(&tag, &source)?;
        shards.push(ShardRun {
            source,
            run: stored.run,
            status: stored.status,
            ended_at: stored.ended_at,
            index,
            count,
            cases,
            evaluations,
            call_logs,
        });
    }
    if shards.is_empty() {
        return refused(format!(
            "{}: the store holds no shard runs (run suites with --shard i/n or TRIALRUN_SHARD)",
            path.display()
        ));
    }
    Ok(shards)
}

fn parse_tag(tag: &str, source: &str) -> Result<(u32, u32), MergeError> {
    crate::suite::shard::Shard::parse(tag)
        .map(|s| (s.index, s.count))
        .or_else(|e| refused(format!("{source}: shard tag: {e}")))
}

fn from_export(path: &Path) -> Result<ShardRun, MergeError> {
    let exported = exported::read(path).map_err(MergeError::Refused)?;
    let source = exported.source.clone();
    let Some(tag) = exported.run.shard.clone() else {
        return refused(format!(
            "{source}: not a shard (it ran without --shard i/n or TRIALRUN_SHARD)"
        ));
    };
    if exported.run.trials.is_some() {
        return refused(format!(
            "{source}: the run repeats its cases, and an export keeps only their first \
             trials: merge the shards' run stores instead"
        ));
    }
    let (index, count) = parse_tag(&tag, &source)?;
    Ok(ShardRun {
        source,
        run: exported.run,
        status: exported.status,
        ended_at: exported.ended_at,
        index,
        count,
        cases: exported.cases,
        evaluations: exported.evaluations,
        call_logs: exported.call_logs,
    })
}

/// A suite and grid combination whose shards make one run.
type GroupKey = (String, Option<String>);

/// Checks every group, then writes one run per group into the store at `into`.
pub fn merge(
    shards: Vec<ShardRun>,
    into: &Path,
    allow_mixed_commits: bool,
) -> Result<Vec<Merged>, MergeError> {
    let mut groups: BTreeMap<GroupKey, Vec<ShardRun>> = BTreeMap::new();
    for shard in shards {
        let key = (shard.run.suite_id.clone(), shard.run.grid.clone());
        groups.entry(key).or_default().push(shard);
    }
    for (key, group) in &mut groups {
        group.sort_by_key(|s| s.index);
        check_group(key, group, allow_mixed_commits)?;
    }
    let writer = store::Writer::start(into)?;
    let mut merged = vec![];
    for ((suite_id, grid), group) in groups {
        merged.push(write_group(&writer, suite_id, grid, group));
    }
    writer.close()?;
    Ok(merged)
}

fn describe(key: &GroupKey) -> String {
    match &key.1 {
        Some(grid) => format!("suite {:?} (grid {grid})", key.0),
        None => format!("suite {:?}", key.0),
    }
}

fn check_group(
    key: &GroupKey,
    group: &[ShardRun],
    allow_mixed_commits: bool,
) -> Result<(), MergeError> {
    let what = describe(key);
    let counts: HashSet<u32> = group.iter().map(|s| s.count).collect();
    if counts.len() > 1 {
        return refused(format!(
            "{what}: shards of different splits cannot be merged: {}",
            list(group.iter())
        ));
    }
    let count = group[0].count;
    for pair in group.windows(2) {
        if pair[0].index == pair[1].index {
            let twice = group.iter().filter(|s| s.index == pair[0].index);
            return refused(format!(
                "{what}: shard {}/{count} is given twice: {}",
                pair[0].index,
                list(twice)
            ));
        }
    }
    let have: HashSet<u32> = group.iter().map(|s| s.index).collect();
    let missing: Vec<String> = (1..=count)
        .filter(|i| !have.contains(i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return refused(format!(
            "{what}: shard {} missing (given: {})",
            missing.join(", "),
            list(group.iter())
        ));
    }
    let commits: HashSet<&Option<String>> = group.iter().map(|s| &s.run.git_commit).collect();
    if commits.len() > 1 && !allow_mixed_commits {
        let by_commit = group
            .iter()
            .map(|s| {
                let commit = s.run.git_commit.as_deref().unwrap_or("no commit");
                format!("{}/{count} at {commit}", s.index)
            })
            .collect::<Vec<_>>()
            .join(", ");
        return refused(format!(
            "{what}: the shards ran at different commits ({by_commit}); \
             pass --allow-mixed-commits to merge them anyway"
        ));
    }
    let plans: HashSet<&Option<String>> = group.iter().map(|s| &s.run.trials).collect();
    if plans.len() > 1 {
        return refused(format!(
            "{what}: the shards ran with different repeats or verdict policies: {}",
            list(group.iter())
        ));
    }
    // A case in two shards means they split different case lists.
    let mut places: HashMap<(u32, u32), &ShardRun> = HashMap::new();
    let mut hashes: HashMap<(&str, u32), &ShardRun> = HashMap::new();
    for shard in group {
        for case in &shard.cases {
            let clash = places
                .insert((case.index, case.trial), shard)
                .or_else(|| hashes.insert((&case.hash, case.trial), shard));
            if let Some(other) = clash {
                return refused(format!(
                    "{what}: case {} ({}) is in two shards, {} and {}: they split different \
                     lists of cases",
                    case.hash, case.index, other.source, shard.source
                ));
            }
        }
    }
    Ok(())
}

/// "i/n from SOURCE; ..." for an error message.
fn list<'a>(shards: impl Iterator<Item = &'a ShardRun>) -> String {
    shards
        .map(|s| format!("{}/{} from {}", s.index, s.count, s.source))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What the merged run's status is: the worst of its shards'.
fn merged_status(group: &[ShardRun]) -> RunStatus {
    let has = |status| group.iter().any(|s| s.status == status);
    if has(RunStatus::Failed) {
        RunStatus::Failed
    } else if has(RunStatus::Interrupted) || has(RunStatus::Running) {
        RunStatus::Interrupted
    } else if has(RunStatus::Stopped) {
        RunStatus::Stopped
    } else {
        RunStatus::Completed
    }
}

fn write_group(
    writer: &store::Writer,
    suite_id: String,
    grid: Option<String>,
    group: Vec<ShardRun>,
) -> Merged {
    let run_id = store::new_run_id();
    let id: Arc<str> = Arc::from(run_id.as_str());
    let first = &group[0].run;
    let started_at = group
        .iter()
        .map(|s| s.run.started_at)
        .fold(f64::MAX, f64::min);
    let ended_at = group
        .iter()
        .filter_map(|s| s.ended_at)
        .fold(started_at, f64::max);
    let status = merged_status(&group);
    let count = group[0].count;
    writer.begin_run(RunRecord {
        id: run_id.clone(),
        suite_id: suite_id.clone(),
        kind: first.kind.clone(),
        started_at,
        grid: grid.clone(),
        git_commit: first.git_commit.clone(),
        git_branch: first.git_branch.clone(),
        trials: first.trials.clone(),
        shard: None,
        rescored_from: None,
    });
    let (mut cases, mut evaluations) = (vec![], vec![]);
    for shard in group {
        cases.extend(shard.cases);
        evaluations.extend(shard.evaluations);
        for mut log in shard.call_logs {
            log.run_id = id.clone();
            writer.call_log(log);
        }
    }
    cases.sort_by_key(|c| (c.index, c.trial));
    evaluations.sort_by_key(|e| (e.case_index, e.trial));
    let n = cases.iter().filter(|c| c.trial == 0).count();
    for mut case in cases {
        case.run_id = id.clone();
        writer.case(case);
    }
    for mut evaluation in evaluations {
        evaluation.run_id = id.clone();
        writer.evaluation(evaluation);
    }
    let reason = (status == RunStatus::Stopped).then(|| "a shard stopped early".to_string());
    writer.finish_run_because(&run_id, status, ended_at, reason);
    Merged {
        run_id,
        suite_id,
        grid,
        shards: count,
        cases: n,
        status,
    }
}
