"""Autoblocks' suite and case selection from the environment, and its v2 run_test_suite.

The selection tests are ported from the Autoblocks SDK's
`tests/autoblocks/test_run_test_suite.py` (`test_filters_test_suites_*`,
`test_tests_and_hashes_overrides_*`) and the v2 tests from
`tests/autoblocks/test_run_test_suite_v2_validation.py` (github.com/autoblocksai/python-sdk,
commit fc6826d, MIT licence), with the same suites and variables; where the SDK tests
expect posts to its CLI server (or none, for a skipped suite), these assert the
SuiteResult and what the run store holds.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap

import pytest

from trialrun import SuiteValidationError
from trialrun.testing.models import BaseTestCase, BaseTestEvaluator, Evaluation
from trialrun.testing.run import run_test_suite
from trialrun.testing.v2 import run_test_suite as run_test_suite_v2


@dataclasses.dataclass
class MyTestCase(BaseTestCase):
    input: str

    def hash(self) -> str:
        return self.input


class MyEvaluator(BaseTestEvaluator):
    id = "my-evaluator"

    def evaluate_test_case(self, test_case: MyTestCase, output: str) -> Evaluation:
        return Evaluation(score=1.0, metadata=dict(output=output))


def _suite(**options):
    return run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="a"), MyTestCase(input="b")],
        evaluators=[],
        fn=lambda t: t.input + "!",
        max_test_case_concurrency=1,
        quiet=True,
        **options,
    )


def _stored_hashes(store_rows):
    rows = store_rows("SELECT hash FROM case_results ORDER BY idx")
    return [r["hash"] for r in rows]


def _no_store(trialrun_home):
    return not (trialrun_home / "trialrun.db").exists()


# --- AUTOBLOCKS_FILTERS_TEST_SUITES / TRIALRUN_SUITES ----------------------------------


@pytest.mark.parametrize(
    "name", ["AUTOBLOCKS_FILTERS_TEST_SUITES", "TRIALRUN_SUITES"], ids=["autoblocks", "trialrun"]
)
def test_filters_test_suites_skips_test(monkeypatch, trialrun_home, name):
    monkeypatch.setenv(name, json.dumps(["ello"]))
    result = _suite()
    assert result.status == "skipped"
    assert result.passed and len(result) == 0 and result.run_ids == []
    assert name in result.skip_reason and "ello" in result.skip_reason
    assert "SKIPPED my-test-id" in result.summary()
    assert _no_store(trialrun_home)  # nothing was run, nothing recorded


@pytest.mark.parametrize("filters", [["test"], ["random", "test"], ["my-test-id"]])
def test_filters_test_suites_filters_tests(monkeypatch, store_rows, filters):
    # substring, several filters, exact match: the suite runs whole
    monkeypatch.setenv("AUTOBLOCKS_FILTERS_TEST_SUITES", json.dumps(filters))
    result = _suite()
    assert result.status == "completed" and len(result) == 2
    assert _stored_hashes(store_rows) == ["a", "b"]
    outputs = store_rows("SELECT output FROM case_results ORDER BY idx")
    assert [json.loads(r["output"]) for r in outputs] == ["a!", "b!"]


def test_trialrun_suites_takes_a_comma_separated_list_and_wins(monkeypatch, trialrun_home):
    monkeypatch.setenv("AUTOBLOCKS_FILTERS_TEST_SUITES", json.dumps(["my-test"]))
    monkeypatch.setenv("TRIALRUN_SUITES", "other, nope")
    assert _suite().status == "skipped"
    monkeypatch.setenv("TRIALRUN_SUITES", "other,test-id")
    assert _suite().status == "completed"


@pytest.mark.parametrize(
    "raw, expected",
    [("[not json", "AUTOBLOCKS_FILTERS_TEST_SUITES is not JSON"), ('{"a": 1}', "a JSON list")],
)
def test_a_bad_suite_filter_is_refused_naming_the_variable(
    monkeypatch, trialrun_home, raw, expected
):
    monkeypatch.setenv("AUTOBLOCKS_FILTERS_TEST_SUITES", raw)
    with pytest.raises(SuiteValidationError, match=expected):
        _suite()
    assert _no_store(trialrun_home)


# --- AUTOBLOCKS_OVERRIDES_TESTS_AND_HASHES / TRIALRUN_CASES ----------------------------


def test_tests_and_hashes_overrides_skips_test(monkeypatch, trialrun_home):
    monkeypatch.setenv(
        "AUTOBLOCKS_OVERRIDES_TESTS_AND_HASHES", json.dumps({"some-other-test-id": []})
    )
    result = _suite()
    assert result.status == "skipped" and "some-other-test-id" in result.skip_reason
    assert _no_store(trialrun_home)


def test_tests_and_hashes_overrides_with_empty_value(monkeypatch, store_rows):
    monkeypatch.setenv("AUTOBLOCKS_OVERRIDES_TESTS_AND_HASHES", json.dumps({"my-test-id": []}))
    assert len(_suite()) == 2
    assert _stored_hashes(store_rows) == ["a", "b"]


@pytest.mark.parametrize(
    "name",
    ["AUTOBLOCKS_OVERRIDES_TESTS_AND_HASHES", "TRIALRUN_CASES"],
    ids=["autoblocks", "trialrun"],
)
def test_tests_and_hashes_overrides_with_non_empty_value(monkeypatch, store_rows, name):
    monkeypatch.setenv(name, json.dumps({"my-test-id": ["a"]}))
    result = _suite()
    assert [c.hash for c in result.cases] == ["a"]
    assert _stored_hashes(store_rows) == ["a"]


def test_hashes_the_suite_lacks_warn_and_none_at_all_is_an_error(monkeypatch, trialrun_home):
    monkeypatch.setenv("TRIALRUN_CASES", json.dumps({"my-test-id": ["a", "zz"]}))
    with pytest.warns(UserWarning, match=r"does not have: \['zz'\]"):
        assert [c.hash for c in _suite().cases] == ["a"]
    monkeypatch.setenv("TRIALRUN_CASES", json.dumps({"my-test-id": ["zz"]}))
    with pytest.raises(SuiteValidationError, match=r"case hashes \['zz'\].*has none of them"):
        _suite()


def test_a_bad_case_override_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.setenv("AUTOBLOCKS_OVERRIDES_TESTS_AND_HASHES", json.dumps({"my-test-id": "a"}))
    with pytest.raises(SuiteValidationError, match="AUTOBLOCKS_OVERRIDES_TESTS_AND_HASHES must be"):
        _suite()


def test_cli_suite_option_selects_and_an_all_skipped_file_is_an_error(tmp_path):
    script = tmp_path / "suites.py"
    script.write_text(
        textwrap.dedent(
            """
            from trialrun.testing.models import BaseTestCase
            from trialrun.testing.run import run_test_suite

            class Case(BaseTestCase):
                def hash(self):
                    return "only"

            for suite in ("checkout-flow", "search-flow"):
                run_test_suite(id=suite, test_cases=[Case()], fn=lambda c: "ok")
            """
        )
    )

    def trialrun(*args):
        return subprocess.run(
            [sys.executable, "-m", "trialrun", "run", *args, str(script)],
            capture_output=True,
            text=True,
        )

    ran = trialrun("--suite", "search")
    assert ran.returncode == 0, ran.stderr
    assert "SKIPPED checkout-flow" in ran.stdout and "PASSED search-flow" in ran.stdout
    none = trialrun("--suite", "nothing-like-it")
    assert none.returncode == 2
    assert "the suite filters skipped every one" in none.stderr


# --- v2: run_test_suite(id, app_slug, ..., run_id) -------------------------------------

VALID_CUID2_SAMPLE = "abc123def456ghi789jkl012"
INVALID_CUID2_SAMPLES = {
    "too_short": "abc123",
    "too_long": "abc123def456ghi789jkl012extra",
    "uppercase": "ABC123def456ghi789jkl012",
    "special_chars": "abc123def456ghi789jkl-12",
    "empty": "",
}


def _v2(**options):
    return run_test_suite_v2(
        id="my-test-id",
        app_slug="test-app",
        test_cases=[MyTestCase(input="hello")],
        evaluators=[MyEvaluator()],
        fn=lambda t: f"output for {t.input}",
        quiet=True,
        **options,
    )


def test_v2_valid_run_id_becomes_the_stored_run(store_rows):
    result = _v2(run_id=VALID_CUID2_SAMPLE)
    assert result.run_ids == [VALID_CUID2_SAMPLE]
    runs = store_rows("SELECT id, suite_id, status FROM runs")
    assert runs == [{"id": VALID_CUID2_SAMPLE, "suite_id": "my-test-id", "status": "completed"}]
    evals = store_rows("SELECT evaluator_id, score FROM evaluation_results")
    assert evals == [{"evaluator_id": "my-evaluator", "score": 1.0}]


@pytest.mark.parametrize("bad", INVALID_CUID2_SAMPLES.values(), ids=INVALID_CUID2_SAMPLES.keys())
def test_v2_invalid_run_id_raises_value_error(trialrun_home, bad):
    with pytest.raises(ValueError, match=r"Invalid run_id: '.*'\. Must be a valid CUID2\."):
        _v2(run_id=bad)
    assert _no_store(trialrun_home)


def test_v2_without_run_id_gets_a_fresh_one_each_run():
    first, second = _v2().run_ids, _v2().run_ids
    assert len(first) == len(second) == 1 and first != second


def test_v2_a_run_id_already_stored_is_refused():
    _v2(run_id=VALID_CUID2_SAMPLE)
    with pytest.raises(SuiteValidationError, match="already in the run store"):
        _v2(run_id=VALID_CUID2_SAMPLE)


def test_v2_run_id_with_a_grid_names_each_combination(store_rows):
    result = run_test_suite_v2(
        id="my-test-id",
        app_slug="test-app",
        test_cases=[MyTestCase(input="hello")],
        fn=lambda t: t.input,
        grid_search_params={"model": ["a", "b"]},
        run_id=VALID_CUID2_SAMPLE,
        quiet=True,
    )
    ids = [f"{VALID_CUID2_SAMPLE}-0", f"{VALID_CUID2_SAMPLE}-1"]
    assert result.run_ids == ids
    assert [r["id"] for r in store_rows("SELECT id FROM runs ORDER BY seq")] == ids


@pytest.mark.parametrize("slug", ["", "  ", None, 3])
def test_v2_app_slug_must_be_given(slug):
    with pytest.raises(SuiteValidationError, match="app_slug must be a non-empty string"):
        run_test_suite_v2(
            id="my-test-id", app_slug=slug, test_cases=[MyTestCase(input="x")], fn=str
        )


def test_v2_sdk_positional_order_and_the_filters(monkeypatch):
    # id, app_slug, test_cases, fn, evaluators, max_test_case_concurrency: as the SDK
    result = run_test_suite_v2(
        "my-test-id",
        "test-app",
        [MyTestCase(input="x")],
        lambda t: t.input.upper(),
        [MyEvaluator()],
        1,
        quiet=True,
    )
    assert result.cases[0].output == "X" and result.passed
    monkeypatch.setenv("AUTOBLOCKS_FILTERS_TEST_SUITES", json.dumps(["other"]))
    assert _v2().status == "skipped"
