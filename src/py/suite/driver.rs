//! Runs a suite on the caller's asyncio event loop (DESIGN principle 2): async user code
//! runs in lanes (lane.rs), tasks that step one job's coroutine after another.
//! Sync user code runs on pool threads (principle 3); a worker records its own results
//! and queues the next sync jobs itself while it holds the GIL, and hands async jobs
//! and the suite's end to the loop through one call_soon_threadsafe per batch.
//! Results go to the run store as each piece finishes.
//!
//! Both the loop thread and pool workers reach the driver, so its mutex is only ever
//! waited for with the GIL released (`SuiteRun::lock`): a thread holding the GIL while
//! blocked on the mutex would deadlock with a mutex holder waiting for the GIL. And no
//! task is started while the mutex is held: an eager task (Python >= 3.12) steps its
//! lane at once, and the lane comes back to the driver.

use super::callee::is_awaitable;
use super::evaluation::{type_name, Evaluation};
use super::lane::{AsyncJob, Lane};
use super::limits::{CallLog, CallRecord, PySuiteLimits};
use super::plan::{self, Plan};
use super::prior::{self, Prior, StoredCase};
use super::results::{CaseData, EvaluationData, RunInfo, SuiteResult};
use crate::evaluation::trials::{CaseState, Judgement};
use crate::evaluation::{Threshold, Verdict};
use crate::py::convert::{format_pyerr, stored_output, to_json};
use crate::py::errors::SuiteValidationError;
use crate::report::progress::Progress;
use crate::store::{self, CaseRecord, EvaluationRecord, RunRecord, RunStatus, Writer};
use crate::suite::limits::{Stop, SuiteLimits};
use crate::suite::tally::{CaseVerdicts, Tally};
use crate::suite::{Job, Scheduler};
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use pyo3::types::{PyDict, PyTuple};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

/// How a piece of user code ended.
pub enum Ending {
    Value(Py<PyAny>),
    /// Traceback text.
    Raised(String),
    Cancelled,
}

pub struct Finished {
    pub job: Job,
    pub outcome: Ending,
    pub started: Instant,
    pub ended: Instant,
}

impl Finished {
    /// A job stopped by an interrupt before it could end (never started, or abandoned).
    fn cancelled_now(job: Job) -> Finished {
        let now = Instant::now();
        Finished {
            job,
            outcome: Ending::Cancelled,
            started: now,
            ended: now,
        }
    }
}

/// Which thread is driving: only the loop thread may touch tasks and futures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Thread {
    Loop,
    Worker,
}

/// Work a pool worker found that only the loop thread can start.
enum ForLoop {
    /// An async job.
    Job(Job),
    /// A sync job's awaitable result, to run on in a lane.
    Awaitable(Finished),
}

/// What launching a job led to.
enum Launched {
    /// It finished on the spot.
    Done(Finished),
    /// An async job for the lane that asked for one.
    AsyncJob(AsyncJob),
    /// It runs on (in a new lane, or on a pool thread).
    Started,
}

/// One grid combination while it runs.
struct Combo {
    run_id: Arc<str>,
    grid: Option<Py<PyDict>>,
    /// contextvars.Context with the grid combination set; copied for each job.
    context: Py<PyAny>,
}

/// A case between its fn call and its last evaluation.
struct Item {
    output: Option<Py<PyAny>>,
    duration_s: f64,
    error: Option<String>,
    /// What the before-evaluators hook returned, passed to evaluators as `hook_results`.
    hook_results: Option<Py<PyAny>>,
    /// Whether the case is in the run store (a case with a hook is stored once its hook ran).
    recorded: bool,
    /// fn's retries and usage, when the suite has limits.
    log: Option<Box<CallLog>>,
    evaluations: Vec<Option<EvaluationData>>,
}

/// Everything the loop thread needs once `start` has run.
struct Loop {
    call_soon_threadsafe: Py<PyAny>,
    future: Py<PyAny>,
    drain: Py<Drain>,
}

/// Makes the tasks that drive lanes; set once by `start`, used without the driver lock.
struct TaskMaker {
    event_loop: Py<PyAny>,
    create_task: Py<PyAny>,
    /// Python >= 3.12: asyncio.Task with eager_start, so a new lane's first step
    /// runs at once instead of on the next loop iteration.
    eager_task: Option<Py<PyAny>>,
}

impl TaskMaker {
    fn start(&self, py: Python<'_>, lane: &Py<Lane>) -> PyResult<()> {
        let task = match &self.eager_task {
            Some(task_type) => {
                let kwargs = PyDict::new(py);
                kwargs.set_item(intern!(py, "loop"), self.event_loop.bind(py))?;
                kwargs.set_item(intern!(py, "eager_start"), true)?;
                task_type
                    .bind(py)
                    .call((lane.clone_ref(py),), Some(&kwargs))?
            }
            None => self.create_task.bind(py).call1((lane.clone_ref(py),))?,
        };
        lane.get().set_task(task.unbind());
        Ok(())
    }
}

/// With trials (repeats, or a policy that re-runs failures): which item is which trial of
/// which case, and each case's state. A group is one case in one grid combination.
struct Trials {
    repeats: usize,
    /// Items planned up front (groups x repeats), numbered group-major.
    planned: usize,
    /// Re-runs, after the planned items: (group, trial).
    reruns: Vec<(usize, u32)>,
    /// Per group: its items in trial order, its trials still running, its judgement.
    items: Vec<Vec<usize>>,
    running: Vec<u32>,
    judgements: Vec<Option<Judgement>>,
}

struct Driver {
    plan: Plan,
    /// None for one trial per case (the default, unchanged path).
    trials: Option<Trials>,
    sched: Scheduler,
    combos: Vec<Combo>,
    items: Vec<Option<Item>>,
    done: Vec<Option<CaseData>>,
    /// Running lanes, by address (to cancel them on interrupt).
    lanes: HashMap<usize, Py<Lane>>,
    /// Lanes made under the lock, whose tasks start once it is released.
    unstarted: Vec<Py<Lane>>,
    /// Sync jobs running on pool threads.
    pooled: HashSet<Job>,
    /// Work pool workers left for the loop thread.
    for_loop: Vec<ForLoop>,
    tally: Tally,
    progress: Progress,
    /// The run store's writer; None without recording, and once finished.
    writer: Option<Writer>,
    store_path: Option<PathBuf>,
    /// The caller's run id (Autoblocks v2's `run_id`): the run's id, or with several grid
    /// combinations the prefix of each combination's `{run_id}-{k}`.
    run_id: Option<String>,
    started: Option<Instant>,
    event_loop: Option<Loop>,
    interrupted: bool,
    finalized: bool,
    /// An error of the engine met on a worker thread, raised from the loop.
    engine_error: Option<PyErr>,
    /// A KeyboardInterrupt raised by user code: the suite is interrupted from the
    /// loop, and this is raised from its future once what finished is stored.
    reraise: Option<PyErr>,
    /// Per evaluator: its last threshold and that threshold's JSON.
    threshold_memo: Vec<Option<(Threshold, Arc<str>)>>,
    /// Rate limits, budgets and stops reported by the callers; None without any option.
    limits: Option<Limits>,
    /// Why the suite stopped before its end (quota or budget exhausted).
    stop_reason: Option<String>,
    /// A stop at once was met on a worker thread: the loop cancels what runs.
    halt_pending: bool,
    /// What is taken from the store instead of calling user code (resume, cache,
    /// rescore); None without those options.
    prior: Option<Prior>,
    /// Items a resumed run finished, kept once the runs have begun.
    restore: Vec<(usize, StoredCase)>,
}

/// The suite's limits and the logs of the calls in flight.
struct Limits {
    shared: Arc<SuiteLimits>,
    /// The ContextVar each call's CallRecord is set in.
    case_var: Py<PyAny>,
    logs: HashMap<Job, Arc<Mutex<CallLog>>>,
}

#[pyclass(frozen, module = "trialrun._core", name = "SuiteRun")]
pub struct SuiteRun {
    driver: Mutex<Driver>,
    /// A Drain is scheduled on the loop and has not started yet.
    drain_scheduled: AtomicBool,
    tasks: OnceLock<TaskMaker>,
}

#[pymethods]
impl SuiteRun {
    /// Checks the suite (raising SuiteValidationError naming the culprit) and opens the
    /// run store. Nothing runs until `start`.
    #[new]
    #[pyo3(signature = (id, test_cases, evaluators, fn_, max_test_case_concurrency=None, grid_search_params=None, *, before_evaluators_hook=None, progress=false, record=true, store_path=None, run_id=None, repeats=None, verdict=None, limits=None, wrap=None, shard=None, resume=false, cache=None, rescore=None, load_output=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        id: &Bound<'_, PyAny>,
        test_cases: &Bound<'_, PyAny>,
        evaluators: &Bound<'_, PyAny>,
        fn_: &Bound<'_, PyAny>,
        max_test_case_concurrency: Option<&Bound<'_, PyAny>>,
        grid_search_params: Option<&Bound<'_, PyAny>>,
        before_evaluators_hook: Option<&Bound<'_, PyAny>>,
        progress: bool,
        record: bool,
        store_path: Option<PathBuf>,
        run_id: Option<String>,
        repeats: Option<&Bound<'_, PyAny>>,
        verdict: Option<&Bound<'_, PyAny>>,
        limits: Option<&Bound<'_, PySuiteLimits>>,
        wrap: Option<&Bound<'_, PyAny>>,
        shard: Option<(u32, u32)>,
        resume: bool,
        cache: Option<String>,
        rescore: Option<String>,
        load_output: Option<Py<PyAny>>,
    ) -> PyResult<SuiteRun> {
        let py = id.py();
        let plan = plan::build(
            id,
            test_cases,
            evaluators,
            fn_,
            max_test_case_concurrency,
            grid_search_params,
            before_evaluators_hook,
            repeats,
            verdict,
            wrap,
            shard,
        )
        .map_err(|err| plan::naming_suite(id, err))?;
        let limits = match limits {
            Some(l) => {
                let mut maxima = vec![plan.case_limit];
                maxima.extend_from_slice(&plan.evaluator_limits);
                Some(Limits {
                    shared: l.get().attach(&maxima)?,
                    case_var: l.get().case_var.clone_ref(py),
                    logs: HashMap::new(),
                })
            }
            None => None,
        };
        let read_path = store_path.unwrap_or_else(store::default_path);
        let store_path = record.then(|| read_path.clone());
        if let (Some(id), Some(path)) = (&run_id, &store_path) {
            refuse_stored_run_id(py, id, path)?;
        }
        let options = prior::Options {
            resume,
            cache,
            rescore,
            decode: load_output,
            store_path: &read_path,
        };
        let mut prior =
            Prior::load(py, &plan, options).map_err(|err| plan::naming_suite(id, err))?;
        let writer = match &store_path {
            Some(path) => Some(py.detach(|| Writer::start(path))?),
            None => None,
        };
        let groups = plan.cases.len() * plan.combinations.len();
        let ids: Vec<String> = plan.evaluators.iter().map(|e| e.id.to_string()).collect();
        let trials = plan.trials.has_trials().then(|| {
            let repeats = plan.trials.repeats as usize;
            Trials {
                repeats,
                planned: groups * repeats,
                reruns: vec![],
                items: (0..groups)
                    .map(|g| (g * repeats..(g + 1) * repeats).collect())
                    .collect(),
                running: vec![plan.trials.repeats; groups],
                judgements: vec![None; groups],
            }
        });
        let items = trials.as_ref().map_or(groups, |t| t.planned);
        let mut sched = Scheduler::new(items, plan.case_limit, &plan.evaluator_limits);
        // Cases a resumed run finished are kept, not run (re-runs of trials are found
        // when their case asks for them).
        let mut restore = vec![];
        for ((combo, case, trial), stored) in
            prior.as_mut().map(Prior::take_finished).unwrap_or_default()
        {
            let group = combo * plan.cases.len() + case;
            let item = match &trials {
                None => group,
                Some(t) if (trial as usize) < t.repeats => group * t.repeats + trial as usize,
                Some(_) => {
                    prior
                        .as_mut()
                        .expect("some")
                        .put_back((combo, case, trial), stored);
                    continue;
                }
            };
            sched.skip(item);
            restore.push((item, stored));
        }
        restore.sort_by_key(|(item, _)| *item);
        if plan.hook_callee.is_some() {
            sched = sched.with_hook();
        }
        let mut tally = Tally::new(items as u64, &ids);
        if trials.is_some() {
            let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            tally.verdicts = Some(CaseVerdicts {
                cases: groups as u64,
                plan: plan.trials.describe(&id_refs),
                ..Default::default()
            });
        }
        let driver = Driver {
            sched,
            trials,
            tally,
            progress: Progress::new(&plan.suite_id, items as u64, progress),
            items: (0..items).map(|_| None).collect(),
            done: (0..items).map(|_| None).collect(),
            combos: vec![],
            lanes: HashMap::new(),
            unstarted: vec![],
            pooled: HashSet::new(),
            for_loop: vec![],
            writer,
            store_path,
            run_id,
            started: None,
            event_loop: None,
            interrupted: false,
            finalized: false,
            engine_error: None,
            reraise: None,
            threshold_memo: vec![None; plan.evaluators.len()],
            limits,
            stop_reason: None,
            halt_pending: false,
            prior,
            restore,
            plan,
        };
        Ok(SuiteRun {
            driver: Mutex::new(driver),
            drain_scheduled: AtomicBool::new(false),
            tasks: OnceLock::new(),
        })
    }

    /// Starts the suite on `event_loop` (the running loop, called from its thread) and
    /// returns a future that resolves to the SuiteResult once every result is stored.
    fn start<'py>(
        slf: &Bound<'py, Self>,
        event_loop: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let mut d = slf.get().lock(py);
        if d.started.is_some() {
            return Err(PyRuntimeError::new_err(
                "a SuiteRun can only be started once",
            ));
        }
        let future = event_loop.call_method0(intern!(py, "create_future"))?;
        let version_info = py.import("sys")?.getattr("version_info")?;
        let version: (u8, u8) = (
            version_info.get_item(0)?.extract()?,
            version_info.get_item(1)?.extract()?,
        );
        let eager_task = if version >= (3, 12) {
            Some(py.import("asyncio")?.getattr("Task")?.unbind())
        } else {
            None
        };
        let _ = slf.get().tasks.set(TaskMaker {
            event_loop: event_loop.clone().unbind(),
            create_task: event_loop.getattr(intern!(py, "create_task"))?.unbind(),
            eager_task,
        });
        d.event_loop = Some(Loop {
            call_soon_threadsafe: event_loop
                .getattr(intern!(py, "call_soon_threadsafe"))?
                .unbind(),
            future: future.clone().unbind(),
            drain: Py::new(
                py,
                Drain {
                    run: slf.clone().unbind(),
                },
            )?,
        });
        d.begin_runs(py)?;
        d.started = Some(Instant::now());
        for (item, stored) in std::mem::take(&mut d.restore) {
            d.restore(py, item, stored);
        }
        d.pump(py, slf, Thread::Loop, false)?;
        d.finalize_if_done(py)?;
        slf.get().start_lanes(py, d);
        Ok(future)
    }

    /// (cases done, cases planned, cases failing so far): for progress shown from Python
    /// (notebooks), read a few times a second.
    fn progress(&self, py: Python<'_>) -> (u64, u64, u64) {
        let d = self.lock(py);
        (d.tally.cases_done, d.tally.cases, d.progress.failures())
    }

    /// Stops the suite: nothing new starts, running tasks are cancelled, sync calls in
    /// threads are abandoned. The future resolves with the partial results, recorded
    /// as interrupted.
    pub fn interrupt(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let mut d = slf.get().lock(py);
        if d.finalized || d.interrupted {
            return Ok(());
        }
        d.halt(py)?;
        d.finalize_if_done(py)
    }
}

impl SuiteRun {
    /// User code on the loop thread raised KeyboardInterrupt: the suite stops, and its
    /// future raises `err` to the caller once what finished is stored.
    pub fn interrupt_raising(slf: &Bound<'_, Self>, err: PyErr) -> PyResult<()> {
        slf.get().lock(slf.py()).reraise.get_or_insert(err);
        SuiteRun::interrupt(slf)
    }

    /// The driver, waited for with the GIL released (see the module comment).
    fn lock(&self, py: Python<'_>) -> MutexGuard<'_, Driver> {
        // A panic inside the driver is a bug; keep going with the state it left.
        self.driver
            .lock_py_attached(py)
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Releases the driver, then starts the tasks of the lanes made under it.
    fn start_lanes(&self, py: Python<'_>, mut d: MutexGuard<'_, Driver>) {
        let unstarted = std::mem::take(&mut d.unstarted);
        drop(d);
        let maker = self.tasks.get().expect("set by start");
        for lane in unstarted {
            if let Err(err) = maker.start(py, &lane) {
                self.lock(py).fail(py, err);
                return;
            }
        }
    }

    /// Schedules a Drain on the loop unless one is already pending.
    fn wake_loop(&self, py: Python<'_>, d: &Driver) {
        if !self.drain_scheduled.swap(true, Ordering::AcqRel) {
            let l = d.event_loop();
            // Fails only when the loop has closed; nothing is waiting then.
            let _ = l.call_soon_threadsafe.bind(py).call1((l.drain.bind(py),));
        }
    }

    /// A sync job finished on a pool worker (which holds the GIL): record it and queue
    /// the next sync jobs from here; what needs the loop is handed to it.
    fn worker_finished(slf: &Bound<'_, Self>, finished: Finished, interrupt: Option<PyErr>) {
        let py = slf.py();
        let run = slf.get();
        let mut d = run.lock(py);
        if let Some(err) = interrupt {
            // interrupt() cancels lanes, which only the loop thread may do: the drain does.
            d.reraise.get_or_insert(err);
            run.wake_loop(py, &d);
        }
        if !d.pooled.remove(&finished.job) {
            return; // abandoned by interrupt()
        }
        let result = (|| {
            d.settle(py, slf, finished, Thread::Worker)?;
            if d.reraise.is_some() {
                return Ok(None); // the suite is stopping: start nothing new
            }
            d.pump(py, slf, Thread::Worker, false)
        })();
        if let Err(err) = result {
            d.for_loop.clear();
            d.engine_error = Some(err);
        }
        if !d.for_loop.is_empty() || d.sched.is_done() || d.engine_error.is_some() {
            run.wake_loop(py, &d);
        }
    }

    /// A lane's job finished. Returns the lane's next job (when `take_next`),
    /// or None when the lane should end.
    pub fn lane_finished(
        slf: &Bound<'_, Self>,
        lane: &Bound<'_, Lane>,
        finished: Finished,
        take_next: bool,
    ) -> Option<AsyncJob> {
        let py = slf.py();
        let mut d = slf.get().lock(py);
        let last = finished.job;
        let result = (|| {
            d.finish(py, finished)?;
            let next = d.pump_like(py, slf, Thread::Loop, take_next, Some(last))?;
            if next.is_none() {
                d.lanes.remove(&(lane.as_ptr() as usize));
            }
            d.finalize_if_done(py)?;
            Ok::<_, PyErr>(next)
        })();
        let next = result.unwrap_or_else(|err| {
            d.fail(py, err);
            None
        });
        slf.get().start_lanes(py, d);
        next
    }
}

/// A caller's run id must be new to the store: the runs it would name (itself, or with a
/// grid `{id}-{k}`) must not exist, or their results would mix.
fn refuse_stored_run_id(py: Python<'_>, id: &str, path: &std::path::Path) -> PyResult<()> {
    if id.is_empty() {
        return Err(SuiteValidationError::new_err("run_id must not be empty"));
    }
    let taken = py.detach(|| -> Result<bool, store::StoreError> {
        if !path.exists() {
            return Ok(false);
        }
        let conn = store::open(path)?;
        let runs = store::runs_matching(&conn, id)?;
        Ok(runs.iter().any(|r| {
            let other = r.run.id.as_str();
            other == id
                || other
                    .strip_prefix(id)
                    .is_some_and(|rest| rest.starts_with('-'))
        }))
    })?;
    if taken {
        return Err(SuiteValidationError::new_err(format!(
            "run_id {id:?} is already in the run store {}: give a new one, or none",
            path.display()
        )));
    }
    Ok(())
}

impl Driver {
    /// Stops on the loop thread: nothing new starts, running tasks are cancelled, sync
    /// calls in threads are abandoned; what they were doing is not recorded.
    fn halt(&mut self, py: Python<'_>) -> PyResult<()> {
        if self.interrupted {
            return Ok(());
        }
        self.interrupted = true;
        self.sched.stop();
        // Async jobs a worker queued for the loop never started: they end cancelled.
        for work in std::mem::take(&mut self.for_loop) {
            let job = match work {
                ForLoop::Job(job) => job,
                ForLoop::Awaitable(f) => f.job,
            };
            self.finish(py, Finished::cancelled_now(job))?;
        }
        for lane in self.lanes.values() {
            // the lane records its job as cancelled, then ends
            lane.get().cancel(py)?;
        }
        // Threads cannot be cancelled: their jobs are abandoned and their results ignored.
        for job in std::mem::take(&mut self.pooled) {
            self.finish(py, Finished::cancelled_now(job))?;
        }
        Ok(())
    }

    /// Applies what the callers reported: new concurrency limits, a stop. One atomic
    /// load when nothing changed.
    fn apply_limits(
        &mut self,
        py: Python<'_>,
        run: &Bound<'_, SuiteRun>,
        on: Thread,
    ) -> PyResult<()> {
        let Some(changes) = self.limits.as_ref().and_then(|l| l.shared.changes()) else {
            return Ok(());
        };
        if let Some(&limit) = changes.limits.first() {
            if limit != usize::MAX {
                self.sched.set_call_limit(limit);
            }
        }
        for (evaluator, &limit) in changes.limits.iter().skip(1).enumerate() {
            if limit != usize::MAX {
                self.sched.set_evaluator_limit(evaluator, limit);
            }
        }
        match changes.stop {
            Some(Stop::Drain(reason)) => {
                self.stop_reason.get_or_insert(reason);
                self.sched.stop_calls();
            }
            Some(Stop::Now(reason)) => {
                self.stop_reason = Some(reason);
                if on == Thread::Loop {
                    self.halt(py)?;
                } else {
                    // Only the loop thread may cancel tasks: start nothing more now, and
                    // let the loop cancel what runs.
                    self.sched.stop();
                    self.halt_pending = true;
                    run.get().wake_loop(py, self);
                }
            }
            None => {}
        }
        Ok(())
    }

    /// The log of `job`'s call, once it finished.
    fn take_log(&mut self, job: Job) -> Option<Box<CallLog>> {
        let log = self.limits.as_mut()?.logs.remove(&job)?;
        let log = std::mem::take(&mut *log.lock().unwrap_or_else(|p| p.into_inner()));
        self.tally.retries += log.retries() as u64;
        Some(Box::new(log))
    }

    fn event_loop(&self) -> &Loop {
        self.event_loop.as_ref().expect("started")
    }

    fn begin_runs(&mut self, py: Python<'_>) -> PyResult<()> {
        let hooks = plan::hooks(py)?;
        let base = py.import("contextvars")?.call_method0("copy_context")?;
        let (git_commit, git_branch) = match &self.writer {
            Some(_) => py.detach(|| store::git_info(&std::env::current_dir().unwrap_or_default())),
            None => (None, None),
        };
        let started_at = store::now_unix();
        let several = self.plan.combinations.len() > 1;
        let ids: Vec<&str> = self.plan.evaluators.iter().map(|e| &*e.id).collect();
        let trials_json = self.plan.trials.to_json(&ids);
        for (k, c) in self.plan.combinations.iter().enumerate() {
            let context = base.call_method0("copy")?;
            let grid = c.grid.as_ref().map(|g| g.clone_ref(py));
            let value = grid.as_ref().map(|g| g.bind(py).clone().into_any());
            context.call_method1("run", (hooks.grid_var.bind(py).getattr("set")?, value))?;
            let resumed = self.prior.as_ref().and_then(|p| p.resumed[k].clone());
            let run_id = match (&resumed, &self.run_id) {
                (Some(id), _) => id.clone(),
                (None, Some(id)) if several => format!("{id}-{k}"),
                (None, Some(id)) => id.clone(),
                (None, None) => store::new_run_id(),
            };
            if let (Some(writer), Some(id)) = (&self.writer, &resumed) {
                writer.resume_run(id);
            } else if let Some(writer) = &self.writer {
                writer.begin_run(RunRecord {
                    id: run_id.clone(),
                    suite_id: self.plan.suite_id.clone(),
                    kind: "suite".into(),
                    started_at,
                    grid: c.grid_json.clone(),
                    git_commit: git_commit.clone(),
                    git_branch: git_branch.clone(),
                    trials: trials_json.clone(),
                    shard: self.plan.shard.map(|s| s.to_string()),
                    rescored_from: self.prior.as_ref().and_then(|p| p.rescored_from.clone()),
                });
            }
            self.combos.push(Combo {
                run_id: run_id.into(),
                grid,
                context: context.unbind(),
            });
        }
        // The runs' rows are committed before any work: a store another process keeps
        // locked fails the suite here (StoreError) instead of losing its results later.
        if let Some(writer) = &self.writer {
            py.detach(|| writer.flush())?;
        }
        Ok(())
    }

    /// Starts every job the limits allow. With `take_job`, the first async job is
    /// returned for the lane that asked instead of getting a lane of its own.
    /// On the loop thread it first starts what workers left for it.
    fn pump(
        &mut self,
        py: Python<'_>,
        run: &Bound<'_, SuiteRun>,
        on: Thread,
        take_job: bool,
    ) -> PyResult<Option<AsyncJob>> {
        self.pump_like(py, run, on, take_job, None)
    }

    /// `pump`, where a job like `like` (the asking lane's last) is started first.
    fn pump_like(
        &mut self,
        py: Python<'_>,
        run: &Bound<'_, SuiteRun>,
        on: Thread,
        take_job: bool,
        mut like: Option<Job>,
    ) -> PyResult<Option<AsyncJob>> {
        let mut mine = None;
        if self.limits.is_some() {
            self.apply_limits(py, run, on)?;
        }
        if on == Thread::Loop {
            for work in std::mem::take(&mut self.for_loop) {
                match work {
                    ForLoop::Job(job) => {
                        match self.launch(py, run, job, on, take_job && mine.is_none())? {
                            Launched::Done(finished) => self.settle(py, run, finished, on)?,
                            Launched::AsyncJob(current) => mine = Some(current),
                            Launched::Started => {}
                        }
                    }
                    ForLoop::Awaitable(finished) => self.settle(py, run, finished, on)?,
                }
            }
        }
        loop {
            let next = match like.take() {
                Some(like) => self.sched.next_job_like(like),
                None => self.sched.next_job(),
            };
            let Some(job) = next else { break };
            match self.launch(py, run, job, on, take_job && mine.is_none())? {
                Launched::Done(finished) => self.settle(py, run, finished, on)?,
                Launched::AsyncJob(current) => mine = Some(current),
                Launched::Started => {}
            }
        }
        Ok(mine)
    }

    fn split(&self, item: usize) -> (usize, usize) {
        let (combo, case, _) = self.locate(item);
        (combo, case)
    }

    /// An item's grid combination, case and trial.
    fn locate(&self, item: usize) -> (usize, usize, u32) {
        let n = self.plan.cases.len();
        let (group, trial) = match &self.trials {
            None => (item, 0),
            Some(t) if item < t.planned => (item / t.repeats, (item % t.repeats) as u32),
            Some(t) => t.reruns[item - t.planned],
        };
        (group / n, group % n, trial)
    }

    /// Starts one job: an async one as an AsyncJob (for the asking lane, or a new one),
    /// a sync one on its pool. A worker leaves async jobs for the loop.
    fn launch(
        &mut self,
        py: Python<'_>,
        run: &Bound<'_, SuiteRun>,
        job: Job,
        on: Thread,
        take_job: bool,
    ) -> PyResult<Launched> {
        if let Job::Call { item } = job {
            if let Some(finished) = self.replayed(py, item) {
                return Ok(Launched::Done(finished));
            }
        }
        let (item, callee) = match job {
            Job::Call { item } => (item, &self.plan.fn_callee),
            Job::Hook { item } => (item, self.plan.hook_callee.as_ref().expect("a hook job")),
            Job::Evaluate { item, evaluator } => (item, &self.plan.evaluators[evaluator].callee),
        };
        if callee.is_async && on == Thread::Worker {
            self.for_loop.push(ForLoop::Job(job));
            return Ok(Launched::Started);
        }
        let (combo, case) = self.split(item);
        let context = self.combos[combo]
            .context
            .bind(py)
            .call_method0(intern!(py, "copy"))?;
        if let (Some(limits), Job::Call { .. } | Job::Evaluate { .. }) = (self.limits.as_mut(), job)
        {
            // The call's record, where its retries and reported usage go.
            let log = Arc::new(Mutex::new(CallLog::default()));
            let record = CallRecord {
                log: log.clone(),
                limits: limits.shared.clone(),
            };
            let set = limits.case_var.bind(py).getattr(intern!(py, "set"))?;
            context.call_method1(intern!(py, "run"), (set, record))?;
            limits.logs.insert(job, log);
        }
        let mut args = vec![
            callee.func.clone_ref(py),
            self.plan.cases[case].clone_ref(py),
        ];
        let mut kwargs = None;
        if let Job::Evaluate { .. } | Job::Hook { .. } = job {
            let state = self.items[item].as_ref();
            let output = state.and_then(|i| i.output.as_ref());
            args.push(output.map(|o| o.clone_ref(py)).unwrap_or_else(|| py.None()));
            // As Autoblocks: evaluators get hook_results only when the hook returned some.
            let hook_results = state.and_then(|i| i.hook_results.as_ref());
            if let (Job::Evaluate { .. }, Some(results)) = (job, hook_results) {
                if !results.is_none(py) {
                    let kw = PyDict::new(py);
                    kw.set_item(intern!(py, "hook_results"), results)?;
                    kwargs = Some(kw.unbind());
                }
            }
        }
        let started = Instant::now();
        if callee.is_async {
            // Calling an async function only creates the coroutine: no user code runs
            // until the task steps it, in the job's context.
            let func = callee.func.bind(py).clone();
            let call_args = PyTuple::new(py, &args[1..])?;
            let called = match &kwargs {
                Some(kw) => func.call(call_args, Some(kw.bind(py))),
                None => func.call1(call_args), // vectorcall: the common, faster path
            };
            let outcome = match called {
                Ok(coro) if is_awaitable(&coro) => {
                    let current = AsyncJob::new(job, &coro, context.unbind(), started)?;
                    if take_job {
                        return Ok(Launched::AsyncJob(current));
                    }
                    self.spawn_lane(py, run, current)?;
                    return Ok(Launched::Started);
                }
                Ok(v) => Ending::Value(v.unbind()),
                Err(e) => Ending::Raised(format_pyerr(py, &e)),
            };
            return Ok(Launched::Done(Finished {
                job,
                outcome,
                started,
                ended: Instant::now(),
            }));
        }
        let pool = callee.pool.as_ref().expect("sync callees have a pool");
        let run = run.clone().unbind();
        let context = context.unbind();
        pool.submit(move || {
            Python::attach(|py| {
                let started = Instant::now();
                let args = PyTuple::new(py, args).expect("tuple");
                let context = context.bind(py);
                let result = match &kwargs {
                    Some(kw) => context.call_method(intern!(py, "run"), args, Some(kw.bind(py))),
                    None => context.call_method1(intern!(py, "run"), args),
                };
                let ended = Instant::now();
                let (outcome, interrupt) = match result {
                    Ok(v) => (Ending::Value(v.unbind()), None),
                    // As from async code (and as Ctrl-C): the suite stops, what finished
                    // is kept, and the KeyboardInterrupt reaches the caller.
                    Err(e) if e.is_instance_of::<PyKeyboardInterrupt>(py) => {
                        (Ending::Cancelled, Some(e))
                    }
                    Err(e) => (Ending::Raised(format_pyerr(py, &e)), None),
                };
                let finished = Finished {
                    job,
                    outcome,
                    started,
                    ended,
                };
                SuiteRun::worker_finished(run.bind(py), finished, interrupt);
            })
        });
        self.pooled.insert(job);
        Ok(Launched::Started)
    }

    /// fn's call on `item` answered from the store (a cache hit, or the re-scored run's
    /// output), or None when fn must be called.
    fn replayed(&mut self, py: Python<'_>, item: usize) -> Option<Finished> {
        let key = self.locate(item);
        let prior = self.prior.as_mut()?;
        let (outcome, duration_s) = match prior.take_output(py, key) {
            Some((Ok(value), d)) => (Ending::Value(value), d),
            Some((Err(error), d)) => (Ending::Raised(error), d),
            None if prior.replays_only() => {
                let run = prior.rescored_from.as_deref().unwrap_or("");
                let (_, case, trial) = key;
                let hash = &self.plan.hashes[case];
                let what = match trial {
                    0 => format!("case {hash}"),
                    t => format!("trial {t} of case {hash}"),
                };
                (
                    Ending::Raised(format!(
                        "{what} has no output in run {run}, which is re-scored"
                    )),
                    0.0,
                )
            }
            None => return None,
        };
        // The stored duration is fn's, as it was measured when it ran.
        let ended = Instant::now();
        let started = ended
            .checked_sub(std::time::Duration::from_secs_f64(duration_s.max(0.0)))
            .unwrap_or(ended);
        Some(Finished {
            job: Job::Call { item },
            outcome,
            started,
            ended,
        })
    }

    /// A case a resumed run finished, kept as it was (its rows are in the run already).
    fn restore(&mut self, py: Python<'_>, item: usize, stored: StoredCase) {
        let (combo, case, _) = self.locate(item);
        let Some(prior) = self.prior.as_ref() else {
            return;
        };
        let c = &self.combos[combo];
        let grid = c.grid.as_ref().map(|g| g.clone_ref(py));
        let mut data = prior.case_data(py, &self.plan, case, stored, c.run_id.clone(), grid);
        // Only the suite's evaluators count (rows of evaluators since removed are left).
        data.evaluations.retain(|e| {
            self.plan
                .evaluators
                .iter()
                .any(|ev| ev.id == e.evaluator_id)
        });
        if data.error.is_some() {
            self.tally.cases_errored += 1;
        }
        for e in &data.evaluations {
            if let Some(i) = self
                .plan
                .evaluators
                .iter()
                .position(|ev| ev.id == e.evaluator_id)
            {
                self.tally.evaluators[i].add(e.verdict, e.score);
            }
        }
        self.tally.cases_resumed += 1;
        self.progress.case_done(data.failed());
        self.tally.cases_done += 1;
        self.done[item] = Some(data);
        if self.trials.is_some() {
            self.trial_done(py, item);
        }
    }

    /// Makes a lane for `current`; its task starts when the driver is released.
    fn spawn_lane(
        &mut self,
        py: Python<'_>,
        run: &Bound<'_, SuiteRun>,
        current: AsyncJob,
    ) -> PyResult<()> {
        let lane = Py::new(py, Lane::new(run.clone().unbind(), current))?;
        self.lanes
            .insert(lane.as_ptr() as usize, lane.clone_ref(py));
        self.unstarted.push(lane);
        Ok(())
    }

    /// A sync job's value may itself be awaitable (a sync callable that returned a
    /// coroutine): then it runs on in a lane; otherwise it is recorded.
    fn settle(
        &mut self,
        py: Python<'_>,
        run: &Bound<'_, SuiteRun>,
        f: Finished,
        on: Thread,
    ) -> PyResult<()> {
        if let Ending::Value(v) = &f.outcome {
            let v = v.bind(py);
            if is_awaitable(v) {
                if on == Thread::Worker {
                    self.for_loop.push(ForLoop::Awaitable(f));
                    return Ok(());
                }
                let (combo, _) = self.split(item_of(f.job));
                let context = self.combos[combo]
                    .context
                    .bind(py)
                    .call_method0(intern!(py, "copy"))?;
                let current = AsyncJob::new(f.job, v, context.unbind(), f.started)?;
                return self.spawn_lane(py, run, current);
            }
        }
        self.finish(py, f)
    }

    /// Records a finished job and tells the scheduler.
    fn finish(&mut self, py: Python<'_>, f: Finished) -> PyResult<()> {
        let duration_s = (f.ended - f.started).as_secs_f64();
        match f.job {
            Job::Call { item } => {
                let (output, error) = match f.outcome {
                    // Cut short by an interrupt (or by the user's own KeyboardInterrupt,
                    // which interrupts the suite): it never finished, so it is not kept
                    // (a resume runs it again).
                    Ending::Cancelled if self.interrupted || self.reraise.is_some() => {
                        self.take_log(f.job);
                        self.sched.call_finished(item, false);
                        return Ok(()); // never finished: not recorded
                    }
                    Ending::Cancelled => (None, Some("fn was cancelled".to_string())),
                    Ending::Raised(tb) => (None, Some(tb)),
                    Ending::Value(v) => {
                        self.cache_output(py, item, v.bind(py), duration_s);
                        (Some(v), None)
                    }
                };
                if error.is_some() {
                    self.tally.cases_errored += 1;
                }
                let mut succeeded = error.is_none();
                let log = if self.limits.is_some() {
                    self.take_log(f.job)
                } else {
                    None
                };
                if log.as_ref().is_some_and(|l| l.retries() > 0) {
                    self.tally.cases_retried += 1;
                }
                self.items[item] = Some(Item {
                    output,
                    duration_s,
                    error,
                    hook_results: None,
                    recorded: false,
                    log,
                    evaluations: (0..self.plan.evaluators.len()).map(|_| None).collect(),
                });
                // With a hook to come, the case is stored once the hook has run.
                if !succeeded || self.plan.hook_callee.is_none() {
                    succeeded &= self.record_case(py, item);
                }
                if self.sched.call_finished(item, succeeded) {
                    self.complete_item(py, item)?;
                }
            }
            Job::Hook { item } => {
                let failure = match f.outcome {
                    Ending::Cancelled if self.interrupted => {
                        self.record_case(py, item);
                        self.sched.hook_finished(item, false);
                        return Ok(());
                    }
                    Ending::Cancelled => Some("before_evaluators_hook was cancelled".to_string()),
                    Ending::Raised(tb) => Some(format!("before_evaluators_hook raised:\n{tb}")),
                    Ending::Value(v) => {
                        if let Some(state) = self.items[item].as_mut() {
                            state.hook_results = Some(v);
                        }
                        None
                    }
                };
                let succeeded = failure.is_none();
                if let (Some(error), Some(state)) = (failure, self.items[item].as_mut()) {
                    state.error = Some(error);
                    self.tally.cases_errored += 1;
                }
                let serialized = self.record_case(py, item);
                if self.sched.hook_finished(item, succeeded && serialized) {
                    self.complete_item(py, item)?;
                }
            }
            Job::Evaluate { item, evaluator } => {
                let last = self.sched.evaluation_finished(item, evaluator);
                let log = if self.limits.is_some() {
                    self.take_log(f.job)
                } else {
                    None
                };
                if matches!(f.outcome, Ending::Cancelled) && self.interrupted {
                    return Ok(());
                }
                if let Some(mut r) = self.evaluation_result(py, evaluator, f.outcome, duration_s) {
                    r.log = log;
                    let (combo, case, trial) = self.locate(item);
                    if let (Some(writer), Some(log)) = (&self.writer, &r.log) {
                        let run_id = self.combos[combo].run_id.clone();
                        let position = self.plan.positions[case];
                        let id = Some(r.evaluator_id.clone());
                        if let Some(record) = log.record(run_id, position, trial, id) {
                            writer.call_log(record);
                        }
                    }
                    self.tally.evaluators[evaluator].add(r.verdict, r.score);
                    if self.writer.is_some() {
                        let threshold = r
                            .threshold
                            .as_ref()
                            .map(|t| self.threshold_json(evaluator, t.bind(py).get().inner));
                        let writer = self.writer.as_ref().expect("checked above");
                        writer.evaluation(EvaluationRecord {
                            run_id: self.combos[combo].run_id.clone(),
                            case_index: self.plan.positions[case],
                            case_hash: self.plan.hashes[case].clone(),
                            trial,
                            evaluator_id: r.evaluator_id.clone(),
                            score: r.score,
                            threshold,
                            verdict: r.verdict.shared_str(),
                            metadata: stored_metadata(py, &r),
                            error: r.error.clone(),
                            duration_s,
                        });
                    }
                    if let Some(state) = self.items[item].as_mut() {
                        state.evaluations[evaluator] = Some(r);
                    }
                }
                if last {
                    self.complete_item(py, item)?;
                }
            }
        }
        Ok(())
    }

    /// Keeps fn's output in the cache (with `cache=`), unless it came from there.
    fn cache_output(
        &mut self,
        py: Python<'_>,
        item: usize,
        output: &Bound<'_, PyAny>,
        duration_s: f64,
    ) {
        let (combo, case, trial) = self.locate(item);
        let (Some(prior), Some(writer)) = (self.prior.as_mut(), self.writer.as_ref()) else {
            return;
        };
        if prior.cache.is_none() || prior.came_from_store((combo, case, trial)) {
            return;
        }
        let Some(pickled) = prior.pickled(py, output) else {
            return;
        };
        let key = prior.cache.as_ref().expect("checked above");
        writer.cache(store::CacheRecord {
            suite_id: self.plan.suite_id.as_str().into(),
            fingerprint: key.fingerprint.clone(),
            grid: key.grids[combo].clone(),
            case_hash: self.plan.hashes[case].clone(),
            trial,
            output: pickled,
            duration_s,
            created_at: store::now_unix(),
        });
    }

    /// A threshold's stored JSON. An evaluator nearly always returns the same threshold,
    /// so its last one is remembered rather than written out again for every record.
    fn threshold_json(&mut self, evaluator: usize, threshold: Threshold) -> Arc<str> {
        let memo = &mut self.threshold_memo[evaluator];
        match memo {
            Some((last, json)) if *last == threshold => json.clone(),
            _ => memo
                .insert((threshold, threshold.to_json().into()))
                .1
                .clone(),
        }
    }

    /// What an evaluator's outcome means: an evaluation, an error, or None when the
    /// evaluator returned None (it chose not to evaluate this case).
    fn evaluation_result(
        &self,
        py: Python<'_>,
        evaluator: usize,
        outcome: Ending,
        duration_s: f64,
    ) -> Option<EvaluationData> {
        let evaluator_id = self.plan.evaluators[evaluator].id.clone();
        let errored = |error: String| EvaluationData {
            evaluator_id: evaluator_id.clone(),
            score: None,
            threshold: None,
            verdict: Verdict::Errored,
            metadata: None,
            assertions: None,
            error: Some(error),
            duration_s,
            log: None,
        };
        let result = match outcome {
            Ending::Raised(tb) => errored(tb),
            Ending::Cancelled => errored("evaluate_test_case was cancelled".into()),
            Ending::Value(v) => {
                let v = v.bind(py);
                if v.is_none() {
                    return None;
                }
                match v.cast::<Evaluation>() {
                    Ok(e) => {
                        let e = e.get();
                        EvaluationData {
                            evaluator_id: evaluator_id.clone(),
                            score: Some(e.score),
                            threshold: e.threshold.as_ref().map(|t| t.clone_ref(py)),
                            verdict: e.verdict(py),
                            metadata: e.metadata.as_ref().map(|m| m.clone_ref(py)),
                            assertions: e.assertions.as_ref().map(|a| a.clone_ref(py)),
                            error: None,
                            duration_s,
                            log: None,
                        }
                    }
                    Err(_) => errored(format!(
                        "evaluate_test_case returned {} ({}), expected Evaluation or None",
                        type_name(v),
                        crate::py::convert::label(v)
                    )),
                }
            }
        };
        Some(result)
    }

    /// Stores the case of `item` (its output, fn's duration, its error), once. Its output
    /// is serialized first, as Autoblocks does before storing it, also when nothing is
    /// stored: an output whose own serialize() raises errors its case, whose evaluators
    /// then do not run (returns false).
    fn record_case(&mut self, py: Python<'_>, item: usize) -> bool {
        let (combo, case, trial) = self.locate(item);
        let Some(state) = self.items[item].as_mut() else {
            return true;
        };
        if std::mem::replace(&mut state.recorded, true) {
            return true;
        }
        let mut serialized = true;
        let output = match state.output.as_ref().map(|o| stored_output(o.bind(py))) {
            None => None,
            Some(Ok(value)) => self.writer.is_some().then(|| to_json(&value)),
            Some(Err(err)) => {
                serialized = false;
                if state.error.is_none() {
                    let tb = format_pyerr(py, &err);
                    state.error = Some(format!("the output's serialize() raised:\n{tb}"));
                    self.tally.cases_errored += 1;
                }
                None
            }
        };
        if let (Some(writer), Some(log)) = (&self.writer, &state.log) {
            let run_id = self.combos[combo].run_id.clone();
            if let Some(record) = log.record(run_id, self.plan.positions[case], trial, None) {
                writer.call_log(record);
            }
        }
        if let Some(writer) = &self.writer {
            writer.case(CaseRecord {
                run_id: self.combos[combo].run_id.clone(),
                index: self.plan.positions[case],
                hash: self.plan.hashes[case].clone(),
                trial,
                label: self.plan.labels[case].clone(),
                test_case: self.plan.case_json[case].clone(),
                output,
                duration_s: state.duration_s,
                error: state.error.clone(),
            });
        }
        serialized
    }

    /// A case's fn and all its evaluations are done: it becomes a CaseResult.
    fn complete_item(&mut self, py: Python<'_>, item: usize) -> PyResult<()> {
        if let Some(result) = self.case_result(py, item) {
            self.progress.case_done(result.failed());
            self.tally.cases_done += 1;
            self.done[item] = Some(result);
            if self.trials.is_some() {
                self.trial_done(py, item);
            }
        }
        Ok(())
    }

    /// A trial finished: once its case has no trial running, the case is judged, or
    /// runs again when its policy asks for a re-run.
    fn trial_done(&mut self, py: Python<'_>, item: usize) {
        let (combo, case, _) = self.locate(item);
        let group = combo * self.plan.cases.len() + case;
        let t = self.trials.as_mut().expect("trial mode");
        t.running[group] -= 1;
        if t.running[group] > 0 {
            return;
        }
        let (fn_failed, evaluation_failed) = self.trial_outcomes(group);
        let state = self.plan.trials.judge(&fn_failed, &evaluation_failed);
        if state == CaseState::Rerun {
            if let Some(rerun) = self.sched.add_item() {
                let t = self.trials.as_mut().expect("trial mode");
                let trial = t.items[group].len() as u32;
                t.reruns.push((group, trial));
                t.items[group].push(rerun);
                t.running[group] = 1;
                self.items.push(None);
                self.done.push(None);
                self.tally.cases += 1;
                let stored = self
                    .prior
                    .as_mut()
                    .and_then(|p| p.take_finished_trial((combo, case, trial)));
                if let Some(stored) = stored {
                    // A resumed run re-ran this case already: keep that trial.
                    self.sched.skip(rerun);
                    self.restore(py, rerun, stored);
                }
                return;
            }
        }
        let judgement = match state {
            CaseState::Decided(j) => j,
            CaseState::Rerun => self.plan.trials.judge_final(&fn_failed, &evaluation_failed),
        };
        self.decide(group, judgement);
    }

    fn decide(&mut self, group: usize, judgement: Judgement) {
        if let Some(v) = self.tally.verdicts.as_mut() {
            v.add(&judgement);
        }
        let t = self.trials.as_mut().expect("trial mode");
        t.judgements[group] = Some(judgement);
    }

    /// Per finished trial of a group: whether fn failed, and per evaluator whether its
    /// evaluation failed or errored.
    fn trial_outcomes(&self, group: usize) -> (Vec<bool>, Vec<Vec<bool>>) {
        let t = self.trials.as_ref().expect("trial mode");
        let mut fn_failed = vec![];
        let mut evaluation_failed = vec![];
        for data in t.items[group].iter().filter_map(|&i| self.done[i].as_ref()) {
            fn_failed.push(data.error.is_some());
            evaluation_failed.push(
                self.plan
                    .evaluators
                    .iter()
                    .map(|ev| {
                        data.evaluations
                            .iter()
                            .any(|e| e.evaluator_id == ev.id && e.verdict.is_failure())
                    })
                    .collect(),
            );
        }
        (fn_failed, evaluation_failed)
    }

    /// The suite's cases with their trials: each case's result is its first trial's,
    /// holding every trial and the case's judgement. Cases cut short by an interrupt are
    /// judged on the trials that finished.
    fn trial_cases(&mut self, py: Python<'_>) -> Vec<CaseData> {
        let groups = self.trials.as_ref().map_or(0, |t| t.items.len());
        let mut cases = Vec::with_capacity(groups);
        for group in 0..groups {
            let t = self.trials.as_ref().expect("trial mode");
            if t.judgements[group].is_none() {
                let (fn_failed, evaluation_failed) = self.trial_outcomes(group);
                if !fn_failed.is_empty() {
                    let j = self.plan.trials.judge_final(&fn_failed, &evaluation_failed);
                    self.decide(group, j);
                }
            }
            let t = self.trials.as_ref().expect("trial mode");
            let trials: Vec<CaseData> = t.items[group]
                .iter()
                .filter_map(|&i| self.done[i].take())
                .collect();
            let Some(first) = trials.first() else {
                continue;
            };
            let mut case = first.clone_ref(py);
            case.judgement = t.judgements[group];
            case.trials = trials;
            cases.push(case);
        }
        cases
    }

    fn case_result(&mut self, py: Python<'_>, item: usize) -> Option<CaseData> {
        let state = self.items[item].take()?;
        let (combo, case) = self.split(item);
        let trial = self.locate(item).2;
        let c = &self.combos[combo];
        Some(CaseData {
            hash: self.plan.hashes[case].clone(),
            label: self.plan.labels[case].clone(),
            input_json: self.plan.case_json[case].clone(),
            test_case: self.plan.cases[case].clone_ref(py),
            run_id: c.run_id.clone(),
            grid: c.grid.as_ref().map(|g| g.clone_ref(py)),
            output: state.output,
            duration_s: state.duration_s,
            error: state.error,
            evaluations: state.evaluations.into_iter().flatten().collect(),
            trial,
            trials: vec![],
            judgement: None,
            log: state.log,
        })
    }

    fn finalize_if_done(&mut self, py: Python<'_>) -> PyResult<()> {
        if self.finalized || !self.sched.is_done() {
            return Ok(());
        }
        self.finalized = true;
        self.progress.finish();
        if let Some(prior) = &self.prior {
            self.tally.cache_hits = prior.hits;
            self.tally.cache_unpicklable = prior.unpicklable;
        }
        let status = if self.stop_reason.is_some() {
            RunStatus::Stopped
        } else if self.interrupted {
            RunStatus::Interrupted
        } else {
            RunStatus::Completed
        };
        // Cases whose hook or evaluations were cut short by an interrupt keep what finished.
        for item in 0..self.items.len() {
            if self.items[item].is_some() {
                self.record_case(py, item);
                self.done[item] = self.case_result(py, item);
            }
        }
        let cases = match self.trials {
            None => self.done.iter_mut().filter_map(Option::take).collect(),
            Some(_) => self.trial_cases(py),
        };
        let store_error = self.writer.take().and_then(|writer| {
            let ended = store::now_unix();
            for c in &self.combos {
                writer.finish_run_because(&c.run_id, status, ended, self.stop_reason.clone());
            }
            py.detach(|| writer.close()).err().map(|e| e.to_string())
        });
        let result = SuiteResult {
            suite_id: self.plan.suite_id.clone(),
            status: status.as_str().to_string(),
            duration_s: self
                .started
                .map(|s| s.elapsed().as_secs_f64())
                .unwrap_or(0.0),
            store_path: self.store_path.as_ref().map(|p| p.display().to_string()),
            store_error,
            skip_reason: None,
            stop_reason: self.stop_reason.clone(),
            rescored_from: self.prior.as_ref().and_then(|p| p.rescored_from.clone()),
            usage: self.limits.as_ref().map(|l| l.shared.used()),
            runs: self
                .combos
                .iter()
                .map(|c| {
                    Py::new(
                        py,
                        RunInfo {
                            run_id: c.run_id.to_string(),
                            grid: c.grid.as_ref().map(|g| g.clone_ref(py)),
                        },
                    )
                })
                .collect::<PyResult<_>>()?,
            cases,
            tally: self.tally.clone(),
            case_objects: pyo3::sync::PyOnceLock::new(),
        };
        let reraise = self.reraise.take();
        let future = self.event_loop().future.bind(py);
        if !future.call_method0(intern!(py, "done"))?.is_truthy()? {
            match reraise {
                // Stored as interrupted; the caller gets the KeyboardInterrupt.
                Some(err) => future.call_method1(intern!(py, "set_exception"), (err.value(py),))?,
                None => future.call_method1(intern!(py, "set_result"), (result,))?,
            };
        }
        Ok(())
    }

    /// The engine itself failed: stop, keep what is stored, and raise from the future.
    fn fail(&mut self, py: Python<'_>, err: PyErr) {
        self.sched.stop();
        self.finalized = true;
        self.progress.finish();
        if let Some(writer) = self.writer.take() {
            let ended = store::now_unix();
            for c in &self.combos {
                writer.finish_run(&c.run_id, RunStatus::Failed, ended);
            }
            let _ = py.detach(|| writer.close());
        }
        if let Some(l) = &self.event_loop {
            let future = l.future.bind(py);
            if !future
                .call_method0("done")
                .and_then(|d| d.is_truthy())
                .unwrap_or(true)
            {
                let _ = future.call_method1("set_exception", (err.value(py),));
            }
        }
    }
}

fn item_of(job: Job) -> usize {
    match job {
        Job::Call { item } | Job::Hook { item } | Job::Evaluate { item, .. } => item,
    }
}

/// Scheduled on the loop by pool workers: starts what they left for the loop, and ends
/// the suite when nothing is left.
#[pyclass(frozen, module = "trialrun._core")]
struct Drain {
    run: Py<SuiteRun>,
}

#[pymethods]
impl Drain {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        let run = self.run.bind(py);
        // Cleared first, so work left after this point schedules a new drain.
        run.get().drain_scheduled.store(false, Ordering::Release);
        let mut d = run.get().lock(py);
        if d.reraise.is_some() && !d.interrupted && !d.finalized {
            drop(d);
            SuiteRun::interrupt(run)?;
            d = run.get().lock(py);
        }
        if std::mem::take(&mut d.halt_pending) && !d.finalized {
            if let Err(err) = d.halt(py) {
                d.fail(py, err);
            }
        }
        let result = match d.engine_error.take() {
            Some(err) => Err(err),
            None => d
                .pump(py, run, Thread::Loop, false)
                .and_then(|_| d.finalize_if_done(py)),
        };
        if let Err(err) = result {
            d.fail(py, err);
        }
        run.get().start_lanes(py, d);
        Ok(())
    }
}

/// The key under which an evaluation's assertions are kept in its stored metadata JSON.
/// The store has no column of its own for them; a copy of the metadata dict gets this key.
pub(super) const STORED_ASSERTIONS_KEY: &str = "_assertions";

/// An evaluation's metadata as the run store keeps it: the metadata dict as JSON, with the
/// evaluation's assertions (if any) added under `STORED_ASSERTIONS_KEY`.
fn stored_metadata(py: Python<'_>, r: &EvaluationData) -> Option<String> {
    metadata_json(
        r.metadata.as_ref().map(|m| m.bind(py)),
        r.assertions.as_ref().map(|a| a.bind(py)),
    )
}

/// `stored_metadata` from the parts (also used by runs whose results are added by hand).
pub(crate) fn metadata_json(
    metadata: Option<&Bound<'_, PyDict>>,
    assertions: Option<&Bound<'_, PyAny>>,
) -> Option<String> {
    let Some(assertions) = assertions else {
        return metadata.map(|m| to_json(m.as_any()));
    };
    let merged = match metadata {
        Some(m) => m.copy(),
        None => Ok(PyDict::new(assertions.py())),
    };
    let merged = merged.and_then(|d| {
        d.set_item(STORED_ASSERTIONS_KEY, assertions)?;
        Ok(d)
    });
    match merged {
        Ok(d) => Some(to_json(d.as_any())),
        Err(_) => metadata.map(|m| to_json(m.as_any())),
    }
}
