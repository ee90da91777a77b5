//! What can stop a step sequence, each naming its culprit (file, line and key; worker;
//! step). The kind decides the CLI's exit code.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepsErrorKind {
    /// config.yaml, workers.json, config_overrides, the step list, a state file that does
    /// not match them, a data file: found before any work starts.
    Config,
    /// A worker (or the embedded MongoDB server) could not start, become ready, or died.
    Worker,
    /// Loading data into MongoDB failed, or a required_count was not met.
    Data,
    /// Writing the state file or a log file failed.
    Io,
}

#[derive(Debug, Clone)]
pub struct StepsError {
    pub kind: StepsErrorKind,
    pub message: String,
}

impl StepsError {
    pub fn new(kind: StepsErrorKind, message: impl Into<String>) -> Self {
        StepsError {
            kind,
            message: message.into(),
        }
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(StepsErrorKind::Config, message)
    }

    pub fn worker(message: impl Into<String>) -> Self {
        Self::new(StepsErrorKind::Worker, message)
    }

    pub fn data(message: impl Into<String>) -> Self {
        Self::new(StepsErrorKind::Data, message)
    }

    /// `file: line N: key 'k': detail` (line and key when known).
    pub fn at(
        file: &Path,
        line: Option<u64>,
        key: Option<&str>,
        detail: impl fmt::Display,
    ) -> Self {
        let mut message = file.display().to_string();
        if let Some(line) = line {
            message.push_str(&format!(": line {line}"));
        }
        if let Some(key) = key {
            message.push_str(&format!(": key '{key}'"));
        }
        Self::config(format!("{message}: {detail}"))
    }

    pub fn io(path: &Path, doing: &str, e: std::io::Error) -> Self {
        Self::new(
            StepsErrorKind::Io,
            format!("{}: {doing}: {e}", path.display()),
        )
    }
}

impl fmt::Display for StepsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StepsError {}

pub type Result<T> = std::result::Result<T, StepsError>;

/// A path relative to `base` unless already absolute.
pub fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}
