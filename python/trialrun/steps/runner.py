"""TestRunner: runs a sequence's steps against its workers through the core's StepSession."""

from __future__ import annotations

import asyncio
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
from trialrun._loop import run_blocking
from trialrun.steps.attempt import attempt, on_step_thread
from trialrun.steps.config import Config
from trialrun.steps.context import StepContext
from trialrun.steps.errors import (
    StepsConfigError,
    StepsConfigWarning,
    StepsDataError,
    StoreError,
    WorkerError,
)
from trialrun.steps.live import Live, RunnerState, config_values
from trialrun.steps.results import EXIT_PASSED, SequenceResult, StepResult
from trialrun.steps.step import TestStep
from trialrun.steps.workers import Worker

__all__ = ["TestRunner"]

# Set by `trialrun steps`: options for the runs of the file it runs, and their results.
_cli: dict[str, Any] | None = None


class TestRunner(RunnerState):
    """Runs `steps` against the workers config_file describes (prometheus-test's API).

    config_overrides replace config.yaml keys (checked like them); its
    "post_load_callback" is called with a pymongo Database after the collections are
    loaded. record=False keeps the run out of the run store; quiet=True prints nothing.
    While it runs, it is the `runner` steps of the real API receive (`get`, `set`,
    `state`, `config`, `current_round`, `get_worker`: see trialrun.steps.live).
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
        where = _caller(1)
        coro = self._run(
            force_reset, from_step, list(only or []), script or cli is not None, False, where
        )
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
        where = _caller(1)
        return await self._run(force_reset, from_step, list(only or []), False, True, where)

    async def _run(
        self,
        force_reset: bool,
        from_step: str | None,
        only: list[str],
        loud: bool,
        reraise_cancel: bool,
        where: tuple[str, int, dict[str, Any]],
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
        filename, lineno, registry = where
        for warning in session.config_warnings:
            # Also a Python warning (pytest's summary lists it), at the line that called
            # run(), not inside asyncio; shown once per line, as warnings are.
            warnings.warn_explicit(
                f"trialrun: {warning}",
                StepsConfigWarning,
                filename,
                lineno,
                registry=registry.setdefault("__warningregistry__", {}),
            )
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
            uri, database, loaded, _embedded = await on_step_thread(session.start_data)
            self._live = _live(session, uri, database)
            if loaded and self.post_load_callback is not None:
                await _post_load(self.post_load_callback, uri, database)
            await on_step_thread(session.count_rounds)
            for note in session.notes[len(result.notes) :]:
                show(f"trialrun: {note}")
            await on_step_thread(session.start_workers)
            # Again: the rounds are counted and the workers' environments complete.
            self._live = _live(session, uri, database)
            show(
                "trialrun: workers ready: "
                + ", ".join(f"{n} on :{p}" for n, p, _, _ in session.workers())
            )
            await self._steps(session, self._live, result, show)
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
            if self._live is not None:
                self._live.close()
                self._live = None
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
        live: Live,
        result: SequenceResult,
        show: Callable[[str], None],
    ) -> None:
        config, workers = live.config, live.workers
        by_name = {s.name: s for s in self.steps}
        default_timeout = config.step_timeout
        default_retries = config.retries
        while True:
            nxt = session.next_step()
            if nxt is None:
                return
            index, round_no, name, _description, worker = nxt
            step = by_name[name]
            round_json, global_json, rounds_json = session.states_json()
            round_state, global_state = json.loads(round_json), json.loads(global_json)
            live.enter_step(round_no, round_state, global_state, json.loads(rounds_json))
            ctx = StepContext(
                config,
                workers[worker],
                workers,
                round_no,
                name,
                round_state,
                global_state,
                live.uri,
                live.database,
            )
            timeout = step.timeout if step.timeout is not None else default_timeout
            retries = step.retries if step.retries is not None else default_retries
            attempts = 0
            started = time.perf_counter()
            while True:
                attempts += 1
                outcome, output, error, reason = await attempt(
                    step, ctx, timeout, self, workers[worker]
                )
                if outcome in ("passed", "skipped") or attempts > retries:
                    break
                show(
                    f"  round {round_no} {name}: {outcome}, retrying ({attempts}/{retries + 1} attempts)"
                )
            duration = time.perf_counter() - started
            if outcome in ("passed", "skipped"):
                live.last_completed_step = name
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


def _live(session: Any, uri: str | None, database: str | None) -> Live:
    values = config_values(session.config_json())
    workers = {}
    for name, port, env, details_json in session.workers():
        details = json.loads(details_json)
        workers[name] = Worker(
            name, port, dict(env), details["data"], details["keypairs"], values["base_dir"]
        )
    return Live(Config(values), values, workers, uri, database)


def _caller(depth: int) -> tuple[str, int, dict[str, Any]]:
    """(file, line, module globals) of the code that called the caller."""
    frame = sys._getframe(depth + 1)
    return frame.f_code.co_filename, frame.f_lineno, frame.f_globals


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
        out = await on_step_thread(functools.partial(callback, client[database]))
        if inspect.isawaitable(out):
            await out
    except Exception:
        raise _PostLoadError("post_load_callback raised:\n" + traceback.format_exc()) from None
    finally:
        client.close()


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
