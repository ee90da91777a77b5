//! Which process writes a run, and whether it is still alive: a run left "running" by a
//! process that is gone (SIGKILL, power loss, a full disk) is marked interrupted the next
//! time the store is opened, instead of staying "running" forever.

use std::sync::OnceLock;

use rusqlite::{params, Connection};

use super::error::StoreError;
use super::model::RunStatus;
use super::read::db_path;

/// This process as the store records it: `host pid start`, where `start` is the process's
/// start time (in clock ticks since boot, from /proc) so that a later process reusing the
/// pid is not taken for it.
pub(crate) fn this_process() -> &'static str {
    static ME: OnceLock<String> = OnceLock::new();
    ME.get_or_init(|| {
        let pid = std::process::id();
        let start = start_time(pid).unwrap_or_default();
        format!("{} {pid} {start}", hostname())
    })
}

/// Whether the process `writer` names is gone. Only judged for this host: a store shared
/// over a network filesystem keeps other machines' runs as they are.
fn is_gone(writer: &str) -> bool {
    let mut parts = writer.split(' ');
    let (Some(host), Some(pid), Some(start)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    if host != hostname() {
        return false;
    }
    match start_time(pid) {
        // Alive with the same start: the writer itself. Another start: the pid was reused.
        Some(now) => now.to_string() != start,
        None => !alive(pid),
    }
}

/// Marks the runs whose writer is gone as interrupted (ended when found). Returns how many.
pub(crate) fn sweep(conn: &Connection, now: f64) -> Result<usize, StoreError> {
    let path = db_path(conn);
    let fail = |e| StoreError::sqlite(&path, "marking runs whose writer is gone", e);
    let gone = gone_runs(conn)?;
    for seq in &gone {
        conn.execute(
            "UPDATE runs SET status = ?2, ended_at = ?3 WHERE seq = ?1 AND status = ?4",
            params![
                seq,
                RunStatus::Interrupted.as_str(),
                now,
                RunStatus::Running.as_str()
            ],
        )
        .map_err(fail)?;
    }
    Ok(gone.len())
}

/// The runs still "running" whose writer is gone (their keys).
pub(crate) fn gone_runs(conn: &Connection) -> Result<Vec<i64>, StoreError> {
    let path = db_path(conn);
    let fail = |e| StoreError::sqlite(&path, "looking for runs whose writer is gone", e);
    let running: Vec<(i64, String)> = {
        let mut stmt = conn
            .prepare("SELECT seq, writer FROM runs WHERE status = ?1 AND writer IS NOT NULL")
            .map_err(fail)?;
        let rows = stmt
            .query_map(params![RunStatus::Running.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(fail)?;
        rows.collect::<Result<_, _>>().map_err(fail)?
    };
    Ok(running
        .into_iter()
        .filter(|(_, writer)| is_gone(writer))
        .map(|(seq, _)| seq)
        .collect())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty() && !h.contains(' '))
        .unwrap_or_else(|| "localhost".to_string())
}

/// The process's start time from /proc/PID/stat (field 22), or None when there is no such
/// process (or no /proc).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // Signal 0 checks existence; EPERM means it exists but is not ours.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_finished_child_is_gone() {
        assert!(!is_gone(this_process()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = start_time(pid).unwrap_or_default();
        child.wait().unwrap();
        let writer = format!("{} {pid} {start}", hostname());
        assert!(is_gone(&writer));
        // A pid reused by another process (another start time) is not the writer.
        let me = std::process::id();
        assert!(is_gone(&format!("{} {me} 1", hostname())));
        // Another host's runs are never judged.
        assert!(!is_gone(&format!("elsewhere {pid} {start}")));
    }
}
