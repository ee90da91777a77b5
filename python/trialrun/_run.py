"""run_test_suite and run_test_suite_async: the Python side of the suite engine.

The engine (trialrun._core.SuiteRun) runs on an asyncio loop. The async entry point uses
the caller's loop; the blocking one runs its own, on a dedicated thread when the calling
thread already runs a loop (Jupyter, pytest-asyncio).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import random
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trialrun import _core, _limits, _notebook, _selection, _stored
from trialrun._console import is_quiet, is_terminal
from trialrun._core import SuiteResult
from trialrun._loop import run_blocking
from trialrun._models import BaseTestCase, BaseTestEvaluator

_grid_var: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "trialrun_grid_search_ctx", default=None
)
_core._bind(BaseTestCase, BaseTestEvaluator, _grid_var)
# The id of the suite whose fn or evaluator is running (Autoblocks' automatic battles keep
# their baselines per suite).
_suite_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "trialrun_suite_id", default=None
)

# Results of every suite run in this process while a collector is active (the CLI's
# `trialrun run FILE.py` reads them to choose its exit code).
_collectors: list[list[SuiteResult]] = []


def grid_search_ctx() -> dict[str, Any] | None:
    """Inside fn or an evaluator: this run's grid combination, e.g. {"model": "a"}.

    None when the suite has no grid_search_params.
    """
    value = _grid_var.get()
    return dict(value) if value is not None else None


def current_suite_id() -> str | None:
    """Inside fn or an evaluator: the id of the suite being run; else None."""
    return _suite_var.get()


@dataclass(frozen=True)
class _Limits:
    """run_test_suite's rate-limit, timeout and budget options (see the README section
    "Rate limits, timeouts and budgets")."""

    rate_limit_retries: int | None = None
    is_rate_limit: Callable[[BaseException], bool] | None = None
    adaptive_concurrency: bool = True
    fn_timeout: float | None = None
    evaluator_timeout: float | None = None
    max_tokens: int | None = None
    max_cost: float | None = None
    prices: Mapping[str, tuple[float, float]] | None = None

    def active(self) -> bool:
        return any(
            v is not None
            for v in (
                self.rate_limit_retries,
                self.is_rate_limit,
                self.fn_timeout,
                self.evaluator_timeout,
                self.max_tokens,
                self.max_cost,
                self.prices,
            )
        )

    def check(self, id: str) -> None:
        """Bad options raise SuiteValidationError naming the option, before any work."""

        def bad(msg: str) -> None:
            raise _core.SuiteValidationError(f"[{id}] {msg}")

        n = self.rate_limit_retries
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
            bad(f"rate_limit_retries must be a whole number >= 0, got {n!r}")
        if self.is_rate_limit is not None and not callable(self.is_rate_limit):
            bad(f"is_rate_limit must be a callable (error) -> bool, got {self.is_rate_limit!r}")
        for name in ("fn_timeout", "evaluator_timeout"):
            t = getattr(self, name)
            if t is not None and (
                isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < 1e9
            ):
                bad(f"{name} must be a positive number of seconds, got {t!r}")
        t = self.max_tokens
        if t is not None and (isinstance(t, bool) or not isinstance(t, int) or t < 1):
            bad(f"max_tokens must be a whole number >= 1, got {t!r}")
        c = self.max_cost
        if c is not None and (
            isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 < c < float("inf")
        ):
            bad(f"max_cost must be a positive number, got {c!r}")
        if self.prices is not None and not isinstance(self.prices, Mapping):
            bad(f"prices must be a dict of model name to (input, output), got {self.prices!r}")
        if c is not None and not self.prices:
            bad(
                "max_cost needs prices: a dict of model name to (input, output) prices "
                "per million tokens"
            )
        for model, pair in (self.prices or {}).items():
            ok = (
                isinstance(model, str)
                and isinstance(pair, (tuple, list))
                and len(pair) == 2
                and all(
                    isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p < 1e12
                    for p in pair
                )
            )
            if not ok:
                bad(
                    f"prices[{model!r}] must be (input, output) prices per million tokens, "
                    f"got {pair!r}"
                )

    def engine(self, retry_count: int) -> tuple[_core.SuiteLimits, _limits.Guard]:
        limits = _core.SuiteLimits(
            _limits._call_var,
            adaptive=self.adaptive_concurrency and self.rate_limit_retries is not None,
            max_tokens=self.max_tokens,
            max_cost=self.max_cost,
            prices=dict(self.prices) if self.prices else None,
        )
        guard = _limits.Guard(
            limits,
            rate_limit_retries=self.rate_limit_retries or 0,
            is_rate_limit=self.is_rate_limit,
            network_retries=retry_count,
            fn_timeout=self.fn_timeout,
            evaluator_timeout=self.evaluator_timeout,
        )
        return limits, guard


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
    before_evaluators_hook: Callable[[Any, Any], Any] | None,
    quiet: bool | None,
    record: bool,
    reraise_cancel: bool,
    run_id: str | None,
    repeats: int = 1,
    verdict: str | None = None,
    limits: tuple[_core.SuiteLimits, _limits.Guard] | None = None,
    shard: tuple[int, int] | None = None,
    executor: Any = None,
    stored: _stored.Options | None = None,
    load_output: Callable[[Any], Any] | None = None,
) -> SuiteResult:
    progress, summary = _output_mode(quiet)
    stored = stored or _stored.Options()
    run = _core.SuiteRun(
        id,
        test_cases,
        evaluators,
        fn,
        max_test_case_concurrency,
        grid_search_params,
        before_evaluators_hook=before_evaluators_hook,
        progress=progress,
        record=record,
        run_id=run_id,
        repeats=repeats,
        verdict=verdict,
        limits=limits[0] if limits else None,
        wrap=_wrapper(limits[1] if limits else None, executor, evaluators),
        shard=shard,
        resume=stored.resume,
        cache=stored.fingerprint,
        rescore=stored.rescore,
        load_output=load_output,
    )
    # The engine copies this context for every case, so fn and evaluators see the suite.
    suite_token = _suite_var.set(id)
    try:
        done = run.start(asyncio.get_running_loop())
    finally:
        _suite_var.reset(suite_token)
    live = None
    if summary and not progress and _notebook.in_notebook():
        live = asyncio.ensure_future(_notebook.show_progress(id, run, done))
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(done)
            break
        except asyncio.CancelledError:
            # Stop scheduling, cancel what runs, then wait for the partial results.
            cancelled = True
            run.interrupt()
    if live is not None:
        await live  # its last count, drawn as the suite ended
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


def _wrapper(
    guard: _limits.Guard | None, executor: Any, evaluators: Sequence[Any]
) -> Callable[[Any, int, str], Any] | None:
    """What the engine wraps fn (callee 0) and each evaluator (1 + i) with while it builds
    its plan: the executor's remote call (fn, and evaluators with ``remote = True``), inside
    the guard's retries and timeouts. None when there is neither."""
    if executor is None:
        return guard.wrap if guard is not None else None

    def wrap(func: Any, callee: int, name: str) -> Any:
        if callee == 0 or getattr(evaluators[callee - 1], "remote", False):
            func = executor.wrap(func, name)
        return guard.wrap(func, callee, name) if guard is not None else func

    return wrap


async def _skipped(id: str, reason: str, quiet: bool | None) -> SuiteResult:
    result = SuiteResult._skipped(id, reason)
    if _output_mode(quiet)[1]:
        print(result.summary(), end="", flush=True)
    for collector in _collectors:
        collector.append(result)
    return result


def _suite(
    id: str,
    test_cases: Sequence[BaseTestCase],
    fn: Any,
    evaluators: Any,
    max_test_case_concurrency: int | None,
    before_evaluators_hook: Any,
    grid_search_params: Any,
    human_review_job: Any,
    retry_count: Any,
    *,
    reraise_cancel: bool,
    quiet: bool | None = None,
    record: bool = True,
    run_id: str | None = None,
    repeats: int = 1,
    verdict: str | None = None,
    rate_limit_retries: int | None = None,
    is_rate_limit: Callable[[BaseException], bool] | None = None,
    adaptive_concurrency: bool = True,
    fn_timeout: float | None = None,
    evaluator_timeout: float | None = None,
    max_tokens: int | None = None,
    max_cost: float | None = None,
    prices: Mapping[str, tuple[float, float]] | None = None,
    shard: Any = None,
    executor: Any = None,
    resume: bool | None = None,
    cache: bool | str | None = None,
    rescore: str | None = None,
    load_output: Callable[[Any], Any] | None = None,
) -> Coroutine[Any, Any, SuiteResult]:
    """The suite's coroutine, from the arguments in Autoblocks' parameter order, also
    accepting trialrun's earlier positional order (id, test_cases, evaluators, fn,
    max_test_case_concurrency, grid_search_params), which no call of the SDK's order can
    look like: there fn is a callable and evaluators a sequence. Bad options raise here,
    before any loop runs. The public entry points pass their arguments through by name."""
    if not callable(fn) and callable(evaluators):
        fn, evaluators = evaluators, fn
        if before_evaluators_hook is not None and not callable(before_evaluators_hook):
            grid_search_params, before_evaluators_hook = before_evaluators_hook, None
    if isinstance(retry_count, bool) or not isinstance(retry_count, int) or retry_count < 0:
        raise _core.SuiteValidationError(
            f"[{id}] retry_count must be a whole number >= 0, got {retry_count!r}"
        )
    target = _stored.rescoring_target()
    if target is not None and rescore is None:
        # `trialrun rescore RUN FILE.py`: the run's suite judges its stored outputs.
        if id != target.suite_id:
            reason = f"trialrun rescore re-scores run {target.run_id} of suite {target.suite_id}"
            return _skipped(id, reason, quiet)
        rescore, grid_search_params = target.run_id, target.grid_params
        repeats, verdict = target.repeats, verdict or target.verdict
    limits = _Limits(
        rate_limit_retries,
        is_rate_limit,
        adaptive_concurrency,
        fn_timeout,
        evaluator_timeout,
        max_tokens,
        max_cost,
        prices,
    )
    engine = None
    if limits.active():
        limits.check(id)
        # The guard retries network errors too (retry_count), inside its timeouts.
        engine = limits.engine(retry_count)
    stored = _stored.options(id, fn, record, resume, cache, rescore, run_id)
    save_review = None
    if human_review_job is not None:
        from trialrun import _review

        fn, save_review = _review.reviewing(fn, human_review_job, record)
    if executor is not None and not callable(getattr(executor, "wrap", None)):
        raise _core.SuiteValidationError(
            f"[{id}] executor must be an executor of trialrun.executors, such as "
            f"trialrun.executors.Ray(address=...), got {executor!r}"
        )
    try:
        chosen_shard = _selection.shard(shard)
    except _core.SuiteValidationError as error:
        raise _core.SuiteValidationError(f"[{id}] {error}") from None
    test_cases, skip_reason = _selection.select(id, test_cases)
    if skip_reason is not None:
        return _skipped(id, skip_reason, quiet)
    coro = _run(
        id,
        test_cases,
        evaluators or [],
        fn if engine is not None else _retrying(fn, retry_count),
        max_test_case_concurrency,
        grid_search_params,
        before_evaluators_hook,
        quiet,
        record,
        reraise_cancel,
        run_id,
        repeats,
        verdict,
        engine,
        chosen_shard,
        executor,
        stored,
        load_output,
    )
    return save_review(coro) if save_review else coro


async def run_test_suite_async(
    id: str,
    test_cases: Sequence[BaseTestCase],
    fn: Callable[[Any], Any] | None = None,
    evaluators: Sequence[BaseTestEvaluator] | None = None,
    max_test_case_concurrency: int | None = None,
    before_evaluators_hook: Callable[[Any, Any], Any] | None = None,
    grid_search_params: dict[str, Sequence[Any]] | None = None,
    human_review_job: Any = None,
    retry_count: int = 0,
    *,
    quiet: bool | None = None,
    record: bool = True,
    repeats: int = 1,
    verdict: str | None = None,
    rate_limit_retries: int | None = None,
    is_rate_limit: Callable[[BaseException], bool] | None = None,
    adaptive_concurrency: bool = True,
    fn_timeout: float | None = None,
    evaluator_timeout: float | None = None,
    max_tokens: int | None = None,
    max_cost: float | None = None,
    prices: Mapping[str, tuple[float, float]] | None = None,
    shard: tuple[int, int] | str | None = None,
    executor: Any = None,
    resume: bool | None = None,
    cache: bool | str | None = None,
) -> SuiteResult:
    """Run a suite on the running event loop and return its SuiteResult.

    Cancelling the awaiting task interrupts the suite: what finished is stored, the runs
    are marked interrupted, and CancelledError propagates. record=False keeps the
    results out of the run store. The options are run_test_suite's.
    """
    return await _suite(**locals(), reraise_cancel=True)


def run_test_suite(
    id: str,
    test_cases: Sequence[BaseTestCase],
    fn: Callable[[Any], Any] | None = None,
    evaluators: Sequence[BaseTestEvaluator] | None = None,
    max_test_case_concurrency: int | None = None,
    before_evaluators_hook: Callable[[Any, Any], Any] | None = None,
    grid_search_params: dict[str, Sequence[Any]] | None = None,
    human_review_job: Any = None,
    retry_count: int = 0,
    *,
    quiet: bool | None = None,
    record: bool = True,
    repeats: int = 1,
    verdict: str | None = None,
    rate_limit_retries: int | None = None,
    is_rate_limit: Callable[[BaseException], bool] | None = None,
    adaptive_concurrency: bool = True,
    fn_timeout: float | None = None,
    evaluator_timeout: float | None = None,
    max_tokens: int | None = None,
    max_cost: float | None = None,
    prices: Mapping[str, tuple[float, float]] | None = None,
    shard: tuple[int, int] | str | None = None,
    executor: Any = None,
    resume: bool | None = None,
    cache: bool | str | None = None,
) -> SuiteResult:
    """Run a suite and return its SuiteResult; blocks until every result is stored.

    The parameters are Autoblocks' (in its order). `before_evaluators_hook(test_case,
    output)` runs after fn in its concurrency slot; what it returns reaches each evaluator
    as `hook_results=` (when not None). `retry_count` retries fn when it fails on the
    network (a timeout or connection error). Works in a plain script and inside a running
    event loop (it then runs its own loop on a dedicated thread). Ctrl-C interrupts the
    suite and returns the partial results, recorded as interrupted. record=False keeps the
    results out of the run store.

    Rate limits, timeouts and budgets (keyword-only; none is used by default):
    `rate_limit_retries=n` retries fn and evaluators up to n times on a rate limit (status
    429, a RateLimitError, or what `is_rate_limit(error)` accepts), waiting as Retry-After
    says or with jittered exponential backoff, and cuts the concurrency limits on rate
    limits and grows them back (`adaptive_concurrency=False` keeps them fixed). An
    exhausted quota (`insufficient_quota`) stops the suite at once. `fn_timeout` /
    `evaluator_timeout` bound each call in seconds. `max_tokens` / `max_cost` (with
    `prices={model: (input, output) per million tokens}`) bound the usage reported with
    `trialrun.report_usage`; reaching them starts no new case and the suite ends
    "stopped" with the reason.

    `shard=(i, n)` (or "i/n"; default: the TRIALRUN_SHARD variable) runs part i of n of
    the cases, split by suite id and case hash the same way on every machine; the run is
    tagged with its shard, and `trialrun merge` makes the parts one run again.
    `executor=trialrun.executors.Ray(address=...)` runs fn (and evaluators whose class
    sets `remote = True`) as tasks on a Ray cluster; see trialrun.executors.

    `resume=True` (default: the TRIALRUN_RESUME variable, set by `trialrun run
    --resume`) continues the latest run of this suite (per grid combination and shard)
    when it did not complete: its finished cases are kept, the rest run, in the same run.
    `cache=True` (or a version string, which is part of the key) takes fn's output from
    the store when this suite's fn, with the same code, already ran the same case, grid
    combination and trial; outputs are pickled, errors are never cached (default: the
    TRIALRUN_CACHE variable, set by `trialrun run --cache`; `trialrun cache clear`).
    """
    return run_blocking(_suite(**locals(), reraise_cancel=False), thread_name="trialrun-suite")


# Exceptions worth trying fn again for: the network failed (as Autoblocks' retry_count,
# which retries on httpx timeouts and connection errors), named so that neither httpx nor
# openai need be installed.
_TRANSIENT_NAMES = {
    "TimeoutException",  # httpx
    "NetworkError",  # httpx: ConnectError, ReadError, ...
    "APIConnectionError",  # openai (APITimeoutError is one)
}
_BACKOFF_FIRST_S = 0.5
_BACKOFF_MAX_S = 30.0


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, _limits.CallTimeout):
        return False  # the call's own timeout: trying again would take as long
    if isinstance(error, (TimeoutError, ConnectionError)):
        return True
    return any(cls.__name__ in _TRANSIENT_NAMES for cls in type(error).__mro__)


def _backoff(attempt: int) -> float:
    return min(_BACKOFF_MAX_S, _BACKOFF_FIRST_S * 2**attempt) * random.uniform(0.5, 1.0)


def _retrying(fn: Any, retry_count: int) -> Any:
    """fn, tried again up to retry_count times when it fails on the network."""
    if retry_count == 0 or not callable(fn):
        return fn
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)
    ):

        @functools.wraps(fn)
        async def retried_async(test_case: Any) -> Any:
            for attempt in range(retry_count + 1):
                try:
                    return await fn(test_case)
                except Exception as error:
                    if attempt == retry_count or not _is_transient(error):
                        raise
                await asyncio.sleep(_backoff(attempt))
            raise AssertionError("unreachable")

        return retried_async

    @functools.wraps(fn)
    def retried(test_case: Any) -> Any:
        for attempt in range(retry_count + 1):
            try:
                return fn(test_case)
            except Exception as error:
                if attempt == retry_count or not _is_transient(error):
                    raise
            time.sleep(_backoff(attempt))
        raise AssertionError("unreachable")

    return retried


class collect_results:
    """Context manager gathering the SuiteResult of every suite run inside it."""

    def __enter__(self) -> list[SuiteResult]:
        self._results: list[SuiteResult] = []
        _collectors.append(self._results)
        return self._results

    def __exit__(self, *exc: Any) -> None:
        _collectors.remove(self._results)
