"""Autoblocks' battles: a model compares the output with a baseline under `criteria`.

Defined with the SDK's hooks so that subclasses define and instantiate; evaluating raises
NotImplementedError until trialrun's model-backed evaluators land.
"""

from __future__ import annotations

import abc
from typing import Generic

from trialrun._core import Evaluation, Threshold
from trialrun._models import BaseTestEvaluator, OutputType, TestCaseType
from trialrun.testing.evaluators._model_backed import not_yet_implemented


class BaseManualBattle(BaseTestEvaluator, abc.ABC, Generic[TestCaseType, OutputType]):
    """Output against a baseline the test case gives; a tie (0.5) passes."""

    threshold = Threshold(gte=0.5)

    @property
    @abc.abstractmethod
    def criteria(self) -> str:
        """What the two responses are compared on."""

    @abc.abstractmethod
    def baseline_mapper(self, test_case: TestCaseType) -> str:
        """The baseline response, from the test case."""

    @abc.abstractmethod
    def output_mapper(self, output: OutputType) -> str:
        """The challenger response, from the output."""

    async def evaluate_test_case(self, test_case: TestCaseType, output: OutputType) -> Evaluation:
        not_yet_implemented(self)


class BaseAutomaticBattle(BaseTestEvaluator, abc.ABC, Generic[TestCaseType, OutputType]):
    """Output against the stored baseline for the case; a winning challenger becomes the
    new baseline, and a case's first output is stored as its baseline without a score."""

    @property
    @abc.abstractmethod
    def criteria(self) -> str:
        """What the two responses are compared on."""

    @abc.abstractmethod
    def output_mapper(self, output: OutputType) -> str:
        """The challenger response, from the output."""

    async def evaluate_test_case(
        self, test_case: TestCaseType, output: OutputType
    ) -> Evaluation | None:
        not_yet_implemented(self)
