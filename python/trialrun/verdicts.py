"""Verdict policies: how the trials of a case (``run_test_suite(..., repeats=k)``) become
one verdict. Pass one as ``verdict=`` to a suite, or set it as an evaluator's class
attribute ``verdict`` to judge that evaluator's column its own way.

A policy is a plain string, checked by the engine before anything runs:

- ``all_trials`` (``"all"``, the default): pass^k, every trial passes.
- ``majority`` (``"majority"``): more than half of the trials pass.
- ``at_least(m)`` (``"at_least(m)"``): at least m trials pass; m above ``repeats`` is refused.
- ``confirm_failures(n)`` (``"confirm_failures(n)"``): every trial passes, or the case runs
  again, up to n more times; a case that then passes is reported *flaky* (not a failure),
  one that never does fails.
"""

from __future__ import annotations

__all__ = ["all_trials", "at_least", "confirm_failures", "majority"]

all_trials = "all"
majority = "majority"


def _count(name: str, n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{name} takes a whole number >= 1, got {n!r}")
    return n


def at_least(m: int) -> str:
    """A case passes when at least ``m`` of its trials pass."""
    return f"at_least({_count('at_least', m)})"


def confirm_failures(n: int) -> str:
    """A failing case runs again up to ``n`` times; passing then makes it flaky."""
    return f"confirm_failures({_count('confirm_failures', n)})"
