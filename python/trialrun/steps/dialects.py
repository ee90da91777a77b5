"""Which of prometheus-test's step APIs a step's functions are written against.

- ``"context"``: the documented one, ``prepare(context)`` and ``execute(context,
  prepare_data)``; the older ``Context`` dialect (``context.env``,
  ``context.round_number``, ``await context.storeGet(...)``) has the same shape and gets
  the same object;
- ``"runner"``: the package's real one, ``prepare(runner, worker)`` and
  ``execute(runner, worker, data)``, with an optional ``validate(runner, result)``; the
  step fails unless execute's result has a truthy ``success``.

The dialect is read from the functions' signatures (arguments bound by functools.partial
excluded); a function that fits neither is refused before anything starts, naming its
module, function, file and line and the accepted signatures.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from trialrun.steps.errors import StepsConfigError

__all__ = ["CONTEXT", "RUNNER", "describe", "dialect_of"]

CONTEXT = "context"
RUNNER = "runner"

# Positional arguments each role receives in each dialect.
_ARITY = {
    "prepare": {CONTEXT: 1, RUNNER: 2},
    "execute": {CONTEXT: 2, RUNNER: 3},
    "validate": {RUNNER: 2},
}
_ACCEPTED = {
    "prepare": "prepare(context) or prepare(runner, worker)",
    "execute": "execute(context, prepare_data) or execute(runner, worker, data)",
    "validate": "validate(runner, result)",
}
_FIRST_NAMES = {CONTEXT: ("context", "ctx"), RUNNER: ("runner",)}


def _positional(fn: Callable[..., Any]) -> tuple[int, float, str | None] | None:
    """(required, maximum, first parameter's name) of the positional arguments fn takes
    (partial's bound ones excluded); None when its signature cannot be read."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    required, maximum, first = 0, 0.0, None
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            first = first or p.name
            maximum += 1
            if p.default is p.empty:
                required += 1
        elif p.kind is p.VAR_POSITIONAL:
            first = first or p.name
            maximum = float("inf")
    return required, maximum, first


def _fits(fn: Callable[..., Any], role: str) -> tuple[set[str], str | None]:
    shape = _positional(fn)
    if shape is None:
        return set(_ARITY[role]), None
    required, maximum, first = shape
    fits = {d for d, n in _ARITY[role].items() if required <= n <= maximum}
    return fits, first


def dialect_of(step_name: str, functions: dict[str, Callable[..., Any] | None]) -> str:
    """The dialect of a step's functions (role -> function or None); StepsConfigError when
    a function fits none, or the functions mix dialects."""
    candidates = {CONTEXT, RUNNER}
    firsts: list[str] = []
    for role, fn in functions.items():
        if fn is None:
            continue
        fits, first = _fits(fn, role)
        if not fits:
            raise StepsConfigError(
                f"step '{step_name}': {role} {describe(fn)} takes {_takes(fn)}; "
                f"accepted: {_ACCEPTED[role]}"
            )
        if first:
            firsts.append(first)
        if not fits & candidates:
            raise StepsConfigError(
                f"step '{step_name}': {role} {describe(fn)} takes {_takes(fn)}, which does "
                f"not go with the step's other functions ({_mix(functions)}); use either "
                f"prepare(context) + execute(context, prepare_data) or prepare(runner, "
                f"worker) + execute(runner, worker, data) [+ validate(runner, result)]"
            )
        candidates &= fits
    if len(candidates) == 1:
        return candidates.pop()
    # Both fit (defaults or *args): the parameters' names decide, else the real API.
    for dialect in (CONTEXT, RUNNER):
        if firsts and firsts[0] in _FIRST_NAMES[dialect]:
            return dialect
    return RUNNER if RUNNER in candidates else CONTEXT


def _mix(functions: dict[str, Callable[..., Any] | None]) -> str:
    return ", ".join(f"{role} {_takes(fn)}" for role, fn in functions.items() if fn is not None)


def _takes(fn: Callable[..., Any]) -> str:
    try:
        return str(inspect.signature(fn))
    except (TypeError, ValueError):
        return "(unknown arguments)"


def describe(fn: Callable[..., Any]) -> str:
    """module.function (file:line), seen through functools.partial."""
    inner = fn
    while isinstance(inner, functools.partial):
        inner = inner.func
    inner = inspect.unwrap(inner)
    name = getattr(inner, "__qualname__", None) or type(inner).__qualname__
    module = getattr(inner, "__module__", None) or type(inner).__module__
    where = ""
    code = getattr(inner, "__code__", None) or getattr(
        getattr(type(inner), "__call__", None), "__code__", None
    )
    if code is not None:
        where = f" ({code.co_filename}:{code.co_firstlineno})"
    label = f"{module}.{name}{where}"
    return f"partial({label})" if isinstance(fn, functools.partial) else label
