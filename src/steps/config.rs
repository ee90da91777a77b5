//! config.yaml and workers.json: parsed, merged with config_overrides and checked before
//! anything starts. Errors name the file, line and key; unknown keys are kept (they reach
//! `context.config`) and reported as warnings.

use super::error::{resolve, Result, StepsError};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a worker shows it is ready: a TCP port that accepts, or an HTTP path that answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ready {
    Tcp,
    Http(String),
}

/// The command a worker runs: an argv, or a shell line (run with `sh -c`). None: the
/// project's main.py under the current Python, as prometheus-test does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Argv(Vec<String>),
    Shell(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkerConfig {
    pub name: String,
    /// 0 until a free port is chosen (no port and no base_port).
    pub port: u16,
    pub env: BTreeMap<String, String>,
    pub command: Option<Command>,
    pub ready: Ready,
    pub ready_timeout: Duration,
    pub stop_grace: Duration,
    /// prometheus-test's `env_vars`: variable -> the variable it is read from (DATA_DIR:
    /// the value itself).
    pub env_vars: BTreeMap<String, String>,
    /// prometheus-test's `keypairs`: role (staking, main, public) -> the variable holding
    /// the key file's path.
    pub keypairs: BTreeMap<String, String>,
    /// The Python file the worker runs without a command (prometheus-test's key).
    pub server_entrypoint: Option<PathBuf>,
    /// Every other workers.json key, as given: what `worker.get(key)` returns.
    pub data: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CollectionConfig {
    pub name: String,
    /// None: the collection starts empty (prometheus-test's collections without a file).
    pub data_file: Option<PathBuf>,
    pub required_count: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MongoConfig {
    pub database: String,
    pub collections: Vec<CollectionConfig>,
}

/// A checked configuration. Paths are absolute (relative ones resolved against the
/// directory of config.yaml, the "tests" folder).
#[derive(Debug, Clone, PartialEq)]
pub struct StepsConfig {
    pub config_file: PathBuf,
    pub tests_dir: PathBuf,
    /// The folder above tests/: its .env and main.py.
    pub project_dir: PathBuf,
    pub task_id: Option<String>,
    pub base_port: Option<u16>,
    pub max_rounds: u32,
    /// Without max_rounds: the collection whose documents of this task count the rounds
    /// (plus one), as prometheus-test does (rounds_collection, default "todos" when it is
    /// one of the collections).
    pub rounds_collection: Option<String>,
    /// prometheus-test's server_entrypoint: what workers without a command run.
    pub server_entrypoint: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub workers_config: PathBuf,
    pub mongodb: Option<MongoConfig>,
    /// In workers.json order.
    pub workers: Vec<WorkerConfig>,
    /// Default per-step timeout in seconds (a TestStep may set its own).
    pub step_timeout: Option<f64>,
    /// Default extra attempts of a failed or errored step.
    pub retries: u32,
    pub continue_on_failure: bool,
    /// Keys trialrun does not know, kept as given.
    pub extra: Map<String, Value>,
    /// One line per unknown key, naming file, line and key.
    pub warnings: Vec<String>,
}

const DEFAULT_READY_TIMEOUT: f64 = 30.0;
/// prometheus-test's rounds_collection default.
const DEFAULT_ROUNDS_COLLECTION: &str = "todos";
/// Keys of prometheus-test's config that trialrun reads or passes on (not warned about).
const PACKAGE_KEYS: &[&str] = &["middle_server_url", "base_dir", "post_load_callback"];
const DEFAULT_STOP_GRACE: f64 = 5.0;

#[derive(Debug, Default, Deserialize)]
struct RawConfig {
    task_id: Option<Value>,
    base_port: Option<u16>,
    max_rounds: Option<u32>,
    rounds_collection: Option<String>,
    server_entrypoint: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    workers_config: Option<PathBuf>,
    mongodb: Option<RawMongo>,
    workers: Option<BTreeMap<String, RawWorker>>,
    step_timeout: Option<f64>,
    retries: Option<u32>,
    continue_on_failure: Option<bool>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
struct RawMongo {
    database: Option<String>,
    #[serde(default)]
    collections: BTreeMap<String, RawCollection>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
struct RawCollection {
    data_file: Option<PathBuf>,
    required_count: Option<u64>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

#[derive(Debug, Default, Clone, Deserialize)]
struct RawWorker {
    port: Option<u16>,
    env: Option<BTreeMap<String, Value>>,
    command: Option<RawCommand>,
    ready: Option<RawReady>,
    ready_timeout: Option<f64>,
    stop_grace: Option<f64>,
    env_vars: Option<BTreeMap<String, String>>,
    keypairs: Option<BTreeMap<String, String>>,
    server_entrypoint: Option<PathBuf>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawCommand {
    Shell(String),
    Argv(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReady {
    http: Option<String>,
    tcp: Option<bool>,
}

/// Reads config.yaml and the workers.json it names, applies `overrides` (a JSON object;
/// keys trialrun handles in Python, like post_load_callback, are removed before), and
/// checks everything.
pub fn load(config_file: &Path, overrides: &Map<String, Value>) -> Result<StepsConfig> {
    let config_file =
        std::path::absolute(config_file).unwrap_or_else(|_| config_file.to_path_buf());
    let text = std::fs::read_to_string(&config_file).map_err(|e| {
        StepsError::config(format!(
            "{}: cannot read the config file: {e}",
            config_file.display()
        ))
    })?;
    let mut raw: RawConfig = if text.trim().is_empty() {
        RawConfig::default()
    } else {
        serde_saphyr::from_str(&text).map_err(|e| yaml_error(&config_file, &text, &e))?
    };
    let mut warnings = Vec::new();
    for key in raw
        .extra
        .keys()
        .filter(|k| !PACKAGE_KEYS.contains(&k.as_str()))
    {
        warnings.push(format!(
            "{}: line {}: unknown key '{key}' (kept in context.config and runner.config)",
            config_file.display(),
            key_line(&text, key, 0).map_or("?".into(), |l| l.to_string())
        ));
    }
    if let Some(mongo) = &raw.mongodb {
        for key in mongo.extra.keys() {
            warnings.push(unknown(&config_file, &text, &format!("mongodb.{key}"), key));
        }
        for (name, coll) in &mongo.collections {
            for key in coll.extra.keys() {
                warnings.push(unknown(
                    &config_file,
                    &text,
                    &format!("mongodb.collections.{name}.{key}"),
                    key,
                ));
            }
        }
    }
    apply_overrides(&mut raw, overrides)?;

    let tests_dir = config_file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let project_dir = tests_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| tests_dir.clone());
    let data_dir = resolve(
        &tests_dir,
        raw.data_dir.as_deref().unwrap_or(Path::new("data")),
    );
    check_folder(&config_file, &text, "data_dir", &data_dir)?;
    let workers_config = resolve(
        &tests_dir,
        raw.workers_config
            .as_deref()
            .unwrap_or(Path::new("workers.json")),
    );
    let task_id = match raw.task_id {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            let line = key_line(&text, "task_id", 0);
            return Err(StepsError::at(
                &config_file,
                line,
                Some("task_id"),
                format!("expected a non-empty string, got {other}"),
            ));
        }
    };
    let counted = raw.max_rounds.is_none();
    let max_rounds = raw.max_rounds.unwrap_or(1);
    if max_rounds == 0 {
        return Err(StepsError::at(
            &config_file,
            key_line(&text, "max_rounds", 0),
            Some("max_rounds"),
            "must be at least 1",
        ));
    }
    if let Some(t) = raw.step_timeout {
        if !(t.is_finite() && t > 0.0) {
            return Err(StepsError::at(
                &config_file,
                key_line(&text, "step_timeout", 0),
                Some("step_timeout"),
                "must be a positive number of seconds",
            ));
        }
    }

    let mongodb = match raw.mongodb {
        None => None,
        Some(mongo) => Some(mongo_config(&config_file, &text, &data_dir, mongo)?),
    };
    let rounds_collection = match (&mongodb, raw.rounds_collection) {
        (Some(_), Some(explicit)) if counted => Some(explicit),
        (Some(m), None) if counted => m
            .collections
            .iter()
            .any(|c| c.name == DEFAULT_ROUNDS_COLLECTION)
            .then(|| DEFAULT_ROUNDS_COLLECTION.to_string()),
        _ => None,
    };
    let yaml_workers = raw.workers.unwrap_or_default();
    let workers = load_workers(
        &workers_config,
        &config_file,
        &text,
        raw.base_port,
        &yaml_workers,
        &mut warnings,
    )?;

    let server_entrypoint = raw.server_entrypoint.map(|p| resolve(&project_dir, &p));
    Ok(StepsConfig {
        server_entrypoint,
        config_file,
        tests_dir,
        project_dir,
        task_id,
        base_port: raw.base_port,
        max_rounds,
        rounds_collection,
        data_dir,
        workers_config,
        mongodb,
        workers,
        step_timeout: raw.step_timeout,
        retries: raw.retries.unwrap_or(0),
        continue_on_failure: raw.continue_on_failure.unwrap_or(false),
        extra: raw.extra.into_iter().collect(),
        warnings,
    })
}

/// Err naming the config key when `dir`, or a folder above it, exists as something else
/// than a folder (it could never hold the files written there).
fn check_folder(config_file: &Path, text: &str, key: &str, dir: &Path) -> Result<()> {
    let Some(existing) = dir.ancestors().find(|p| p.symlink_metadata().is_ok()) else {
        return Ok(());
    };
    if existing.is_dir() {
        return Ok(());
    }
    let what = if existing == dir {
        format!("{} is a file, not a folder", dir.display())
    } else {
        format!(
            "{} is inside {}, which is a file",
            dir.display(),
            existing.display()
        )
    };
    Err(StepsError::at(
        config_file,
        key_line(text, key, 0),
        Some(key),
        what,
    ))
}

fn unknown(file: &Path, text: &str, path: &str, key: &str) -> String {
    let line = key_line(text, key, 1).map_or("?".into(), |l| l.to_string());
    format!(
        "{}: line {line}: unknown key '{path}' (ignored)",
        file.display()
    )
}

/// Each override replaces the file's value of its key; each key is checked on its own so
/// an error names it.
fn apply_overrides(raw: &mut RawConfig, overrides: &Map<String, Value>) -> Result<()> {
    for (key, value) in overrides {
        let single = Value::Object(Map::from_iter([(key.clone(), value.clone())]));
        let parsed: RawConfig = serde_json::from_value(single)
            .map_err(|e| StepsError::config(format!("config_overrides: key '{key}': {e}")))?;
        match key.as_str() {
            "task_id" => raw.task_id = parsed.task_id,
            "base_port" => raw.base_port = parsed.base_port,
            "max_rounds" => raw.max_rounds = parsed.max_rounds,
            "rounds_collection" => raw.rounds_collection = parsed.rounds_collection,
            "server_entrypoint" => raw.server_entrypoint = parsed.server_entrypoint,
            "data_dir" => raw.data_dir = parsed.data_dir,
            "workers_config" => raw.workers_config = parsed.workers_config,
            "mongodb" => raw.mongodb = parsed.mongodb,
            "workers" => raw.workers = parsed.workers,
            "step_timeout" => raw.step_timeout = parsed.step_timeout,
            "retries" => raw.retries = parsed.retries,
            "continue_on_failure" => raw.continue_on_failure = parsed.continue_on_failure,
            _ => {
                raw.extra.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(())
}

fn mongo_config(file: &Path, text: &str, data_dir: &Path, raw: RawMongo) -> Result<MongoConfig> {
    let database = raw
        .database
        .filter(|d| !d.trim().is_empty())
        .ok_or_else(|| {
            StepsError::at(
                file,
                key_line(text, "mongodb", 0),
                Some("mongodb.database"),
                "a database name is required",
            )
        })?;
    let mut collections = Vec::new();
    for (name, coll) in raw.collections {
        let key = format!("mongodb.collections.{name}.data_file");
        let data_file = coll.data_file.map(|f| resolve(data_dir, &f));
        if let Some(data_file) = data_file.as_ref().filter(|f| !f.is_file()) {
            return Err(StepsError::at(
                file,
                key_line(text, "data_file", 1),
                Some(&key),
                format!("no such file: {}", data_file.display()),
            ));
        }
        collections.push(CollectionConfig {
            name,
            data_file,
            required_count: coll.required_count,
        });
    }
    Ok(MongoConfig {
        database,
        collections,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
struct RawWorkers(indexmap_lite::OrderedMap<RawWorker>);

fn load_workers(
    path: &Path,
    config_file: &Path,
    config_text: &str,
    base_port: Option<u16>,
    yaml_workers: &BTreeMap<String, RawWorker>,
    warnings: &mut Vec<String>,
) -> Result<Vec<WorkerConfig>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        StepsError::config(format!(
            "{}: cannot read the workers config: {e}",
            path.display()
        ))
    })?;
    let parsed: RawWorkers = serde_json::from_str(&text).map_err(|e| {
        let line = (e.line() > 0).then_some(e.line() as u64);
        let key = line.and_then(|l| key_on_line(&text, l));
        StepsError::at(path, line, key.as_deref(), e)
    })?;
    let entries = parsed.0 .0;
    if entries.is_empty() {
        return Err(StepsError::at(
            path,
            None,
            None,
            "no workers defined (an object of name -> {port, env, command})",
        ));
    }
    for name in yaml_workers.keys() {
        if !entries.iter().any(|(n, _)| n == name) {
            return Err(StepsError::at(
                config_file,
                key_line(config_text, name, 1),
                Some(&format!("workers.{name}")),
                format!("no worker named '{name}' in {}", path.display()),
            ));
        }
    }
    let mut workers = Vec::new();
    for (i, (name, json_raw)) in entries.into_iter().enumerate() {
        let line = key_line(&text, &name, 0);
        // config.yaml's workers.NAME settings override workers.json's, field by field.
        let yaml = yaml_workers.get(&name).cloned().unwrap_or_default();
        for key in yaml.extra.keys() {
            warnings.push(unknown(
                config_file,
                config_text,
                &format!("workers.{name}.{key}"),
                key,
            ));
        }
        let at = |detail: String| StepsError::at(path, line, Some(&name), detail);
        // prometheus-test's numbering: the first worker on base_port itself.
        let port = yaml
            .port
            .or(json_raw.port)
            .or_else(|| base_port.and_then(|b| b.checked_add(i as u16)))
            .unwrap_or(0);
        let mut env_vars = json_raw.env_vars.clone().unwrap_or_default();
        env_vars.extend(yaml.env_vars.clone().unwrap_or_default());
        let mut keypairs = json_raw.keypairs.clone().unwrap_or_default();
        keypairs.extend(yaml.keypairs.clone().unwrap_or_default());
        let server_entrypoint = yaml
            .server_entrypoint
            .clone()
            .or(json_raw.server_entrypoint.clone())
            .map(|p| {
                resolve(
                    config_file
                        .parent()
                        .and_then(Path::parent)
                        .unwrap_or(Path::new(".")),
                    &p,
                )
            });
        let data: Map<String, Value> = json_raw.extra.clone().into_iter().collect();
        let mut env = BTreeMap::new();
        for (k, v) in json_raw
            .env
            .into_iter()
            .flatten()
            .chain(yaml.env.into_iter().flatten())
        {
            let v = match v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    return Err(at(format!(
                        "env '{k}': expected a string, number or bool, got {other}"
                    )))
                }
            };
            super::env::check_variable(&k, &v).map_err(|why| at(format!("env '{k}': {why}")))?;
            env.insert(k, v);
        }
        let command = match yaml.command.or(json_raw.command) {
            None => None,
            Some(RawCommand::Shell(s)) if s.trim().is_empty() => {
                return Err(at("command is empty".into()))
            }
            Some(RawCommand::Argv(v)) if v.is_empty() => return Err(at("command is empty".into())),
            Some(RawCommand::Shell(s)) => Some(Command::Shell(s)),
            Some(RawCommand::Argv(v)) => Some(Command::Argv(v)),
        };
        let ready = match yaml.ready.or(json_raw.ready) {
            None => Ready::Tcp,
            Some(RawReady {
                http: Some(p),
                tcp: None,
            }) => Ready::Http(if p.starts_with('/') {
                p
            } else {
                format!("/{p}")
            }),
            Some(RawReady {
                http: None,
                tcp: Some(true),
            }) => Ready::Tcp,
            Some(_) => return Err(at("ready must be {http: \"/path\"} or {tcp: true}".into())),
        };
        let seconds = |v: Option<f64>, default: f64, key: &str| -> Result<Duration> {
            let v = v.unwrap_or(default);
            if v.is_finite() && v >= 0.0 {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(at(format!(
                    "{key} must be a non-negative number of seconds"
                )))
            }
        };
        workers.push(WorkerConfig {
            port,
            env,
            env_vars,
            keypairs,
            server_entrypoint,
            data,
            command,
            ready,
            ready_timeout: seconds(
                yaml.ready_timeout.or(json_raw.ready_timeout),
                DEFAULT_READY_TIMEOUT,
                "ready_timeout",
            )?,
            stop_grace: seconds(
                yaml.stop_grace.or(json_raw.stop_grace),
                DEFAULT_STOP_GRACE,
                "stop_grace",
            )?,
            name,
        });
    }
    let mut seen: BTreeMap<u16, &str> = BTreeMap::new();
    for w in &workers {
        if w.port == 0 {
            continue;
        }
        if let Some(other) = seen.insert(w.port, &w.name) {
            return Err(StepsError::at(
                path,
                key_line(&text, &w.name, 0),
                Some(&w.name),
                format!("port {} is also worker '{other}''s port", w.port),
            ));
        }
    }
    Ok(workers)
}

/// A JSON object keeping its keys' order (workers start and are listed in file order).
mod indexmap_lite {
    use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
    use std::fmt;

    #[derive(Debug, Default)]
    pub struct OrderedMap<V>(pub Vec<(String, V)>);

    impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V2<V>(std::marker::PhantomData<V>);
            impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
                type Value = OrderedMap<V>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("an object of worker name -> settings")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                    let mut out: Vec<(String, V)> = Vec::new();
                    while let Some((k, v)) = map.next_entry::<String, V>()? {
                        if out.iter().any(|(n, _)| *n == k) {
                            return Err(serde::de::Error::custom(format!(
                                "worker '{k}' is defined twice"
                            )));
                        }
                        out.push((k, v));
                    }
                    Ok(OrderedMap(out))
                }
            }
            d.deserialize_map(V2(std::marker::PhantomData))
        }
    }
}

fn yaml_error(file: &Path, text: &str, e: &serde_saphyr::Error) -> StepsError {
    let line = e.location().map(|l| l.line()).filter(|l| *l > 0);
    let key = line.and_then(|l| key_on_line(text, l));
    StepsError::at(file, line, key.as_deref(), e)
}

/// The key a YAML or JSON line defines (`key: ...`, `"key": ...`), if any.
fn key_on_line(text: &str, line: u64) -> Option<String> {
    let l = text.lines().nth(line.checked_sub(1)? as usize)?;
    let (key, _) = l.split_once(':')?;
    let key = key
        .trim()
        .trim_start_matches("- ")
        .trim_matches(|c| c == '"' || c == '\'' || c == '{' || c == ',')
        .trim();
    (!key.is_empty() && !key.contains(' ')).then(|| key.to_string())
}

/// The first line defining `key` (indented by at least `min_indent` spaces), 1-based.
fn key_line(text: &str, key: &str, min_indent: usize) -> Option<u64> {
    text.lines().enumerate().find_map(|(i, l)| {
        let indent = l.len() - l.trim_start().len();
        let t = l.trim_start();
        let defines = t
            .strip_prefix(key)
            .or_else(|| t.strip_prefix(&format!("\"{key}\"")))?;
        (indent >= min_indent && defines.trim_start().starts_with(':')).then_some(i as u64 + 1)
    })
}

#[cfg(test)]
mod tests;
