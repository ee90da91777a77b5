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
from trialrun._limits import (
    CallTimeout,
    acquire,
    acquire_sync,
    is_quota_error,
    is_rate_limit_error,
    limit_key,
    report_usage,
)
from trialrun._models import BaseTestCase, BaseTestEvaluator
from trialrun._run import grid_search_ctx, run_test_suite, run_test_suite_async
from trialrun._stored import StoredTestCase, rescore
from trialrun.history import compare

__all__ = [
    "BaseTestCase",
    "BaseTestEvaluator",
    "CallTimeout",
    "CaseResult",
    "Comparison",
    "Evaluation",
    "EvaluationResult",
    "RunInfo",
    "StoreError",
    "StoredRun",
    "StoredTestCase",
    "SuiteResult",
    "SuiteValidationError",
    "Threshold",
    "__version__",
    "acquire",
    "acquire_sync",
    "compare",
    "grid_search_ctx",
    "history",
    "is_quota_error",
    "is_rate_limit_error",
    "limit_key",
    "md5",
    "report_usage",
    "rescore",
    "run_test_suite",
    "run_test_suite_async",
]
