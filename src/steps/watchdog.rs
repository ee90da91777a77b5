//! Workers die with the runner, however it ends (SIGKILL, a crash, an OOM kill): a small
//! process forked from the runner holds the read end of a pipe whose write end only the
//! runner holds. The runner tells it each worker group it starts; when the pipe reaches
//! end of file without a "quit" (the runner is gone without stopping its workers), it
//! stops those groups (SIGTERM, then SIGKILL after a grace period) and exits.
//!
//! Why not `PR_SET_PDEATHSIG`: it fires when the *thread* that spawned the child ends, and
//! workers are started from whichever thread the Python side calls from (a thread pool's);
//! it also reaches only the group leader, not the processes it started.
//!
//! The forked child runs only async-signal-safe system calls (the runner has many threads,
//! so after fork nothing that may allocate or take a lock is allowed): no allocation, a
//! fixed table, /proc read into stack buffers.

use super::error::{Result, StepsError};
use super::procs::ProcId;
use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, RawFd};
use std::time::Duration;

/// Groups the watchdog can hold; more are refused (the runner then stops them itself).
const CAPACITY: usize = 256;
/// Message: op (1 byte), pid (4 bytes LE), start time (8 bytes LE).
const MESSAGE: usize = 13;
const WATCH: u8 = b'+';
const QUIT: u8 = b'q';

pub struct Watchdog {
    pipe: Option<File>,
    pid: libc::pid_t,
    watched: usize,
}

impl Watchdog {
    /// Forks the watchdog; it stops watched groups `grace` after SIGTERM when the runner
    /// disappears.
    pub fn start(grace: Duration) -> Result<Watchdog> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: fills two descriptors; CLOEXEC keeps them out of workers.
        if unsafe { cloexec_pipe(&mut fds) } != 0 {
            return Err(watchdog_error(std::io::Error::last_os_error()));
        }
        let (read_fd, write_fd) = (fds[0], fds[1]);
        let grace_ms = grace.as_millis().min(60_000) as i64;
        // SAFETY: the child calls only async-signal-safe functions and ends with _exit.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            let e = std::io::Error::last_os_error();
            // SAFETY: both descriptors are ours and open.
            unsafe {
                libc::close(read_fd);
                libc::close(write_fd);
            }
            return Err(watchdog_error(e));
        }
        if pid == 0 {
            // SAFETY: in the forked child; see watch_then_stop.
            unsafe { watch_then_stop(read_fd, write_fd, grace_ms) }
        }
        // SAFETY: the read end is the child's now; the write end becomes a File we own.
        unsafe { libc::close(read_fd) };
        Ok(Watchdog {
            pipe: Some(unsafe { File::from_raw_fd(write_fd) }),
            pid,
            watched: 0,
        })
    }

    /// The watchdog's pid.
    #[cfg(test)]
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Has the group led by `leader` stopped if the runner disappears. False when the
    /// watchdog is full or gone (the runner still stops the group itself).
    pub fn watch(&mut self, leader: ProcId) -> bool {
        if self.watched >= CAPACITY {
            return false;
        }
        let mut msg = [0u8; MESSAGE];
        msg[0] = WATCH;
        msg[1..5].copy_from_slice(&leader.pid.to_le_bytes());
        msg[5..13].copy_from_slice(&leader.start_time.to_le_bytes());
        let sent = self
            .pipe
            .as_mut()
            .is_some_and(|p| p.write_all(&msg).is_ok());
        self.watched += usize::from(sent);
        sent
    }

    /// Ends the watchdog without it touching anything (the runner stopped its workers).
    pub fn quit(&mut self) {
        let Some(mut pipe) = self.pipe.take() else {
            return;
        };
        let mut msg = [0u8; MESSAGE];
        msg[0] = QUIT;
        let _ = pipe.write_all(&msg);
        drop(pipe);
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.quit();
    }
}

fn watchdog_error(e: std::io::Error) -> StepsError {
    StepsError::worker(format!(
        "cannot start the watchdog that stops workers if trialrun dies: {e}"
    ))
}

/// The forked child: detaches from the terminal's signals, closes every inherited
/// descriptor but the pipe, records groups until end of file, then stops them.
///
/// # Safety
/// Only in the child of fork(); never returns.
unsafe fn watch_then_stop(read_fd: RawFd, write_fd: RawFd, grace_ms: i64) -> ! {
    libc::close(write_fd);
    // Its own group: a terminal's Ctrl-C (meant for the runner, which stops the workers
    // itself) must not end it; SIGTERM or SIGHUP to the runner's group neither.
    libc::setpgid(0, 0);
    for sig in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGPIPE,
        libc::SIGQUIT,
    ] {
        libc::signal(sig, libc::SIG_IGN);
    }
    // Inherited descriptors (sockets, the store, other pipes) must not stay open here.
    close_all_but(read_fd);
    let mut table = [(0i32, 0u64); CAPACITY];
    let mut count = 0usize;
    let mut msg = [0u8; MESSAGE];
    loop {
        let mut got = 0usize;
        while got < MESSAGE {
            let n = libc::read(read_fd, msg[got..].as_mut_ptr().cast(), MESSAGE - got);
            if n > 0 {
                got += n as usize;
            } else if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            } else {
                break; // end of file or error: the runner is gone
            }
        }
        if got < MESSAGE {
            break;
        }
        match msg[0] {
            QUIT => libc::_exit(0),
            WATCH if count < CAPACITY => {
                let pid = i32::from_le_bytes([msg[1], msg[2], msg[3], msg[4]]);
                let mut start = [0u8; 8];
                start.copy_from_slice(&msg[5..13]);
                table[count] = (pid, u64::from_le_bytes(start));
                count += 1;
            }
            _ => {}
        }
    }
    let groups = &table[..count];
    signal_ours(groups, libc::SIGTERM);
    let mut waited = 0i64;
    while waited < grace_ms && groups.iter().any(|&(pid, _)| libc::kill(-pid, 0) == 0) {
        sleep_ms(20);
        waited += 20;
    }
    signal_ours(groups, libc::SIGKILL);
    libc::_exit(0)
}

/// Signals each group that is still the one started (see `procs::group_is_ours`; here
/// without allocation: a live leader must have the recorded start time, a gone leader
/// leaves only members of the original group).
unsafe fn signal_ours(groups: &[(i32, u64)], sig: libc::c_int) {
    for &(pid, start) in groups {
        if pid <= 1 {
            continue;
        }
        let ours = match read_start_time(pid) {
            Some((now, zombie)) if !zombie => now == start,
            _ => true,
        };
        if ours {
            libc::kill(-pid, sig);
        }
    }
}

/// (start time, is a zombie) of `pid` from /proc/PID/stat, read into stack buffers.
unsafe fn read_start_time(pid: i32) -> Option<(u64, bool)> {
    let mut path = [0u8; 32];
    let prefix = b"/proc/";
    path[..prefix.len()].copy_from_slice(prefix);
    let mut at = prefix.len();
    let mut digits = [0u8; 10];
    let (mut n, mut len) = (pid as u32, 0);
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in (0..len).rev() {
        path[at] = digits[i];
        at += 1;
    }
    path[at..at + 5].copy_from_slice(b"/stat");
    // path[at + 5] stays 0: the terminating NUL.
    let fd = libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC);
    if fd < 0 {
        return None;
    }
    let mut buf = [0u8; 1024];
    let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
    libc::close(fd);
    if n <= 0 {
        return None;
    }
    let text = &buf[..n as usize];
    let close = text.iter().rposition(|&b| b == b')')?;
    // After ") ": field 3 (state) is index 0 ... field 22 (start time) is index 19.
    let mut fields = text[close + 1..]
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty());
    let state = *fields.next()?.first()?;
    let start = fields.nth(18)?;
    let mut value = 0u64;
    for &b in start {
        if !b.is_ascii_digit() {
            break;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some((value, state == b'Z' || state == b'X'))
}

unsafe fn sleep_ms(ms: i64) {
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: ms * 1_000_000,
    };
    libc::nanosleep(&ts, std::ptr::null_mut());
}

/// A pipe whose ends close on exec: pipe2 where there is one (Linux); elsewhere (macOS)
/// pipe, then FD_CLOEXEC on each end, where a fork+exec by another thread in between
/// would take the ends along.
unsafe fn cloexec_pipe(fds: &mut [RawFd; 2]) -> libc::c_int {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    {
        libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    {
        if libc::pipe(fds.as_mut_ptr()) != 0 {
            return -1;
        }
        for &fd in fds.iter() {
            if libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) != 0 {
                libc::close(fds[0]);
                libc::close(fds[1]);
                return -1;
            }
        }
        0
    }
}

/// Closes every descriptor except `keep` (close_range where the kernel has it).
unsafe fn close_all_but(keep: RawFd) {
    #[cfg(target_os = "linux")]
    {
        let keep = keep as libc::c_uint;
        let done_low = keep == 0 || libc::syscall(libc::SYS_close_range, 0, keep - 1, 0) == 0;
        let done_high = libc::syscall(libc::SYS_close_range, keep + 1, libc::c_uint::MAX, 0) == 0;
        if done_low && done_high {
            return;
        }
    }
    for fd in 0..4096 {
        if fd != keep {
            libc::close(fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::procs;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    fn sleeper() -> (std::process::Child, ProcId) {
        let child = Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let id = procs::identify(child.id() as i32).unwrap();
        (child, id)
    }

    fn gone_within(child: &mut std::process::Child, seconds: u64) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
        while std::time::Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn groups_are_stopped_when_the_pipe_closes_without_quit() {
        let mut dog = Watchdog::start(Duration::from_millis(200)).unwrap();
        let (mut child, id) = sleeper();
        assert!(dog.watch(id));
        // The runner's end closing without "quit": what its death looks like.
        drop(dog.pipe.take());
        assert!(
            gone_within(&mut child, 5),
            "the watched group outlived the pipe"
        );
        let mut status = 0;
        // SAFETY: our own child.
        unsafe { libc::waitpid(dog.pid(), &mut status, 0) };
    }

    #[test]
    fn quit_leaves_everything_alone_and_ends_the_watchdog() {
        let mut dog = Watchdog::start(Duration::from_millis(200)).unwrap();
        let (mut child, id) = sleeper();
        assert!(dog.watch(id));
        let pid = dog.pid();
        dog.quit();
        assert!(procs::identify(pid).is_none(), "the watchdog was reaped");
        assert!(!gone_within(&mut child, 1), "quit stopped a group");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn a_reused_leader_pid_is_not_signalled() {
        let mut dog = Watchdog::start(Duration::from_millis(200)).unwrap();
        let (mut child, id) = sleeper();
        assert!(dog.watch(ProcId {
            start_time: id.start_time + 1,
            ..id
        }));
        drop(dog.pipe.take());
        let mut status = 0;
        // SAFETY: our own child; it exits once it has signalled what it would.
        unsafe { libc::waitpid(dog.pid(), &mut status, 0) };
        assert!(
            child.try_wait().unwrap().is_none(),
            "another process was killed"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
