"""run_test_suite and run_test_suite_async: the Python side of the suite engine.

The engine (trialrun._core.SuiteRun) runs on an asyncio loop. The async entry point uses
the caller's loop; the blocking one runs its own, on a dedicated thread when the calling
thread already runs a loop (Jupyter, pytest-asyncio).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Sequence
from typing import Any

from trialrun import _core
from trialrun._console import is_quiet, is_terminal
from trialrun._core import SuiteResult
from trialrun._loop import run_blocking
from trialrun._models import BaseTestCase, BaseTestEvaluator

_grid_var: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "trialrun_grid_search_ctx", default=None
)
_core._bind(BaseTestCase, BaseTestEvaluator, _grid_var)

# Results of every suite run in this process while a collector is active (the CLI's
# `trialrun run FILE.py` reads them to choose its exit code).
_collectors: list[list[SuiteResult]] = []


def grid_search_ctx() -> dict[str, Any] | None:
    """Inside fn or an evaluator: this run's grid combination, e.g. {"model": "a"}.

    None when the suite has no grid_search_params.
    """
    value = _grid_var.get()
    return dict(value) if value is not None else None


def _output_mode(quiet: bool | None) -> tuple[bool, bool]:
    """(show progress bar, print summary): both unless quiet (``_console.is_quiet``); the
    bar needs a terminal."""
    silent = is_quiet(quiet)
    return (not silent and is_terminal(), not silent)


async def _run(
    id: str,
    test_cases: Sequence[BaseTestCase],
    evaluators: Sequence[BaseTestEvaluator],
    fn: Callable[[Any], Any],
    max_test_case_concurrency: int | None,
    grid_search_params: dict[str, Sequence[Any]] | None,
    quiet: bool | None,
    record: bool,
    reraise_cancel: bool,
) -> SuiteResult:
    progress, summary = _output_mode(quiet)
    run = _core.SuiteRun(
        id,
        test_cases,
        evaluators,
        fn,
        max_test_case_concurrency,
        grid_search_params,
        progress=progress,
        record=record,
    )
    done = run.start(asyncio.get_running_loop())
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(done)
            break
        except asyncio.CancelledError:
            # Stop scheduling, cancel what runs, then wait for the partial results.
            cancelled = True
            run.interrupt()
    if summary:
        print(result.summary(), end="", flush=True)
    if result.store_error:
        import warnings

        warnings.warn(
            f"trialrun: the run store did not keep every result: {result.store_error}", stacklevel=3
        )
    for collector in _collectors:
        collector.append(result)
    if cancelled and reraise_cancel:
        raise asyncio.CancelledError()
    return result


async def run_test_suite_async(
    id: str,
    test_cases: Sequence[BaseTestCase],
    evaluators: Sequence[BaseTestEvaluator],
    fn: Callable[[Any], Any],
    max_test_case_concurrency: int | None = None,
    grid_search_params: dict[str, Sequence[Any]] | None = None,
    *,
    quiet: bool | None = None,
    record: bool = True,
) -> SuiteResult:
    """Run a suite on the running event loop and return its SuiteResult.

    Cancelling the awaiting task interrupts the suite: what finished is stored, the runs
    are marked interrupted, and CancelledError propagates. record=False keeps the
    results out of the run store.
    """
    return await _run(
        id,
        test_cases,
        evaluators,
        fn,
        max_test_case_concurrency,
        grid_search_params,
        quiet,
        record,
        True,
    )


def run_test_suite(
    id: str,
    test_cases: Sequence[BaseTestCase],
    evaluators: Sequence[BaseTestEvaluator],
    fn: Callable[[Any], Any],
    max_test_case_concurrency: int | None = None,
    grid_search_params: dict[str, Sequence[Any]] | None = None,
    *,
    quiet: bool | None = None,
    record: bool = True,
) -> SuiteResult:
    """Run a suite and return its SuiteResult; blocks until every result is stored.

    Works in a plain script and inside a running event loop (it then runs its own loop
    on a dedicated thread). Ctrl-C interrupts the suite and returns the partial results,
    recorded as interrupted. record=False keeps the results out of the run store.
    """
    coro = _run(
        id,
        test_cases,
        evaluators,
        fn,
        max_test_case_concurrency,
        grid_search_params,
        quiet,
        record,
        False,
    )
    return run_blocking(coro, thread_name="trialrun-suite")


class collect_results:
    """Context manager gathering the SuiteResult of every suite run inside it."""

    def __enter__(self) -> list[SuiteResult]:
        self._results: list[SuiteResult] = []
        _collectors.append(self._results)
        return self._results

    def __exit__(self, *exc: Any) -> None:
        _collectors.remove(self._results)
