"""trialrun: a test engine for AI agents, with a Rust core.

from trialrun import BaseTestCase, BaseTestEvaluator, Evaluation, Threshold, run_test_suite
"""

from trialrun import history
from trialrun._core import (
    CaseResult,
    Comparison,
    Evaluation,
    EvaluationResult,
    RunInfo,
    StoredRun,
    StoreError,
    SuiteResult,
    SuiteValidationError,
    Threshold,
    __version__,
    md5,
)
from trialrun._models import BaseTestCase, BaseTestEvaluator
from trialrun._run import grid_search_ctx, run_test_suite, run_test_suite_async
from trialrun.history import compare

__all__ = [
    "BaseTestCase",
    "BaseTestEvaluator",
    "CaseResult",
    "Comparison",
    "Evaluation",
    "EvaluationResult",
    "RunInfo",
    "StoreError",
    "StoredRun",
    "SuiteResult",
    "SuiteValidationError",
    "Threshold",
    "__version__",
    "compare",
    "grid_search_ctx",
    "history",
    "md5",
    "run_test_suite",
    "run_test_suite_async",
]
