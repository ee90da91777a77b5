//! data_dir/test_state.json: where a sequence stands (round, steps completed in it), the
//! steps' key-value state, and a fingerprint of the step list and config it was written
//! for. Written atomically (a temporary file in the same folder, then rename) after each
//! step, so a crash leaves either the old or the new file, never half of one.

use super::error::{Result, StepsError};
use super::procs::ProcId;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::io::Write;
use std::path::Path;

pub const STATE_FILE: &str = "test_state.json";
const VERSION: u32 = 1;

/// What the saved progress is only valid for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// "name@worker" per step, in order.
    pub steps: Vec<String>,
    /// The settings that change what the steps run against.
    pub config: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedState {
    pub version: u32,
    pub fingerprint: Fingerprint,
    /// 1-based.
    pub round: u32,
    /// Steps of `round` that passed or were skipped.
    pub completed: Vec<String>,
    /// Every round completed.
    pub finished: bool,
    /// MongoDB collections were loaded for this state.
    pub data_loaded: bool,
    /// Cleared at the start of each round.
    pub round_state: Map<String, Value>,
    /// The round_state of each finished round, by round number ("1", "2", ...).
    #[serde(default)]
    pub rounds: Map<String, Value>,
    pub global_state: Map<String, Value>,
    /// One entry per finished step attempt: {"round", "step", "outcome", "at"}.
    #[serde(default)]
    pub history: Vec<Value>,
    /// The processes the run that wrote this file started: whatever of them still runs
    /// when the next run starts (the runner was killed) is stopped first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<Started>,
}

/// The processes of one run: its workers' groups, and the token in their environment
/// (`procs::MARK_VAR`) that marks every process they started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Started {
    pub token: String,
    pub groups: Vec<StartedGroup>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartedGroup {
    pub worker: String,
    /// The group's leader; its pid is the group id.
    pub leader: ProcId,
}

/// What a state file records of the processes its run started, read leniently (a file
/// that is otherwise unusable still names them): None when there is nothing to read.
pub fn read_started(path: &Path) -> Option<Started> {
    let bytes = std::fs::read(path).ok()?;
    let doc: Value = serde_json::from_slice(&bytes).ok()?;
    serde_json::from_value(doc.get("started")?.clone()).ok()
}

impl SavedState {
    pub fn fresh(fingerprint: Fingerprint) -> Self {
        SavedState {
            version: VERSION,
            fingerprint,
            round: 1,
            completed: vec![],
            finished: false,
            data_loaded: false,
            round_state: Map::new(),
            rounds: Map::new(),
            global_state: Map::new(),
            history: vec![],
            started: None,
        }
    }
}

/// The saved state, None when there is no file. A file that is not a state names itself.
pub fn read(path: &Path) -> Result<Option<SavedState>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StepsError::io(path, "reading the state file", e)),
    };
    parse(path, &bytes).map(Some)
}

/// A state file's content, `path` named in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<SavedState> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count();
        StepsError::config(format!(
            "{}: line {line}: not a trialrun state file (not UTF-8 text); run with --reset to start over",
            path.display()
        ))
    })?;
    let state: SavedState = serde_json::from_str(text).map_err(|e| {
        StepsError::config(format!(
            "{}: line {}: not a trialrun state file ({e}); run with --reset to start over",
            path.display(),
            e.line()
        ))
    })?;
    if state.version != VERSION {
        return Err(StepsError::config(format!(
            "{}: state version {} is not {VERSION}; run with --reset",
            path.display(),
            state.version
        )));
    }
    Ok(state)
}

/// Err describing how the saved fingerprint differs from the current one.
pub fn check_matches(path: &Path, saved: &Fingerprint, now: &Fingerprint) -> Result<()> {
    let mut diffs = Vec::new();
    if saved.steps != now.steps {
        diffs.push(format!(
            "the step list changed (saved: {}; now: {})",
            saved.steps.join(", "),
            now.steps.join(", ")
        ));
    }
    let keys: std::collections::BTreeSet<&String> =
        saved.config.keys().chain(now.config.keys()).collect();
    for key in keys {
        let (a, b) = (saved.config.get(key), now.config.get(key));
        if a != b {
            let show = |v: Option<&Value>| v.map_or("(none)".to_string(), Value::to_string);
            diffs.push(format!(
                "config '{key}' changed (saved: {}; now: {})",
                show(a),
                show(b)
            ));
        }
    }
    if diffs.is_empty() {
        return Ok(());
    }
    Err(StepsError::config(format!(
        "{}: the saved progress does not match this sequence: {}. Run with --reset (force_reset=True) to start over",
        path.display(),
        diffs.join("; ")
    )))
}

/// Writes the state atomically: temporary file, fsync, rename over the old one.
pub fn write(path: &Path, state: &SavedState) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| StepsError::io(dir, "creating the data folder", e))?;
    let tmp = dir.join(format!(".{STATE_FILE}.{}.tmp", std::process::id()));
    let text = serde_json::to_string_pretty(state).expect("state serializes");
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        StepsError::io(path, "writing the state file", e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(steps: &[&str]) -> Fingerprint {
        let mut config = Map::new();
        config.insert("task_id".into(), Value::from("t"));
        Fingerprint {
            steps: steps.iter().map(|s| s.to_string()).collect(),
            config,
        }
    }

    #[test]
    fn write_then_read_round_trips_and_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("trialrun-state-{}", std::process::id()));
        let path = dir.join("data").join(STATE_FILE);
        assert_eq!(read(&path).unwrap(), None);
        let mut state = SavedState::fresh(fp(&["a@w"]));
        state.global_state.insert("k".into(), Value::from(3));
        write(&path, &state).unwrap();
        state.round = 2;
        write(&path, &state).unwrap();
        assert_eq!(read(&path).unwrap(), Some(state));
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [STATE_FILE]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_broken_state_file_names_itself() {
        let dir = std::env::temp_dir().join(format!("trialrun-state-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(STATE_FILE);
        std::fs::write(&path, "{\"version\": 1,\n oops").unwrap();
        let err = read(&path).unwrap_err();
        assert!(
            err.message.contains(STATE_FILE) && err.message.contains("line 2"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mismatches_name_what_changed() {
        let p = Path::new("data/test_state.json");
        check_matches(p, &fp(&["a@w", "b@w"]), &fp(&["a@w", "b@w"])).unwrap();
        let err = check_matches(p, &fp(&["a@w", "b@w"]), &fp(&["a@w", "c@w"])).unwrap_err();
        assert!(
            err.message.contains("step list changed") && err.message.contains("c@w"),
            "{err}"
        );
        let mut other = fp(&["a@w"]);
        other.config.insert("task_id".into(), Value::from("u"));
        let err = check_matches(p, &fp(&["a@w"]), &other).unwrap_err();
        assert!(
            err.message.contains("config 'task_id' changed") && err.message.contains("--reset"),
            "{err}"
        );
    }
}
