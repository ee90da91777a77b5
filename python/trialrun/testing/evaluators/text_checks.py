"""Autoblocks' model-free text checks: substrings, equality, valid JSON.

Each is an abstract, generic base (`BaseIsEquals[MyCase, str]`): the subclass sets `id` and
maps the test case and output to strings. Each scores 1 or 0 against `Threshold(gte=1)`.
"""

from __future__ import annotations

import abc
import json
from typing import Generic

from trialrun._core import Evaluation, Threshold
from trialrun._models import BaseTestEvaluator, OutputType, TestCaseType


class BaseHasAllSubstrings(BaseTestEvaluator, abc.ABC, Generic[TestCaseType, OutputType]):
    """Scores 1 when the output contains every expected substring (case-sensitive), else 0.

    Metadata: `missing_substrings`, the expected substrings not found (empty on a pass).
    """

    @abc.abstractmethod
    def test_case_mapper(self, test_case: TestCaseType) -> list[str]:
        """The substrings the output must contain."""

    @abc.abstractmethod
    def output_mapper(self, output: OutputType) -> str:
        """The text searched."""

    def evaluate_test_case(self, test_case: TestCaseType, output: OutputType) -> Evaluation:
        text = self.output_mapper(output)
        missing = [s for s in self.test_case_mapper(test_case) if s not in text]
        return Evaluation(
            0 if missing else 1,
            Threshold(gte=1),
            {"missing_substrings": missing},
        )


class BaseIsEquals(BaseTestEvaluator, abc.ABC, Generic[TestCaseType, OutputType]):
    """Scores 1 when the mapped output equals the mapped test case (case-sensitive), else 0.

    On a mismatch the metadata holds `expected_output` and `actual_output`; on a match there
    is no metadata.
    """

    @abc.abstractmethod
    def test_case_mapper(self, test_case: TestCaseType) -> str:
        """The expected output."""

    @abc.abstractmethod
    def output_mapper(self, output: OutputType) -> str:
        """The actual output, as compared."""

    def evaluate_test_case(self, test_case: TestCaseType, output: OutputType) -> Evaluation:
        actual = self.output_mapper(output)
        expected = self.test_case_mapper(test_case)
        if actual == expected:
            return Evaluation(1, Threshold(gte=1))
        return Evaluation(
            0,
            Threshold(gte=1),
            {"expected_output": expected, "actual_output": actual},
        )


class BaseIsValidJSON(BaseTestEvaluator, abc.ABC, Generic[TestCaseType, OutputType]):
    """Scores 1 when the mapped output parses as JSON, else 0 with the parser's message
    as `error` in the metadata."""

    @abc.abstractmethod
    def output_mapper(self, output: OutputType) -> str:
        """The text that must be valid JSON."""

    def evaluate_test_case(self, test_case: TestCaseType, output: OutputType) -> Evaluation:
        try:
            json.loads(self.output_mapper(output))
        except Exception as e:  # any failure to parse (or a non-text value) scores 0
            return Evaluation(0, Threshold(gte=1), {"error": str(e)})
        return Evaluation(1, Threshold(gte=1))
