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
/// models by their fields, anything else as its repr in a string. Never fails.
pub fn to_json(obj: &Bound<'_, PyAny>) -> String {
    let mut out = String::new();
    write_json(obj, &mut out, 0);
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

fn write_json(obj: &Bound<'_, PyAny>, out: &mut String, depth: usize) {
    let py = obj.py();
    if depth > MAX_DEPTH {
        return write_repr(obj, out);
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
        write_seq(list.iter(), out, depth);
    } else if let Ok(tuple) = obj.cast::<PyTuple>() {
        write_seq(tuple.iter(), out, depth);
    } else if let Ok(dict) = obj.cast::<PyDict>() {
        write_map(dict.iter(), out, depth);
    } else if let Some(fields) = dataclass_fields(obj) {
        write_map(fields.into_iter(), out, depth);
    } else if let Ok(dumped) = obj.call_method1(intern!(py, "model_dump"), ()) {
        // pydantic v2 models
        write_json(&dumped, out, depth + 1);
    } else {
        write_repr(obj, out);
    }
}

fn write_seq<'py>(items: impl Iterator<Item = Bound<'py, PyAny>>, out: &mut String, depth: usize) {
    out.push('[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json(&item, out, depth + 1);
    }
    out.push(']');
}

fn write_map<'py>(
    items: impl Iterator<Item = (Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    out: &mut String,
    depth: usize,
) {
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
        write_json(&v, out, depth + 1);
    }
    out.push('}');
}

fn write_repr(obj: &Bound<'_, PyAny>, out: &mut String) {
    let text = obj
        .repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "<unrepresentable>".into());
    write_str(&text, out);
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
