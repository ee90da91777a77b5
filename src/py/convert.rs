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
/// in a string. A container met again inside itself is written as a `"<cycle: type>"`
/// marker, and writing stops once the text reaches `MAX_STORED_JSON` (so neither a
/// self-referential value nor a shared one that repeats exponentially costs more than
/// that much work). Never fails.
pub fn to_json(obj: &Bound<'_, PyAny>) -> String {
    let mut w = JsonWriter::new(false);
    w.value(obj, 0);
    w.finish()
}

/// A dataclass test case as Autoblocks stores it: its fields as an object, without the
/// field `skip` (its test_case_config) and without fields that have no JSON form.
pub fn case_fields_json<'py>(
    fields: impl Iterator<Item = (Bound<'py, PyAny>, Bound<'py, PyAny>)>,
    skip: &str,
) -> String {
    let mut w = JsonWriter::new(true);
    w.out.push('{');
    for (name, value) in fields {
        let Ok(name) = name.cast::<PyString>() else {
            continue;
        };
        let name = name.to_string_lossy();
        if name == skip {
            continue;
        }
        let mark = w.out.len();
        if mark > 1 {
            w.out.push(',');
        }
        w.string(&name);
        w.out.push(':');
        if !w.value(&value, 1) {
            w.out.truncate(mark);
        }
    }
    w.out.push('}');
    w.finish()
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

/// Writes one value's JSON into `out`, within the size budget.
struct JsonWriter {
    out: String,
    /// Refuse (return false) what has no JSON form, instead of writing its repr.
    strict: bool,
    /// The containers being written, outermost first (by address): one met again is a cycle.
    open: Vec<usize>,
    /// The budget ran out: nothing more is written, and `finish` says the text was cut.
    full: bool,
}

impl JsonWriter {
    fn new(strict: bool) -> JsonWriter {
        JsonWriter {
            out: String::new(),
            strict,
            open: Vec::new(),
            full: false,
        }
    }

    /// The text; cut short (a JSON string with a note) when the budget ran out.
    fn finish(self) -> String {
        if !self.full && self.out.len() <= MAX_STORED_JSON {
            return self.out;
        }
        let mut out = self.out;
        let mut cut = out.len().min(MAX_STORED_JSON);
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        let note = format!("{out}… [cut: more than {MAX_STORED_JSON} bytes of JSON]");
        serde_json::Value::String(note).to_string()
    }

    /// Whether the budget is spent (then writing stops).
    fn spent(&mut self) -> bool {
        if self.out.len() > MAX_STORED_JSON {
            self.full = true;
        }
        self.full
    }

    /// A JSON string of (at most the budget's worth of) `s`.
    fn string(&mut self, s: &str) {
        let room = (MAX_STORED_JSON + 1).saturating_sub(self.out.len());
        let s = if s.len() > room {
            self.full = true;
            let mut cut = room;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            &s[..cut]
        } else {
            s
        };
        self.out
            .push_str(&serde_json::Value::String(s.to_owned()).to_string());
    }

    /// Writes `obj`; false when strict and something had no JSON form.
    fn value(&mut self, obj: &Bound<'_, PyAny>, depth: usize) -> bool {
        if self.spent() {
            return true;
        }
        if depth > MAX_DEPTH {
            return self.repr(obj);
        }
        if obj.is_none() {
            self.out.push_str("null");
        } else if let Ok(b) = obj.cast::<PyBool>() {
            self.out
                .push_str(if b.is_true() { "true" } else { "false" });
        } else if obj.is_instance_of::<PyInt>() {
            match obj.extract::<i64>() {
                Ok(i) => self.out.push_str(&i.to_string()),
                Err(_) => match obj.str() {
                    Ok(text) => self.out.push_str(&text.to_string()),
                    Err(_) => self.out.push_str("null"),
                },
            }
        } else if let Ok(f) = obj.cast::<PyFloat>() {
            let v = f.value();
            if v.is_finite() {
                self.out.push_str(&serde_json::Value::from(v).to_string());
            } else {
                self.string(&v.to_string());
            }
        } else if let Ok(s) = obj.cast::<PyString>() {
            self.string(&s.to_string_lossy());
        } else if obj.is_instance_of::<PyList>()
            || obj.is_instance_of::<PyDict>()
            || obj.is_instance_of::<PyTuple>()
        {
            return self.container(obj, depth);
        } else if let Some(text) = known_text(obj) {
            self.string(&text);
        } else {
            return self.container(obj, depth);
        }
        true
    }

    /// Lists, tuples, dicts, dataclasses, enum members, pydantic models, else the repr;
    /// each entered once per path.
    fn container(&mut self, obj: &Bound<'_, PyAny>, depth: usize) -> bool {
        let address = obj.as_ptr() as usize;
        if self.open.contains(&address) {
            if self.strict {
                return false;
            }
            let name = obj
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            self.string(&format!("<cycle: {name}>"));
            return true;
        }
        self.open.push(address);
        let written = if let Ok(list) = obj.cast::<PyList>() {
            self.seq(list.iter(), depth)
        } else if let Ok(tuple) = obj.cast::<PyTuple>() {
            self.seq(tuple.iter(), depth)
        } else if let Ok(dict) = obj.cast::<PyDict>() {
            self.map(dict.iter(), depth)
        } else if let Some(fields) = dataclass_fields(obj) {
            self.map(fields.into_iter(), depth)
        } else if let Some(value) = enum_value(obj) {
            self.value(&value, depth + 1)
        } else if let Some(dumped) = pydantic_json(obj) {
            self.value(&dumped, depth + 1)
        } else {
            self.repr(obj)
        };
        self.open.pop();
        written
    }

    fn seq<'py>(&mut self, items: impl Iterator<Item = Bound<'py, PyAny>>, depth: usize) -> bool {
        self.out.push('[');
        for (i, item) in items.enumerate() {
            if self.spent() {
                return true;
            }
            if i > 0 {
                self.out.push(',');
            }
            if !self.value(&item, depth + 1) {
                return false;
            }
        }
        self.out.push(']');
        true
    }

    fn map<'py>(
        &mut self,
        items: impl Iterator<Item = (Bound<'py, PyAny>, Bound<'py, PyAny>)>,
        depth: usize,
    ) -> bool {
        self.out.push('{');
        for (i, (k, v)) in items.enumerate() {
            if self.spent() {
                return true;
            }
            if i > 0 {
                self.out.push(',');
            }
            let key = match k.cast::<PyString>() {
                Ok(s) => s.to_string_lossy().into_owned(),
                Err(_) => k.str().map(|s| s.to_string()).unwrap_or_default(),
            };
            self.string(&key);
            self.out.push(':');
            if !self.value(&v, depth + 1) {
                return false;
            }
        }
        self.out.push('}');
        true
    }

    /// The repr as a JSON string; refused (false) when strict.
    fn repr(&mut self, obj: &Bound<'_, PyAny>) -> bool {
        if self.strict {
            return false;
        }
        let text = obj
            .repr()
            .map(|r| r.to_string())
            .unwrap_or_else(|_| "<unrepresentable>".into());
        self.string(&text);
        true
    }
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
