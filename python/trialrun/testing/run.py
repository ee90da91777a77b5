from trialrun._run import grid_search_ctx, run_test_suite, run_test_suite_async

__all__ = ["grid_search_ctx", "run_test_suite", "run_test_suite_async"]
