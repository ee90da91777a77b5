"""One try of a step: prepare then execute, sync or async, within the step's timeout."""

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
from trialrun.steps.errors import SkipStep
from trialrun.steps.step import TestStep

__all__ = ["attempt", "call", "is_async", "on_step_thread"]


async def attempt(step: TestStep, ctx: StepContext, timeout: float | None) -> tuple:
    """(outcome, output, error traceback, skip reason) of one try of prepare + execute."""

    async def both() -> Any:
        data = await call(step.prepare, ctx) if step.prepare is not None else None
        return await call(step.execute, ctx, data)

    try:
        output = await (asyncio.wait_for(both(), timeout) if timeout else both())
        return "passed", output, None, None
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
