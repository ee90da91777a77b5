//! One run of a step sequence, from checked configuration to stopped workers:
//! `prepare` (everything that can be refused before work starts), `start_data`
//! (MongoDB and its data), `start_workers`, then `next` / `finish_step` per step, and
//! `close`. Dropping a session stops every process it started.

use super::config::{self, Command, Ready, StepsConfig};
use super::data;
use super::env;
use super::error::{Result, StepsError, StepsErrorKind};
use super::keys;
use super::procs::{self, MARK_VAR};
use super::record::{Recorder, StepRecord};
use super::sequencer::{Next, Sequencer, StepOutcome};
use super::state::{self, Fingerprint, SavedState, Started, StartedGroup, STATE_FILE};
use super::watchdog::Watchdog;
use super::worker::{self, Launch, Worker};
use crate::store::RunStatus;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A worker's key files: role (staking, main, public) -> path.
pub type KeyFiles = BTreeMap<String, PathBuf>;

/// How long a failed step's worker is watched for an exit in progress.
const DEATH_GRACE: Duration = Duration::from_millis(300);

#[derive(Debug, Clone)]
pub struct StepSpec {
    pub name: String,
    pub description: String,
    pub worker: String,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub config_file: PathBuf,
    /// config_overrides without the keys handled in Python (post_load_callback).
    pub overrides: Map<String, Value>,
    pub steps: Vec<StepSpec>,
    pub force_reset: bool,
    pub from: Option<String>,
    pub only: Vec<String>,
    /// The Python that runs main.py workers and the embedded MongoDB server.
    pub python: PathBuf,
    /// The run's suite id when config.yaml has no task_id.
    pub fallback_id: String,
    /// The run store; None: not recorded.
    pub store_path: Option<PathBuf>,
}

/// What `start_data` did.
#[derive(Debug, Clone, Default)]
pub struct DataStart {
    pub mongo_uri: Option<String>,
    pub database: Option<String>,
    /// The collections were (re)loaded: post_load_callback is due.
    pub loaded: bool,
    pub embedded: bool,
}

pub struct Session {
    pub config: StepsConfig,
    pub steps: Vec<StepSpec>,
    pub suite_id: String,
    /// Things worth telling the user (config warnings, resume position).
    pub notes: Vec<String>,
    pub state_path: PathBuf,
    seq: Sequencer,
    python: PathBuf,
    dotenv: BTreeMap<String, String>,
    launches: Vec<Launch>,
    /// Per worker, in workers.json order (configured or generated).
    keypairs: Vec<KeyFiles>,
    workers: Vec<Worker>,
    mongo_server: Option<Worker>,
    mongo_uri: Option<String>,
    recorder: Option<Recorder>,
    store_path: Option<PathBuf>,
    worker_failed: bool,
    /// What an earlier run recorded as started, to stop before this one starts anything.
    leftover: Option<Started>,
    /// Last: dropped after the workers, once they are stopped.
    watchdog: Option<Watchdog>,
}

const EMBEDDED_MONGO_READY: Duration = Duration::from_secs(30);

impl Session {
    /// Reads and checks everything (config, workers, steps, saved state); starts nothing.
    pub fn prepare(options: Options) -> Result<Session> {
        let config = config::load(&options.config_file, &options.overrides)?;
        check_steps(&config, &options)?;
        let mut notes = config.warnings.clone();
        let fingerprint = fingerprint(&config, &options.steps);
        let state_path = config.data_dir.join(STATE_FILE);
        // Read before a reset removes the file: its processes are stopped all the same.
        let leftover = state::read_started(&state_path);
        let saved = if options.force_reset {
            None
        } else {
            state::read(&state_path)?
        };
        let mut reset = options.force_reset;
        let state = match saved {
            Some(saved) if saved.finished => {
                notes.push(format!(
                    "{}: the previous sequence finished; starting over",
                    state_path.display()
                ));
                reset = true;
                SavedState::fresh(fingerprint)
            }
            Some(saved) => {
                state::check_matches(&state_path, &saved.fingerprint, &fingerprint)?;
                notes.push(format!(
                    "resuming round {} after {} completed step(s) ({})",
                    saved.round,
                    saved.completed.len(),
                    state_path.display()
                ));
                saved
            }
            None => SavedState::fresh(fingerprint),
        };
        let dotenv = env::dotenv_layers(&config.project_dir, &config.tests_dir)?;
        let token = run_token();
        let (launches, keypairs) = launches(&config, &dotenv, &options.python, &token, &mut notes)?;
        if reset {
            for l in &launches {
                remove_if_exists(Path::new(&l.env["DATABASE_PATH"]))?;
            }
            remove_if_exists(&state_path)?;
        }
        let names = options.steps.iter().map(|s| s.name.clone()).collect();
        let only = (!options.only.is_empty()).then(|| options.only.clone());
        // Rounds counted from a collection are known once the data is in (count_rounds);
        // until then the saved round must not be cut down to max_rounds' default.
        let max_rounds = if config.rounds_collection.is_some() {
            u32::MAX
        } else {
            config.max_rounds
        };
        let mut state = state;
        state.started = Some(Started {
            token,
            groups: vec![],
        });
        let seq = Sequencer::new(
            names,
            max_rounds,
            state,
            options.from.as_deref(),
            only,
            config.continue_on_failure,
        );
        let suite_id = config
            .task_id
            .clone()
            .unwrap_or(options.fallback_id.clone());
        Ok(Session {
            config,
            steps: options.steps,
            suite_id,
            notes,
            state_path,
            seq,
            python: options.python,
            dotenv,
            launches,
            keypairs,
            workers: vec![],
            mongo_server: None,
            mongo_uri: None,
            recorder: None,
            store_path: options.store_path,
            worker_failed: false,
            leftover,
            watchdog: None,
        })
    }

    /// Opens the run store and records the run as started.
    pub fn begin_record(&mut self) -> std::result::Result<(), crate::store::StoreError> {
        if let Some(path) = &self.store_path {
            self.recorder = Some(Recorder::start(
                path,
                &self.suite_id,
                &self.config.project_dir,
            )?);
        }
        Ok(())
    }

    pub fn run_id(&self) -> Option<&str> {
        self.recorder.as_ref().map(Recorder::run_id)
    }

    /// With a `mongodb` section: finds MongoDB (MONGO_URI, else the embedded server) and,
    /// unless the saved state says they are loaded, (re)loads the collections.
    pub fn start_data(&mut self) -> Result<DataStart> {
        self.stop_leftovers();
        let Some(mongo) = self.config.mongodb.clone() else {
            self.seq.state.data_loaded = true;
            return Ok(DataStart::default());
        };
        let (uri, embedded) = match env::lookup(&self.dotenv, "MONGO_URI") {
            Some(uri) => (uri, false),
            None => (self.start_embedded_mongo()?, true),
        };
        self.mongo_uri = Some(uri.clone());
        let loaded = !self.seq.state.data_loaded;
        if loaded {
            let report = data::load(&uri, &mongo, self.config.task_id.as_deref())?;
            for (name, docs, count) in report {
                self.notes.push(format!(
                    "loaded {docs} document(s) into '{name}' ({count} in the collection)"
                ));
            }
            self.seq.state.data_loaded = true;
        }
        Ok(DataStart {
            mongo_uri: Some(uri),
            database: Some(mongo.database),
            loaded,
            embedded,
        })
    }

    /// Without max_rounds, prometheus-test counts the rounds from rounds_collection once the
    /// data (and post_load_callback) are in; the count is taken again on every run, as
    /// the package does. Returns the number of rounds.
    pub fn count_rounds(&mut self) -> Result<u32> {
        let (Some(collection), Some(uri), Some(mongo)) = (
            self.config.rounds_collection.clone(),
            self.mongo_uri.clone(),
            self.config.mongodb.as_ref(),
        ) else {
            return Ok(self.seq.max_rounds());
        };
        let rounds = data::count_rounds(
            &uri,
            &mongo.database,
            &collection,
            self.config.task_id.as_deref(),
        )?;
        self.seq.set_max_rounds(rounds);
        self.notes.push(format!(
            "{rounds} round(s): the task's documents in '{collection}' plus one (rounds_collection; set max_rounds to fix the number)"
        ));
        Ok(rounds)
    }

    /// A MongoDB wire-protocol server (nx-27017, SQLite-backed) on a free loopback port,
    /// keeping its data in data_dir so a resumed run finds it.
    fn start_embedded_mongo(&mut self) -> Result<String> {
        // The workers' ports were chosen when the session began and are not bound yet.
        let promised: Vec<u16> = self.launches.iter().map(|l| l.port).collect();
        let port = worker::free_port_except(&promised)?;
        let logs = self.config.data_dir.join("logs");
        let launch = Launch {
            name: "mongodb".into(),
            port,
            argv: vec![
                self.python.display().to_string(),
                "-c".into(),
                "from nx_27017.nx_27017 import main; main()".into(),
                "--host".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string(),
                "--db".into(),
                self.config
                    .data_dir
                    .join("mongodb.sqlite")
                    .display()
                    .to_string(),
                "--log-file".into(),
                logs.join("mongodb-server.log").display().to_string(),
                "--pid-file".into(),
                logs.join("mongodb.pid").display().to_string(),
            ],
            cwd: self.config.data_dir.clone(),
            env: BTreeMap::from([(MARK_VAR.to_string(), self.mark("mongodb"))]),
            log_path: logs.join("mongodb.log"),
            ready: Ready::Tcp,
            ready_timeout: EMBEDDED_MONGO_READY,
            stop_grace: Duration::from_secs(5),
        };
        std::fs::create_dir_all(&self.config.data_dir)
            .map_err(|e| StepsError::io(&self.config.data_dir, "creating the data folder", e))?;
        let mut started = worker::start_all(vec![launch]).map_err(|e| {
            StepsError::worker(format!(
                "MONGO_URI is not set, and the embedded MongoDB server (PyPI nx-27017: pip install 'trialrun[steps]') did not start: {e}"
            ))
        })?;
        self.mongo_server = started.pop();
        let leader = self.mongo_server.as_ref().and_then(Worker::leader);
        self.record_started("mongodb", leader);
        Ok(format!("mongodb://127.0.0.1:{port}/"))
    }

    /// Starts every worker at once and waits until all are ready.
    pub fn start_workers(&mut self) -> Result<()> {
        let mut launches = self.launches.clone();
        if let Some(uri) = &self.mongo_uri {
            for l in &mut launches {
                l.env
                    .entry("MONGO_URI".into())
                    .or_insert_with(|| uri.clone());
            }
        }
        self.launches = launches.clone();
        self.stop_leftovers();
        // The data is loaded: save that (and this run's token) before anything can fail.
        self.save()?;
        self.workers = worker::start_all(launches).inspect_err(|_| self.worker_failed = true)?;
        let started: Vec<(String, Option<procs::ProcId>)> = self
            .workers
            .iter()
            .map(|w| (w.name().to_string(), w.leader()))
            .collect();
        for (name, leader) in started {
            self.record_started(&name, leader);
        }
        self.save()
    }

    /// Stops what an earlier run of this data_dir started and left running (its runner
    /// was killed): the groups its state file recorded, and every process carrying its
    /// token. Once; before this run starts anything.
    fn stop_leftovers(&mut self) {
        let Some(left) = self.leftover.take() else {
            return;
        };
        let groups: Vec<i32> = left
            .groups
            .iter()
            .map(|g| g.leader)
            .filter(|&l| procs::group_is_ours(l))
            .map(|l| l.pid)
            .collect();
        let marked = procs::marked(&format!("{}:", left.token), false);
        if groups.is_empty() && marked.is_empty() {
            return;
        }
        let grace = self.launches.iter().map(|l| l.stop_grace).max();
        let grace = grace.unwrap_or(Duration::from_secs(5));
        procs::stop(&groups, &marked, grace, &mut || {});
        let names: Vec<&str> = left.groups.iter().map(|g| g.worker.as_str()).collect();
        self.notes.push(format!(
            "stopped {} process group(s) and {} other process(es) an earlier run left running (workers: {}; recorded in {})",
            groups.len(),
            marked.len(),
            names.join(", "),
            self.state_path.display()
        ));
    }

    /// Records a started group in the state and with the watchdog, which stops it if
    /// this process dies without stopping it.
    fn record_started(&mut self, worker: &str, leader: Option<procs::ProcId>) {
        let Some(leader) = leader else {
            return;
        };
        if let Some(started) = &mut self.seq.state.started {
            started.groups.push(StartedGroup {
                worker: worker.to_string(),
                leader,
            });
        }
        if self.watchdog.is_none() {
            let grace = self.launches.iter().map(|l| l.stop_grace).max();
            match Watchdog::start(grace.unwrap_or(Duration::from_secs(5))) {
                Ok(w) => self.watchdog = Some(w),
                Err(e) => self.notes.push(format!(
                    "{e}; a run that is killed leaves its workers to the next run, which stops them"
                )),
            }
        }
        if let Some(w) = &mut self.watchdog {
            w.watch(leader);
        }
    }

    /// The value of MARK_VAR for one of this run's processes.
    fn mark(&self, name: &str) -> String {
        let token = self
            .seq
            .state
            .started
            .as_ref()
            .map_or("", |s| s.token.as_str());
        format!("{token}:{name}")
    }

    pub fn workers(&self) -> &[Launch] {
        &self.launches
    }

    /// The key files of the worker at `index` (workers.json order): role -> path.
    pub fn keypairs(&self, index: usize) -> &KeyFiles {
        &self.keypairs[index]
    }

    pub fn pids(&self) -> Vec<(String, u32)> {
        self.workers
            .iter()
            .chain(self.mongo_server.iter())
            .filter_map(|w| Some((w.name().to_string(), w.pid()?)))
            .collect()
    }

    pub fn round_state(&self) -> &Map<String, Value> {
        &self.seq.state.round_state
    }

    pub fn past_rounds(&self) -> &Map<String, Value> {
        &self.seq.state.rounds
    }

    pub fn max_rounds(&self) -> u32 {
        self.seq.max_rounds()
    }

    pub fn global_state(&self) -> &Map<String, Value> {
        &self.seq.state.global_state
    }

    /// The next step, after checking every worker still runs (Err: one died, with its log).
    pub fn next_step(&mut self) -> Result<Option<(Next, StepSpec)>> {
        let Some(next) = self.seq.next_step() else {
            self.save()?; // a finished round or sequence
            return Ok(None);
        };
        for w in self.workers.iter_mut().chain(self.mongo_server.iter_mut()) {
            if let Err(e) = w.check_alive() {
                self.worker_failed = true;
                return Err(e);
            }
        }
        Ok(Some((next, self.steps[next.index].clone())))
    }

    /// When the step's worker is no longer running: the message with its log tail.
    pub fn worker_down(&mut self, worker: &str) -> Option<String> {
        let w = self.workers.iter_mut().find(|w| w.name() == worker)?;
        // A step often fails because its worker is dying (the request hit a closing port);
        // the exit itself can take a moment to be seen, so it is waited for briefly.
        let deadline = std::time::Instant::now() + DEATH_GRACE;
        let err = loop {
            match w.check_alive() {
                Err(err) => break err,
                Ok(()) if std::time::Instant::now() >= deadline => return None,
                Ok(()) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        self.worker_failed = true;
        Some(err.message)
    }

    /// Records a finished step: the state file (atomically) and the run store.
    #[allow(clippy::too_many_arguments)]
    pub fn finish_step(
        &mut self,
        next: Next,
        outcome: StepOutcome,
        output: Option<String>,
        error: Option<String>,
        reason: Option<String>,
        attempts: u32,
        duration_s: f64,
        round_state: Map<String, Value>,
        global_state: Map<String, Value>,
    ) -> Result<()> {
        self.seq.set_states(round_state, global_state);
        self.seq.finish(next, outcome, crate::store::now_unix());
        let spec = &self.steps[next.index];
        if let Some(rec) = &mut self.recorder {
            rec.step(&StepRecord {
                name: &spec.name,
                description: &spec.description,
                worker: &spec.worker,
                round: next.round,
                outcome,
                output,
                error,
                reason,
                attempts,
                duration_s,
            });
        }
        self.save()
    }

    fn save(&self) -> Result<()> {
        state::write(&self.state_path, &self.seq.state)
    }

    pub fn failed(&self) -> bool {
        self.seq.failed() || self.worker_failed
    }

    pub fn finished(&self) -> bool {
        self.seq.state.finished
    }

    pub fn round(&self) -> u32 {
        self.seq.state.round
    }

    /// Stops every process and records the run's end. `interrupted`: Ctrl-C or cancel.
    pub fn close(&mut self, interrupted: bool, errored: bool) -> Option<crate::store::StoreError> {
        worker::stop_all(&mut self.workers);
        if let Some(m) = &mut self.mongo_server {
            m.stop();
        }
        if let Some(w) = &mut self.watchdog {
            w.quit();
        }
        let status = if interrupted {
            RunStatus::Interrupted
        } else if errored || self.failed() {
            RunStatus::Failed
        } else {
            RunStatus::Completed
        };
        self.recorder.take().and_then(|r| r.finish(status).err())
    }
}

/// A token for this run's processes: unique enough that no other run's processes carry it.
fn run_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{}-{:016x}", std::process::id(), h.finish())
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(StepsError::io(path, "removing it for the reset", e))
        }
        _ => Ok(()),
    }
}

fn check_steps(config: &StepsConfig, options: &Options) -> Result<()> {
    if options.steps.is_empty() {
        return Err(StepsError::config("steps: the step list is empty"));
    }
    let workers: Vec<&str> = config.workers.iter().map(|w| w.name.as_str()).collect();
    let mut seen = std::collections::BTreeSet::new();
    for (i, step) in options.steps.iter().enumerate() {
        if step.name.trim().is_empty() {
            return Err(StepsError::config(format!(
                "steps[{i}]: a step needs a non-empty name"
            )));
        }
        if !seen.insert(step.name.as_str()) {
            return Err(StepsError::config(format!(
                "steps[{i}]: step name '{}' is used twice",
                step.name
            )));
        }
        if !workers.contains(&step.worker.as_str()) {
            return Err(StepsError::config(format!(
                "step '{}': no worker named '{}' in {} (workers: {})",
                step.name,
                step.worker,
                config.workers_config.display(),
                workers.join(", ")
            )));
        }
    }
    for name in options.from.iter().chain(options.only.iter()) {
        if !seen.contains(name.as_str()) {
            return Err(StepsError::config(format!(
                "no step named '{name}' (steps: {})",
                options
                    .steps
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}

fn fingerprint(config: &StepsConfig, steps: &[StepSpec]) -> Fingerprint {
    let mut c = Map::new();
    c.insert("task_id".into(), config.task_id.clone().into());
    c.insert("max_rounds".into(), config.max_rounds.into());
    if let Some(m) = &config.mongodb {
        c.insert("mongodb.database".into(), m.database.clone().into());
        let colls: Vec<Value> = m
            .collections
            .iter()
            .map(|c| Value::from(c.name.clone()))
            .collect();
        c.insert("mongodb.collections".into(), colls.into());
    }
    Fingerprint {
        steps: steps
            .iter()
            .map(|s| format!("{}@{}", s.name, s.worker))
            .collect(),
        config: c,
    }
}

/// How each worker is started: argv, environment layers, log file, DATABASE_PATH, and its
/// key files. Ports not fixed by the config are chosen now (free loopback ports).
fn launches(
    config: &StepsConfig,
    dotenv: &BTreeMap<String, String>,
    python: &Path,
    token: &str,
    notes: &mut Vec<String>,
) -> Result<(Vec<Launch>, Vec<KeyFiles>)> {
    let mut out: Vec<Launch> = vec![];
    let mut keys = vec![];
    for w in &config.workers {
        let promised: Vec<u16> = out
            .iter()
            .map(|l| l.port)
            .chain(config.workers.iter().map(|w| w.port))
            .collect();
        let port = if w.port == 0 {
            worker::free_port_except(&promised)?
        } else {
            w.port
        };
        let argv = match &w.command {
            Some(Command::Argv(argv)) => argv.clone(),
            Some(Command::Shell(line)) => vec!["/bin/sh".into(), "-c".into(), line.clone()],
            None => {
                let entry = w
                    .server_entrypoint
                    .as_ref()
                    .or(config.server_entrypoint.as_ref());
                let main = entry
                    .cloned()
                    .unwrap_or_else(|| config.project_dir.join("main.py"));
                if !main.is_file() {
                    return Err(StepsError::config(format!(
                        "{}: worker '{}' has no command, and {} does not exist (a worker without a command runs {})",
                        config.workers_config.display(),
                        w.name,
                        main.display(),
                        if entry.is_some() { "its server_entrypoint" } else { "the project's main.py" }
                    )));
                }
                vec![python.display().to_string(), main.display().to_string()]
            }
        };
        let mut env = dotenv.clone();
        env.extend(w.env.clone());
        env.extend(env_vars(config, w, dotenv)?);
        let (files, set) = keypair_files(config, w, dotenv, notes)?;
        env.extend(set);
        keys.push(files);
        env.insert("PORT".into(), port.to_string());
        env.insert(MARK_VAR.into(), format!("{token}:{}", w.name));
        let db = config.data_dir.join(format!("{}.sqlite", w.name));
        env.entry("DATABASE_PATH".into())
            .or_insert_with(|| db.display().to_string());
        out.push(Launch {
            name: w.name.clone(),
            port,
            argv,
            cwd: config.project_dir.clone(),
            env,
            log_path: config.data_dir.join("logs").join(format!("{}.log", w.name)),
            ready: w.ready.clone(),
            ready_timeout: w.ready_timeout,
            stop_grace: w.stop_grace,
        });
    }
    Ok((out, keys))
}

/// prometheus-test's `env_vars`: each variable's value is read from the variable it names
/// (DATA_DIR's is the value itself); one that is not set is an error, as in the package.
fn env_vars(
    config: &StepsConfig,
    w: &config::WorkerConfig,
    dotenv: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut missing = vec![];
    for (key, source) in &w.env_vars {
        if key == "DATA_DIR" {
            out.insert(key.clone(), source.clone());
            continue;
        }
        match env::lookup(dotenv, source) {
            Some(value) => {
                out.insert(key.clone(), value);
            }
            None => missing.push(format!("{key} (from {source})")),
        }
    }
    if !missing.is_empty() {
        return Err(StepsError::config(format!(
            "{}: worker '{}': env_vars read variables that are not set (in the environment, {}/.env or {}/.env): {}",
            config.workers_config.display(),
            w.name,
            config.project_dir.display(),
            config.tests_dir.display(),
            missing.join(", ")
        )));
    }
    Ok(out)
}

/// prometheus-test's `keypairs`: role -> the variable holding a key file's path. A file
/// that is missing (or a variable that is not set) gets a generated test key in
/// data_dir/keys, kept for later runs, with a note; the worker's variable points at it.
/// Returns (role -> file, variables to set for the worker).
fn keypair_files(
    config: &StepsConfig,
    w: &config::WorkerConfig,
    dotenv: &BTreeMap<String, String>,
    notes: &mut Vec<String>,
) -> Result<(KeyFiles, BTreeMap<String, String>)> {
    let mut files = BTreeMap::new();
    let mut set = BTreeMap::new();
    for (role, var) in &w.keypairs {
        let configured = env::lookup(dotenv, var)
            .map(|p| super::error::resolve(&config.tests_dir, Path::new(&p)));
        let path = match configured {
            Some(path) if path.is_file() => {
                keys::read_keypair_file(&path)?;
                path
            }
            other => {
                let path = config
                    .data_dir
                    .join("keys")
                    .join(format!("{}_{role}.json", w.name));
                if !path.is_file() {
                    keys::generate_keypair_file(&path)?;
                }
                let why = match other {
                    Some(p) => format!("{var} names {}, which does not exist", p.display()),
                    None => format!("{var} is not set"),
                };
                notes.push(format!(
                    "worker '{}': {why}; using a generated test key for '{role}' ({})",
                    w.name,
                    path.display()
                ));
                path
            }
        };
        set.insert(var.clone(), path.display().to_string());
        files.insert(role.clone(), path);
    }
    Ok((files, set))
}

impl StepsErrorKind {
    /// The CLI's exit code for a run that ended with this error.
    pub fn exit_code(self) -> i32 {
        match self {
            StepsErrorKind::Config => 2, // and Data: the setup is wrong
            StepsErrorKind::Worker => 3,
            StepsErrorKind::Data => 2,
            StepsErrorKind::Io => 1,
        }
    }
}

#[cfg(test)]
mod tests;
