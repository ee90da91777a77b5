//! Threads for blocking user code (sync fns and evaluators). A pool grows to its size
//! on demand, so a limit of 500 costs 500 threads only if 500 calls are really in flight.
//! Dropping the pool lets idle threads exit; busy ones finish their job first and are
//! never joined, because a job may block for as long as the user's code does.
//!
//! A worker runs the tasks it finds queued back to back inside one `session` (py/ uses
//! it to stay attached to the Python interpreter), so a stream of trivial calls pays
//! for one interpreter hand-over per batch, not one per call.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

type Task = Box<dyn FnOnce() + Send + 'static>;
/// Wraps a worker's run of back-to-back tasks; it must call its argument once.
pub type Session = Arc<dyn Fn(&mut dyn FnMut()) + Send + Sync>;

struct Queue {
    tasks: VecDeque<Task>,
    threads: usize,
    idle: usize,
    closed: bool,
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
                    closed: false,
                }),
                ready: Condvar::new(),
            }),
        }
    }

    /// Queues a task; starts a thread when none is idle and the pool is below its size.
    pub fn submit(&self, task: impl FnOnce() + Send + 'static) {
        let spawn = {
            let mut q = self.shared.queue.lock().unwrap();
            q.tasks.push_back(Box::new(task));
            let spawn = q.idle < q.tasks.len() && q.threads < self.shared.size;
            if spawn {
                q.threads += 1;
            }
            spawn
        };
        if spawn {
            let shared = Arc::clone(&self.shared);
            let name = format!("trialrun-{}", shared.name);
            let started = std::thread::Builder::new()
                .name(name)
                .spawn(move || work(shared));
            if started.is_err() {
                // Out of threads: the queued task still runs on the threads we have.
                self.shared.queue.lock().unwrap().threads -= 1;
            }
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

fn work(shared: Arc<Shared>) {
    let mut q = shared.queue.lock().unwrap();
    loop {
        if let Some(task) = q.tasks.pop_front() {
            drop(q);
            match &shared.session {
                Some(session) => {
                    let mut first = Some(task);
                    session(&mut || {
                        // this task, then whatever else is already queued
                        let mut next = first.take();
                        while let Some(task) = next {
                            task();
                            next = shared.queue.lock().unwrap().tasks.pop_front();
                        }
                    });
                }
                None => task(),
            }
            q = shared.queue.lock().unwrap();
            continue;
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
