//! Each case's readable label (`store::label`): what the case object gives as `label` or
//! `name` (an attribute, property or method of its class), else what its serialized
//! fields hold.

use crate::store::label::{clean_label, label_from_json};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};
use std::collections::HashMap;
use std::sync::Arc;

/// The labels of `cases`, whose serialized JSON is `case_json` (same order).
pub fn case_labels(cases: &[Bound<'_, PyAny>], case_json: &[Arc<str>]) -> Vec<Option<Arc<str>>> {
    // Which of label/name each class defines, looked up once per class: most cases have
    // neither, and a failed attribute lookup per case would cost an exception each.
    let mut by_class: HashMap<usize, Option<Bound<'_, PyString>>> = HashMap::new();
    cases
        .iter()
        .zip(case_json)
        .map(|(case, json)| {
            let class = case.get_type();
            let attr = by_class
                .entry(class.as_ptr() as usize)
                .or_insert_with(|| attribute_of(&class))
                .clone();
            attr.and_then(|name| given(case, &name))
                .or_else(|| label_from_json(json))
                .map(Arc::from)
        })
        .collect()
}

fn attribute_of<'py>(class: &Bound<'py, PyType>) -> Option<Bound<'py, PyString>> {
    let py = class.py();
    [intern!(py, "label"), intern!(py, "name")]
        .into_iter()
        .find(|name| class.hasattr(*name).unwrap_or(false))
        .cloned()
}

/// The case's own label: the attribute's text, or what the method returns (anything
/// that is not text, or raises, gives none).
fn given(case: &Bound<'_, PyAny>, name: &Bound<'_, PyString>) -> Option<String> {
    let mut value = case.getattr(name).ok()?;
    if value.is_callable() {
        value = value.call0().ok()?;
    }
    clean_label(value.cast::<PyString>().ok()?.to_str().ok()?)
}
