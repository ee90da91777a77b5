"""Autoblocks' assertions evaluator: a score made from pass/fail criteria."""

from __future__ import annotations

import abc
import inspect
from collections.abc import Awaitable
from typing import Any, Generic

from trialrun._core import Evaluation, Threshold
from trialrun._models import Assertion, BaseTestEvaluator, OutputType, TestCaseType


class BaseAssertions(BaseTestEvaluator, abc.ABC, Generic[TestCaseType, OutputType]):
    """Turns the `Assertion`s of `evaluate_assertions` into one evaluation.

    Scores 1 when every required assertion passed (optional ones are reported but do not
    count), else 0, against `Threshold(gte=1)`; the assertions are kept on the evaluation.
    No assertions (None or an empty list) means no evaluation for the case.
    """

    @abc.abstractmethod
    def evaluate_assertions(
        self, *args: Any, **kwargs: Any
    ) -> list[Assertion] | None | Awaitable[list[Assertion] | None]:
        """The assertions for a test case and its output; may be sync or async."""

    async def evaluate_test_case(self, *args: Any, **kwargs: Any) -> Evaluation | None:
        assertions = self.evaluate_assertions(*args, **kwargs)
        if inspect.isawaitable(assertions):
            assertions = await assertions
        if not assertions:
            return None
        passed = all(a.passed for a in assertions if a.required)
        return Evaluation(1 if passed else 0, Threshold(gte=1), None, assertions)
