"""pytest plugin (entry point `pytest11`): the `trialrun` fixture runs a suite and fails
the test with a readable list of failing cases when any evaluation fails or errors;
`--trialrun-junit PATH` writes JUnit XML of every suite run during the session.

    def test_agent(trialrun):
        trialrun.run(id="agent", test_cases=cases, evaluators=[...], fn=agent)

    async def test_agent_async(trialrun):
        await trialrun.run_async(id="agent", test_cases=cases, evaluators=[...], fn=agent)
"""

from __future__ import annotations

from typing import Any

import pytest

from trialrun._core import SuiteResult
from trialrun._run import _collectors, run_test_suite, run_test_suite_async


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("trialrun")
    group.addoption(
        "--trialrun-junit",
        metavar="PATH",
        default=None,
        help="write JUnit XML of every trialrun suite run in this session (a testcase per case x evaluator)",
    )


def pytest_configure(config: Any) -> None:
    if config.getoption("--trialrun-junit", None):
        config._trialrun_results = []
        _collectors.append(config._trialrun_results)


def pytest_unconfigure(config: Any) -> None:
    results = getattr(config, "_trialrun_results", None)
    if results is None:
        return
    _collectors.remove(results)
    from trialrun.history import _junit

    with open(config.getoption("--trialrun-junit"), "w", encoding="utf-8") as f:
        f.write(_junit(results))


def assert_suite_passed(result: SuiteResult, limit: int = 20) -> None:
    """Fail the current test, listing failing cases and their metadata, unless it passed."""
    __tracebackhide__ = True
    try:
        result.assert_passed(limit)
    except AssertionError as e:
        pytest.fail(str(e), pytrace=False)


class SuiteRunner:
    """What the `trialrun` fixture gives: run a suite and assert it passed."""

    def run(self, *args: Any, check: bool = True, **kwargs: Any) -> SuiteResult:
        __tracebackhide__ = True
        kwargs.setdefault("quiet", True)
        result = run_test_suite(*args, **kwargs)
        if check:
            assert_suite_passed(result)
        return result

    async def run_async(self, *args: Any, check: bool = True, **kwargs: Any) -> SuiteResult:
        __tracebackhide__ = True
        kwargs.setdefault("quiet", True)
        result = await run_test_suite_async(*args, **kwargs)
        if check:
            assert_suite_passed(result)
        return result


@pytest.fixture
def trialrun() -> SuiteRunner:
    """Runs suites inside a test; a failing evaluation fails the test."""
    return SuiteRunner()
