//! The local human review queue for Python: storing a run's review job and the fields a
//! reviewer sees of each case, and grading a case (the CLI's `trialrun review`).

use std::path::PathBuf;

use pyo3::prelude::*;

use super::convert::{to_json, to_python};
use crate::history;
use crate::store::{self, CaseFields, Grade, ReviewJob};

/// Adds a review job (name, assignees, rubric id) to run `run_id`, if one is given, and
/// stores each case's review fields: (case hash, input fields, output fields), the fields
/// being lists of {name, value, contentType} dicts or None.
#[pyfunction]
#[pyo3(signature = (run_id, job, items, store_path=None))]
fn save_review(
    py: Python<'_>,
    run_id: String,
    job: Option<(String, Vec<String>, Option<String>)>,
    items: Vec<(String, Bound<'_, PyAny>, Bound<'_, PyAny>)>,
    store_path: Option<PathBuf>,
) -> PyResult<()> {
    let json = |v: &Bound<'_, PyAny>| (!v.is_none()).then(|| to_json(v));
    let fields: Vec<CaseFields> = items
        .iter()
        .map(|(hash, input, output)| CaseFields {
            case_hash: hash.clone(),
            input_fields: json(input),
            output_fields: json(output),
        })
        .collect();
    let job = job.map(|(name, assignees, rubric_id)| ReviewJob {
        name,
        assignees,
        rubric_id,
        created_at: store::now_unix(),
    });
    let path = store_path.unwrap_or_else(store::default_path);
    py.detach(|| {
        let mut conn = store::open(&path)?;
        store::save_review(&mut conn, &run_id, job.as_ref(), &fields)?;
        Ok(())
    })
}

/// Saves a reviewer's grade of case `case_hash` in run `run` (an id, a unique prefix of
/// one, or "latest"): "pass" or "fail", a score from 0 to 1, a note. Returns the run's
/// review queue as a dict. ValueError for a bad grade, LookupError for an unknown run or
/// case.
#[pyfunction]
#[pyo3(signature = (run, case_hash, grade, score=None, note=None, store_path=None))]
fn grade_case(
    py: Python<'_>,
    run: String,
    case_hash: String,
    grade: String,
    score: Option<f64>,
    note: Option<String>,
    store_path: Option<PathBuf>,
) -> PyResult<Py<PyAny>> {
    let grade = Grade::new(&grade, score, note.as_deref())?;
    let path = store_path.unwrap_or_else(store::default_path);
    let review = py.detach(|| -> PyResult<_> {
        if !path.exists() {
            return Err(super::errors::StoreError::new_err(format!(
                "{}: no run store here yet (run a suite first)",
                path.display()
            )));
        }
        let conn = store::open(&path)?;
        let found = history::resolve(&conn, &run, None)?;
        store::grade_case(&conn, &found.run.id, &case_hash, &grade, store::now_unix())?;
        Ok(store::run_review(&conn, &found.run.id)?)
    })?;
    to_python(py, &review)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(save_review, m)?)?;
    m.add_function(wrap_pyfunction!(grade_case, m)?)?;
    Ok(())
}
