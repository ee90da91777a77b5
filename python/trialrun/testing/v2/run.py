"""Autoblocks' v2 `run_test_suite` (`autoblocks.testing.v2.run`): the v1 suite with the
app it belongs to (`app_slug`) and an optional caller-chosen `run_id`.

Where the SDK posts results to the app in Autoblocks' cloud, trialrun records them in the
local run store like any suite; the app slug is checked, not sent anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from trialrun._core import SuiteResult, SuiteValidationError
from trialrun._loop import run_blocking
from trialrun._models import BaseTestCase, BaseTestEvaluator
from trialrun._run import _suite, grid_search_ctx

__all__ = ["grid_search_ctx", "run_test_suite", "run_test_suite_async"]

# The SDK's default, where v1's is trialrun's engine default.
DEFAULT_MAX_TEST_CASE_CONCURRENCY = 10

# A CUID2 as the SDK checks one: 24 lowercase letters and digits.
_CUID2 = re.compile(r"[a-z0-9]{24}")


def _checked(app_slug: Any, run_id: Any) -> None:
    if not isinstance(app_slug, str) or not app_slug.strip():
        raise SuiteValidationError(f"app_slug must be a non-empty string, got {app_slug!r}")
    if run_id is not None and not (isinstance(run_id, str) and _CUID2.fullmatch(run_id)):
        # ValueError with the SDK's words (SuiteValidationError is one).
        raise SuiteValidationError(f"Invalid run_id: '{run_id}'. Must be a valid CUID2.")


def _options(arguments: dict[str, Any]) -> dict[str, Any]:
    """The v1 suite's arguments: the v2 ones less the app slug (checked, not used)."""
    _checked(arguments.pop("app_slug"), arguments["run_id"])
    return arguments


def run_test_suite(
    id: str,
    app_slug: str,
    test_cases: Sequence[BaseTestCase],
    fn: Callable[[Any], Any],
    evaluators: Sequence[BaseTestEvaluator] | None = None,
    max_test_case_concurrency: int = DEFAULT_MAX_TEST_CASE_CONCURRENCY,
    before_evaluators_hook: Callable[[Any, Any], Any] | None = None,
    grid_search_params: dict[str, Sequence[Any]] | None = None,
    human_review_job: Any = None,
    retry_count: int = 0,
    run_id: str | None = None,
    *,
    quiet: bool | None = None,
    record: bool = True,
    repeats: int = 1,
    verdict: str | None = None,
) -> SuiteResult:
    """Run a suite of the app `app_slug` and return its SuiteResult (the SDK returns
    None). `run_id`, a CUID2, becomes the stored run's id (with a grid, each
    combination's run is `{run_id}-{k}`); it must be new to the run store. Otherwise as
    `trialrun.testing.run.run_test_suite`."""
    coro = _suite(**_options(locals()), reraise_cancel=False)
    return run_blocking(coro, thread_name="trialrun-suite")


async def run_test_suite_async(
    id: str,
    app_slug: str,
    test_cases: Sequence[BaseTestCase],
    fn: Callable[[Any], Any],
    evaluators: Sequence[BaseTestEvaluator] | None = None,
    max_test_case_concurrency: int = DEFAULT_MAX_TEST_CASE_CONCURRENCY,
    before_evaluators_hook: Callable[[Any, Any], Any] | None = None,
    grid_search_params: dict[str, Sequence[Any]] | None = None,
    human_review_job: Any = None,
    retry_count: int = 0,
    run_id: str | None = None,
    *,
    quiet: bool | None = None,
    record: bool = True,
    repeats: int = 1,
    verdict: str | None = None,
) -> SuiteResult:
    """`run_test_suite` on the running event loop (cancelling it interrupts the suite)."""
    return await _suite(**_options(locals()), reraise_cancel=True)
