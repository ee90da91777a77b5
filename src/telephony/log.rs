//! The last lines a call server or loopback carrier logged, for `log_lines()` (tests and
//! users read why a call failed there), optionally echoed to stderr.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Lines kept; the oldest are dropped.
const KEPT: usize = 1000;

pub struct BoundedLog {
    /// Names the source on stderr, e.g. "trialrun call server".
    source: &'static str,
    to_stderr: bool,
    lines: Mutex<VecDeque<String>>,
}

impl BoundedLog {
    pub fn new(source: &'static str, to_stderr: bool) -> Self {
        Self {
            source,
            to_stderr,
            lines: Mutex::default(),
        }
    }

    pub fn push(&self, line: String) {
        if self.to_stderr {
            eprintln!("{}: {line}", self.source);
        }
        let mut lines = self.lines.lock().expect("log lock");
        if lines.len() == KEPT {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The lines kept, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .expect("log lock")
            .iter()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_lines_in_order() {
        let log = BoundedLog::new("test", false);
        for i in 0..KEPT + 5 {
            log.push(i.to_string());
        }
        let lines = log.lines();
        assert_eq!(lines.len(), KEPT);
        assert_eq!(lines.first().map(String::as_str), Some("5"));
        assert_eq!(lines.last(), Some(&(KEPT + 4).to_string()));
    }
}
