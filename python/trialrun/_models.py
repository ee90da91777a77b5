"""The classes users subclass and build: test cases, evaluators and what they return.

The names, fields and defaults are Autoblocks' (`autoblocks.testing.models`), so code written
for its SDK runs unchanged. `Evaluation` and `Threshold` live in the Rust core.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from trialrun._core import Evaluation, Threshold


@dataclasses.dataclass
class TracerEvent:
    """A production event, as an event evaluator receives it."""

    message: str
    timestamp: str
    properties: dict[str, Any]
    trace_id: str | None


@dataclasses.dataclass
class Assertion:
    """One pass/fail criterion behind an evaluation; `required` ones decide the score."""

    criterion: str
    passed: bool
    required: bool
    metadata: dict[str, Any] | None = None

    def serialize(self) -> dict[str, Any]:
        return {
            "criterion": self.criterion,
            "passed": self.passed,
            "required": self.required,
            "metadata": self.metadata,
        }


@dataclasses.dataclass
class EvaluationWithId:
    """An evaluation together with the id of the evaluator that made it."""

    id: str
    score: float
    threshold: Threshold | None = None
    metadata: dict[str, Any] | None = None
    assertions: list[Assertion] | None = None


@dataclasses.dataclass
class TestCaseConfig:
    """Per-case settings: `repeat_num_times` runs the case that many times."""

    __test__ = False  # not a pytest test class despite its name
    repeat_num_times: int | None = None


class HumanReviewFieldContentType(str, enum.Enum):
    """How a human review field's value is displayed."""

    TEXT = "text"
    LINK = "link"
    MARKDOWN = "markdown"
    HTML = "html"

    def __str__(self) -> str:
        return str.__str__(self)


@dataclasses.dataclass
class HumanReviewField:
    """A named value shown to a human reviewer."""

    name: str
    value: str
    content_type: HumanReviewFieldContentType | None = HumanReviewFieldContentType.TEXT

    def serialize(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "contentType": self.content_type}


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

    def serialize_for_human_review(self) -> list[HumanReviewField] | None:
        """The fields a human reviewer sees for this case; None shows the case as is."""
        return None

    def serialize_dataset_item_id(self) -> str | None:
        """The id of the dataset item this case came from, if any."""
        return None


TestCaseType = TypeVar("TestCaseType", bound=BaseTestCase)
OutputType = TypeVar("OutputType")


def _check_max_concurrency(cls: type) -> None:
    limit = getattr(cls, "max_concurrency", None)
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise TypeError(f"{cls.__name__}.max_concurrency must be an int")


class BaseTestEvaluator(abc.ABC):
    """Scores the output of fn for a test case.

    Set `id` (unique within a suite) and optionally `max_concurrency`, the most calls of
    `evaluate_test_case` in flight across the suite. `evaluate_test_case` may be sync or
    async and returns an `Evaluation`, or None to skip the case.
    """

    max_concurrency: int = 10
    # How this evaluator's verdicts over a case's trials become one (trialrun.verdicts);
    # None: the suite's `verdict=`.
    verdict: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_max_concurrency(cls)

    if TYPE_CHECKING:
        # Type checkers see a plain attribute, so `id = "..."` (what Autoblocks' users
        # write), `id: str = "..."` and `self.id = ...` all check; at run time the abstract
        # property still refuses an evaluator without an id.
        id: str
    else:

        @property
        @abc.abstractmethod
        def id(self) -> str: ...

    @abc.abstractmethod
    def evaluate_test_case(
        self, test_case: Any, output: Any
    ) -> Evaluation | None | Awaitable[Evaluation | None]: ...


class BaseEventEvaluator(abc.ABC):
    """Scores a production event (`TracerEvent`). trialrun runs test suites only, so these
    are defined for code that shares evaluators between tests and production."""

    max_concurrency: int = 10

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_max_concurrency(cls)

    if TYPE_CHECKING:
        id: str
    else:

        @property
        @abc.abstractmethod
        def id(self) -> str: ...

    @abc.abstractmethod
    def evaluate_event(
        self, event: TracerEvent
    ) -> Evaluation | None | Awaitable[Evaluation | None]: ...


class BaseEvaluator(BaseTestEvaluator, BaseEventEvaluator, abc.ABC):
    """An evaluator for both test cases and production events."""


@dataclasses.dataclass
class ScoreChoice:
    """A score an LLM judge may give, with its name."""

    value: float
    name: str


@dataclasses.dataclass
class EvaluationOverrideField:
    id: str
    name: str
    value: str


@dataclasses.dataclass
class EvaluationOverrideComment:
    field_id: str
    quoted_text: str
    comment_text: str


@dataclasses.dataclass
class EvaluationOverride:
    """A human's correction of an evaluator's score: an example for an LLM judge."""

    original_score: ScoreChoice
    override_score: ScoreChoice
    input_fields: list[EvaluationOverrideField]
    output_fields: list[EvaluationOverrideField]
    comments: list[EvaluationOverrideComment]


@dataclasses.dataclass
class CreateHumanReviewJob:
    """A request to create a human review job for a run's results."""

    assignee_email_address: str | list[str]
    name: str
    rubric_id: str | None = None

    def get_assignee_email_addresses(self) -> list[str]:
        if isinstance(self.assignee_email_address, str):
            return [self.assignee_email_address]
        return self.assignee_email_address


__all__ = [
    "Assertion",
    "BaseEvaluator",
    "BaseEventEvaluator",
    "BaseTestCase",
    "BaseTestEvaluator",
    "CreateHumanReviewJob",
    "Evaluation",
    "EvaluationOverride",
    "EvaluationOverrideComment",
    "EvaluationOverrideField",
    "EvaluationWithId",
    "HumanReviewField",
    "HumanReviewFieldContentType",
    "OutputType",
    "ScoreChoice",
    "TestCaseConfig",
    "TestCaseType",
    "Threshold",
    "TracerEvent",
]
