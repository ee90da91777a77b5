"""`autoblocks.testing.models` under trialrun: the same names, fields and defaults."""

from trialrun._core import Evaluation, Threshold
from trialrun._models import (
    Assertion,
    BaseEvaluator,
    BaseEventEvaluator,
    BaseTestCase,
    BaseTestEvaluator,
    CreateHumanReviewJob,
    EvaluationOverride,
    EvaluationOverrideComment,
    EvaluationOverrideField,
    EvaluationWithId,
    HumanReviewField,
    HumanReviewFieldContentType,
    ScoreChoice,
    TestCaseConfig,
    TracerEvent,
)

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
    "ScoreChoice",
    "TestCaseConfig",
    "Threshold",
    "TracerEvent",
]
