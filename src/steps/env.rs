//! Worker environments, in layers (each overriding the one before): this process's
//! environment, the project's .env, tests/.env, the worker's env from workers.json, then
//! what trialrun sets (PORT, DATABASE_PATH, MONGO_URI when the run provides one).

use super::error::{Result, StepsError};
use std::collections::BTreeMap;
use std::path::Path;

/// Variables of a .env file (none when it does not exist). A malformed line names the file.
pub fn read_dotenv(path: &Path) -> Result<BTreeMap<String, String>> {
    if !path.is_file() {
        return Ok(BTreeMap::new());
    }
    let iter = dotenvy::from_path_iter(path)
        .map_err(|e| StepsError::config(format!("{}: {e}", path.display())))?;
    let mut out = BTreeMap::new();
    for item in iter {
        let (k, v) = item.map_err(|e| StepsError::config(format!("{}: {e}", path.display())))?;
        out.insert(k, v);
    }
    Ok(out)
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
