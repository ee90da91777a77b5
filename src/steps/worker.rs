//! Worker processes: started in parallel, each in its own process group with its output
//! in a log file; ready when its port accepts or its HTTP path answers; stopped as a group
//! (SIGTERM, then SIGKILL after a grace period) explicitly or when dropped, so an error or
//! Ctrl-C on the Python side leaves nothing running.

use super::config::Ready;
use super::error::{Result, StepsError};
use super::procs::{self, ProcId};
use super::ready::probe;
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Lines of a worker's log shown when it fails.
const LOG_TAIL_LINES: usize = 20;
/// How often readiness and exits are polled while starting.
const POLL: Duration = Duration::from_millis(10);

/// Everything needed to start one worker.
#[derive(Debug, Clone)]
pub struct Launch {
    pub name: String,
    pub port: u16,
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// Set on top of this process's environment.
    pub env: BTreeMap<String, String>,
    pub log_path: PathBuf,
    pub ready: Ready,
    pub ready_timeout: Duration,
    pub stop_grace: Duration,
}

/// A running worker. Dropping it stops its process group.
#[derive(Debug)]
pub struct Worker {
    pub launch: Launch,
    child: Option<Child>,
    /// Set once the exit was seen (the child is reaped).
    exited: Option<ExitStatus>,
    /// The leader (and group id) with its start time; None without /proc.
    leader: Option<ProcId>,
}

impl Worker {
    pub fn name(&self) -> &str {
        &self.launch.name
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Err naming the worker, its exit status and its log tail when it has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.poll_exit() {
            return Err(StepsError::worker(format!(
                "worker '{}' exited ({status}) while the sequence ran{}",
                self.launch.name,
                self.log_tail_block()
            )));
        }
        Ok(())
    }

    fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.exited = Some(status);
                }
            }
        }
        self.exited
    }

    /// The last lines of the log, each prefixed with `[name] `, after a newline.
    pub fn log_tail_block(&self) -> String {
        let tail = log_tail(&self.launch.log_path, LOG_TAIL_LINES);
        if tail.is_empty() {
            return format!("; its log {} is empty", self.launch.log_path.display());
        }
        let prefixed: Vec<String> = tail
            .iter()
            .map(|l| format!("[{}] {l}", self.launch.name))
            .collect();
        format!(
            "; last lines of {}:\n{}",
            self.launch.log_path.display(),
            prefixed.join("\n")
        )
    }

    /// The group leader as started (pid and start time), for recording and the watchdog.
    pub fn leader(&self) -> Option<ProcId> {
        self.leader
    }

    /// SIGTERM to the group and to every other process the worker started (those that
    /// left the group too: see `procs`), SIGKILL to whatever is left after the grace
    /// period. Waits for the leader, so no zombie remains. Idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let mark = self.launch.env.get(procs::MARK_VAR).cloned();
        let others = |leader: i32| {
            let mut found = procs::descendants(leader);
            if let Some(mark) = &mark {
                found.extend(procs::marked(mark, true));
            }
            found
        };
        let leader = child.id() as i32;
        // Until the leader is reaped its pid, and so the group id, cannot be handed to
        // another process; once reaped, the group is signalled only while provably ours.
        let group: Vec<i32> =
            if self.exited.is_none() || self.leader.is_some_and(procs::group_is_ours) {
                vec![leader]
            } else {
                vec![]
            };
        let mut reap = || {
            let _ = child.try_wait();
        };
        // `others` is taken before any signal: once the leader exits its children are
        // re-parented away from it.
        procs::stop(&group, &others(leader), self.launch.stop_grace, &mut reap);
        // Anything a dying process started meanwhile.
        procs::stop(&[], &others(leader), Duration::ZERO, &mut || {});
        let status = child.wait().ok();
        self.exited = self.exited.or(status);
    }

    /// Waits until the worker is ready, has exited, or the timeout passed.
    fn wait_ready(&mut self) -> Result<Duration> {
        let started = Instant::now();
        let deadline = started + self.launch.ready_timeout;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.launch.port));
        loop {
            let last = match probe(addr, &self.launch.ready) {
                Ok(()) => return Ok(started.elapsed()),
                Err(why) => why,
            };
            if let Some(status) = self.poll_exit() {
                return Err(StepsError::worker(format!(
                    "worker '{}' exited ({status}) before it was ready{}",
                    self.launch.name,
                    self.log_tail_block()
                )));
            }
            if Instant::now() >= deadline {
                return Err(StepsError::worker(format!(
                    "worker '{}' was not ready within {:.1} s ({}: {last}){}",
                    self.launch.name,
                    self.launch.ready_timeout.as_secs_f64(),
                    describe(&self.launch.ready, self.launch.port),
                    self.log_tail_block()
                )));
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

fn describe(ready: &Ready, port: u16) -> String {
    match ready {
        Ready::Tcp => format!("TCP 127.0.0.1:{port}"),
        Ready::Http(path) => format!("GET http://127.0.0.1:{port}{path}"),
    }
}

/// Err naming the worker when something already listens on its port.
pub fn check_port_free(name: &str, port: u16) -> Result<()> {
    TcpListener::bind(("127.0.0.1", port)).map(drop).map_err(|e| {
        StepsError::worker(format!(
            "worker '{name}': port {port} on 127.0.0.1 is busy ({e}); another process (perhaps a worker left from an earlier run) holds it"
        ))
    })
}

/// A port on 127.0.0.1 that was free a moment ago and is none of `promised`: ports chosen
/// earlier for other processes but not bound yet, which a later pick could land on again.
pub fn free_port_except(promised: &[u16]) -> Result<u16> {
    first_not_in(free_port, promised)
}

fn first_not_in(mut candidate: impl FnMut() -> Result<u16>, promised: &[u16]) -> Result<u16> {
    for _ in 0..32 {
        let port = candidate()?;
        if !promised.contains(&port) {
            return Ok(port);
        }
    }
    Err(StepsError::worker(format!(
        "no free port on 127.0.0.1 besides {promised:?}"
    )))
}

/// A port on 127.0.0.1 that was free a moment ago, below the system's ephemeral range.
/// A worker binds its port only once its process is up, and until then a port from the
/// ephemeral range could be handed by the system to anything else binding port 0 or
/// connecting out (seen in CI: "Address already in use"). Below that range the system
/// hands out nothing; only the system's own choice is left if no port there is free.
pub fn free_port() -> Result<u16> {
    let (first, end) = (
        FIRST_PICKED_PORT,
        ephemeral_start().max(FIRST_PICKED_PORT + 1),
    );
    for _ in 0..64 {
        let port = first + (random_u64() % u64::from(end - first)) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| StepsError::worker(format!("no free port on 127.0.0.1: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| StepsError::worker(format!("no free port on 127.0.0.1: {e}")))
}

/// Where worker ports are picked: above the ports servers are commonly configured on.
const FIRST_PICKED_PORT: u16 = 20000;

/// The first port of the system's ephemeral range (Linux's default when it cannot be read).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

/// A random number from the standard library's per-process hash keys.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// Starts one worker (not waiting for readiness).
pub fn spawn(launch: Launch) -> Result<Worker> {
    if let Some(dir) = launch.log_path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| StepsError::io(dir, "creating the log folder", e))?;
    }
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&launch.log_path)
        .map_err(|e| StepsError::io(&launch.log_path, "opening the worker log", e))?;
    let _ = writeln!(
        log,
        "--- trialrun: starting {:?} on port {}",
        launch.argv, launch.port
    );
    let err_log = log
        .try_clone()
        .map_err(|e| StepsError::io(&launch.log_path, "opening the worker log", e))?;
    let (program, args) = launch
        .argv
        .split_first()
        .ok_or_else(|| StepsError::config(format!("worker '{}': empty command", launch.name)))?;
    let child = Command::new(program)
        .args(args)
        .current_dir(&launch.cwd)
        .envs(&launch.env)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log)
        // Its own group: stopped as a whole, and a terminal's Ctrl-C reaches only us.
        .process_group(0)
        .spawn()
        .map_err(|e| {
            let why = if e.raw_os_error() == Some(libc::E2BIG) {
                " (its environment and arguments together are larger than the system allows)"
            } else {
                ""
            };
            StepsError::worker(format!(
                "worker '{}': cannot run {program:?} (in {}): {e}{why}",
                launch.name,
                launch.cwd.display()
            ))
        })?;
    // The start time is set at fork and kept through exec: this is the process spawned.
    let leader = procs::identify(child.id() as i32);
    Ok(Worker {
        launch,
        child: Some(child),
        exited: None,
        leader,
    })
}

/// Starts every worker at once and waits until all are ready. Busy ports are refused
/// before anything starts; on any failure every worker is stopped and the errors of all
/// that failed are reported together.
pub fn start_all(launches: Vec<Launch>) -> Result<Vec<Worker>> {
    for l in &launches {
        check_port_free(&l.name, l.port)?;
    }
    let mut workers = Vec::with_capacity(launches.len());
    for launch in launches {
        workers.push(spawn(launch)?); // on error, the ones started are dropped: stopped
    }
    let errors: Vec<StepsError> = std::thread::scope(|scope| {
        let waits: Vec<_> = workers
            .iter_mut()
            .map(|w| scope.spawn(move || w.wait_ready()))
            .collect();
        waits
            .into_iter()
            .filter_map(|h| h.join().expect("readiness thread panicked").err())
            .collect()
    });
    if errors.is_empty() {
        return Ok(workers);
    }
    stop_all(&mut workers);
    let message = errors
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    Err(StepsError::worker(message))
}

/// Stops every worker at once (their grace periods overlap).
pub fn stop_all(workers: &mut [Worker]) {
    std::thread::scope(|scope| {
        for w in workers.iter_mut() {
            scope.spawn(move || w.stop());
        }
    });
}

/// The last `n` lines of a file (empty when unreadable).
pub fn log_tail(path: &std::path::Path, n: usize) -> Vec<String> {
    let Ok(bytes) = std::fs::read(path) else {
        return vec![];
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

#[cfg(test)]
mod tests;
