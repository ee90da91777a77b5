"""Rate limits, timeouts and budgets for run_test_suite.

When a suite has any of these options, fn and each evaluator are wrapped (the engine calls
``Guard.wrap`` while it builds its plan). The wrapper retries calls that hit a rate limit,
honouring ``Retry-After``, and reports each rate limit and success to the suite's
``_core.SuiteLimits``, where the Rust core cuts and regrows the concurrency limits
(AIMD) and keeps the run's budget. An exhausted quota stops the suite at once. Each call
runs with its ``_core.CallRecord`` in a context variable, where its retries and the usage
that ``report_usage`` reports are kept for its case.

Without any of the options nothing is wrapped: the engine's hot path is unchanged.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from trialrun import _core

# The record of the fn or evaluator call running in this context (set by the engine).
_call_var: contextvars.ContextVar[_core.CallRecord | None] = contextvars.ContextVar(
    "trialrun_call_record", default=None
)

# Backoff when a rate limit gives no Retry-After: full jitter over a doubling ceiling.
_BACKOFF_BASE_S = 0.25
_BACKOFF_CAP_S = 30.0
# A Retry-After longer than this is not waited for: the call fails with its error.
MAX_RETRY_AFTER_S = 300.0
_ERROR_CHARS = 500


class CallTimeout(TimeoutError):
    """fn or an evaluator ran longer than its timeout (``fn_timeout`` /
    ``evaluator_timeout``). Never retried."""


def report_usage(
    *, model: str | None = None, input_tokens: int = 0, output_tokens: int = 0
) -> None:
    """Inside fn or an evaluator: counts the tokens of a model call against the case and
    the run's budget (``max_tokens`` / ``max_cost``; the cost from ``prices[model]``).

    Once the budget is used up, no new case starts; the run ends "stopped" with the
    reason "budget exhausted: ...". Does nothing outside a suite that has rate-limit,
    timeout or budget options. Raises ValueError for negative counts, or for a model
    missing from ``prices`` when the run has a ``max_cost``.
    """
    for name, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"report_usage: {name} must be a whole number >= 0, got {value!r}")
    if model is not None and not isinstance(model, str):
        raise ValueError(f"report_usage: model must be a str or None, got {model!r}")
    record = _call_var.get()
    if record is not None:
        record.usage(model, input_tokens, output_tokens)


def limit_key(
    key: str,
    *,
    requests_per_minute: float | None = None,
    tokens_per_minute: float | None = None,
) -> None:
    """Sets the shared rate budget of a provider key for this process (token buckets in
    the Rust core); both None removes it. ``acquire``/``acquire_sync`` draw on it."""
    _core.set_key_limits(key, requests_per_minute, tokens_per_minute)


async def acquire(key: str, tokens: int = 0) -> float:
    """Waits until one request of ``tokens`` tokens fits the budget of ``key`` (see
    ``limit_key``); returns the seconds waited (0.0 for a key without limits)."""
    wait = _core.reserve_key(key, float(tokens)) or 0.0
    if wait > 0:
        await asyncio.sleep(wait)
    return wait


def acquire_sync(key: str, tokens: int = 0) -> float:
    """``acquire`` for sync code: blocks the calling thread."""
    wait = _core.reserve_key(key, float(tokens)) or 0.0
    if wait > 0:
        time.sleep(wait)
    return wait


def _status(obj: Any) -> int | None:
    for name in ("status_code", "status"):
        value = getattr(obj, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _response(error: BaseException) -> Any:
    return getattr(error, "response", None)


def is_rate_limit_error(error: BaseException) -> bool:
    """A status 429 on the error or its ``response`` (httpx.HTTPStatusError,
    openai.APIStatusError, requests' HTTPError), or a class named RateLimitError (openai,
    anthropic) anywhere in its class hierarchy."""
    if any(cls.__name__ == "RateLimitError" for cls in type(error).__mro__):
        return True
    if _status(error) == 429:
        return True
    response = _response(error)
    return response is not None and _status(response) == 429


def is_quota_error(error: BaseException) -> bool:
    """An exhausted quota: the code ``insufficient_quota`` (as OpenAI's 429s carry it) on
    the error, in its body, or in its response's text."""
    if getattr(error, "code", None) == "insufficient_quota":
        return True
    body = getattr(error, "body", None)
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and inner.get("code") == "insufficient_quota":
            return True
    response = _response(error)
    if response is not None:
        try:
            text = response.text
        except Exception:
            text = None
        if isinstance(text, str) and "insufficient_quota" in text:
            return True
    return "insufficient_quota" in str(error)


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    try:
        value = headers.get(name)
        if value is None and isinstance(headers, Mapping):
            value = next((v for k, v in headers.items() if str(k).lower() == name), None)
    except Exception:
        return None
    return str(value) if value is not None else None


def retry_after_s(error: BaseException) -> float | None:
    """The wait the server asked for: ``retry-after-ms`` or ``Retry-After`` (seconds or an
    HTTP date) from the error's ``response.headers`` (or its own ``headers``)."""
    response = _response(error)
    for headers in (getattr(response, "headers", None), getattr(error, "headers", None)):
        ms = _header(headers, "retry-after-ms")
        if ms is not None:
            try:
                value = float(ms) / 1000
                if value >= 0 and value == value:
                    return value
            except ValueError:
                pass
        value = _header(headers, "retry-after")
        if value is not None:
            seconds = _core.retry_after_seconds(value)
            if seconds is not None:
                return seconds
    return None


def _describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 3] + "..."


class Guard:
    """Retries, timeouts and reports for one suite's fn and evaluators."""

    def __init__(
        self,
        limits: _core.SuiteLimits,
        *,
        rate_limit_retries: int,
        is_rate_limit: Callable[[BaseException], bool] | None,
        network_retries: int,
        fn_timeout: float | None,
        evaluator_timeout: float | None,
    ) -> None:
        self.limits = limits
        self.rate_limit_retries = rate_limit_retries
        self.is_rate_limit = is_rate_limit
        self.network_retries = network_retries
        self.fn_timeout = fn_timeout
        self.evaluator_timeout = evaluator_timeout

    def _rate_limited(self, error: BaseException) -> bool:
        if is_rate_limit_error(error):
            return True
        return self.is_rate_limit is not None and bool(self.is_rate_limit(error))

    def _retry_wait(
        self, error: BaseException, callee: int, name: str, epoch: int, tries: list[int]
    ) -> float | None:
        """The wait before trying again, or None to raise `error`. tries: [rate limit
        retries, network retries] so far."""
        from trialrun._run import _backoff, _is_transient

        if isinstance(error, CallTimeout):
            return None
        if is_quota_error(error):
            self.limits.stop_now(f"quota exhausted ({name}): {_describe(error)}")
            return None
        if self._rate_limited(error):
            self.limits.rate_limited(callee, epoch)
            if tries[0] >= self.rate_limit_retries:
                return None
            wait = retry_after_s(error)
            if wait is None:
                wait = _core.backoff_seconds(tries[0], _BACKOFF_BASE_S, _BACKOFF_CAP_S)
            elif wait > MAX_RETRY_AFTER_S:
                return None
            tries[0] += 1
            return wait
        if tries[1] < self.network_retries and _is_transient(error):
            tries[1] += 1
            return _backoff(tries[1] - 1)
        return None

    def wrap(self, func: Any, callee: int, name: str) -> Any:
        """func (fn: callee 0; evaluator i's evaluate_test_case: callee 1 + i) with
        retries, its timeout and reports; async stays async."""
        timeout = self.fn_timeout if callee == 0 else self.evaluator_timeout
        limits = self.limits
        if inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
            getattr(func, "__call__", None)
        ):

            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                tries = [0, 0]
                while True:
                    epoch = limits.epoch(callee)
                    try:
                        if timeout is None:
                            value = await func(*args, **kwargs)
                        else:
                            value = await _await_within(func(*args, **kwargs), timeout, name)
                    except Exception as error:
                        wait = self._retry_wait(error, callee, name, epoch, tries)
                        if wait is None:
                            raise
                        _note_retry(error, wait)
                        await asyncio.sleep(wait)
                        continue
                    limits.succeeded(callee)
                    return value

            return _named(guarded_async, func)

        def guarded(*args: Any, **kwargs: Any) -> Any:
            tries = [0, 0]
            while True:
                epoch = limits.epoch(callee)
                try:
                    if timeout is None:
                        value = func(*args, **kwargs)
                    else:
                        value = _call_within(func, args, kwargs, timeout, name)
                except Exception as error:
                    wait = self._retry_wait(error, callee, name, epoch, tries)
                    if wait is None:
                        raise
                    _note_retry(error, wait)
                    time.sleep(wait)
                    continue
                limits.succeeded(callee)
                return value

        return _named(guarded, func)


def _named(wrapper: Any, func: Any) -> Any:
    try:
        return functools.wraps(func)(wrapper)
    except (AttributeError, TypeError):
        return wrapper


def _note_retry(error: BaseException, wait: float) -> None:
    record = _call_var.get()
    if record is not None:
        record.retried(_describe(error), wait)


def _timed_out(name: str, timeout: float) -> CallTimeout:
    return CallTimeout(f"{name} timed out after {timeout:g} s")


def _consume(task: asyncio.Future[Any]) -> None:
    # A call abandoned on timeout may end later with an error nobody awaits.
    if not task.cancelled():
        task.exception()


async def _await_within(awaitable: Any, timeout: float, name: str) -> Any:
    """Awaits; past `timeout` the call is cancelled and CallTimeout raised."""
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except BaseException:
        task.cancel()
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_consume)
        raise _timed_out(name, timeout)
    return task.result()


def _call_within(func: Any, args: Any, kwargs: Any, timeout: float, name: str) -> Any:
    """Calls sync code on a thread of its own; past `timeout` it is abandoned (a thread
    cannot be stopped: it runs on, its result ignored) and CallTimeout raised."""
    context = contextvars.copy_context()
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = context.run(func, *args, **kwargs)
        except BaseException as error:
            outcome["error"] = error
        finally:
            done.set()

    threading.Thread(target=run, name="trialrun-timed-call", daemon=True).start()
    if not done.wait(timeout):
        raise _timed_out(name, timeout)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
