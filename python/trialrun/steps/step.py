"""TestStep: one step of a sequence, its functions and its worker (checked when built)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trialrun.steps.dialects import dialect_of
from trialrun.steps.errors import StepsConfigError

__all__ = ["TestStep"]


class TestStep:
    """One step: prepare returns data, execute acts on it, in either of prometheus-test's
    APIs (decided from the functions' signatures, functools.partial included):

    - `prepare(context)`, `execute(context, prepare_data)` (the documented one; the older
      `Context` dialect's stages are of this shape too);
    - `prepare(runner, worker)`, `execute(runner, worker, data)` and an optional
      `validate(runner, result)` (the package's real one): execute must return a result
      whose `success` is truthy, else the step fails with its `error` or `message`.

    Functions may be sync (run on a thread) or async (run on the loop). An AssertionError
    fails the step, SkipStep skips it, any other exception errors it. `timeout` (seconds,
    prepare + execute) and `retries` (extra attempts after a failure or error) default to
    config.yaml's step_timeout and retries. A function of neither shape is refused here,
    naming its module, file and line.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(
        self,
        name: str,
        description: str,
        prepare: Callable[..., Any] | None,
        execute: Callable[..., Any],
        worker: str,
        validate: Callable[..., Any] | None = None,
        *,
        timeout: float | None = None,
        retries: int | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise StepsConfigError(f"TestStep: name must be a non-empty str, got {name!r}")
        if isinstance(prepare, str) and callable(worker):
            # prometheus-test's dataclass order: (name, description, worker, prepare, execute).
            prepare, execute, worker = execute, worker, prepare  # type: ignore[assignment]
        if prepare is not None and not callable(prepare):
            raise StepsConfigError(f"step '{name}': prepare is not callable: {prepare!r}")
        if not callable(execute):
            raise StepsConfigError(f"step '{name}': execute is not callable: {execute!r}")
        if validate is not None and not callable(validate):
            raise StepsConfigError(f"step '{name}': validate is not callable: {validate!r}")
        if not isinstance(worker, str) or not worker:
            raise StepsConfigError(
                f"step '{name}': worker must be a worker name (str), got {worker!r}"
            )
        if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
            raise StepsConfigError(
                f"step '{name}': timeout must be a positive number of seconds, got {timeout!r}"
            )
        if retries is not None and not (
            isinstance(retries, int) and not isinstance(retries, bool) and retries >= 0
        ):
            raise StepsConfigError(f"step '{name}': retries must be an int >= 0, got {retries!r}")
        self.dialect = dialect_of(
            name, {"prepare": prepare, "execute": execute, "validate": validate}
        )
        self.name = name
        self.description = description or ""
        self.prepare = prepare
        self.execute = execute
        self.worker = worker
        self.validate = validate
        self.timeout = timeout
        self.retries = retries

    def __repr__(self) -> str:
        return f"TestStep({self.name!r}, worker={self.worker!r})"
