//! Threads for blocking user code (sync fns and evaluators). A pool grows to its size
//! on demand, so a limit of 500 costs 500 threads only if 500 calls are really in flight.
//! Dropping the pool lets idle threads exit; busy ones finish their job first and are
//! never joined, because a job may block for as long as the user's code does.
//!
//! A worker runs the tasks it finds queued back to back inside one `session` (py/ uses
//! it to stay attached to the Python interpreter), so a stream of trivial calls pays
//! for one interpreter hand-over per batch, not one per call.
//!
//! One thread starts at a time: a new thread counts as started once its first session
//! runs, and only then may the next one be spawned (by it, or by the next submit). In
//! py/ a session starts once the thread holds the GIL, so the pool grows as fast as
//! threads get the GIL: quickly while few want it, slowly when thousands of calls
//! already queue for it, where more threads would only add waiters. CPython wakes every
//! waiter each 5 ms, so 3,500 threads let 8,000 sync calls of 50 ms take 13 s in the
//! kernel, against 0.5 s for 1,000.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

type Task = Box<dyn FnOnce() + Send + 'static>;
/// Wraps a worker's run of back-to-back tasks; it must call its argument once.
pub type Session = Arc<dyn Fn(&mut dyn FnMut()) + Send + Sync>;

struct Queue {
    tasks: VecDeque<Task>,
    threads: usize,
    idle: usize,
    /// A thread is spawned and has not run its first session yet.
    starting: bool,
    closed: bool,
}

impl Queue {
    /// Whether to start a thread now, counting it in if so: tasks wait that no idle
    /// thread will take, the pool is below its size, and no other thread is starting.
    fn grow(&mut self, size: usize) -> bool {
        let grow = !self.starting && self.idle < self.tasks.len() && self.threads < size;
        if grow {
            self.threads += 1;
            self.starting = true;
        }
        grow
    }
}

struct Shared {
    name: String,
    size: usize,
    session: Option<Session>,
    queue: Mutex<Queue>,
    ready: Condvar,
}

pub struct BlockingPool {
    shared: Arc<Shared>,
}

impl BlockingPool {
    #[cfg(test)]
    pub fn new(name: &str, size: usize) -> BlockingPool {
        BlockingPool::with_session(name, size, None)
    }

    pub fn with_session(name: &str, size: usize, session: Option<Session>) -> BlockingPool {
        assert!(size > 0);
        BlockingPool {
            shared: Arc::new(Shared {
                name: name.to_string(),
                size,
                session,
                queue: Mutex::new(Queue {
                    tasks: VecDeque::new(),
                    threads: 0,
                    idle: 0,
                    starting: false,
                    closed: false,
                }),
                ready: Condvar::new(),
            }),
        }
    }

    /// Queues a task; starts a thread when none is idle, none is starting and the pool
    /// is below its size.
    pub fn submit(&self, task: impl FnOnce() + Send + 'static) {
        let grow = {
            let mut q = self.shared.queue.lock().unwrap();
            q.tasks.push_back(Box::new(task));
            q.grow(self.shared.size)
        };
        if grow {
            spawn(&self.shared);
        }
        self.shared.ready.notify_one();
    }

    #[cfg(test)]
    pub fn threads(&self) -> usize {
        self.shared.queue.lock().unwrap().threads
    }
}

impl Drop for BlockingPool {
    fn drop(&mut self) {
        self.shared.queue.lock().unwrap().closed = true;
        self.shared.ready.notify_all();
    }
}

fn spawn(shared: &Arc<Shared>) {
    let name = format!("trialrun-{}", shared.name);
    let worker = Arc::clone(shared);
    let started = std::thread::Builder::new()
        .name(name)
        .spawn(move || work(worker));
    if started.is_err() {
        // Out of threads: the queued tasks still run on the threads we have.
        let mut q = shared.queue.lock().unwrap();
        q.threads -= 1;
        q.starting = false;
    }
}

/// The calling thread has started: the next one may, if tasks still wait for one.
fn started(shared: &Arc<Shared>) {
    let grow = {
        let mut q = shared.queue.lock().unwrap();
        q.starting = false;
        q.grow(shared.size)
    };
    if grow {
        spawn(shared);
    }
}

fn work(shared: Arc<Shared>) {
    let mut first_session = true;
    let mut q = shared.queue.lock().unwrap();
    loop {
        if let Some(task) = q.tasks.pop_front() {
            drop(q);
            let mut begin = || {
                if std::mem::take(&mut first_session) {
                    started(&shared);
                }
            };
            match &shared.session {
                Some(session) => {
                    let mut first = Some(task);
                    session(&mut || {
                        begin();
                        // this task, then whatever else is already queued
                        let mut next = first.take();
                        while let Some(task) = next {
                            task();
                            next = shared.queue.lock().unwrap().tasks.pop_front();
                        }
                    });
                }
                None => {
                    begin();
                    task()
                }
            }
            q = shared.queue.lock().unwrap();
            continue;
        }
        if std::mem::take(&mut first_session) {
            // found no task (a busy worker took it): started all the same
            q.starting = false;
        }
        if q.closed {
            q.threads -= 1;
            return;
        }
        q.idle += 1;
        q = shared.ready.wait(q).unwrap();
        q.idle -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn runs_tasks_concurrently_up_to_size() {
        let pool = BlockingPool::new("test", 8);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        for _ in 0..40 {
            let (in_flight, peak, tx) = (in_flight.clone(), peak.clone(), tx.clone());
            pool.submit(move || {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                in_flight.fetch_sub(1, Ordering::SeqCst);
                tx.send(()).unwrap();
            });
        }
        for _ in 0..40 {
            rx.recv_timeout(Duration::from_secs(5)).unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 8);
        assert_eq!(pool.threads(), 8);
    }

    #[test]
    fn a_session_wraps_runs_of_queued_tasks() {
        let sessions = Arc::new(AtomicUsize::new(0));
        let counted = sessions.clone();
        let session: Session = Arc::new(move |run: &mut dyn FnMut()| {
            counted.fetch_add(1, Ordering::SeqCst);
            run();
        });
        let pool = BlockingPool::with_session("test", 1, Some(session));
        let (tx, rx) = mpsc::channel();
        let gate = Arc::new(std::sync::Barrier::new(2));
        let held = gate.clone();
        pool.submit(move || {
            held.wait(); // hold the only worker until the rest are queued
        });
        for _ in 0..50 {
            let tx = tx.clone();
            pool.submit(move || tx.send(()).unwrap());
        }
        gate.wait();
        for _ in 0..50 {
            rx.recv_timeout(Duration::from_secs(5)).unwrap();
        }
        assert_eq!(
            sessions.load(Ordering::SeqCst),
            1,
            "queued tasks ran in the first task's session"
        );
    }

    #[test]
    fn a_thread_starts_only_once_the_last_one_has() {
        // The session waits for a lock the test holds, as py/'s waits for the GIL.
        let gil = Arc::new(Mutex::new(()));
        let waits = gil.clone();
        let session: Session = Arc::new(move |run: &mut dyn FnMut()| {
            let _held = waits.lock().unwrap();
            run();
        });
        let pool = BlockingPool::with_session("test", 10, Some(session));
        let held = gil.lock().unwrap();
        let (tx, rx) = mpsc::channel();
        for _ in 0..10 {
            let tx = tx.clone();
            pool.submit(move || tx.send(()).unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            pool.threads(),
            1,
            "threads spawned while the first one waits"
        );
        drop(held);
        for _ in 0..10 {
            rx.recv_timeout(Duration::from_secs(5)).unwrap();
        }
    }

    #[test]
    fn grows_only_as_needed() {
        let pool = BlockingPool::new("test", 100);
        let (tx, rx) = mpsc::channel();
        for _ in 0..20 {
            let tx = tx.clone();
            pool.submit(move || tx.send(()).unwrap());
            rx.recv_timeout(Duration::from_secs(5)).unwrap();
            // let the worker get back to idle before the next submit
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(
            pool.threads() <= 2,
            "{} threads for sequential work",
            pool.threads()
        );
    }
}
