//! Checks a suite's shape before any fn call, with errors that name the culprit.
//! Callers pass `label(i)` to describe the i-th test case (py/ uses its repr).

use std::collections::HashMap;
use std::fmt;

/// Hashes identify a case across runs; Autoblocks caps them at 100 characters.
pub const MAX_HASH_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct SpecError(pub String);

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpecError {}

fn err<T>(msg: String) -> Result<T, SpecError> {
    Err(SpecError(msg))
}

pub fn suite_id(id: &str) -> Result<(), SpecError> {
    if id.trim().is_empty() {
        return err("suite id must be a non-empty string".into());
    }
    Ok(())
}

/// One hash: non-empty, at most MAX_HASH_CHARS characters.
pub fn hash(index: usize, hash: &str, label: &dyn Fn(usize) -> String) -> Result<(), SpecError> {
    if hash.is_empty() {
        return err(format!(
            "test_cases[{index}] {}: hash() returned an empty string",
            label(index)
        ));
    }
    let chars = hash.chars().count();
    if chars > MAX_HASH_CHARS {
        return err(format!(
            "test_cases[{index}] {}: hash() returned {chars} characters, at most {MAX_HASH_CHARS} are allowed",
            label(index)
        ));
    }
    Ok(())
}

/// All hashes of a suite: at least one case, each valid, none repeated.
pub fn hashes(hashes: &[String], label: &dyn Fn(usize) -> String) -> Result<(), SpecError> {
    if hashes.is_empty() {
        return err("test_cases is empty: a suite needs at least one test case".into());
    }
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(hashes.len());
    for (i, h) in hashes.iter().enumerate() {
        hash(i, h, label)?;
        if let Some(first) = seen.insert(h, i) {
            return err(format!(
                "duplicate test case hash {h:?}: test_cases[{first}] {} and test_cases[{i}] {} \
                 (hashes must be unique within a suite)",
                label(first),
                label(i)
            ));
        }
    }
    Ok(())
}

pub fn evaluator_ids(ids: &[String]) -> Result<(), SpecError> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, id) in ids.iter().enumerate() {
        if id.is_empty() {
            return err(format!("evaluators[{i}]: id must be a non-empty string"));
        }
        if let Some(first) = seen.insert(id, i) {
            return err(format!(
                "duplicate evaluator id {id:?}: evaluators[{first}] and evaluators[{i}]"
            ));
        }
    }
    Ok(())
}

/// A concurrency limit: a positive whole number.
pub fn concurrency(what: &str, value: i64) -> Result<usize, SpecError> {
    if value < 1 {
        return err(format!("{what} must be a positive int, got {value}"));
    }
    Ok(value as usize)
}

/// Grid parameters: each name with at least one value.
pub fn grid(params: &[(String, usize)]) -> Result<(), SpecError> {
    for (name, n) in params {
        if *n == 0 {
            return err(format!(
                "grid_search_params[{name:?}] is empty: give at least one value"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(i: usize) -> String {
        format!("Case({i})")
    }

    #[test]
    fn duplicate_hashes_name_both_cases() {
        let hs = vec!["a".to_string(), "b".to_string(), "a".to_string()];
        let e = hashes(&hs, &label).unwrap_err().0;
        assert!(e.contains("test_cases[0] Case(0)"), "{e}");
        assert!(e.contains("test_cases[2] Case(2)"), "{e}");
    }

    #[test]
    fn hash_length_is_capped() {
        assert!(hashes(&["x".repeat(100)], &label).is_ok());
        let e = hashes(&["x".repeat(101)], &label).unwrap_err().0;
        assert!(e.contains("101 characters"), "{e}");
        assert!(hashes(&[String::new()], &label)
            .unwrap_err()
            .0
            .contains("empty"));
    }

    #[test]
    fn empty_suite_is_refused() {
        assert!(hashes(&[], &label).unwrap_err().0.contains("empty"));
    }

    #[test]
    fn evaluator_ids_unique() {
        let e = evaluator_ids(&["x".into(), "y".into(), "x".into()])
            .unwrap_err()
            .0;
        assert!(
            e.contains("evaluators[0]") && e.contains("evaluators[2]"),
            "{e}"
        );
    }

    #[test]
    fn concurrency_positive() {
        assert_eq!(concurrency("max_concurrency", 3), Ok(3));
        assert!(concurrency("max_concurrency", 0).is_err());
    }

    #[test]
    fn grid_values_nonempty() {
        assert!(grid(&[("model".into(), 2)]).is_ok());
        assert!(grid(&[("model".into(), 0)])
            .unwrap_err()
            .0
            .contains("\"model\""));
    }
}
