"""Step sequences: prometheus-test's API on trialrun's engine.

    from trialrun.steps import TestRunner, TestStep

    steps = [TestStep(name="create", description="...", prepare=prep, execute=run, worker="worker1")]
    result = TestRunner(steps=steps, config_file=Path(__file__).parent / "config.yaml").run()

The Rust core (trialrun._core.StepSession) checks the configuration, starts MongoDB and
the workers, decides which step runs next, and keeps the state file and the run store.
This module calls prepare/execute (sync or async) on an asyncio loop and builds the
context they receive.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import json
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from trialrun import _core
from trialrun._console import printer
from trialrun._core import StepsConfigError, StepsDataError, StoreError, WorkerError
from trialrun._exit_codes import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_PASSED,
    EXIT_USAGE,
    EXIT_WORKER,
)
from trialrun._loop import on_thread, run_blocking

__all__ = [
    "EXIT_CONFIG",
    "EXIT_INTERRUPTED",
    "EXIT_PASSED",
    "EXIT_STEP_FAILED",
    "EXIT_WORKER",
    "SequenceResult",
    "SkipStep",
    "StepContext",
    "StepResult",
    "StepsConfigError",
    "StepsConfigWarning",
    "StepsDataError",
    "TestRunner",
    "TestStep",
    "WorkerError",
    "WorkerInfo",
]

# Exit codes of `trialrun steps` and of an e2e.py run as a script (the CLI's codes, named
# by what they mean for a sequence).
EXIT_STEP_FAILED = EXIT_FAILED
EXIT_CONFIG = EXIT_USAGE

# Keys of config_overrides handled here rather than in the core.
_PYTHON_KEYS = ("post_load_callback",)


class StepsConfigWarning(UserWarning):
    """A config key trialrun does not know (kept in context.config); names file and line."""


class SkipStep(Exception):
    """Raised by prepare or execute (or `context.skip(reason)`) to skip the step.

    A skipped step counts as done: a rerun does not repeat it.
    """

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class TestStep:
    """One step: `prepare(context)` returns data, `execute(context, prepare_data)` acts.

    Both may be sync (run on a thread) or async (run on the loop); functools.partial
    works. An AssertionError fails the step, SkipStep skips it, any other exception
    errors it. `timeout` (seconds, prepare + execute) and `retries` (extra attempts after
    a failure or error) default to config.yaml's step_timeout and retries.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(
        self,
        name: str,
        description: str,
        prepare: Callable[..., Any] | None,
        execute: Callable[..., Any],
        worker: str,
        *,
        timeout: float | None = None,
        retries: int | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise StepsConfigError(f"TestStep: name must be a non-empty str, got {name!r}")
        if prepare is not None and not callable(prepare):
            raise StepsConfigError(f"step '{name}': prepare is not callable: {prepare!r}")
        if not callable(execute):
            raise StepsConfigError(f"step '{name}': execute is not callable: {execute!r}")
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
        self.name = name
        self.description = description or ""
        self.prepare = prepare
        self.execute = execute
        self.worker = worker
        self.timeout = timeout
        self.retries = retries

    def __repr__(self) -> str:
        return f"TestStep({self.name!r}, worker={self.worker!r})"


class Config:
    """Read-only attribute (and item) access to the configuration: `config.task_id`,
    `config.mongodb.database`, `config["my_key"]`."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_values", {k: _wrap(v) for k, v in values.items()})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_values":  # copy/pickle probing a bare instance
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(
                f"config has no key {name!r} (keys: {', '.join(sorted(self._values))})"
            ) from None

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("the config is read-only")

    def __repr__(self) -> str:
        return f"Config({self._values!r})"


def _wrap(value: Any) -> Any:
    return Config(value) if isinstance(value, dict) else value


class WorkerInfo:
    """A worker as steps see it: name, url (http://127.0.0.1:PORT), port, env."""

    def __init__(self, name: str, port: int, env: dict[str, str]) -> None:
        self.name, self.port, self.env = name, port, env
        self.url = f"http://127.0.0.1:{port}"

    def __repr__(self) -> str:
        return f"WorkerInfo({self.name!r}, url={self.url!r})"


class StepContext:
    """What prepare and execute receive.

    - `config`: the configuration (task_id and the rest) as attributes;
    - `worker`: this step's worker (`WorkerInfo`); `workers`: all of them by name;
    - `round`: the round, from 1; `step`: this step's name;
    - `round_state` / `global_state`: dicts of JSON-serializable values, saved in
      test_state.json after every step and restored on resume. `round_state` starts
      empty in each round; `global_state` lasts the whole sequence;
    - `mongo_uri`, `database`: the MongoDB the data was loaded into (None without one);
    - `skip(reason)`: skip this step.
    """

    def __init__(
        self,
        config: Config,
        worker: WorkerInfo,
        workers: dict[str, WorkerInfo],
        round: int,
        step: str,
        round_state: dict[str, Any],
        global_state: dict[str, Any],
        mongo_uri: str | None,
        database: str | None,
    ) -> None:
        self.config = config
        self.worker = worker
        self.workers = workers
        self.round = round
        self.step = step
        self.round_state = round_state
        self.global_state = global_state
        self.mongo_uri = mongo_uri
        self.database = database

    def skip(self, reason: str = "") -> None:
        raise SkipStep(reason)


class StepResult:
    """How one step ended in one round."""

    def __init__(
        self,
        name: str,
        worker: str,
        round: int,
        outcome: str,
        duration_s: float,
        attempts: int,
        output: Any = None,
        error: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.name, self.worker, self.round, self.outcome = name, worker, round, outcome
        self.duration_s, self.attempts, self.output = duration_s, attempts, output
        self.error, self.reason = error, reason

    def __repr__(self) -> str:
        return f"StepResult({self.name!r}, round={self.round}, outcome={self.outcome!r}, {self.duration_s:.3f}s)"


class SequenceResult:
    """The outcome of `TestRunner.run()`.

    `steps`: each step run in this invocation (a resumed run lists only what it ran);
    `passed`: nothing failed or errored and no setup error; `finished`: every round is
    complete; `error` / `error_kind` ("config", "data", "worker", "store",
    "interrupted"): what stopped the run before or between steps; `exit_code`: as the
    CLI's; `run_id`: the run in the store (None with record=False or before it began).
    """

    def __init__(self) -> None:
        self.steps: list[StepResult] = []
        self.run_id: str | None = None
        self.suite_id: str | None = None
        self.finished = False
        self.error: str | None = None
        self.error_kind: str | None = None
        self.notes: list[str] = []
        self.state_path: str | None = None
        self.store_error: str | None = None

    @property
    def interrupted(self) -> bool:
        return self.error_kind == "interrupted"

    @property
    def passed(self) -> bool:
        return self.error is None and all(s.outcome in ("passed", "skipped") for s in self.steps)

    @property
    def exit_code(self) -> int:
        if self.error_kind == "interrupted":
            return EXIT_INTERRUPTED
        if self.error_kind in ("config", "data"):
            return EXIT_CONFIG
        if self.error_kind == "worker":
            return EXIT_WORKER
        return EXIT_PASSED if self.passed else EXIT_STEP_FAILED

    def failures(self) -> list[StepResult]:
        return [s for s in self.steps if s.outcome in ("failed", "errored")]

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for s in self.steps:
            counts[s.outcome] = counts.get(s.outcome, 0) + 1
        parts = ", ".join(f"{n} {o}" for o, n in counts.items()) or "no steps run"
        state = "finished" if self.finished else "not finished"
        lines = [f"steps: {parts} ({state})"]
        for f in self.failures():
            lines.append(
                f"  {f.outcome}: {f.name} (round {f.round}, worker {f.worker}): {_last_line(f.error)}"
            )
        if self.error:
            lines.append(f"  {self.error_kind} error: {self.error}")
        return "\n".join(lines) + "\n"

    def assert_passed(self) -> None:
        if not self.passed:
            raise AssertionError("step sequence did not pass:\n" + self.summary())

    def __repr__(self) -> str:
        return f"SequenceResult(passed={self.passed}, steps={len(self.steps)}, finished={self.finished})"


def _last_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[-1] if (text or "").strip() else ""


# Set by `trialrun steps`: options for the runs of the file it runs, and their results.
_cli: dict[str, Any] | None = None


class TestRunner:
    """Runs `steps` against the workers config_file describes (prometheus-test's API).

    config_overrides replace config.yaml keys (checked like them); its
    "post_load_callback" is called with a pymongo Database after the collections are
    loaded. record=False keeps the run out of the run store; quiet=True prints nothing.
    """

    __test__ = False

    def __init__(
        self,
        steps: Sequence[TestStep],
        config_file: str | os.PathLike[str],
        config_overrides: Mapping[str, Any] | None = None,
        *,
        record: bool = True,
        quiet: bool | None = None,
    ) -> None:
        steps = list(steps)
        for i, step in enumerate(steps):
            if not isinstance(step, TestStep):
                raise StepsConfigError(
                    f"steps[{i}]: expected a TestStep, got {type(step).__name__}"
                )
        overrides = dict(config_overrides or {})
        callback = overrides.pop("post_load_callback", None)
        if callback is not None and not callable(callback):
            raise StepsConfigError("config_overrides: key 'post_load_callback': not callable")
        try:
            self._overrides_json = json.dumps(overrides, default=_path_or_fail)
        except (TypeError, ValueError) as e:
            raise StepsConfigError(f"config_overrides: {e}") from None
        self.steps = steps
        self.config_file = Path(config_file)
        self.post_load_callback = callback
        self.record = record
        self.quiet = quiet
        # Who called run() as a script (python -m pkg.tests.e2e): resolved per call.

    def run(
        self,
        force_reset: bool = False,
        *,
        from_step: str | None = None,
        only: Sequence[str] | None = None,
    ) -> SequenceResult:
        """Runs the sequence (resuming from the saved state) and returns its result.

        Works in a plain script and inside a running event loop (it then runs its own
        loop on a thread). When called from a module run as a script (`python -m
        pkg.tests.e2e [--reset]`), `--reset` on the command line sets force_reset and
        the process exits with the sequence's exit code when it is not 0.
        """
        script = _called_as_script()
        cli = _cli
        if cli is not None:
            force_reset = force_reset or cli["reset"]
            from_step = from_step or cli["from_step"]
            only = only or cli["only"]
        elif script:
            force_reset = force_reset or "--reset" in sys.argv[1:]
        coro = self._run(force_reset, from_step, list(only or []), script or cli is not None, False)
        result = run_blocking(coro, thread_name="trialrun-steps")
        if cli is not None:
            cli["results"].append(result)
        elif script and result.exit_code != EXIT_PASSED:
            raise SystemExit(result.exit_code)
        return result

    async def run_async(
        self,
        force_reset: bool = False,
        *,
        from_step: str | None = None,
        only: Sequence[str] | None = None,
    ) -> SequenceResult:
        """Like run(), on the running event loop. Cancelling the awaiting task stops the
        workers, records the run as interrupted and re-raises CancelledError."""
        return await self._run(force_reset, from_step, list(only or []), False, True)

    async def _run(
        self,
        force_reset: bool,
        from_step: str | None,
        only: list[str],
        loud: bool,
        reraise_cancel: bool,
    ) -> SequenceResult:
        show = printer(self.quiet, loud)
        result = SequenceResult()
        try:
            session = _core.StepSession(
                str(self.config_file),
                self._overrides_json,
                [(s.name, s.description, s.worker) for s in self.steps],
                sys.executable,
                _fallback_id(self.config_file),
                force_reset=force_reset,
                from_step=from_step,
                only=only,
                store_path=str(_core.default_store_path()) if self.record else None,
            )
        except StepsConfigError as e:
            return _fail(result, "config", str(e), show)
        result.suite_id = session.suite_id
        result.state_path = str(session.state_path)
        for warning in session.config_warnings:
            # Also a Python warning, so pytest's summary lists it.
            warnings.warn(f"trialrun: {warning}", StepsConfigWarning, stacklevel=3)
        for note in session.notes:
            show(f"trialrun: {note}")
        result.notes = list(session.notes)
        interrupted = False
        setup_failed = False
        try:
            session.begin_record()
            result.run_id = session.run_id
            # Blocking core calls go to a thread (they release the GIL), so a caller's
            # loop keeps running while workers start.
            uri, database, loaded, _embedded = await on_thread(
                session.start_data, thread_name="trialrun-step"
            )
            for note in session.notes[len(result.notes) :]:
                show(f"trialrun: {note}")
            if loaded and self.post_load_callback is not None:
                await _post_load(self.post_load_callback, uri, database)
            await on_thread(session.start_workers, thread_name="trialrun-step")
            show(
                "trialrun: workers ready: "
                + ", ".join(f"{n} on :{p}" for n, p, _ in session.workers())
            )
            await self._steps(session, result, uri, database, show)
        except (asyncio.CancelledError, KeyboardInterrupt):
            # What finished is kept; the run is recorded as interrupted.
            interrupted = True
            result.error, result.error_kind = "interrupted", "interrupted"
            if reraise_cancel:
                raise
        except StepsConfigError as e:
            setup_failed = True
            _fail(result, "config", str(e), show)
        except StepsDataError as e:
            setup_failed = True
            _fail(result, "data", str(e), show)
        except WorkerError as e:
            setup_failed = True
            _fail(result, "worker", str(e), show)
        except StoreError as e:
            setup_failed = True
            _fail(result, "store", str(e), show)
        except _PostLoadError as e:
            setup_failed = True
            _fail(result, "data", str(e), show)
        finally:
            # Workers are stopped on every path: success, failure, Ctrl-C, exceptions.
            result.store_error = session.close(interrupted=interrupted, errored=setup_failed)
            result.finished = session.finished
            if result.store_error:
                show(f"trialrun: the run store did not keep every result: {result.store_error}")
        show(result.summary().rstrip("\n"))
        return result

    async def _steps(
        self,
        session: Any,
        result: SequenceResult,
        uri: Any,
        database: Any,
        show: Callable[[str], None],
    ) -> None:
        config = Config(json.loads(session.config_json()))
        workers = {name: WorkerInfo(name, port, dict(env)) for name, port, env in session.workers()}
        by_name = {s.name: s for s in self.steps}
        default_timeout = config.step_timeout
        default_retries = config.retries
        while True:
            nxt = session.next_step()
            if nxt is None:
                return
            index, round_no, name, _description, worker = nxt
            step = by_name[name]
            round_json, global_json = session.states_json()
            round_state, global_state = json.loads(round_json), json.loads(global_json)
            ctx = StepContext(
                config,
                workers[worker],
                workers,
                round_no,
                name,
                round_state,
                global_state,
                uri,
                database,
            )
            timeout = step.timeout if step.timeout is not None else default_timeout
            retries = step.retries if step.retries is not None else default_retries
            attempts = 0
            started = time.perf_counter()
            while True:
                attempts += 1
                outcome, output, error, reason = await _attempt(step, ctx, timeout)
                if outcome in ("passed", "skipped") or attempts > retries:
                    break
                show(
                    f"  round {round_no} {name}: {outcome}, retrying ({attempts}/{retries + 1} attempts)"
                )
            duration = time.perf_counter() - started
            if outcome in ("failed", "errored"):
                down = session.worker_down(worker)
                if down:
                    error = f"{error or ''}\n{down}".strip()
                    result.error, result.error_kind = down, "worker"
            try:
                states = json.dumps(ctx.round_state), json.dumps(ctx.global_state)
            except (TypeError, ValueError) as e:
                outcome, reason = "errored", None
                error = (
                    f"{error or ''}\nthe step left state that is not JSON-serializable: {e}".strip()
                )
                states = round_json, global_json
            output_json = None if output is None else _to_json(output)
            session.finish_step(
                index, round_no, outcome, output_json, error, reason, attempts, duration, *states
            )
            result.steps.append(
                StepResult(
                    name, worker, round_no, outcome, duration, attempts, output, error, reason
                )
            )
            line = f"  round {round_no} {name} [{worker}]: {outcome} in {duration:.2f}s"
            if reason:
                line += f" ({reason})"
            show(line)
            if error and outcome != "passed":
                show(_indent(error))
                show(_log_tail(Path(config.data_dir) / "logs" / f"{worker}.log", worker))


class _PostLoadError(Exception):
    pass


async def _post_load(callback: Callable[..., Any], uri: str, database: str) -> None:
    try:
        import pymongo
    except ImportError:
        raise _PostLoadError(
            "post_load_callback needs pymongo (pip install 'trialrun[steps]')"
        ) from None
    client: Any = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10000)
    try:
        out = await on_thread(
            functools.partial(callback, client[database]), thread_name="trialrun-step"
        )
        if inspect.isawaitable(out):
            await out
    except Exception:
        raise _PostLoadError("post_load_callback raised:\n" + traceback.format_exc()) from None
    finally:
        client.close()


async def _attempt(step: TestStep, ctx: StepContext, timeout: float | None) -> tuple:
    """(outcome, output, error traceback, skip reason) of one try of prepare + execute."""

    async def both() -> Any:
        data = await _call(step.prepare, ctx) if step.prepare is not None else None
        return await _call(step.execute, ctx, data)

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


def _is_async(fn: Callable[..., Any]) -> bool:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)
    )


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """Async functions run on the loop; sync ones on a thread, so they never block it."""
    if _is_async(fn):
        return await fn(*args)
    out = await on_thread(
        functools.partial(contextvars.copy_context().run, fn, *args), thread_name="trialrun-step"
    )
    if inspect.isawaitable(out):
        out = await out
    return out


def _to_json(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return json.dumps(repr(value))


def _path_or_fail(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{value!r} is not a JSON value")


def _log_tail(path: Path, worker: str, lines: int = 10) -> str:
    """The worker's last log lines, prefixed with its name (shown when a step fails)."""
    try:
        tail = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"    (no log at {path})"
    return "\n".join(f"    [{worker}] {line}" for line in tail) or f"    ({path} is empty)"


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines())


def _fail(
    result: SequenceResult, kind: str, message: str, show: Callable[[str], None]
) -> SequenceResult:
    result.error, result.error_kind = message, kind
    show(f"trialrun: {kind} error: {message}", error=True)
    return result


def _fallback_id(config_file: Path) -> str:
    """The suite id without a task_id: the script's name (e2e), else the tests folder's."""
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    if main_file and Path(main_file).resolve().parent == config_file.resolve().parent:
        return Path(main_file).stem
    return config_file.resolve().parent.name


def _called_as_script() -> bool:
    """run() was called from code of the module run as __main__ (python -m pkg.tests.e2e)."""
    frame = inspect.currentframe()
    try:
        caller = frame.f_back.f_back if frame and frame.f_back else None
        if caller is None:
            return False
        return caller.f_globals.get("__name__") == "__main__" and "pytest" not in sys.modules
    finally:
        del frame
