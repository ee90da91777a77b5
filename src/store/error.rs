//! The one error type of the run store. Every message names the database file, because the
//! user usually has several (one per project) and needs to know which one to look at.

use std::fmt;
use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

/// What went wrong, so callers (the Python layer, the CLI) can react per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The folder or the database file could not be created or opened.
    CannotCreate,
    /// Another connection held the lock for longer than the busy timeout.
    Busy,
    /// The file is not an SQLite database, is damaged, or belongs to another application.
    Corrupt,
    /// The file was migrated by a newer trialrun than this one.
    NewerSchema,
    /// Any other SQLite failure (constraint violations, disk full, ...).
    Sqlite,
    /// The writer thread is gone (it panicked or could not be started).
    WriterStopped,
}

/// An error of the run store: its kind, the file it concerns, and what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreError {
    kind: StoreErrorKind,
    path: PathBuf,
    detail: String,
}

impl StoreError {
    /// Another process held the write lock past the busy timeout.
    pub(crate) fn is_busy(&self) -> bool {
        self.kind == StoreErrorKind::Busy
    }

    pub fn new(kind: StoreErrorKind, path: &Path, detail: impl Into<String>) -> StoreError {
        StoreError {
            kind,
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }

    /// Classifies an SQLite error; `doing` says what the store was doing ("writing case ...").
    pub(crate) fn sqlite(path: &Path, doing: &str, err: rusqlite::Error) -> StoreError {
        let kind = match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreErrorKind::Busy,
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreErrorKind::Corrupt,
            Some(ErrorCode::CannotOpen) => StoreErrorKind::CannotCreate,
            _ => StoreErrorKind::Sqlite,
        };
        StoreError::new(kind, path, format!("{doing}: {err}"))
    }

    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The part of the message after the file name: what failed and SQLite's own words.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// Adds a consequence to the detail ("...; the batch's 5000 writes are lost").
    pub(crate) fn with_note(mut self, note: &str) -> StoreError {
        self.detail.push_str("; ");
        self.detail.push_str(note);
        self
    }

    /// Notes that more writes failed after this (first) one, so a flush does not hide them.
    pub(crate) fn with_later_failures(mut self, count: usize) -> StoreError {
        if count > 0 {
            let plural = if count == 1 { "" } else { "s" };
            let note = format!(" (and {count} more failed write{plural} after it)");
            self.detail.push_str(&note);
        }
        self
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        let detail = &self.detail;
        match self.kind {
            StoreErrorKind::CannotCreate => {
                write!(f, "cannot create or open the run store {path}: {detail}")
            }
            StoreErrorKind::Busy => write!(
                f,
                "the run store {path} is locked by another process (still busy after the \
                 timeout): {detail}"
            ),
            StoreErrorKind::Corrupt => {
                write!(
                    f,
                    "{path} is not a trialrun run store or is corrupted: {detail}"
                )
            }
            StoreErrorKind::NewerSchema => write!(
                f,
                "the run store {path} was written by a newer trialrun ({detail}); upgrade \
                 trialrun to use it"
            ),
            StoreErrorKind::Sqlite => write!(f, "run store {path}: {detail}"),
            StoreErrorKind::WriterStopped => {
                write!(f, "run store {path}: the writer thread stopped: {detail}")
            }
        }
    }
}

impl std::error::Error for StoreError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_failures_are_counted_in_the_message() {
        let err = StoreError::new(StoreErrorKind::Sqlite, Path::new("/x/t.db"), "writing case")
            .with_later_failures(2);
        assert_eq!(
            err.to_string(),
            "run store /x/t.db: writing case (and 2 more failed writes after it)"
        );
        let same = err.clone().with_later_failures(0);
        assert_eq!(same, err);
    }
}
