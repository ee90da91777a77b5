"""The pytest plugin: the `trialrun` fixture runs a suite and fails the test with a
readable list of failing cases."""

from __future__ import annotations

import sqlite3
import textwrap

import pytest

CONFTEST = """
import pytest

@pytest.fixture(autouse=True)
def _isolated_store(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIALRUN_HOME", str(tmp_path / "inner-home"))
"""

SUITE = """
import asyncio
import dataclasses
import os

from trialrun import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold


@dataclasses.dataclass
class Sum(BaseTestCase):
    x: int
    y: int
    expected: int

    def hash(self):
        return f"sum-{self.x}-{self.y}"


class IsRight(BaseTestEvaluator):
    id = "is-right"

    def evaluate_test_case(self, test_case, output):
        ok = output == test_case.expected
        return Evaluation(
            score=1 if ok else 0,
            threshold=Threshold(gte=1),
            metadata=None if ok else {"reason": f"wanted {test_case.expected}, got {output}"},
        )


def adder(case):
    return case.x + case.y


async def async_adder(case):
    await asyncio.sleep(0)
    return case.x + case.y


GOOD = [Sum(1, 2, 3), Sum(2, 2, 4)]
BAD = [Sum(1, 2, 3), Sum(2, 2, 5), Sum(3, 3, 6)]


def store_in(tmp_path, result):
    assert result.store_path == str(tmp_path / "inner-home" / "trialrun.db")
    assert os.environ["TRIALRUN_HOME"] == str(tmp_path / "inner-home")
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(
        """
        [pytest]
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = function
        """
    )
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(suite_defs=SUITE)
    return pytester


def write_test(pytester: pytest.Pytester, body: str) -> None:
    pytester.makepyfile(test_inner="from suite_defs import *\n\n" + textwrap.dedent(body))


def test_failing_evaluation_fails_the_test_and_lists_the_case(inner):
    write_test(
        inner,
        """
        def test_sums(trialrun):
            trialrun.run(id="sums", test_cases=BAD, evaluators=[IsRight()], fn=adder)
        """,
    )
    result = inner.runpytest("-p", "asyncio")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "sum-2-2" in out  # the failing case's hash
    assert "wanted 5, got 4" in out  # and its metadata
    assert "is-right" in out
    assert "sum-1-2" not in out and "sum-3-3" not in out  # passing cases are not listed


def test_passing_suite_passes_the_test(inner):
    write_test(
        inner,
        """
        def test_sums(trialrun, tmp_path):
            result = trialrun.run(id="sums", test_cases=GOOD, evaluators=[IsRight()], fn=adder)
            assert result.passed
            assert [c.output for c in result.cases] == [3, 4]
            store_in(tmp_path, result)
        """,
    )
    result = inner.runpytest("-p", "asyncio")
    result.assert_outcomes(passed=1)


def test_async_run_fails_and_passes(inner):
    write_test(
        inner,
        """
        async def test_good(trialrun, tmp_path):
            result = await trialrun.run_async(id="good", test_cases=GOOD, evaluators=[IsRight()], fn=async_adder)
            assert result.passed
            store_in(tmp_path, result)

        async def test_bad(trialrun):
            await trialrun.run_async(id="bad", test_cases=BAD, evaluators=[IsRight()], fn=async_adder)
        """,
    )
    result = inner.runpytest("-p", "asyncio")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "test_bad" in out
    assert "sum-2-2" in out and "wanted 5, got 4" in out


def test_sync_run_inside_an_async_test(inner):
    write_test(
        inner,
        """
        async def test_blocking_in_loop(trialrun):
            result = trialrun.run(id="in-loop", test_cases=GOOD, evaluators=[IsRight()], fn=async_adder)
            assert result.passed
        """,
    )
    inner.runpytest("-p", "asyncio").assert_outcomes(passed=1)


def test_check_false_returns_the_result_without_failing(inner):
    write_test(
        inner,
        """
        def test_inspect(trialrun):
            result = trialrun.run(id="sums", test_cases=BAD, evaluators=[IsRight()], fn=adder, check=False)
            assert result.passed is False
            assert [c.hash for c in result.failures()] == ["sum-2-2"]
        """,
    )
    inner.runpytest("-p", "asyncio").assert_outcomes(passed=1)


def test_fn_raising_fails_the_test_with_its_error(inner):
    write_test(
        inner,
        """
        def broken(case):
            raise RuntimeError(f"agent crashed on {case.x}")

        def test_broken(trialrun):
            trialrun.run(id="broken", test_cases=GOOD, evaluators=[IsRight()], fn=broken)
        """,
    )
    result = inner.runpytest("-p", "asyncio")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "sum-1-2" in out and "agent crashed on 1" in out


def test_inner_runs_use_their_own_store(inner, trialrun_home):
    write_test(
        inner,
        """
        import pathlib

        def test_sums(trialrun):
            result = trialrun.run(id="inner-only", test_cases=GOOD, evaluators=[IsRight()], fn=adder)
            pathlib.Path("inner_store.txt").write_text(result.store_path)
        """,
    )
    inner.runpytest("-p", "asyncio").assert_outcomes(passed=1)
    store = (inner.path / "inner_store.txt").read_text()
    assert "inner-home" in store
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT suite_id, status FROM runs").fetchall() == [
            ("inner-only", "completed")
        ]
        assert conn.execute("SELECT count(*) FROM cases").fetchone()[0] == len(GOOD_HASHES)
    # nothing leaked into the outer test's store
    outer = trialrun_home / "trialrun.db"
    assert store != str(outer)
    if outer.exists():
        with sqlite3.connect(outer) as conn:
            assert (
                conn.execute("SELECT count(*) FROM runs WHERE suite_id = 'inner-only'").fetchone()[
                    0
                ]
                == 0
            )


GOOD_HASHES = ["sum-1-2", "sum-2-2"]


def test_validation_error_surfaces_in_the_test(inner):
    write_test(
        inner,
        """
        def test_dupes(trialrun):
            trialrun.run(id="dupes", test_cases=[Sum(1, 2, 3), Sum(1, 2, 4)], evaluators=[IsRight()], fn=adder)
        """,
    )
    result = inner.runpytest("-p", "asyncio")
    result.assert_outcomes(failed=1)
    assert "SuiteValidationError" in result.stdout.str()
    assert "test_cases[1]" in result.stdout.str()
