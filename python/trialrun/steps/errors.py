"""What step sequences raise and warn: the core's errors, SkipStep, StepsConfigWarning."""

from __future__ import annotations

from trialrun._core import StepsConfigError, StepsDataError, StoreError, WorkerError

__all__ = [
    "SkipStep",
    "StepsConfigError",
    "StepsConfigWarning",
    "StepsDataError",
    "StoreError",
    "WorkerError",
]


class StepsConfigWarning(UserWarning):
    """A config key trialrun does not know (kept in context.config); names file and line."""


class SkipStep(Exception):
    """Raised by prepare or execute (or `context.skip(reason)`) to skip the step.

    A skipped step counts as done: a rerun does not repeat it.
    """

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
