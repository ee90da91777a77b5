//! The process table (Linux /proc) as the workers' stopping needs it: which processes a
//! worker started, even those that left its process group (`setsid`, double forks), and
//! whether a recorded process group is still the one trialrun started, so a pid the
//! system handed to something else is never signalled.
//!
//! A worker's processes are found two ways: the tree below its leader (children, their
//! children...), and the variable [`MARK_VAR`] trialrun puts in its environment, which
//! every descendant inherits unless it clears its environment, and which stays visible
//! after a detached child has been re-parented away from the worker.

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Set in each worker's environment to `<run token>:<worker name>`.
pub const MARK_VAR: &str = "TRIALRUN_STEPS_WORKER";

const POLL: Duration = Duration::from_millis(10);

/// A process as identified for signalling: its pid and its start time (clock ticks after
/// boot, /proc/PID/stat field 22). A pid reused by a later process has another start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcId {
    pub pid: i32,
    pub start_time: u64,
}

/// The fields of /proc/PID/stat used here.
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    pub start_time: u64,
}

impl Stat {
    /// Dead but not yet reaped by its parent.
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// `/proc/PID/stat` parsed; None when the process is gone (or there is no /proc).
pub fn stat(pid: i32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// "pid (comm) state ppid pgrp ... starttime(22) ...": comm may hold spaces and parentheses.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        // Field 22 overall; fields[0] is field 3.
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// The process `pid` now, when it is alive (not a zombie).
pub fn identify(pid: i32) -> Option<ProcId> {
    let s = stat(pid).filter(|s| !s.is_zombie())?;
    Some(ProcId {
        pid,
        start_time: s.start_time,
    })
}

/// Every live process: pid -> its stat.
fn table() -> Vec<(i32, Stat)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, stat(pid)?)))
        .filter(|(_, s)| !s.is_zombie())
        .collect()
}

/// Whether a process of group `pgid` is alive and not a zombie; None without /proc.
pub fn live_members(pgid: i32) -> Option<bool> {
    std::fs::metadata("/proc/self/stat").ok()?;
    Some(table().iter().any(|(_, s)| s.pgrp == pgid))
}

/// Every live process below `root` (not `root` itself).
pub fn descendants(root: i32) -> Vec<ProcId> {
    let all = table();
    let mut found = vec![root];
    let mut out = vec![];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        for (pid, s) in &all {
            if s.ppid == parent && !found.contains(pid) {
                found.push(*pid);
                out.push(ProcId {
                    pid: *pid,
                    start_time: s.start_time,
                });
            }
        }
        i += 1;
    }
    out
}

/// Every live process whose environment holds `MARK_VAR=<value>` with value starting
/// with `prefix` (a whole value when `exact`).
pub fn marked(prefix: &str, exact: bool) -> Vec<ProcId> {
    let needle = format!("{MARK_VAR}={prefix}");
    let me = std::process::id() as i32;
    table()
        .into_iter()
        .filter(|(pid, _)| *pid != me)
        .filter(|(pid, _)| {
            let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
                return false;
            };
            env.split(|&b| b == 0).any(|entry| {
                entry.starts_with(needle.as_bytes()) && (!exact || entry.len() == needle.len())
            })
        })
        .map(|(pid, s)| ProcId {
            pid,
            start_time: s.start_time,
        })
        .collect()
}

/// Still the same process (alive, same start time).
pub fn is_alive(p: ProcId) -> bool {
    identify(p.pid).is_some_and(|now| now.start_time == p.start_time)
}

/// A process group trialrun started, identified by its leader. Its members are signalled
/// only while the group is provably the same: its leader still runs with the recorded
/// start time, or the leader is gone and the group still has members (the system does not
/// hand out a group's id to a new process while the group exists).
pub fn group_is_ours(leader: ProcId) -> bool {
    // Never init's group or this process's own (a state file is outside input).
    let me = std::process::id() as i32;
    if leader.pid <= 1 || leader.pid == me || Some(leader.pid) == stat(me).map(|s| s.pgrp) {
        return false;
    }
    match stat(leader.pid) {
        Some(s) if !s.is_zombie() => s.start_time == leader.start_time && s.pgrp == leader.pid,
        _ => live_members(leader.pid).unwrap_or(false),
    }
}

/// SIGTERM to the process groups `groups` (checked by the caller: see [`group_is_ours`])
/// and to `procs` (when still the same processes), then SIGKILL to whatever is left after
/// `grace`; returns once all are gone or KILL_WAIT passed. `poll` runs at each check (a
/// parent reaps its exited leader there, so without /proc the group can be seen gone).
pub fn stop(groups: &[i32], procs: &[ProcId], grace: Duration, poll: &mut dyn FnMut()) {
    let me = std::process::id() as i32;
    let procs: Vec<ProcId> = procs
        .iter()
        .copied()
        .filter(|p| p.pid > 1 && p.pid != me && is_alive(*p))
        .collect();
    let groups: Vec<i32> = groups.iter().copied().filter(|&g| g > 1).collect();
    let mut alive = || {
        poll();
        groups.iter().any(|&g| {
            // Without /proc: the group exists (a zombie leader its parent has not reaped
            // counts, hence `poll`).
            live_members(g).unwrap_or_else(|| killpg(Pid::from_raw(g), None).is_ok())
        }) || procs.iter().any(|p| is_alive(*p))
    };
    let signal = |sig: Signal| {
        for &g in &groups {
            let _ = killpg(Pid::from_raw(g), sig);
        }
        for p in procs.iter().filter(|p| is_alive(**p)) {
            let _ = kill(Pid::from_raw(p.pid), sig);
        }
    };
    signal(Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && alive() {
        std::thread::sleep(POLL);
    }
    if alive() {
        signal(Signal::SIGKILL);
        let deadline = Instant::now() + KILL_WAIT;
        while Instant::now() < deadline && alive() {
            std::thread::sleep(POLL);
        }
    }
}

/// Longest wait for SIGKILLed processes to disappear.
pub const KILL_WAIT: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_command_names_parse() {
        let line =
            "4242 (a b) c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let s = parse_stat(line).unwrap();
        assert_eq!(
            (s.state, s.ppid, s.pgrp, s.start_time),
            ('S', 1, 4242, 987654)
        );
        assert!(parse_stat("12 (x) S 1").is_none());
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn init_and_this_process_are_never_taken_for_a_worker_group() {
        for pid in [1, std::process::id() as i32] {
            let id = identify(pid).unwrap_or(ProcId { pid, start_time: 0 });
            assert!(!group_is_ours(id), "{pid}");
        }
    }

    #[test]
    fn this_process_is_identified_and_a_changed_start_time_is_not_it() {
        let me = identify(std::process::id() as i32).unwrap();
        assert!(is_alive(me));
        assert!(!is_alive(ProcId {
            start_time: me.start_time + 1,
            ..me
        }));
    }
}
