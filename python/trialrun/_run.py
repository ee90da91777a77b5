"""run_test_suite and run_test_suite_async: the Python side of the suite engine.

The engine (trialrun._core.SuiteRun) runs on an asyncio loop. The async entry point uses
the caller's loop; the blocking one runs its own, on a dedicated thread when the calling
thread already runs a loop (Jupyter, pytest-asyncio).
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from trialrun import _core
from trialrun._core import SuiteResult
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
    """(show progress bar, print summary).

    quiet=None follows TRIALRUN_QUIET ("1": quiet, "0": summary even without a
    terminal), else auto: both on a terminal, neither otherwise. The bar needs a terminal.
    """
    if quiet is None:
        env = os.environ.get("TRIALRUN_QUIET", "")
        quiet = env not in ("", "0") if env else not _is_terminal()
    return (not quiet and _is_terminal(), not quiet)


def _is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


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
    # Decided outside the except block, so user tracebacks do not chain to it.
    try:
        asyncio.get_running_loop()
        loop_running = True
    except RuntimeError:
        loop_running = False
    return _run_on_thread(coro) if loop_running else _run_here(coro)


def _run_here(coro: Any) -> SuiteResult:
    runner_type = getattr(asyncio, "Runner", None)
    if runner_type is None:  # Python 3.10: no Runner, Ctrl-C raises after recording
        return asyncio.run(coro)
    # On the main thread, asyncio.Runner turns Ctrl-C into cancelling our task.
    with runner_type() as runner:
        return runner.run(coro)


def _run_on_thread(coro: Any) -> SuiteResult:
    box: dict[str, Any] = {}
    started = threading.Event()

    def target() -> None:
        loop = asyncio.new_event_loop()
        try:
            box["loop"] = loop
            box["task"] = loop.create_task(coro)
            started.set()
            box["result"] = loop.run_until_complete(box["task"])
        except BaseException as exc:  # handed to the calling thread
            box["error"] = exc
        finally:
            started.set()
            loop.close()

    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run, args=(target,), name="trialrun-suite", daemon=True
    )
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:
        started.wait()
        loop, task = box.get("loop"), box.get("task")
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


class collect_results:
    """Context manager gathering the SuiteResult of every suite run inside it."""

    def __enter__(self) -> list[SuiteResult]:
        self._results: list[SuiteResult] = []
        _collectors.append(self._results)
        return self._results

    def __exit__(self, *exc: Any) -> None:
        _collectors.remove(self._results)
