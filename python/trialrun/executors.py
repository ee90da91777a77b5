"""Where a suite's calls run when one machine cannot hold them.

``run_test_suite(..., executor=trialrun.executors.Ray(address="127.0.0.1:6379"))`` runs
each fn call as a Ray task on the cluster, and each evaluator whose class sets
``remote = True`` too. Everything else stays as in a local run: trialrun's scheduler
keeps ``max_test_case_concurrency`` (set it to what the cluster can run at once),
evaluator limits, the grid (``grid_search_ctx()`` works inside the task) and repeats;
each result is stored locally as its task finishes; Ctrl-C cancels the tasks in flight.

A task whose node dies is retried by Ray (``max_retries`` times); after that its case
errors with Ray's error, which names the node. An exception fn raises is not retried
(Ray's ``retry_exceptions=False``): the case errors with it, as locally.

Install with ``pip install "trialrun[ray]"``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Ray", "RayTaskLost"]


class RayTaskLost(RuntimeError):
    """A Ray task was lost with its node (or its worker process) after Ray's retries."""


def _call(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], grid: Any) -> Any:
    """Runs on a Ray worker: func(*args, **kwargs) with the run's grid combination set, so
    ``grid_search_ctx()`` answers as locally; an async func runs on a loop of its own."""
    from trialrun import _run

    token = _run._grid_var.set(grid)
    try:
        value = func(*args, **kwargs)
        if inspect.isawaitable(value):

            async def wait() -> Any:
                return await value

            value = asyncio.run(wait())
        return value
    finally:
        _run._grid_var.reset(token)


class Ray:
    """Runs a suite's fn calls (and ``remote = True`` evaluators) as Ray tasks.

    ``address``: the cluster to connect to ("127.0.0.1:6379", "auto"; None starts a
    local Ray, or uses the one this process already connected to). ``max_retries``: how
    often Ray runs a task again after its node or worker died. ``remote_options``: passed
    to ``ray.remote`` (``num_cpus``, ``resources``, ``runtime_env``, ...).
    ``init_options``: passed to ``ray.init``.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        max_retries: int = 3,
        remote_options: Mapping[str, Any] | None = None,
        init_options: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"Ray: max_retries must be a whole number >= 0, got {max_retries!r}")
        self.address = address
        self.max_retries = max_retries
        self.remote_options = dict(remote_options or {})
        self.init_options = dict(init_options or {})
        self._remote: Any = None

    def __repr__(self) -> str:
        return f"Ray(address={self.address!r}, max_retries={self.max_retries})"

    def _ray(self) -> Any:
        try:
            import ray
        except ImportError:
            raise ImportError('the Ray executor needs Ray: pip install "trialrun[ray]"') from None
        if not ray.is_initialized():
            options = {"log_to_driver": False, **self.init_options}
            ray.init(address=self.address, **options)
        if self._remote is None:
            self._remote = ray.remote(
                max_retries=self.max_retries, retry_exceptions=False, **self.remote_options
            )(_call)
        return ray

    def wrap(self, func: Callable[..., Any], what: str) -> Callable[..., Any]:
        """func as an async function whose every call is a Ray task. ``what`` names it in
        errors ("fn", 'evaluator "judge"')."""
        ray = self._ray()
        remote = self._remote
        func_ref = ray.put(func)  # shipped once, not with every task
        lost = (
            ray.exceptions.NodeDiedError,
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.ObjectLostError,
            ray.exceptions.OwnerDiedError,
        )
        from trialrun import _run
        from trialrun._limits import _named

        async def on_ray(*args: Any, **kwargs: Any) -> Any:
            ref = remote.remote(func_ref, args, kwargs, _run._grid_var.get())
            try:
                return await ref
            except asyncio.CancelledError:
                ray.cancel(ref, force=True)
                raise
            except lost as error:
                raise RayTaskLost(
                    f"the Ray task running {what} was lost after {self.max_retries} "
                    f"retr{'y' if self.max_retries == 1 else 'ies'}: {error}"
                ) from None

        return _named(on_ray, func)
