"""Resume: a suite stopped before its end (SIGKILL, Ctrl-C, a stop) continues in the same
run with `run_test_suite(resume=True)` / `trialrun run --resume`: the cases it finished
are kept and not called again, the others run."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_cli import trialrun_cli, write_script
from trialrun import (
    BaseTestCase,
    BaseTestEvaluator,
    Evaluation,
    SuiteValidationError,
    Threshold,
    run_test_suite,
)

# Each fn call appends the case to CALLS (one line per call, flushed), so the test sees
# which cases each process called.
KILLED_SUITE = """
import os, sys, time

def fn(case):
    with open(os.environ["CALLS"], "a") as log:
        log.write(f"{case.n}\\n")
    time.sleep(0.05)
    return case.n

run_test_suite(
    id="resumable",
    test_cases=[Case(n) for n in range(60)],
    evaluators=[AtLeast(10)],
    fn=fn,
    max_test_case_concurrency=3,
)
"""


def calls(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def test_a_suite_killed_with_sigkill_resumes_in_the_same_run_without_calling_finished_cases(
    tmp_path, subprocess_env, store_rows
):
    script = write_script(tmp_path, KILLED_SUITE)
    first_calls = tmp_path / "first.log"
    env = {**subprocess_env, "CALLS": str(first_calls)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "trialrun", "run", "-q", str(script)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    # Killed once its writer has committed some finished cases (batches land every few ms).
    while time.monotonic() < deadline:
        if len(calls(first_calls)) >= 20 and store_rows("SELECT idx FROM cases"):
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    finished_before = {
        r["idx"]
        for r in store_rows(
            "SELECT c.idx FROM cases c JOIN evaluations e ON e.run = c.run AND e.case_idx = c.idx"
        )
    }
    assert 0 < len(finished_before) < 60

    second_calls = tmp_path / "second.log"
    resumed = trialrun_cli(
        ["run", "--resume", str(script)], {**env, "CALLS": str(second_calls)}, tmp_path
    )
    assert resumed.returncode == 1, resumed.stderr  # cases 0-9 fail AtLeast(10)
    again = calls(second_calls)
    # Nothing finished is called again; everything else is, once.
    assert not finished_before & set(again), (finished_before, again)
    assert sorted(again) == sorted(set(range(60)) - finished_before)
    assert f"resumed: {len(finished_before)} cases kept" in resumed.stdout, resumed.stdout
    runs = store_rows("SELECT id, status FROM runs")
    assert [r["status"] for r in runs] == ["completed"]
    assert store_rows("SELECT count(*) AS n FROM cases")[0]["n"] == 60
    assert store_rows("SELECT count(*) AS n FROM evaluations")[0]["n"] == 60
    assert "FAILED resumable: 60/60 cases" in resumed.stdout


@dataclasses.dataclass
class Case(BaseTestCase):
    n: int

    def hash(self) -> str:
        return f"case-{self.n}"


class Positive(BaseTestEvaluator):
    id = "positive"

    def evaluate_test_case(self, test_case, output):
        return Evaluation(score=float(output > 0), threshold=Threshold(gte=1))


class Stopper:
    """fn that records its calls and raises KeyboardInterrupt (Ctrl-C) on one case."""

    def __init__(self, stop_at: int | None = None):
        self.stop_at = stop_at
        self.called: list[int] = []

    def __call__(self, case: Case) -> int:
        self.called.append(case.n)
        if case.n == self.stop_at:
            raise KeyboardInterrupt
        return case.n


def interrupted_run(cases: list[Case], **options) -> tuple[Stopper, str]:
    fn = Stopper(stop_at=5)
    with pytest.raises(KeyboardInterrupt):
        run_test_suite(
            "ctrl-c", cases, fn, [Positive()], max_test_case_concurrency=1, quiet=True, **options
        )
    return fn, ""


def finished_cases(store_rows) -> set[int]:
    """Cases with their fn's row and their evaluation's: what a resume keeps."""
    rows = store_rows(
        "SELECT c.idx FROM cases c JOIN evaluations e ON e.run = c.run AND e.case_idx = c.idx"
    )
    return {r["idx"] for r in rows}


def test_ctrl_c_then_resume_keeps_what_finished_and_results_read_as_one_run(store_rows):
    cases = [Case(n) for n in range(12)]
    first, _ = interrupted_run(cases)
    assert first.called == [0, 1, 2, 3, 4, 5]
    (run,) = store_rows("SELECT id, status FROM runs")
    assert run["status"] == "interrupted"
    # Case 5 raised KeyboardInterrupt: cut short, it is not kept (not even as an error).
    assert 5 not in {r["idx"] for r in store_rows("SELECT idx FROM cases")}
    # Evaluations of 0-4 may have been cut short too (they run on threads).
    kept = finished_cases(store_rows)
    assert kept <= {0, 1, 2, 3, 4}

    second = Stopper()
    result = run_test_suite("ctrl-c", cases, second, [Positive()], resume=True, quiet=True)
    assert sorted(second.called) == sorted(set(range(12)) - kept)
    assert result.status == "completed"
    assert result.runs[0].run_id == run["id"]
    assert result.totals["cases_resumed"] == len(kept)
    assert [c.test_case.n for c in result.cases] == list(range(12))
    # Kept cases read back as stored: output, evaluations, verdicts.
    zero = result.cases[0]
    assert zero.output == 0 and zero.evaluations[0].passed is False
    assert zero.evaluations[0].threshold == Threshold(gte=1)
    assert result.totals["evaluators"]["positive"]["failed"] == 1  # case 0 only
    assert store_rows("SELECT status FROM runs") == [{"status": "completed"}]
    assert store_rows("SELECT count(*) AS n FROM evaluations") == [{"n": 12}]


def test_resume_after_a_completed_run_starts_a_new_run():
    cases = [Case(n) for n in range(1, 4)]
    first = run_test_suite("done", cases, Stopper(), [Positive()], quiet=True)
    fn = Stopper()
    again = run_test_suite("done", cases, fn, [Positive()], resume=True, quiet=True)
    assert sorted(fn.called) == [1, 2, 3]
    assert again.runs[0].run_id != first.runs[0].run_id
    assert again.totals["cases_resumed"] == 0


def test_resume_continues_each_grid_combination_and_trials(store_rows):
    cases = [Case(n) for n in range(1, 7)]
    grid = {"model": ["a", "b"]}
    fn = Stopper(stop_at=4)
    with pytest.raises(KeyboardInterrupt):
        run_test_suite(
            "grid",
            cases,
            fn,
            [Positive()],
            max_test_case_concurrency=1,
            grid_search_params=grid,
            repeats=2,
            quiet=True,
        )
    before = store_rows(
        "SELECT c.idx, c.trial FROM cases c JOIN evaluations e "
        "ON e.run = c.run AND e.case_idx = c.idx AND e.trial = c.trial"
    )
    assert len(before) < 24
    rest = Stopper()
    result = run_test_suite(
        "grid",
        cases,
        rest,
        [Positive()],
        grid_search_params=grid,
        repeats=2,
        resume=True,
        quiet=True,
    )
    assert result.status == "completed" and result.passed
    assert len(rest.called) == 24 - len(before)
    assert store_rows("SELECT count(*) AS n FROM cases")[0]["n"] == 24
    assert sorted(r["status"] for r in store_rows("SELECT status FROM runs")) == ["completed"] * 2
    assert all(len(c.trials) == 2 for c in result.cases)


def test_resume_refuses_other_trials_and_no_store():
    cases = [Case(n) for n in range(1, 9)]
    interrupted_run(cases)
    with pytest.raises(SuiteValidationError, match=r"\[ctrl-c\] resume: run .* ran with trials"):
        run_test_suite("ctrl-c", cases, Stopper(), [Positive()], repeats=3, resume=True)
    with pytest.raises(SuiteValidationError, match="resume needs the run store"):
        run_test_suite("ctrl-c", cases, Stopper(), [Positive()], resume=True, record=False)


def test_resume_from_the_environment_and_a_bad_value(monkeypatch, store_rows):
    cases = [Case(n) for n in range(1, 9)]
    interrupted_run(cases)
    kept = {n + 1 for n in finished_cases(store_rows)}  # idx is the position, n = idx + 1
    monkeypatch.setenv("TRIALRUN_RESUME", "1")
    fn = Stopper()
    result = run_test_suite("ctrl-c", cases, fn, [Positive()], quiet=True)
    assert sorted(fn.called) == [n for n in range(1, 9) if n not in kept]
    assert result.totals["cases_resumed"] == len(kept)
    monkeypatch.setenv("TRIALRUN_RESUME", "maybe")
    with pytest.raises(SuiteValidationError, match="TRIALRUN_RESUME must be 1 or 0"):
        run_test_suite("ctrl-c", cases, fn, [Positive()], quiet=True)
