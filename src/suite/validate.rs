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
/// Most grid combinations one suite may have: each is a run of its own in the store.
pub const MAX_GRID_COMBINATIONS: usize = 10_000;
/// Most (case x grid combination) items one suite may hold: each is kept in memory until the
/// suite ends (a few hundred bytes each, before outputs).
pub const MAX_ITEMS: usize = 5_000_000;

/// How many combinations the grid makes; refused when a parameter has no value or the
/// product passes `MAX_GRID_COMBINATIONS` (counted without overflow, before any is built).
pub fn grid(params: &[(String, usize)]) -> Result<usize, SpecError> {
    let mut total: usize = 1;
    for (name, n) in params {
        if *n == 0 {
            return err(format!(
                "grid_search_params[{name:?}] is empty: give at least one value"
            ));
        }
        total = match total.checked_mul(*n) {
            Some(t) if t <= MAX_GRID_COMBINATIONS => t,
            _ => {
                let sizes: Vec<String> = params.iter().map(|(k, n)| format!("{k}: {n}")).collect();
                return err(format!(
                    "grid_search_params makes more than {MAX_GRID_COMBINATIONS} combinations \
                     ({}), each a run of its own: split the grid into several suites",
                    sizes.join(", ")
                ));
            }
        };
    }
    Ok(total)
}

/// Refuses a suite of more than `MAX_ITEMS` (case x combination) items.
pub fn items(cases: usize, combinations: usize) -> Result<(), SpecError> {
    match cases.checked_mul(combinations) {
        Some(n) if n <= MAX_ITEMS => Ok(()),
        _ => err(format!(
            "the suite has {cases} test cases (repeats included) x {combinations} grid \
             combinations, more than the {MAX_ITEMS} one suite may run: split it into several suites"
        )),
    }
}

/// Cases x grid combinations, each run `repeats` times, within what one suite may run.
pub fn trials(items: usize, repeats: usize) -> Result<(), SpecError> {
    match items.checked_mul(repeats) {
        Some(n) if n <= MAX_ITEMS => Ok(()),
        _ => err(format!(
            "repeats={repeats} makes {items} cases (x grid combinations) run {} trials, more \
             than the {MAX_ITEMS} one suite may run: lower repeats or split the suite",
            items.saturating_mul(repeats)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_too_big_is_refused_without_overflow() {
        let huge: Vec<(String, usize)> = "abcde".chars().map(|k| (k.to_string(), 100)).collect();
        let e = grid(&huge).unwrap_err().0;
        assert!(e.contains("more than 10000 combinations"), "{e}");
        assert!(e.contains("a: 100, b: 100"), "{e}");
        let overflow = vec![("a".to_string(), usize::MAX), ("b".to_string(), 2)];
        assert!(grid(&overflow).is_err());
        assert_eq!(grid(&[("a".into(), 100), ("b".into(), 100)]), Ok(10_000));
    }

    #[test]
    fn too_many_items_are_refused() {
        assert!(items(500, 10_000).is_ok());
        let e = items(5_000_001, 1).unwrap_err().0;
        assert!(e.contains("5000001 test cases"), "{e}");
        assert!(items(usize::MAX, 2).is_err());
    }

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
