//! Worker environments, in layers (each overriding the one before): this process's
//! environment, the project's .env, tests/.env, the worker's env from workers.json, then
//! what trialrun sets (PORT, DATABASE_PATH, MONGO_URI when the run provides one).

use super::error::{Result, StepsError};
use std::collections::BTreeMap;
use std::path::Path;

/// The longest `KEY=value` string the kernel passes to a program (Linux's MAX_ARG_STRLEN,
/// 32 pages); a longer one makes starting every worker fail with "Argument list too long".
pub const MAX_ENV_ENTRY: usize = 32 * 4096 - 1;

/// Variables of a .env file (none when it does not exist). A malformed line, a variable
/// no program can receive (a NUL byte, longer than [`MAX_ENV_ENTRY`]) or a file that is
/// not UTF-8 names the file and line.
pub fn read_dotenv(path: &Path) -> Result<BTreeMap<String, String>> {
    if !path.is_file() {
        return Ok(BTreeMap::new());
    }
    let bytes = std::fs::read(path).map_err(|e| StepsError::io(path, "reading", e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = line_of_offset(e.as_bytes(), e.utf8_error().valid_up_to());
        StepsError::at(path, Some(line), None, "not UTF-8 text")
    })?;
    parse_dotenv(path, &text)
}

/// The variables of .env text read from `path` (named in errors).
pub fn parse_dotenv(path: &Path, text: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        let (k, v) = item.map_err(|e| match e {
            dotenvy::Error::LineParse(bad, index) => {
                // The error holds the line (or a multi-line value's lines), not its number.
                let first = bad.lines().next().unwrap_or("");
                let line = text.lines().position(|l| l == first).map(|i| i as u64 + 1);
                let detail = format!("not a KEY=value line (at character {})", index + 1);
                StepsError::at(path, line, None, detail)
            }
            e => StepsError::config(format!("{}: {e}", path.display())),
        })?;
        check_variable(&k, &v)
            .map_err(|why| StepsError::at(path, key_line(text, &k), Some(&k), why))?;
        out.insert(k, v);
    }
    Ok(out)
}

/// Err saying why a program could not be given the variable `key=value`.
pub fn check_variable(key: &str, value: &str) -> std::result::Result<(), String> {
    if key.is_empty() || key.contains('=') {
        return Err("a variable name cannot be empty or contain '='".into());
    }
    if key.contains('\0') || value.contains('\0') {
        return Err("contains a NUL byte, which no program can receive in its environment".into());
    }
    let len = key.len() + 1 + value.len();
    if len > MAX_ENV_ENTRY {
        return Err(format!(
            "{len} bytes long; a program can receive at most {MAX_ENV_ENTRY} per variable"
        ));
    }
    Ok(())
}

/// 1-based line of byte `offset` in `bytes`.
fn line_of_offset(bytes: &[u8], offset: usize) -> u64 {
    let end = offset.min(bytes.len());
    1 + bytes[..end].iter().filter(|&&b| b == b'\n').count() as u64
}

/// The line (1-based) where `key` is assigned: `KEY=` or `export KEY=` after indentation.
fn key_line(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i as u64 + 1)
}

/// The .env layers shared by every worker: project/.env, then tests/.env over it.
pub fn dotenv_layers(project_dir: &Path, tests_dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut env = read_dotenv(&project_dir.join(".env"))?;
    if tests_dir != project_dir {
        env.extend(read_dotenv(&tests_dir.join(".env"))?);
    }
    Ok(env)
}

/// A variable as a worker would see it before its own env: the .env layers over this
/// process's environment.
pub fn lookup(dotenv: &BTreeMap<String, String>, key: &str) -> Option<String> {
    dotenv
        .get(key)
        .cloned()
        .or_else(|| std::env::var(key).ok())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_env_overrides_project_env_and_quotes_are_handled() {
        let dir = std::env::temp_dir().join(format!("trialrun-env-{}", std::process::id()));
        let tests = dir.join("tests");
        std::fs::create_dir_all(&tests).unwrap();
        std::fs::write(
            dir.join(".env"),
            "A=project\nB=\"quoted value\"\n# comment\n",
        )
        .unwrap();
        std::fs::write(tests.join(".env"), "A=tests\nC=3\n").unwrap();
        let env = dotenv_layers(&dir, &tests).unwrap();
        assert_eq!(env["A"], "tests");
        assert_eq!(env["B"], "quoted value");
        assert_eq!(env["C"], "3");
        assert_eq!(lookup(&env, "A").as_deref(), Some("tests"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_files_are_empty_and_bad_lines_name_the_file() {
        assert!(read_dotenv(Path::new("/nonexistent/.env"))
            .unwrap()
            .is_empty());
        let dir = std::env::temp_dir().join(format!("trialrun-env-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(".env"), "GOOD=1\nthis is not a line\n").unwrap();
        let err = read_dotenv(&dir.join(".env")).unwrap_err();
        assert!(err.message.contains(".env"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
