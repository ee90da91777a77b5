//! The git commit and branch a run was made from, so results can be tied to code versions.

use std::path::Path;
use std::process::{Command, Stdio};

/// (commit sha, branch) of the repository containing `dir`. Each is None when git is not
/// installed, `dir` is not in a repository, the repository has no commit yet, or (branch
/// only) HEAD is detached. Never prints anything.
pub fn git_info(dir: &Path) -> (Option<String>, Option<String>) {
    let commit = git_stdout(dir, &["rev-parse", "HEAD"]);
    // A repository without commits has no HEAD to name a branch for either.
    let branch = commit
        .as_ref()
        .and_then(|_| git_stdout(dir, &["rev-parse", "--abbrev-ref", "HEAD"]))
        // On a detached HEAD, git prints "HEAD" rather than a branch name.
        .filter(|branch| branch != "HEAD");
    (commit, branch)
}

/// Trimmed stdout of a successful `git <args>` run in `dir`, else None.
fn git_stdout(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::TestDir;

    fn git(dir: &Path, args: &[&str]) -> bool {
        Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args([
                "-c",
                "commit.gpgsign=false",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    #[test]
    fn outside_a_repository_both_are_none() {
        let dir = TestDir::new("git-none");
        // Only meaningful when the temp dir is not itself inside a repository.
        if git_stdout(dir.path(), &["rev-parse", "--git-dir"]).is_none() {
            assert_eq!(git_info(dir.path()), (None, None));
        }
        assert_eq!(git_info(&dir.path().join("missing")), (None, None));
    }

    #[test]
    fn commit_and_branch_then_detached_head() {
        let dir = TestDir::new("git-repo");
        if !git(dir.path(), &["init", "-q"]) {
            return; // git is not installed: nothing to test
        }
        assert_eq!(git_info(dir.path()), (None, None), "no commit yet");
        std::fs::write(dir.path().join("f"), "x").unwrap();
        assert!(git(dir.path(), &["add", "f"]));
        assert!(git(dir.path(), &["commit", "-q", "-m", "first"]));
        let (commit, branch) = git_info(dir.path());
        let commit = commit.expect("a commit sha");
        assert_eq!(commit.len(), 40);
        assert!(commit.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(branch.as_deref(), Some("main"));

        assert!(git(dir.path(), &["checkout", "-q", "--detach"]));
        assert_eq!(git_info(dir.path()), (Some(commit), None));
    }
}
