from trialrun._run import grid_search_ctx, run_test_suite, run_test_suite_async
from trialrun.testing.run_manager import RunManager

__all__ = ["RunManager", "grid_search_ctx", "run_test_suite", "run_test_suite_async"]
