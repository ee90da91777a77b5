"""How a step sequence ended: each step's StepResult, the run's SequenceResult, exit codes."""

from __future__ import annotations

from typing import Any

from trialrun._exit_codes import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_PASSED,
    EXIT_USAGE,
    EXIT_WORKER,
)

__all__ = [
    "EXIT_CONFIG",
    "EXIT_INTERRUPTED",
    "EXIT_PASSED",
    "EXIT_STEP_FAILED",
    "EXIT_WORKER",
    "SequenceResult",
    "StepResult",
]

# Exit codes of `trialrun steps` and of an e2e.py run as a script (the CLI's codes, named
# by what they mean for a sequence).
EXIT_STEP_FAILED = EXIT_FAILED
EXIT_CONFIG = EXIT_USAGE


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
