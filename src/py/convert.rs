//! Python values to the JSON text the run store keeps, tracebacks to text, and short
//! labels that name a Python object in error messages.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

/// Outputs larger than this are stored cut short, with a note saying so.
pub const MAX_STORED_JSON: usize = 256 * 1024;
const MAX_DEPTH: usize = 32;

/// JSON text for any Python value: JSON types as themselves, dataclasses and pydantic
/// models by their fields, datetimes, dates and times as ISO 8601, UUIDs as their text,
/// enum members as their values, exceptions as their traceback, anything else as its repr
/// in a string. Never fails.
pub fn to_json(obj: &Bound<'_, PyAny>) -> String {
    let mut out = String::new();
    write_json(obj, &mut out, 0, false);
    cut_to_size(out)
}

/// A dataclass test case as Autoblocks stores it: its fields as an object, without the
/// field `skip` (its test_case_config) and without fields that have no JSON form.
pub fn case_fields_json<'py>(
    fields: impl Iterator<Item = (Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    skip: &str,
) -> String {
    let mut out = String::from("{");
    for (name, value) in fields {
        let Ok(name) = name.cast::<PyString>() else {
            continue;
        };
        let name = name.to_string_lossy();
        if name == skip {
            continue;
        }
        let mark = out.len();
        if mark > 1 {
            out.push(',');
        }
        write_str(&name, &mut out);
        out.push(':');
        if !write_json(&value, &mut out, 1, true) {
            out.truncate(mark);
        }
    }
    out.push('}');
    cut_to_size(out)
}

/// What an output is stored as: what its own `serialize()` returns when it has one (as
/// Autoblocks stores outputs), else the output itself. Err when that `serialize()` raised:
/// the SDK then fails the case, and so does the driver.
pub fn stored_output<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = obj.py();
    // Most outputs are plain data, which has no serialize(): asking would raise (and catch)
    // an AttributeError per output, a quarter of the engine's time on trivial suites.
    let plain = obj.is_none()
        || obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyInt>()
        || obj.is_instance_of::<PyFloat>()
        || obj.is_instance_of::<PyDict>()
        || obj.is_instance_of::<PyList>()
        || obj.is_instance_of::<PyTuple>();
    if !plain && !obj.is_instance_of::<PyType>() {
        if let Ok(method) = obj.getattr(intern!(py, "serialize")) {
            if method.is_callable() {
                return method.call0();
            }
        }
    }
    Ok(obj.clone())
}

fn cut_to_size(mut out: String) -> String {
    if out.len() > MAX_STORED_JSON {
        let total = out.len();
        let mut cut = MAX_STORED_JSON;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        let note = format!("{out}… [cut: {total} bytes of JSON, {MAX_STORED_JSON} kept]");
        return serde_json::Value::String(note).to_string();
    }
    out
}

fn write_str(s: &str, out: &mut String) {
    out.push_str(&serde_json::Value::String(s.to_owned()).to_string());
}

/// Writes `obj`'s JSON; false when `strict` and something had no JSON form.
fn write_json(obj: &Bound<'_, PyAny>, out: &mut String, depth: usize, strict: bool) -> bool {
    if depth > MAX_DEPTH {
        return write_repr(obj, out, strict);
    }
    if obj.is_none() {
        out.push_str("null");
    } else if let Ok(b) = obj.cast::<PyBool>() {
        out.push_str(if b.is_true() { "true" } else { "false" });
    } else if obj.is_instance_of::<PyInt>() {
        match obj.extract::<i64>() {
            Ok(i) => out.push_str(&i.to_string()),
            Err(_) => out.push_str(
                &obj.str()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|_| "null".into()),
            ),
        }
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        if v.is_finite() {
            out.push_str(&serde_json::Value::from(v).to_string());
        } else {
            write_str(&v.to_string(), out);
        }
    } else if let Ok(s) = obj.cast::<PyString>() {
        write_str(&s.to_string_lossy(), out);
    } else if let Ok(list) = obj.cast::<PyList>() {
        return write_seq(list.iter(), out, depth, strict);
    } else if let Ok(tuple) = obj.cast::<PyTuple>() {
        return write_seq(tuple.iter(), out, depth, strict);
    } else if let Ok(dict) = obj.cast::<PyDict>() {
        return write_map(dict.iter(), out, depth, strict);
    } else if let Some(fields) = dataclass_fields(obj) {
        return write_map(fields.into_iter(), out, depth, strict);
    } else if let Some(text) = known_text(obj) {
        write_str(&text, out);
    } else if let Some(value) = enum_value(obj) {
        return write_json(&value, out, depth + 1, strict);
    } else if let Some(dumped) = pydantic_json(obj) {
        return write_json(&dumped, out, depth + 1, strict);
    } else {
        return write_repr(obj, out, strict);
    }
    true
}

/// The text of values JSON carries as strings: datetimes, dates and times (ISO 8601), UUIDs,
/// and exceptions (their traceback).
fn known_text(obj: &Bound<'_, PyAny>) -> Option<String> {
    static TYPES: PyOnceLock<Py<PyTuple>> = PyOnceLock::new();
    let py = obj.py();
    let types = TYPES
        .get_or_try_init(py, || -> PyResult<_> {
            let datetime = py.import("datetime")?;
            let kinds = [
                datetime.getattr("date")?,
                datetime.getattr("time")?,
                py.import("uuid")?.getattr("UUID")?,
            ];
            Ok(PyTuple::new(py, kinds)?.unbind())
        })
        .ok()?
        .bind(py);
    if obj.is_instance(types.get_item(2).ok()?.as_any()).ok()? {
        return obj.str().ok().map(|s| s.to_string());
    }
    if obj.is_instance(types.as_any()).ok()? {
        return obj
            .call_method0(intern!(py, "isoformat"))
            .ok()?
            .extract()
            .ok();
    }
    if obj.is_instance_of::<pyo3::exceptions::PyBaseException>() {
        let err = PyErr::from_value(obj.clone());
        return Some(format_pyerr(py, &err));
    }
    None
}

/// A pydantic v2 model as its JSON-mode dump (what `model_dump_json` writes, as Autoblocks
/// stores models): its serializers applied, Decimals, timedeltas and the like as pydantic
/// writes them. Anything else with a `model_dump` is dumped as it can be.
fn pydantic_json<'py>(obj: &Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
    let py = obj.py();
    let dump = obj.getattr(intern!(py, "model_dump")).ok()?;
    let kwargs = PyDict::new(py);
    kwargs
        .set_item(intern!(py, "mode"), intern!(py, "json"))
        .ok()?;
    dump.call((), Some(&kwargs)).or_else(|_| dump.call0()).ok()
}

/// An enum member's value.
fn enum_value<'py>(obj: &Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
    static ENUM: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = obj.py();
    let base = ENUM.import(py, "enum", "Enum").ok()?;
    if obj.is_instance(base).ok()? {
        return obj.getattr(intern!(py, "value")).ok();
    }
    None
}

fn write_seq<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    out: &mut String,
    depth: usize,
    strict: bool,
) -> bool {
    out.push('[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if !write_json(&item, out, depth + 1, strict) {
            return false;
        }
    }
    out.push(']');
    true
}

fn write_map<'py>(
    items: impl Iterator<Item = (Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    out: &mut String,
    depth: usize,
    strict: bool,
) -> bool {
    out.push('{');
    for (i, (k, v)) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let key = match k.cast::<PyString>() {
            Ok(s) => s.to_string_lossy().into_owned(),
            Err(_) => k.str().map(|s| s.to_string()).unwrap_or_default(),
        };
        write_str(&key, out);
        out.push(':');
        if !write_json(&v, out, depth + 1, strict) {
            return false;
        }
    }
    out.push('}');
    true
}

/// The repr as a JSON string; refused (false) when strict.
fn write_repr(obj: &Bound<'_, PyAny>, out: &mut String, strict: bool) -> bool {
    if strict {
        return false;
    }
    let text = obj
        .repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "<unrepresentable>".into());
    write_str(&text, out);
    true
}

/// (name, value) pairs of a dataclass instance, in field order; None for other objects.
pub fn dataclass_fields<'py>(
    obj: &Bound<'py, PyAny>,
) -> Option<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    let py = obj.py();
    if obj.is_instance_of::<PyType>() {
        return None;
    }
    let fields = obj.getattr(intern!(py, "__dataclass_fields__")).ok()?;
    let fields = fields.cast::<PyDict>().ok()?;
    let mut pairs = Vec::with_capacity(fields.len());
    for (name, _) in fields.iter() {
        let value = obj.getattr(name.cast::<PyString>().ok()?).ok()?;
        pairs.push((name, value));
    }
    Some(pairs)
}

/// Traceback text of a raised PyErr. Its traceback is kept beside the exception value
/// (on 3.11 the value's __traceback__ is not set), so it is passed explicitly.
pub fn format_pyerr(py: Python<'_>, err: &PyErr) -> String {
    let tb = err
        .traceback(py)
        .map(|t| t.into_any())
        .unwrap_or_else(|| py.None().into_bound(py));
    format_parts(&err.get_type(py).into_any(), err.value(py).as_any(), &tb)
}

fn format_parts(ty: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, tb: &Bound<'_, PyAny>) -> String {
    static FORMAT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = value.py();
    let formatted = FORMAT
        .import(py, "traceback", "format_exception")
        .and_then(|f| f.call1((ty, value, tb)))
        .and_then(|lines| lines.extract::<Vec<String>>());
    match formatted {
        Ok(lines) => lines.concat().trim_end().to_string(),
        Err(_) => value
            .str()
            .map(|s| s.to_string())
            .unwrap_or_else(|_| "<exception>".into()),
    }
}

/// A short label for an object in an error message: its repr, cut to 80 characters.
pub fn label(obj: &Bound<'_, PyAny>) -> String {
    let text = obj
        .repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "<unrepresentable>".into());
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// Python value of JSON text.
pub(crate) fn json_loads(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    Ok(LOADS.import(py, "json", "loads")?.call1((text,))?.unbind())
}

/// Python value of a Serialize-able value, through its JSON.
pub(crate) fn to_python<T: serde::Serialize>(py: Python<'_>, value: &T) -> PyResult<Py<PyAny>> {
    let text = serde_json::to_string(value)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    json_loads(py, &text)
}

/// A duration from seconds given in Python; `what` names the argument in the error.
pub(crate) fn secs(value: f64, what: &str) -> PyResult<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(value).map_err(|_| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "{what} must be a non-negative number of seconds, not {value}"
        ))
    })
}

/// Samples as 16-bit little-endian PCM bytes for Python.
pub(crate) fn pcm_bytes<'py>(py: Python<'py>, samples: &[i16]) -> Bound<'py, pyo3::types::PyBytes> {
    pyo3::types::PyBytes::new(py, &crate::audio::pcm::to_bytes(samples))
}

/// 16-bit little-endian PCM bytes from Python as samples (ValueError for an odd length).
pub(crate) fn pcm_samples(bytes: &[u8]) -> PyResult<Vec<i16>> {
    Ok(crate::audio::pcm::from_bytes(bytes)?)
}
