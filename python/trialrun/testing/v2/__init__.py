"""Autoblocks' v2 testing paths: `autoblocks.testing.v2` becomes `trialrun.testing.v2`."""

from trialrun.testing.v2.run import run_test_suite, run_test_suite_async

__all__ = ["run_test_suite", "run_test_suite_async"]
