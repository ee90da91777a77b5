"""What a suite takes from the run store instead of calling user code: resume (the cases
an interrupted run finished), the cache of fn's outputs, and re-scoring a stored run's
outputs with new or changed evaluators. The engine does the work (``_core.SuiteRun``'s
``resume``, ``cache`` and ``rescore``); this module checks the options, fingerprints fn,
and drives ``rescore`` and ``trialrun rescore RUN FILE.py``.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import hashlib
import inspect
import json
import os
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from trialrun import _core
from trialrun._core import SuiteResult
from trialrun._models import BaseTestCase, BaseTestEvaluator


@dataclasses.dataclass(frozen=True)
class Options:
    """The engine's store options for one suite."""

    resume: bool = False
    #: fn's fingerprint when its outputs are cached.
    fingerprint: str | None = None
    #: The id of the run whose outputs are re-scored.
    rescore: str | None = None


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _env_flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _core.SuiteValidationError(f"{name} must be 1 or 0, got {os.environ[name]!r}")


def options(
    id: str,
    fn: Any,
    record: bool,
    resume: Any,
    cache: Any,
    rescore: str | None,
    run_id: str | None,
) -> Options:
    """The checked options (SuiteValidationError naming the option, before any work).
    Unset, resume and cache come from TRIALRUN_RESUME and TRIALRUN_CACHE, which
    ``trialrun run --resume / --cache`` set."""

    def bad(msg: str) -> _core.SuiteValidationError:
        return _core.SuiteValidationError(f"[{id}] {msg}")

    if resume is None:
        resume = _env_flag("TRIALRUN_RESUME")
    if cache is None:
        cache = _env_flag("TRIALRUN_CACHE")
    if not isinstance(resume, bool):
        raise bad(f"resume must be True or False, got {resume!r}")
    if not isinstance(cache, (bool, str)) or cache == "":
        raise bad(f"cache must be True, False or a version string, got {cache!r}")
    if rescore is not None:
        # Re-scoring judges a stored run: nothing is resumed, fn is never called.
        return Options(rescore=rescore)
    if (resume or cache is not False) and not record:
        which = "resume" if resume else "cache"
        raise bad(f"{which} needs the run store: it cannot be used with record=False")
    if resume and run_id is not None:
        raise bad("resume continues a stored run under its own id: give no run_id")
    fingerprint = None
    if cache is not False:
        fingerprint = fn_fingerprint(fn, None if cache is True else cache)
    return Options(resume=resume, fingerprint=fingerprint)


def fn_fingerprint(fn: Any, version: str | None = None) -> str:
    """Names fn's code: its module and name, its source (or, without one, its bytecode
    and constants), and ``version``. A change to fn's own code makes a new fingerprint;
    a change in code it calls does not, which is what ``version`` is for."""
    digest = hashlib.sha256()
    for part in _code_parts(fn):
        digest.update(part)
        digest.update(b"\0")
    if version is not None:
        digest.update(b"version\0" + version.encode())
    return digest.hexdigest()[:32]


def _code_parts(fn: Any) -> Iterator[bytes]:
    if isinstance(fn, functools.partial):
        yield repr((fn.args, sorted(fn.keywords.items()))).encode()
        yield from _code_parts(fn.func)
        return
    target = inspect.unwrap(fn) if callable(fn) else fn
    if not isinstance(target, (types.FunctionType, types.MethodType, type)):
        target = type(target)  # a callable object: its class's code
    name = getattr(target, "__qualname__", type(target).__qualname__)
    yield f"{getattr(target, '__module__', '')}.{name}".encode()
    try:
        yield inspect.getsource(target).encode()
    except (OSError, TypeError):
        code = getattr(getattr(target, "__func__", target), "__code__", None)
        if code is not None:
            yield from _bytecode(code)


def _bytecode(code: types.CodeType) -> Iterator[bytes]:
    yield code.co_code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _bytecode(const)
        else:
            yield repr(const).encode()


class StoredTestCase(BaseTestCase):
    """A test case as the run store keeps it, for re-scoring without the suite's own
    classes: its stored fields are attributes (``case.input``) and items
    (``case["input"]``), and ``hash()`` is its stored hash."""

    def __init__(self, hash: str, fields: Any) -> None:
        self._hash = hash
        self._fields = fields
        if isinstance(fields, dict):
            for name, value in fields.items():
                if isinstance(name, str) and name.isidentifier() and not hasattr(self, name):
                    setattr(self, name, value)

    def hash(self) -> str:
        return self._hash

    def serialize(self) -> Any:
        return self._fields

    def __getitem__(self, name: str) -> Any:
        return self._fields[name]

    def __repr__(self) -> str:
        return f"StoredTestCase({self._hash!r}, {self._fields!r})"


@dataclasses.dataclass(frozen=True)
class _Target:
    """The run being re-scored."""

    run_id: str
    suite_id: str
    grid: dict[str, Any] | None
    repeats: int
    verdict: str | None
    cases: list[tuple[str, str]]

    @property
    def grid_params(self) -> dict[str, list[Any]] | None:
        return None if self.grid is None else {k: [v] for k, v in self.grid.items()}

    def test_cases(self) -> list[BaseTestCase]:
        return [StoredTestCase(h, json.loads(fields)) for h, fields in self.cases]


def _target(run: str, cases: bool = True) -> _Target:
    run_id, suite_id, grid, trials, stored = _core.stored_suite(run, cases)
    plan = json.loads(trials) if trials else {}
    return _Target(
        run_id=run_id,
        suite_id=suite_id,
        grid=json.loads(grid) if grid else None,
        repeats=int(plan.get("repeats", 1)),
        verdict=plan.get("verdict"),
        cases=stored,
    )


def _never_called(test_case: Any) -> Any:
    raise AssertionError("re-scoring never calls fn")


def rescore(
    run: str,
    evaluators: Sequence[BaseTestEvaluator],
    *,
    test_cases: Sequence[BaseTestCase] | None = None,
    load_output: Callable[[Any], Any] | None = None,
    verdict: str | None = None,
    quiet: bool | None = None,
    record: bool = True,
) -> SuiteResult:
    """Judge the outputs a stored run's fn gave with ``evaluators`` (new or changed ones),
    without calling fn: a new run of the same suite and grid combination, which records
    the run it re-scored (``rescored_from``). ``run`` is a run id, a unique prefix, or
    "latest".

    Evaluators get each case as ``test_cases`` has it (matched by hash; default: the
    stored fields as a ``StoredTestCase``) and fn's output as the store kept it (JSON
    values; ``load_output(value)`` may rebuild your type). A case whose fn raised in that
    run is errored again with the same error; a case the run lacks is errored."""
    from trialrun._loop import run_blocking
    from trialrun._run import _suite

    target = _target(run, cases=test_cases is None)
    cases = list(test_cases) if test_cases is not None else target.test_cases()
    coro = _suite(
        target.suite_id,
        cases,
        _never_called,
        evaluators,
        None,
        None,
        target.grid_params,
        None,
        0,
        reraise_cancel=False,
        quiet=quiet,
        record=record,
        repeats=target.repeats,
        verdict=verdict or target.verdict,
        rescore=target.run_id,
        load_output=load_output,
    )
    return run_blocking(coro, thread_name="trialrun-suite")


# While `trialrun rescore RUN FILE.py` runs the file: the run whose suite it re-scores.
_rescoring: contextvars.ContextVar[_Target | None] = contextvars.ContextVar(
    "trialrun_rescoring", default=None
)


@contextlib.contextmanager
def rescoring(run: str) -> Iterator[_Target]:
    """Inside, every ``run_test_suite`` of the run's suite re-scores the run's outputs
    (its fn is not called; its test cases and evaluators are the file's), and other
    suites are skipped."""
    target = _target(run, cases=False)
    token = _rescoring.set(target)
    try:
        yield target
    finally:
        _rescoring.reset(token)


def rescoring_target() -> _Target | None:
    return _rescoring.get()
