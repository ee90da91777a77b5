//! Turns run_test_suite's Python arguments into a checked plan, before any fn call.
//! Every rule that does not need Python lives in crate::suite::validate.

use super::callee::Callee;
use super::evaluation::type_name;
use crate::evaluation::trials::{Policy, TrialPlan};
use crate::py::convert::{case_fields_json, dataclass_fields, label, to_json};
use crate::suite::shard::Shard;
use crate::suite::{grid, validate};
use pyo3::exceptions::PyException;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyInt, PyList, PyString, PyTuple};

use crate::py::errors::SuiteValidationError;
use std::collections::HashSet;
use std::sync::Arc;

/// Autoblocks' default for max_test_case_concurrency.
pub const DEFAULT_CASE_CONCURRENCY: i64 = 10;

/// Python types the plan checks against, registered once by the trialrun package.
pub struct Hooks {
    pub base_test_case: Py<PyAny>,
    pub base_test_evaluator: Py<PyAny>,
    /// BaseTestCase.serialize, to spot cases that keep the default.
    pub default_serialize: Py<PyAny>,
    /// The ContextVar grid_search_ctx() reads.
    pub grid_var: Py<PyAny>,
}

pub static HOOKS: PyOnceLock<Hooks> = PyOnceLock::new();

pub fn hooks(py: Python<'_>) -> PyResult<&Hooks> {
    HOOKS.get(py).ok_or_else(|| {
        PyException::new_err("trialrun._core used before the trialrun package bound it")
    })
}

fn invalid(msg: impl Into<String>) -> PyErr {
    SuiteValidationError::new_err(msg.into())
}

pub struct Evaluator {
    pub id: Arc<str>,
    pub callee: Callee,
}

pub struct Combination {
    pub grid: Option<Py<PyDict>>,
    pub grid_json: Option<String>,
}

pub struct Plan {
    pub suite_id: String,
    pub cases: Vec<Py<PyAny>>,
    pub hashes: Vec<Arc<str>>,
    /// JSON of each case, shared by every record of it.
    pub case_json: Vec<Arc<str>>,
    /// Each case's readable label (None: shown by its hash).
    pub labels: Vec<Option<Arc<str>>>,
    pub fn_callee: Callee,
    /// Autoblocks' before_evaluators_hook(test_case, output): runs after fn, in its slot;
    /// what it returns reaches the evaluators as `hook_results`.
    pub hook_callee: Option<Callee>,
    pub case_limit: usize,
    pub evaluators: Vec<Evaluator>,
    pub evaluator_limits: Vec<usize>,
    pub combinations: Vec<Combination>,
    /// Trials per case and verdict policies (`TrialPlan::single()` by default).
    pub trials: TrialPlan,
    /// Which part of the suite this run is, when sharded.
    pub shard: Option<Shard>,
    /// Each case's position in the whole suite (its stored index): with a shard, the
    /// cases kept are a part of the list, and a merge puts them back in place.
    pub positions: Vec<u32>,
}

/// `err` with the suite named first when it is a SuiteValidationError, as the SDK words
/// its errors (`[my-suite] ...`), so a file of several suites says which one is wrong.
pub fn naming_suite(id: &Bound<'_, PyAny>, err: PyErr) -> PyErr {
    let py = id.py();
    match id.cast::<PyString>() {
        Ok(name) if err.is_instance_of::<SuiteValidationError>(py) => {
            let name = name.to_string_lossy();
            if validate::suite_id(&name).is_ok() {
                invalid(format!("[{name}] {}", err.value(py)))
            } else {
                err
            }
        }
        _ => err,
    }
}

#[allow(clippy::too_many_arguments)]
pub fn build<'py>(
    id: &Bound<'py, PyAny>,
    test_cases: &Bound<'py, PyAny>,
    evaluators: &Bound<'py, PyAny>,
    func: &Bound<'py, PyAny>,
    max_test_case_concurrency: Option<&Bound<'py, PyAny>>,
    grid_search_params: Option<&Bound<'py, PyAny>>,
    before_evaluators_hook: Option<&Bound<'py, PyAny>>,
    repeats: Option<&Bound<'py, PyAny>>,
    verdict: Option<&Bound<'py, PyAny>>,
    wrap: Option<&Bound<'py, PyAny>>,
    shard: Option<(u32, u32)>,
) -> PyResult<Plan> {
    let py = id.py();
    // trialrun._limits wraps fn (callee 0) and each evaluator (1 + i) with retries and
    // timeouts when the suite has such options; nothing is wrapped otherwise.
    let wrapped = |f: Bound<'py, PyAny>, callee: usize, name: String| match wrap {
        Some(w) if !w.is_none() => w.call1((f, callee, name)),
        _ => Ok(f),
    };
    let hooks = hooks(py)?;
    let suite_id = utf8(
        id.cast::<PyString>()
            .map_err(|_| invalid(format!("id must be a str, got {}", type_name(id))))?,
        || "id".into(),
    )?;
    validate::suite_id(&suite_id)?;

    let cases = sequence("test_cases", test_cases)?;
    let base_case = hooks.base_test_case.bind(py);
    let mut hashes = Vec::with_capacity(cases.len());
    for (i, case) in cases.iter().enumerate() {
        if !case.is_instance(base_case)? {
            return Err(invalid(format!(
                "test_cases[{i}] {} is a {}, not a BaseTestCase subclass instance",
                label(case),
                type_name(case)
            )));
        }
        let h = case.call_method0(intern!(py, "hash")).map_err(|e| {
            invalid(format!(
                "test_cases[{i}] {}: hash() raised {}",
                label(case),
                e
            ))
        })?;
        let h = h.cast::<PyString>().map_err(|_| {
            invalid(format!(
                "test_cases[{i}] {}: hash() must return a str, got {}",
                label(case),
                type_name(&h)
            ))
        })?;
        hashes.push(utf8(h, || {
            format!("test_cases[{i}] {}: hash()", label(case))
        })?);
    }
    // Autoblocks' TestCaseConfig(repeat_num_times=n): the case runs n times, each a case of
    // its own with the SDK's hash suffix (`{hash}-{i}`).
    let mut entries = Vec::with_capacity(cases.len());
    let mut classes_without = HashSet::new();
    for (i, case) in cases.iter().enumerate() {
        match repeat_num_times(i, case, &mut classes_without)? {
            None => entries.push((i, hashes[i].clone())),
            Some(n) => {
                // Counted before anything is made for them.
                validate::items(entries.len().saturating_add(n), 1)
                    .map_err(|e| invalid(format!("test_cases[{i}] {}: {e}", label(case))))?;
                entries.extend((0..n).map(|r| (i, format!("{}-{r}", hashes[i]))));
            }
        }
    }
    let (origins, hashes): (Vec<usize>, Vec<String>) = entries.into_iter().unzip();
    let describe = |i: usize| label(&cases[origins[i]]);
    validate::hashes(&hashes, &describe)?;
    let shard = shard
        .map(|(i, n)| Shard::new(i, n).map_err(|e| invalid(format!("shard: {e}"))))
        .transpose()?;
    let positions: Vec<usize> = match shard {
        Some(shard) => shard.members(&suite_id, &hashes),
        None => (0..hashes.len()).collect(),
    };
    let (origins, hashes): (Vec<usize>, Vec<String>) = match shard {
        Some(_) => positions
            .iter()
            .map(|&p| (origins[p], hashes[p].clone()))
            .unzip(),
        None => (origins, hashes),
    };
    let positions = positions
        .into_iter()
        .map(|p| u32::try_from(p).map_err(|_| invalid("more than 2^32 test cases")))
        .collect::<PyResult<Vec<u32>>>()?;

    if !func.is_callable() {
        return Err(invalid(format!(
            "fn must be callable, got {}",
            type_name(func)
        )));
    }
    let case_limit = match max_test_case_concurrency {
        Some(v) if !v.is_none() => positive_int("max_test_case_concurrency", v)?,
        _ => DEFAULT_CASE_CONCURRENCY as usize,
    };

    let evaluator_objs = sequence("evaluators", evaluators)?;
    let base_evaluator = hooks.base_test_evaluator.bind(py);
    let mut ids = vec![];
    let mut limits = vec![];
    let mut checked = vec![];
    let mut policies = vec![];
    for (i, ev) in evaluator_objs.iter().enumerate() {
        if !ev.is_instance(base_evaluator)? {
            return Err(invalid(format!(
                "evaluators[{i}] {} is a {}, not a BaseTestEvaluator subclass instance",
                label(ev),
                type_name(ev)
            )));
        }
        let name = type_name(ev);
        let id = ev
            .getattr(intern!(py, "id"))
            .map_err(|e| invalid(format!("evaluators[{i}] {name}: id: {e}")))?;
        let id = utf8(
            id.cast::<PyString>().map_err(|_| {
                invalid(format!(
                    "evaluators[{i}] {name}: id must be a str, got {}",
                    type_name(&id)
                ))
            })?,
            || format!("evaluators[{i}] {name}: id"),
        )?;
        let limit = ev.getattr(intern!(py, "max_concurrency"))?;
        let limit = positive_int(
            &format!("evaluators[{i}] {name} ({id:?}): max_concurrency"),
            &limit,
        )?;
        let method = ev.getattr(intern!(py, "evaluate_test_case"))?;
        let policy = match ev.getattr(intern!(py, "verdict")) {
            Ok(v) if !v.is_none() => Some(
                policy_of(&v)
                    .map_err(|e| invalid(format!("evaluators[{i}] {name} ({id:?}): {e}")))?,
            ),
            _ => None,
        };
        policies.push(policy);
        ids.push(id);
        limits.push(limit);
        checked.push((method, limit));
    }
    validate::evaluator_ids(&ids)?;

    let combinations = combinations(grid_search_params, hashes.len())?;
    let trials = trial_plan(repeats, verdict, policies, &ids)?;
    validate::trials(
        hashes.len().saturating_mul(combinations.len()),
        trials.repeats as usize,
    )?;
    // Only the cases this run keeps (a shard keeps a part) are serialized, once each.
    let mut slot = vec![usize::MAX; cases.len()];
    let mut kept = vec![];
    for &i in &origins {
        if slot[i] == usize::MAX {
            slot[i] = kept.len();
            kept.push(i);
        }
    }
    let kept_cases: Vec<Bound<'_, PyAny>> = kept.iter().map(|&i| cases[i].clone()).collect();
    let case_json = kept
        .iter()
        .zip(&kept_cases)
        .map(|(i, c)| {
            serialize_case(c, hooks).map(Arc::from).map_err(|e| {
                invalid(format!(
                    "test_cases[{i}] {}: serialize() raised {e}",
                    label(c)
                ))
            })
        })
        .collect::<PyResult<Vec<Arc<str>>>>()?;
    let labels = super::labels::case_labels(&kept_cases, &case_json);
    let labels = origins.iter().map(|&i| labels[slot[i]].clone()).collect();
    let case_json = origins
        .iter()
        .map(|&i| case_json[slot[i]].clone())
        .collect();
    let cases: Vec<Bound<'_, PyAny>> = origins.iter().map(|&i| cases[i].clone()).collect();

    let fn_callee = Callee::new(wrapped(func.clone(), 0, "fn".into())?, case_limit, "fn")?;
    let hook_callee = match before_evaluators_hook.filter(|h| !h.is_none()) {
        Some(hook) if hook.is_callable() => Some(Callee::new(hook.clone(), case_limit, "hook")?),
        Some(hook) => {
            return Err(invalid(format!(
                "before_evaluators_hook must be a callable (test_case, output), got {}",
                type_name(hook)
            )))
        }
        None => None,
    };
    let evaluators = ids
        .into_iter()
        .zip(checked)
        .enumerate()
        .map(|(i, (id, (method, limit)))| {
            let method = wrapped(method, 1 + i, format!("evaluator {id:?}"))?;
            let callee = Callee::new(method, limit, &format!("eval-{id}"))?;
            Ok(Evaluator {
                id: Arc::from(id),
                callee,
            })
        })
        .collect::<PyResult<Vec<_>>>()?;

    Ok(Plan {
        suite_id,
        cases: cases.into_iter().map(Bound::unbind).collect(),
        hashes: hashes.into_iter().map(Arc::from).collect(),
        case_json,
        labels,
        fn_callee,
        hook_callee,
        case_limit,
        evaluators,
        evaluator_limits: limits,
        combinations,
        trials,
        shard,
        positions,
    })
}

/// `repeats` and the verdict policies (the suite's and each evaluator's), checked against
/// each other: a policy no case could meet is refused before anything runs.
fn trial_plan(
    repeats: Option<&Bound<'_, PyAny>>,
    verdict: Option<&Bound<'_, PyAny>>,
    evaluators: Vec<Option<Policy>>,
    ids: &[String],
) -> PyResult<TrialPlan> {
    let repeats = match repeats {
        Some(v) if !v.is_none() => positive_int("repeats", v)?,
        _ => 1,
    };
    let repeats = u32::try_from(repeats).map_err(|_| {
        invalid(format!(
            "repeats must be at most {}, got {repeats}",
            u32::MAX
        ))
    })?;
    let suite = match verdict {
        Some(v) if !v.is_none() => policy_of(v).map_err(|e| invalid(format!("verdict: {e}")))?,
        _ => Policy::All,
    };
    suite
        .check(repeats)
        .map_err(|e| invalid(format!("verdict {e}")))?;
    for (id, policy) in ids.iter().zip(&evaluators) {
        if let Some(p) = policy {
            p.check(repeats)
                .map_err(|e| invalid(format!("evaluator {id:?}: verdict {e}")))?;
        }
    }
    Ok(TrialPlan {
        repeats,
        suite,
        evaluators,
    })
}

/// A verdict policy as trialrun.verdicts writes it: "all", "majority", "at_least(m)",
/// "confirm_failures(n)".
fn policy_of(v: &Bound<'_, PyAny>) -> Result<Policy, String> {
    let text = v.cast::<PyString>().map_err(|_| {
        format!(
            "verdict must be a policy from trialrun.verdicts (a str such as \"majority\"), got {} ({})",
            type_name(v),
            label(v)
        )
    })?;
    Policy::parse(&text.to_string_lossy())
}

/// How many times a case runs when its `test_case_config` (Autoblocks' TestCaseConfig) sets
/// `repeat_num_times`; None when it does not.
fn repeat_num_times(
    i: usize,
    case: &Bound<'_, PyAny>,
    classes_without: &mut HashSet<usize>,
) -> PyResult<Option<usize>> {
    let py = case.py();
    let Some(config) = test_case_config(case, classes_without) else {
        return Ok(None);
    };
    if config.is_none() {
        return Ok(None);
    }
    let Ok(n) = config.getattr(intern!(py, "repeat_num_times")) else {
        return Ok(None);
    };
    if n.is_none() {
        return Ok(None);
    }
    let whole = if n.is_instance_of::<PyBool>() {
        None
    } else {
        n.extract::<i64>().ok()
    };
    match whole {
        Some(n) if n >= 1 => Ok(Some(n as usize)),
        _ => Err(invalid(format!(
            "test_cases[{i}] {}: test_case_config.repeat_num_times must be a whole number >= 1, \
             got {}",
            label(case),
            n.repr()?
        ))),
    }
}

/// A case's `test_case_config`: looked up in the instance's __dict__ (dataclass fields),
/// else on its class, whose misses are remembered. A failed attribute lookup raises and
/// catches an exception, which for 100,000 plain cases was a third of the plan's time.
fn test_case_config<'py>(
    case: &Bound<'py, PyAny>,
    classes_without: &mut HashSet<usize>,
) -> Option<Bound<'py, PyAny>> {
    let py = case.py();
    let name = intern!(py, "test_case_config");
    if let Ok(dict) = case.getattr(intern!(py, "__dict__")) {
        if let Ok(dict) = dict.cast_into::<PyDict>() {
            if let Ok(Some(config)) = dict.get_item(name) {
                return Some(config);
            }
        }
    }
    let class = case.get_type();
    let key = class.as_ptr() as usize;
    if classes_without.contains(&key) {
        return None;
    }
    match case.getattr(name) {
        Ok(config) => Some(config),
        Err(_) => {
            classes_without.insert(key);
            None
        }
    }
}

/// A list or tuple (or other iterable that is not a str/dict), as a Vec.
fn sequence<'py>(what: &str, obj: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyDict>() {
        return Err(invalid(format!(
            "{what} must be a list, got {}",
            type_name(obj)
        )));
    }
    if let Ok(list) = obj.cast::<PyList>() {
        return Ok(list.iter().collect());
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        return Ok(tuple.iter().collect());
    }
    let iter = obj
        .try_iter()
        .map_err(|_| invalid(format!("{what} must be a list, got {}", type_name(obj))))?;
    iter.collect()
}

fn positive_int(what: &str, v: &Bound<'_, PyAny>) -> PyResult<usize> {
    if v.is_instance_of::<PyBool>() || !v.is_instance_of::<PyInt>() {
        return Err(invalid(format!(
            "{what} must be a positive int, got {} ({})",
            type_name(v),
            label(v)
        )));
    }
    let n: i64 = v.extract().unwrap_or(i64::MAX);
    Ok(validate::concurrency(what, n)?)
}

/// A str as Rust text. One holding a lone surrogate has no UTF-8 form: the store would
/// keep U+FFFD instead, making different values equal, so it is refused naming `what`.
fn utf8(s: &Bound<'_, PyString>, what: impl FnOnce() -> String) -> PyResult<String> {
    s.to_str().map(str::to_owned).map_err(|_| {
        invalid(format!(
            "{} is {}, which is not valid Unicode text (it holds a lone surrogate) and cannot \
             be stored",
            what(),
            s.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    })
}

/// The grid's combinations, once their count (and `cases` x it) is checked.
fn combinations(params: Option<&Bound<'_, PyAny>>, cases: usize) -> PyResult<Vec<Combination>> {
    let Some(params) = params.filter(|p| !p.is_none()) else {
        return Ok(vec![Combination {
            grid: None,
            grid_json: None,
        }]);
    };
    let py = params.py();
    let dict = params.cast::<PyDict>().map_err(|_| {
        invalid(format!(
            "grid_search_params must be a dict of str to sequences, got {}",
            type_name(params)
        ))
    })?;
    let mut names = vec![];
    let mut values: Vec<Vec<Bound<'_, PyAny>>> = vec![];
    for (k, v) in dict.iter() {
        let name = k
            .cast::<PyString>()
            .map_err(|_| {
                invalid(format!(
                    "grid_search_params keys must be str, got {} ({})",
                    type_name(&k),
                    label(&k)
                ))
            })?
            .to_string();
        if v.is_instance_of::<PyString>() || v.is_instance_of::<PyDict>() || v.try_iter().is_err() {
            return Err(invalid(format!(
                "grid_search_params[{name:?}] must be a sequence of values (a list or tuple), got {} ({})",
                type_name(&v),
                label(&v)
            )));
        }
        values.push(sequence(&format!("grid_search_params[{name:?}]"), &v)?);
        names.push(name);
    }
    let sizes: Vec<(String, usize)> = names
        .iter()
        .cloned()
        .zip(values.iter().map(Vec::len))
        .collect();
    let count = validate::grid(&sizes)?;
    validate::items(cases, count)?;
    let counts: Vec<usize> = values.iter().map(Vec::len).collect();
    grid::combinations(&counts)
        .into_iter()
        .map(|combo| {
            let d = PyDict::new(py);
            for (p, &i) in combo.iter().enumerate() {
                d.set_item(&names[p], &values[p][i])?;
            }
            let json = to_json(d.as_any());
            Ok(Combination {
                grid: Some(d.unbind()),
                grid_json: Some(json),
            })
        })
        .collect()
}

/// JSON of test_case.serialize(); the default (dataclass fields) is read directly,
/// without calling into Python per case.
pub(crate) fn serialize_case(case: &Bound<'_, PyAny>, hooks: &Hooks) -> PyResult<String> {
    let py = case.py();
    let method = case.get_type().getattr(intern!(py, "serialize"))?;
    if method.is(hooks.default_serialize.bind(py)) {
        if let Some(fields) = dataclass_fields(case) {
            // As Autoblocks stores a dataclass case: every field but its test_case_config,
            // leaving out fields with no JSON form (rather than storing their repr).
            return Ok(case_fields_json(fields.into_iter(), "test_case_config"));
        }
    }
    let value = case.call_method0(intern!(py, "serialize"))?;
    Ok(to_json(&value))
}
