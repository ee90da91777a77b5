"""The cache of fn's outputs (`run_test_suite(cache=True)`, `trialrun run --cache`,
`trialrun cache clear`) and re-scoring a stored run with new evaluators (`rescore`,
`trialrun rescore RUN FILE.py`), without calling fn."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest

from test_cli import trialrun_cli, write_script
from trialrun import (
    BaseTestCase,
    BaseTestEvaluator,
    Evaluation,
    StoredTestCase,
    SuiteValidationError,
    Threshold,
    history,
    rescore,
    run_test_suite,
)


@dataclasses.dataclass
class Case(BaseTestCase):
    n: int

    def hash(self) -> str:
        return f"case-{self.n}"


@dataclasses.dataclass
class Answer:
    value: int


class Doubler:
    """fn: records its calls; returns an Answer (not JSON: the cache must pickle it)."""

    def __init__(self, fail_on: int | None = None):
        self.fail_on = fail_on
        self.called: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, case: Case) -> Answer:
        with self.lock:
            self.called.append(case.n)
        if case.n == self.fail_on:
            raise ValueError(f"no answer for {case.n}")
        return Answer(case.n * 2)


class IsAnswer(BaseTestEvaluator):
    """Passes when the output is an Answer whose value is even (so its type survived)."""

    id = "is-answer"

    def evaluate_test_case(self, test_case, output):
        ok = isinstance(output, Answer) and output.value % 2 == 0
        return Evaluation(score=float(ok), threshold=Threshold(gte=1))


CASES = [Case(n) for n in range(8)]


def test_a_second_run_takes_every_output_from_the_cache_with_its_type(store_rows):
    first = Doubler()
    r1 = run_test_suite("cached", CASES, first, [IsAnswer()], cache=True, quiet=True)
    assert sorted(first.called) == list(range(8)) and r1.totals["cache_hits"] == 0
    second = Doubler()
    r2 = run_test_suite("cached", CASES, second, [IsAnswer()], cache=True, quiet=True)
    assert second.called == []
    assert r2.totals["cache_hits"] == 8 and r2.passed
    assert [c.output for c in r2.cases] == [Answer(n * 2) for n in range(8)]
    # Each run keeps its own rows; the hits' durations are fn's as measured.
    assert store_rows("SELECT count(*) AS n FROM cases") == [{"n": 16}]
    assert "cache: 8 of 8 fn outputs from the cache" in r2.summary()


def test_errors_are_never_cached_and_a_run_without_cache_calls_fn():
    run_test_suite("errs", CASES, Doubler(fail_on=3), [IsAnswer()], cache=True, quiet=True)
    again = Doubler()
    result = run_test_suite("errs", CASES, again, [IsAnswer()], cache=True, quiet=True)
    assert again.called == [3]  # the error is tried again
    assert result.totals["cache_hits"] == 7 and result.passed
    plain = Doubler()
    run_test_suite("errs", CASES, plain, [IsAnswer()], quiet=True)
    assert sorted(plain.called) == list(range(8))


def test_the_key_holds_fn_code_version_grid_and_trial():
    def fn_a(case):
        return Answer(case.n * 2)

    run_test_suite("keys", CASES[:2], fn_a, [IsAnswer()], cache=True, quiet=True)

    calls = []

    def fn_b(case):  # other code: another fingerprint
        calls.append(case.n)
        return Answer(case.n * 2 + 2)

    run_test_suite("keys", CASES[:2], fn_b, [IsAnswer()], cache=True, quiet=True)
    assert sorted(calls) == [0, 1]
    # The user's version is part of the key.
    run_test_suite("keys", CASES[:2], fn_b, [IsAnswer()], cache="v2", quiet=True)
    assert sorted(calls) == [0, 0, 1, 1]
    again = run_test_suite("keys", CASES[:2], fn_b, [IsAnswer()], cache="v2", quiet=True)
    assert len(calls) == 4 and again.totals["cache_hits"] == 2

    grid = {"model": ["a", "b"]}
    run_test_suite(
        "keys", CASES[:2], fn_b, [IsAnswer()], cache="v2", grid_search_params=grid, quiet=True
    )
    assert len(calls) == 8  # a new grid: every combination is a miss
    trials = run_test_suite(
        "keys", CASES[:2], fn_b, [IsAnswer()], cache="v3", repeats=3, quiet=True
    )
    assert len(calls) == 14 and trials.totals["cache_hits"] == 0
    trials = run_test_suite(
        "keys", CASES[:2], fn_b, [IsAnswer()], cache="v3", repeats=3, quiet=True
    )
    assert len(calls) == 14 and trials.totals["cache_hits"] == 6


def test_unpicklable_outputs_are_counted_not_cached_and_bad_options_refused():
    def fn(case):
        return lambda: case.n  # a closure cannot be pickled

    class Any_(BaseTestEvaluator):
        id = "any"

        def evaluate_test_case(self, test_case, output):
            return Evaluation(score=1.0)

    result = run_test_suite("unpicklable", CASES[:3], fn, [Any_()], cache=True, quiet=True)
    assert "3 not cached (could not be pickled)" in result.summary()
    with pytest.raises(SuiteValidationError, match=r"\[c\] cache needs the run store"):
        run_test_suite("c", CASES, fn, [], cache=True, record=False)
    with pytest.raises(SuiteValidationError, match="cache must be True, False or a version"):
        run_test_suite("c", CASES, fn, [], cache=3)  # type: ignore[arg-type]


def test_trialrun_run_cache_and_cache_clear(tmp_path, subprocess_env):
    script = write_script(
        tmp_path,
        """
        import os
        def fn(case):
            with open(os.environ["CALLS"], "a") as log:
                log.write(f"{case.n}\\n")
            return case.n
        run_test_suite(id="cli-cache", test_cases=[Case(n) for n in range(5)],
                       evaluators=[AtLeast(0)], fn=fn)
        """,
    )
    log = tmp_path / "calls.log"
    env = {**subprocess_env, "CALLS": str(log)}
    for _ in range(2):
        proc = trialrun_cli(["run", "--cache", str(script)], env, tmp_path)
        assert proc.returncode == 0, proc.stderr
    assert len(log.read_text().split()) == 5
    assert "cache: 5 of 5 fn outputs from the cache" in proc.stdout
    listed = trialrun_cli(["cache"], env, tmp_path)
    assert "cli-cache: 5 outputs" in listed.stdout, listed.stdout
    cleared = trialrun_cli(["cache", "clear", "--suite", "cli-cache"], env, tmp_path)
    assert "deleted 5 cached outputs of suite cli-cache" in cleared.stdout
    proc = trialrun_cli(["run", "--cache", str(script)], env, tmp_path)
    assert len(log.read_text().split()) == 10


class Exact(BaseTestEvaluator):
    """A new evaluator: the output (as stored, JSON) must be {"value": 2n}."""

    id = "exact"

    def evaluate_test_case(self, test_case, output):
        return Evaluation(
            score=float(output == {"value": test_case.n * 2}), threshold=Threshold(gte=1)
        )


def test_rescore_judges_stored_outputs_with_new_evaluators_without_calling_fn():
    fn = Doubler(fail_on=5)
    original = run_test_suite("judged", CASES, fn, [IsAnswer()], quiet=True)
    run_id = original.runs[0].run_id
    result = rescore(run_id, [Exact()], quiet=True)
    assert sorted(fn.called) == list(range(8))  # not called again
    # The stored cases come back as StoredTestCase; 5 keeps its error.
    assert all(isinstance(c.test_case, StoredTestCase) for c in result.cases)
    assert result.cases[5].error and "no answer for 5" in result.cases[5].error
    assert [e.evaluator_id for e in result.cases[0].evaluations] == ["exact"]
    assert result.totals["evaluators"]["exact"]["passed"] == 7
    stored = json.loads(history.run(result.runs[0].run_id).to_json())
    assert stored["run"]["rescored_from"] == run_id == result.rescored_from
    assert f"re-scored: the outputs of run {run_id} (fn was not called)" in result.summary()
    assert stored["run"]["suite_id"] == "judged"

    # With the suite's own cases and a loader, evaluators see the real types.
    # A unique prefix names the run (ids made in the same millisecond share their first
    # 13 characters, so the prefix keeps the random part).
    typed = rescore(
        run_id[:-6], [IsAnswer()], test_cases=CASES, load_output=lambda v: Answer(**v), quiet=True
    )
    assert typed.cases[0].test_case is CASES[0]
    assert typed.totals["evaluators"]["is-answer"]["passed"] == 7


def test_rescore_of_a_grid_run_and_a_case_the_run_lacks():
    result = run_test_suite(
        "grid-judged",
        CASES[:3],
        Doubler(),
        [IsAnswer()],
        grid_search_params={"m": ["x", "y"]},
        quiet=True,
    )
    second = result.runs[1]
    rescored = rescore(second.run_id, [Exact()], test_cases=CASES[:4], quiet=True)
    assert rescored.runs[0].grid == {"m": "y"}
    missing = rescored.cases[3]
    assert missing.error and f"case case-3 has no output in run {second.run_id}" in missing.error
    with pytest.raises(LookupError, match="no run matches"):
        rescore("nope", [Exact()])


def test_trialrun_rescore_runs_the_file_with_its_suite_judging_the_stored_run(
    tmp_path, subprocess_env
):
    body = """
        import os
        def fn(case):
            with open(os.environ["CALLS"], "a") as log:
                log.write(f"{case.n}\\n")
            return case.n
        minimum = int(os.environ.get("MINIMUM", "0"))
        run_test_suite(id="judged-cli", test_cases=[Case(n) for n in range(4)],
                       evaluators=[AtLeast(minimum)], fn=fn)
        run_test_suite(id="other", test_cases=[Case(1)], evaluators=[], fn=fn)
        """
    script = write_script(tmp_path, body)
    log = tmp_path / "calls.log"
    env = {**subprocess_env, "CALLS": str(log)}
    assert trialrun_cli(["run", str(script)], env, tmp_path).returncode == 0
    assert len(log.read_text().split()) == 5
    exported = trialrun_cli(
        ["export", "latest", "--format", "json", "--suite", "judged-cli"], env, tmp_path
    )
    run_id = json.loads(exported.stdout)["run"]["id"]
    proc = trialrun_cli(["rescore", run_id, str(script)], {**env, "MINIMUM": "2"}, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # cases 0 and 1 now fail
    assert len(log.read_text().split()) == 5  # fn was never called
    assert "FAILED judged-cli: 4/4 cases" in proc.stdout
    # The file's other suite is skipped, saying why.
    assert f"trialrun rescore re-scores run {run_id} of suite judged-cli" in proc.stdout
    missing = trialrun_cli(["rescore", "nope", str(script)], env, tmp_path)
    assert missing.returncode == 2 and "no run matches" in missing.stderr
