"""One try of a step: prepare then execute (then validate), sync or async, within the
step's timeout, called in the step's dialect; a result that says it failed fails."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import traceback
from collections.abc import Callable
from typing import Any

from trialrun._loop import on_thread
from trialrun.steps.context import StepContext
from trialrun.steps.dialects import RUNNER
from trialrun.steps.errors import SkipStep
from trialrun.steps.step import TestStep

__all__ = ["attempt", "call", "is_async", "on_step_thread"]


class _ResultFailed(Exception):
    """execute's result says the step failed (its `success` is not truthy)."""


async def attempt(
    step: TestStep, ctx: StepContext, timeout: float | None, runner: Any, worker: Any
) -> tuple:
    """(outcome, output, error traceback, skip reason) of one try of the step.

    prometheus-test's real API (`prepare(runner, worker)`, ...) gets the runner and the
    worker; its runner fails a step whose result has no truthy `success`, and so does
    this. In the documented API a mapping result with a falsy `success` fails too.
    """
    output: Any = None

    async def run() -> Any:
        nonlocal output
        if step.dialect == RUNNER:
            args: tuple = (runner, worker)
        else:
            args = (ctx,)
        data = await call(step.prepare, *args) if step.prepare is not None else None
        output = await call(step.execute, *args, data)
        _check_result(step, output)
        if step.validate is not None:
            await call(step.validate, runner, output)
        return output

    try:
        output = await (asyncio.wait_for(run(), timeout) if timeout else run())
        return "passed", output, None, None
    except _ResultFailed as e:
        return "failed", output, str(e), None
    except SkipStep as e:
        return "skipped", None, None, e.reason or "skipped"
    except asyncio.TimeoutError:
        return (
            "errored",
            None,
            f"TimeoutError: step '{step.name}' did not finish within {timeout} s",
            None,
        )
    except AssertionError:
        return "failed", None, traceback.format_exc(), None
    except Exception:
        return "errored", None, traceback.format_exc(), None


def _check_result(step: TestStep, result: Any) -> None:
    get = getattr(result, "get", None)
    if step.dialect == RUNNER:
        if not callable(get):
            raise _ResultFailed(
                f"Step {step.name} failed: execute returned {_short(result)}; a result "
                "with a truthy 'success' is required (prometheus-test's runner calls "
                "result.get('success'))"
            )
    elif not (callable(get) and isinstance(result, dict) and "success" in result):
        return
    if not get("success"):
        why = get("error") or get("message") or "Unknown error"
        raise _ResultFailed(f"Step {step.name} failed: {why}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def is_async(fn: Callable[..., Any]) -> bool:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)
    )


async def call(fn: Callable[..., Any], *args: Any) -> Any:
    """Async functions run on the loop; sync ones on a thread, so they never block it."""
    if is_async(fn):
        return await fn(*args)
    out = await on_step_thread(functools.partial(contextvars.copy_context().run, fn, *args))
    if inspect.isawaitable(out):
        out = await out
    return out


async def on_step_thread(fn: Callable[[], Any]) -> Any:
    """fn() awaited on a daemon thread of its own named trialrun-step (``_loop.on_thread``)."""
    return await on_thread(fn, thread_name="trialrun-step")
