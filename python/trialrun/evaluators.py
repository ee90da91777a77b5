"""Built-in evaluators for the checks users reach for first.

Each is configured in its constructor and carries a threshold (default: the check must
fully pass). Where the expected value comes from the test case, pass a callable that
takes the test case, or the name of the test case's attribute. `output_mapper` turns
fn's output into the text or value checked (default: the output itself).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from trialrun._core import Evaluation, Threshold
from trialrun._models import BaseTestEvaluator

FromCase = str | Callable[[Any], Any]

__all__ = ["HasAllSubstrings", "IsEquals", "IsValidJSON", "MatchesRegex"]


def _from_case(source: FromCase) -> Callable[[Any], Any]:
    if callable(source):
        return source
    if isinstance(source, str):
        return lambda case: getattr(case, source)
    raise TypeError(
        f"expected a test case attribute name or a callable, got {type(source).__name__}"
    )


class _Configured(BaseTestEvaluator):
    """Shared configuration: id, threshold, max_concurrency, output_mapper."""

    id: str = ""  # each instance's own, set by __init__

    def __init__(
        self,
        *,
        id: str,
        threshold: Threshold | None,
        output_mapper: Callable[[Any], Any] | None,
        max_concurrency: int,
    ) -> None:
        self.id = id
        self.threshold = threshold
        self.output_mapper = output_mapper or (lambda output: output)
        self.max_concurrency = max_concurrency

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r})"


class HasAllSubstrings(_Configured):
    """Score: the fraction of expected substrings present in the output.

    `substrings` is a fixed list, a test case attribute name, or a callable on the test
    case. Metadata lists the missing ones.
    """

    def __init__(
        self,
        substrings: Sequence[str] | FromCase,
        *,
        id: str = "has-all-substrings",
        case_sensitive: bool = True,
        threshold: Threshold | None = Threshold(gte=1),
        output_mapper: Callable[[Any], str] | None = None,
        max_concurrency: int = 10,
    ) -> None:
        super().__init__(
            id=id, threshold=threshold, output_mapper=output_mapper, max_concurrency=max_concurrency
        )
        if isinstance(substrings, (list, tuple)):
            fixed = list(substrings)
            self._substrings: Callable[[Any], Sequence[str]] = lambda case: fixed
        else:
            self._substrings = _from_case(substrings)
        self.case_sensitive = case_sensitive

    def evaluate_test_case(self, test_case: Any, output: Any) -> Evaluation:
        text = str(self.output_mapper(output))
        expected = list(self._substrings(test_case))
        haystack = text if self.case_sensitive else text.lower()
        missing = [s for s in expected if (s if self.case_sensitive else s.lower()) not in haystack]
        score = 1.0 if not expected else (len(expected) - len(missing)) / len(expected)
        metadata = {"missing": missing} if missing else None
        return Evaluation(score=score, threshold=self.threshold, metadata=metadata)


class IsEquals(_Configured):
    """Score 1 when the output equals the expected value, else 0.

    `expected` is a test case attribute name or a callable on the test case.
    """

    def __init__(
        self,
        expected: FromCase,
        *,
        id: str = "is-equals",
        threshold: Threshold | None = Threshold(gte=1),
        output_mapper: Callable[[Any], Any] | None = None,
        max_concurrency: int = 10,
    ) -> None:
        super().__init__(
            id=id, threshold=threshold, output_mapper=output_mapper, max_concurrency=max_concurrency
        )
        self._expected = _from_case(expected)

    def evaluate_test_case(self, test_case: Any, output: Any) -> Evaluation:
        actual = self.output_mapper(output)
        expected = self._expected(test_case)
        if actual == expected:
            return Evaluation(score=1.0, threshold=self.threshold)
        return Evaluation(
            score=0.0,
            threshold=self.threshold,
            metadata={"expected": repr(expected), "actual": repr(actual)},
        )


class IsValidJSON(_Configured):
    """Score 1 when the output (a str) parses as JSON, else 0 with the parse error."""

    def __init__(
        self,
        *,
        id: str = "is-valid-json",
        threshold: Threshold | None = Threshold(gte=1),
        output_mapper: Callable[[Any], str] | None = None,
        max_concurrency: int = 10,
    ) -> None:
        super().__init__(
            id=id, threshold=threshold, output_mapper=output_mapper, max_concurrency=max_concurrency
        )

    def evaluate_test_case(self, test_case: Any, output: Any) -> Evaluation:
        text = self.output_mapper(output)
        if not isinstance(text, (str, bytes, bytearray)):
            return Evaluation(
                score=0.0,
                threshold=self.threshold,
                metadata={"error": f"output is a {type(text).__name__}, not a str"},
            )
        try:
            json.loads(text)
        except ValueError as e:
            return Evaluation(score=0.0, threshold=self.threshold, metadata={"error": str(e)})
        return Evaluation(score=1.0, threshold=self.threshold)


class MatchesRegex(_Configured):
    """Score 1 when the pattern matches the output, else 0.

    `pattern` is a regex (str or compiled) or a callable on the test case returning
    one. `mode` is "search" (anywhere, the default) or "fullmatch".
    """

    def __init__(
        self,
        pattern: str | re.Pattern[str] | Callable[[Any], str],
        *,
        id: str = "matches-regex",
        flags: int = 0,
        mode: str = "search",
        threshold: Threshold | None = Threshold(gte=1),
        output_mapper: Callable[[Any], str] | None = None,
        max_concurrency: int = 10,
    ) -> None:
        super().__init__(
            id=id, threshold=threshold, output_mapper=output_mapper, max_concurrency=max_concurrency
        )
        if mode not in ("search", "fullmatch"):
            raise ValueError(f"mode must be 'search' or 'fullmatch', got {mode!r}")
        self.mode = mode
        if callable(pattern) and not isinstance(pattern, re.Pattern):
            self._pattern: Callable[[Any], re.Pattern[str]] = lambda case: re.compile(
                pattern(case), flags
            )
        else:
            compiled = re.compile(pattern, flags)  # a bad pattern fails here, before the run
            self._pattern = lambda case: compiled

    def evaluate_test_case(self, test_case: Any, output: Any) -> Evaluation:
        text = str(self.output_mapper(output))
        pattern = self._pattern(test_case)
        match = getattr(pattern, self.mode)(text)
        if match:
            return Evaluation(score=1.0, threshold=self.threshold)
        return Evaluation(
            score=0.0,
            threshold=self.threshold,
            metadata={"pattern": pattern.pattern, "mode": self.mode},
        )
