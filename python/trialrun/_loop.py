"""Crossing between sync code, threads and asyncio loops, written once for every entry point.

- ``run_blocking(coro)``: a blocking entry point (``run_test_suite``, the step sequence's
  ``TestRunner.run``) runs its coroutine to completion: on a loop of its own in this thread,
  or, when this thread already runs a loop (Jupyter, pytest-asyncio), on a new loop on a
  dedicated thread while this one waits.
- ``on_thread(fn)``: the other way round, a coroutine awaits a blocking call made on a daemon
  thread of its own, so the loop keeps running.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_blocking(coro: Coroutine[Any, Any, T], *, thread_name: str = "trialrun-loop") -> T:
    """Runs coro to completion from sync code and returns its result (or raises its error).

    Without a running loop in this thread: on a new loop here; on the main thread Ctrl-C
    cancels the coroutine's task (Python 3.11+; on 3.10 KeyboardInterrupt is raised inside
    it). With one: on a new loop on a daemon thread named thread_name, in a copy of this
    thread's contextvars; Ctrl-C while waiting cancels the task and waits for it to finish.
    """
    # Decided outside the except block, so user tracebacks do not chain to it.
    try:
        asyncio.get_running_loop()
        loop_running = True
    except RuntimeError:
        loop_running = False
    return _run_on_thread(coro, thread_name) if loop_running else _run_here(coro)


def _run_here(coro: Coroutine[Any, Any, T]) -> T:
    runner_type = getattr(asyncio, "Runner", None)
    if runner_type is None:  # Python 3.10: no Runner, Ctrl-C raises after recording
        return asyncio.run(coro)
    # On the main thread, asyncio.Runner turns Ctrl-C into cancelling our task.
    with runner_type() as runner:
        return runner.run(coro)


def _run_on_thread(coro: Coroutine[Any, Any, T], name: str) -> T:
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
    thread = threading.Thread(target=context.run, args=(target,), name=name, daemon=True)
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


async def on_thread(fn: Callable[[], T], *, thread_name: str = "trialrun-call") -> T:
    """fn() on a daemon thread of its own, awaited from the running loop. Unlike the loop's
    default executor, a call still running when the run is interrupted is abandoned: closing
    the loop does not wait for it. fn runs in the thread's own (empty) contextvars context;
    wrap it in ``contextvars.copy_context().run`` to give it the caller's."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if not future.done():
            future.set_result(value) if ok else future.set_exception(value)

    def target() -> None:
        try:
            outcome = (True, fn())
        except BaseException as e:  # handed to the awaiting task
            outcome = (False, e)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    threading.Thread(target=target, name=thread_name, daemon=True).start()
    return await future
