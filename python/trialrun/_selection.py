"""Which suites and cases run, chosen from the environment.

Two variables, each under Autoblocks' name (its CLI and UI set them) and under trialrun's:

- ``TRIALRUN_SUITES`` / ``AUTOBLOCKS_FILTERS_TEST_SUITES``: a JSON list of strings; a suite
  runs only when one of them is a substring of its id ("ell" selects "hello").
  trialrun's name also takes a comma-separated list (``trialrun run --suite`` sets it).
- ``TRIALRUN_CASES`` / ``AUTOBLOCKS_OVERRIDES_TESTS_AND_HASHES``: a JSON object mapping
  suite ids to lists of case hashes; only the suites named run, and a non-empty list runs
  only those cases of its suite.

When both names of a variable are set, trialrun's wins. A value that does not parse is
refused naming the variable, before anything runs.

And one of trialrun's own: ``TRIALRUN_SHARD=i/n`` runs shard i of n of every suite (the
``shard=`` argument of ``run_test_suite`` wins over it; ``trialrun run --shard`` sets it).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from typing import Any

from trialrun._core import SuiteValidationError

SHARD_VAR = "TRIALRUN_SHARD"
SUITES_VARS = ("TRIALRUN_SUITES", "AUTOBLOCKS_FILTERS_TEST_SUITES")
CASES_VARS = ("TRIALRUN_CASES", "AUTOBLOCKS_OVERRIDES_TESTS_AND_HASHES")


def _first_set(names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        raw = os.environ.get(name)
        if raw:
            return name, raw
    return None


def _suite_filters() -> tuple[str, list[str]] | None:
    found = _first_set(SUITES_VARS)
    if found is None:
        return None
    name, raw = found
    if name == "TRIALRUN_SUITES" and not raw.lstrip().startswith("["):
        return name, [part.strip() for part in raw.split(",") if part.strip()]
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise SuiteValidationError(f"{name} is not JSON ({error}): {raw!r}") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SuiteValidationError(f"{name} must be a JSON list of strings, got {raw!r}")
    return name, value


def _case_overrides() -> tuple[str, dict[str, list[str]]] | None:
    found = _first_set(CASES_VARS)
    if found is None:
        return None
    name, raw = found
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise SuiteValidationError(f"{name} is not JSON ({error}): {raw!r}") from None
    if not isinstance(value, dict) or not all(
        isinstance(hashes, list) and all(isinstance(h, str) for h in hashes)
        for hashes in value.values()
        if hashes is not None
    ):
        raise SuiteValidationError(
            f"{name} must be a JSON object of suite id -> list of case hashes, got {raw!r}"
        )
    return name, value


def select(suite_id: str, test_cases: Sequence[Any]) -> tuple[Sequence[Any], str | None]:
    """(the cases to run, None), or (the cases, why the suite is skipped).

    Raises SuiteValidationError for a variable that does not parse, and when a hash list
    leaves no case to run (a list naming only hashes the suite does not have is stale,
    not a request to run nothing).
    """
    filters = _suite_filters()
    if filters is not None:
        name, patterns = filters
        if patterns and not any(p in suite_id for p in patterns):
            return test_cases, f"{name} selects {patterns!r}"
    overrides = _case_overrides()
    if overrides is None:
        return test_cases, None
    name, by_suite = overrides
    if suite_id not in by_suite:
        return test_cases, f"{name} names only {sorted(by_suite)!r}"
    wanted = by_suite[suite_id] or []
    if not wanted or not isinstance(test_cases, Sequence):
        return test_cases, None
    wanted_set = set(wanted)
    # A case without a working hash() is kept: the engine refuses it by name.
    chosen = [case for case in test_cases if _hash_of(case) in wanted_set or _hash_of(case) is None]
    found = {_hash_of(case) for case in chosen}
    missing = [h for h in wanted if h not in found]
    if not found & wanted_set:
        raise SuiteValidationError(
            f"{name} selects case hashes {missing!r} of suite {suite_id!r}, which has none of them"
        )
    if missing:
        warnings.warn(
            f"trialrun: {name} names case hashes suite {suite_id!r} does not have: {missing!r}",
            stacklevel=4,
        )
    return chosen, None


def _hash_of(case: Any) -> str | None:
    try:
        value = case.hash()
    except Exception:
        return None
    return value if isinstance(value, str) else None


def shard(given: Any) -> tuple[int, int] | None:
    """The shard to run, (i, n) with 1 <= i <= n: ``given`` (an (i, n) pair or "i/n"), else
    ``TRIALRUN_SHARD``, else None. Anything else is refused naming where it came from."""
    where = "shard"
    if given is None:
        given = os.environ.get(SHARD_VAR) or None
        if given is None:
            return None
        where = SHARD_VAR
    parts: Any = given.split("/") if isinstance(given, str) else given
    pair = None
    if isinstance(parts, (tuple, list)) and len(parts) == 2:
        try:
            i, n = (p if isinstance(p, int) else int(p.strip()) for p in parts)
            if not any(isinstance(p, bool) for p in parts):
                pair = (i, n)
        except (AttributeError, TypeError, ValueError):
            pair = None
    if pair is None or not 1 <= pair[0] <= pair[1]:
        raise SuiteValidationError(
            f"{where} must be i/n (or (i, n)) with 1 <= i <= n, the second of four being 2/4; "
            f"got {given!r}"
        )
    return pair
