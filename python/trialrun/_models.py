"""The base classes users subclass: test cases and evaluators (Autoblocks' names)."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Awaitable
from typing import Any

from trialrun._core import Evaluation


class BaseTestCase(abc.ABC):
    """A test case: any schema, identified across runs by a stable `hash()`.

    Hash only the inputs, so expectations can change without losing the case's history.
    Hashes must be unique within a suite and at most 100 characters.
    """

    @abc.abstractmethod
    def hash(self) -> str: ...

    def serialize(self) -> Any:
        """What the run store keeps of this case: by default the dataclass fields."""
        if dataclasses.is_dataclass(self):
            return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return dict(vars(self))


class BaseTestEvaluator(abc.ABC):
    """Scores the output of fn for a test case.

    Set `id` (unique within a suite) and optionally `max_concurrency`, the most calls of
    `evaluate_test_case` in flight across the suite. `evaluate_test_case` may be sync or
    async and returns an `Evaluation`, or None to skip the case.
    """

    max_concurrency: int = 10

    @property
    @abc.abstractmethod
    def id(self) -> str: ...

    @abc.abstractmethod
    def evaluate_test_case(
        self, test_case: Any, output: Any
    ) -> Evaluation | None | Awaitable[Evaluation | None]: ...
