"""Repeats and verdict policies: each case runs k trials, every trial is stored, a policy
turns the trials into the case's verdict, reports speak in pass rates, and `compare`
calls a drop a regression only when a one-sided Fisher exact test says so."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict

import pytest

from trialrun import (
    BaseTestCase,
    BaseTestEvaluator,
    Evaluation,
    SuiteValidationError,
    Threshold,
    history,
    run_test_suite,
)
from trialrun.verdicts import all_trials, at_least, confirm_failures, majority


@dataclasses.dataclass
class Case(BaseTestCase):
    name: str

    def hash(self) -> str:
        return self.name


class Scripted:
    """fn whose output passes or fails by a per-case script indexed by how many times the
    case has run: deterministic whatever the scheduling order."""

    def __init__(self, script: dict[str, str]):
        self.script = script
        self.calls: dict[str, int] = defaultdict(int)

    def __call__(self, case: Case) -> bool:
        n = self.calls[case.name]
        self.calls[case.name] += 1
        plan = self.script[case.name]
        return plan[n % len(plan)] == "P"


class Ok(BaseTestEvaluator):
    id = "ok"

    def evaluate_test_case(self, test_case: Case, output: bool) -> Evaluation:
        return Evaluation(score=1 if output else 0, threshold=Threshold(gte=1))


def run(script: dict[str, str], **options):
    fn = Scripted(script)
    result = run_test_suite(
        "repeats",
        [Case(name) for name in script],
        fn,
        [Ok()],
        max_test_case_concurrency=1,
        quiet=True,
        **options,
    )
    return result, fn


def by_hash(result):
    return {c.hash: c for c in result.cases}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (all_trials, {"steady": "passed", "two-of-three": "failed", "one-of-three": "failed"}),
        (majority, {"steady": "passed", "two-of-three": "flaky", "one-of-three": "failed"}),
        (at_least(1), {"steady": "passed", "two-of-three": "flaky", "one-of-three": "flaky"}),
        (at_least(3), {"steady": "passed", "two-of-three": "failed", "one-of-three": "failed"}),
    ],
    ids=["all", "majority", "at_least_1", "at_least_3"],
)
def test_each_policy_judges_the_same_trials(policy, expected):
    script = {"steady": "PPP", "two-of-three": "PFP", "one-of-three": "FFP"}
    result, fn = run(script, repeats=3, verdict=policy)
    assert dict(fn.calls) == {"steady": 3, "two-of-three": 3, "one-of-three": 3}
    cases = by_hash(result)
    assert {h: c.verdict for h, c in cases.items()} == expected
    two = cases["two-of-three"]
    assert len(two.trials) == 3
    assert [t.trial for t in two.trials] == [0, 1, 2]
    assert [t.passed for t in two.trials] == [True, False, True]
    assert two.pass_rate == pytest.approx(2 / 3)
    low, high = two.ci
    # Wilson score interval of 2/3 at 95%
    assert (round(low, 4), round(high, 4)) == (0.2077, 0.9385)
    assert two.flaky
    assert not cases["steady"].flaky and cases["steady"].pass_rate == 1.0
    assert result.passed == all(v != "failed" for v in expected.values())
    assert len(result) == 3
    totals = result.totals["verdicts"]
    assert totals["cases"] == 3
    assert totals["failed"] == sum(v == "failed" for v in expected.values())


def test_every_trial_is_stored_with_its_index(store_rows):
    result, _ = run({"a": "PF", "b": "PP"}, repeats=2, verdict=majority)
    [run_id] = result.run_ids
    cases = store_rows(
        "SELECT idx, trial, hash, output FROM case_results WHERE run_id = ? ORDER BY idx, trial",
        run_id,
    )
    assert [(r["idx"], r["trial"], r["hash"], r["output"]) for r in cases] == [
        (0, 0, "a", "true"),
        (0, 1, "a", "false"),
        (1, 0, "b", "true"),
        (1, 1, "b", "true"),
    ]
    evaluations = store_rows(
        "SELECT case_idx, trial, verdict FROM evaluation_results WHERE run_id = ? "
        "ORDER BY case_idx, trial",
        run_id,
    )
    assert [(r["case_idx"], r["trial"], r["verdict"]) for r in evaluations] == [
        (0, 0, "passed"),
        (0, 1, "failed"),
        (1, 0, "passed"),
        (1, 1, "passed"),
    ]
    [stored] = store_rows("SELECT trials FROM runs WHERE id = ?", run_id)
    assert json.loads(stored["trials"]) == {"repeats": 2, "verdict": "majority", "evaluators": {}}
    # the listing counts cases, not trials
    assert len(history.run(run_id).cases) == 2


def test_confirm_failures_reruns_a_failing_case_and_reports_it_flaky(store_rows):
    script = {"fine": "P", "rescued": "FFP", "broken": "F"}
    result, fn = run(script, verdict=confirm_failures(2))
    assert dict(fn.calls) == {"fine": 1, "rescued": 3, "broken": 3}
    cases = by_hash(result)
    assert cases["fine"].verdict == "passed" and len(cases["fine"].trials) == 1
    rescued = cases["rescued"]
    assert rescued.verdict == "flaky" and rescued.flaky and rescued.passed
    assert [t.passed for t in rescued.trials] == [False, False, True]
    assert cases["broken"].verdict == "failed" and not cases["broken"].passed
    assert not result.passed
    trials = store_rows(
        "SELECT hash, count(*) AS n FROM case_results WHERE run_id = ? GROUP BY hash",
        result.run_ids[0],
    )
    assert {r["hash"]: r["n"] for r in trials} == {"fine": 1, "rescued": 3, "broken": 3}
    summary = result.summary()
    assert "cases: 1 passed, 1 flaky, 1 failed, of 3" in summary
    assert "flaky  rescued: 1/3 trials passed" in summary
    assert "failed broken: 0/3 trials passed" in summary
    report = result.failure_report()
    assert report.startswith("case broken: 0/3 trials passed")
    assert "trial 2:" in report and "rescued" not in report


def test_an_evaluator_can_carry_its_own_policy():
    class Lenient(Ok):
        id = "lenient"
        verdict = at_least(1)

    fn = Scripted({"x": "FFP"})
    result = run_test_suite(
        "own-policy", [Case("x")], fn, [Lenient()], quiet=True, repeats=3, verdict=all_trials
    )
    [case] = result.cases
    assert case.passed and case.verdict == "flaky"
    assert "lenient: at_least(1)" in result.totals["verdicts"]["plan"]


def test_policies_are_checked_before_anything_runs():
    calls = []

    def fn(case):
        calls.append(case)
        return True

    with pytest.raises(
        SuiteValidationError,
        match=r"\[checked\] verdict at_least\(4\) can never pass with repeats=3",
    ):
        run_test_suite(
            "checked", [Case("a")], fn, [Ok()], quiet=True, repeats=3, verdict=at_least(4)
        )

    class Strict(Ok):
        id = "strict"
        verdict = at_least(2)

    with pytest.raises(
        SuiteValidationError, match=r'\[checked\] evaluator "strict": verdict at_least\(2\)'
    ):
        run_test_suite("checked", [Case("a")], fn, [Strict()], quiet=True)
    with pytest.raises(SuiteValidationError, match='verdict: unknown verdict policy "most"'):
        run_test_suite("checked", [Case("a")], fn, [Ok()], quiet=True, verdict="most")
    with pytest.raises(SuiteValidationError, match="repeats must be a positive int"):
        run_test_suite("checked", [Case("a")], fn, [Ok()], quiet=True, repeats=0)
    with pytest.raises(ValueError, match="at_least takes a whole number"):
        at_least(0)
    assert calls == []


def test_the_default_stays_one_trial_per_case(store_rows):
    result, fn = run({"a": "P", "b": "F"})
    assert dict(fn.calls) == {"a": 1, "b": 1}
    assert "verdicts" not in result.totals
    assert result.summary().startswith("FAILED repeats: 2/2 cases in 1 run")
    assert "trials" not in result.summary()
    [stored] = store_rows("SELECT trials FROM runs")
    assert stored["trials"] is None
    case = by_hash(result)["b"]
    assert (case.verdict, case.pass_rate, case.flaky, len(case.trials)) == ("failed", 0.0, False, 1)


def test_junit_has_one_testcase_per_case_with_its_trials():
    from trialrun.history import _junit

    result, _ = run(
        {"steady": "PPP", "wobbly": "PFP", "broken": "FFF"}, repeats=3, verdict=majority
    )
    root = ET.fromstring(_junit([result]))
    suite = root.find("testsuite")
    assert suite is not None
    cases = {tc.get("name"): tc for tc in suite.findall("testcase")}
    assert set(cases) == {"steady", "wobbly", "broken"}
    assert (suite.get("tests"), suite.get("failures")) == ("3", "1")

    def props(tc):
        return {p.get("name"): p.get("value") for p in tc.iter("property")}

    wobbly = cases["wobbly"]
    assert wobbly.find("failure") is None, "a flaky case is not a failure under majority"
    assert props(wobbly) == {
        "verdict": "flaky",
        "flaky": "true",
        "trials": "3",
        "passed_trials": "2",
        "pass_rate": "0.667",
        "ci_low": "0.208",
        "ci_high": "0.939",
    }
    out = wobbly.findtext("system-out")
    assert out.startswith("FLAKY: 2/3 trials passed") and "trial 1: failed (ok failed)" in out
    failure = cases["broken"].find("failure")
    assert failure is not None and failure.get("message").startswith("0/3 trials passed")
    assert props(cases["steady"])["verdict"] == "passed"


def _suite_file(tmp_path, passes: int, name: str = "suite.py") -> str:
    """A suite of one case run 20 times, passing in the first `passes` trials."""
    path = tmp_path / name
    path.write_text(
        "import dataclasses\n"
        "from trialrun import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold, run_test_suite\n"
        "@dataclasses.dataclass\n"
        "class Case(BaseTestCase):\n"
        "    name: str\n"
        "    def hash(self):\n"
        "        return self.name\n"
        "class Ok(BaseTestEvaluator):\n"
        "    id = 'ok'\n"
        "    def evaluate_test_case(self, test_case, output):\n"
        "        return Evaluation(score=output, threshold=Threshold(gte=1))\n"
        "calls = []\n"
        "def fn(case):\n"
        "    calls.append(1)\n"
        f"    return 1 if len(calls) <= {passes} else 0\n"
        "run_test_suite('drift', [Case('c')], fn, [Ok()], max_test_case_concurrency=1,\n"
        "               repeats=20, verdict='at_least(1)', quiet=True)\n"
    )
    return str(path)


def _cli(*args, env_home):
    import os

    env = dict(os.environ, TRIALRUN_HOME=str(env_home))
    return subprocess.run(
        [sys.executable, "-m", "trialrun", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_compare_calls_a_drop_a_regression_only_when_it_is_significant(tmp_path, trialrun_home):
    # 19/20 -> 17/20: within chance (p = 0.302); 19/20 -> 8/20: not (p = 0.000216)
    for passes in (19, 17, 8):
        done = _cli("run", _suite_file(tmp_path, passes, f"s{passes}.py"), env_home=trialrun_home)
        assert done.returncode == 0, done.stderr
    newest, middle, oldest = history.runs("drift").ids

    small = _cli("compare", oldest, middle, "--json", env_home=trialrun_home)
    assert small.returncode == 0, small.stdout + small.stderr
    doc = json.loads(small.stdout)
    [case] = doc["trials"]["cases"]
    assert (case["base_passed"], case["head_passed"], case["head_trials"]) == (19, 17, 20)
    assert case["p_value"] == pytest.approx(0.302495, abs=1e-5)
    assert doc["trials"]["test"] == "one-sided Fisher exact test"
    assert doc["regressions"] == []

    big = _cli("compare", oldest, newest, env_home=trialrun_home)
    assert big.returncode == 1, big.stdout + big.stderr
    assert "one-sided Fisher exact test gives p < 0.05" in big.stdout
    assert (
        "c: pass rate 19/20 -> 8/20 (one-sided Fisher exact test: p = 2.158e-4 < 0.05)"
        in big.stdout
    )
    # a stricter level lets the small drop pass and still catches the big one
    strict = _cli("compare", oldest, newest, "--alpha", "0.0001", env_home=trialrun_home)
    assert strict.returncode == 0, strict.stdout
    # both runs flaky in the same case is listed
    assert "flaky in both runs: c" in big.stdout


def test_single_trial_runs_compare_as_before():
    for script in ({"a": "P", "b": "P"}, {"a": "P", "b": "F"}):
        run(script)
    comparison = history.compare(suite="repeats")
    assert comparison.to_dict().get("trials") is None
    assert [(r["hash"], r["reason"]) for r in comparison.regressions()] == [
        ("b", "passed -> failed")
    ]
