"""trialrun: a test engine for AI agents, with a Rust core.

    from trialrun import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold, run_test_suite
"""

from trialrun._core import (
    CaseResult,
    Evaluation,
    EvaluationResult,
    RunInfo,
    SuiteResult,
    SuiteValidationError,
    Threshold,
    __version__,
    md5,
)
from trialrun._models import BaseTestCase, BaseTestEvaluator
from trialrun._run import grid_search_ctx, run_test_suite, run_test_suite_async

__all__ = [
    "BaseTestCase",
    "BaseTestEvaluator",
    "CaseResult",
    "Evaluation",
    "EvaluationResult",
    "RunInfo",
    "SuiteResult",
    "SuiteValidationError",
    "Threshold",
    "__version__",
    "grid_search_ctx",
    "md5",
    "run_test_suite",
    "run_test_suite_async",
]
