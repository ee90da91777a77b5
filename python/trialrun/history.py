"""Run history: every suite run is kept in the local run store; list, open, compare.

    from trialrun import history
    history.runs(suite="my-suite")          # a table of runs (renders as HTML in Jupyter)
    history.run("latest")                   # one run, with its cases and evaluations
    history.compare()                       # the latest run against the one before it
    trialrun.compare(result_a, result_b)    # two suite results, matched by test-case hash
    history.merge(["shard1.db", "shard2.json"])  # a suite's shards made one run again

Runs are named by id, by a unique prefix of one, or "latest". The store is
$TRIALRUN_HOME/trialrun.db, else the nearest .trialrun/trialrun.db in the current folder
or a parent (as git finds .git), else ./.trialrun/trialrun.db.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from trialrun import _core
from trialrun._core import Comparison, RunList, StoredRun, SuiteResult

RunRef = str | StoredRun | SuiteResult | None

__all__ = ["Comparison", "RunList", "StoredRun", "compare", "gc", "merge", "run", "runs"]


def runs(suite: str | None = None, limit: int = 20) -> RunList:
    """The newest runs, optionally of one suite."""
    return _core.list_runs(suite, limit)


def run(reference: str = "latest", suite: str | None = None) -> StoredRun:
    """One stored run by id, unique id prefix, or "latest" (of `suite` when given)."""
    return _core.load_run(reference, suite)


def _run_id(ref: RunRef, which: str) -> str | None:
    if ref is None or isinstance(ref, str):
        return ref
    if isinstance(ref, StoredRun):
        return ref.run_id
    if isinstance(ref, SuiteResult):
        if len(ref.run_ids) != 1:
            raise ValueError(
                f"{which}: suite {ref.suite_id!r} ran {len(ref.run_ids)} grid combinations; "
                f"pass one of its run_ids: {ref.run_ids}"
            )
        return ref.run_ids[0]
    raise TypeError(
        f"{which}: expected a run id, a StoredRun or a SuiteResult, got {type(ref).__name__}"
    )


def compare(base: RunRef = None, head: RunRef = None, *, suite: str | None = None) -> Comparison:
    """Compare two runs case by case through their test-case hashes.

    `head` defaults to the latest run (of `suite`), `base` to the run of the same suite
    and grid combination before `head`. Either may be a run id, a StoredRun or a
    SuiteResult.
    """
    return _core.compare_runs(_run_id(base, "base"), _run_id(head, "head"), suite)


def gc(keep: int, dry_run: bool = False) -> int:
    """Delete all but the newest `keep` runs of each suite and grid combination.

    Returns how many runs were deleted (with `dry_run=True`: would be, deleting nothing).
    """
    if keep < 0:
        raise ValueError(f"keep must be >= 0, got {keep}")
    if dry_run:
        return len(_core.old_runs(keep))
    return _core.gc_runs(keep)


def merge(
    sources: Sequence[str | os.PathLike[str]],
    into: str | os.PathLike[str] | None = None,
    *,
    allow_mixed_commits: bool = False,
) -> list[dict[str, Any]]:
    """Merge the shard runs in `sources` (run stores, or runs exported as JSON) into one run
    per suite and grid combination, written to the store `into` (default: this folder's).

    Returns a dict per merged run: run_id, suite_id, grid (JSON or None), shards, cases,
    status. Raises ValueError naming the files when a shard is missing, given twice, of
    another split, repeat plan or (unless `allow_mixed_commits`) git commit; then nothing
    is written.
    """
    return _core.merge_shards(
        [os.fspath(s) for s in sources],
        None if into is None else os.fspath(into),
        allow_mixed_commits=allow_mixed_commits,
    )


def _junit(results: Any) -> str:
    """JUnit XML for suite results (used by `trialrun run --junit` and the pytest plugin).

    Suites run with record=False are not in the store and are left out.
    """
    runs = [(r.store_path, run_id) for r in results if r.store_path for run_id in r.run_ids]
    return _junit_of_stored(runs)


def _junit_of_stored(runs: list[tuple[str, str]]) -> str:
    """JUnit XML of stored runs given as (store file, run id), in one <testsuites>: runs
    of several stores (pytest-xdist workers, tests with stores of their own) are read
    from each and put together."""
    stores: dict[str, list[str]] = {}
    for store, run_id in runs:
        stores.setdefault(store, []).append(run_id)
    if len(stores) <= 1:
        ((store, ids),) = stores.items() if stores else ((None, []),)
        return _core.junit_for_runs(ids, store)
    import xml.etree.ElementTree as ET

    merged = ET.Element("testsuites")
    totals = dict.fromkeys(("tests", "failures", "errors"), 0)
    time_s = 0.0
    for store, ids in stores.items():
        root = ET.fromstring(_core.junit_for_runs(ids, store))
        for suite in root.iter("testsuite"):
            merged.append(suite)
            for key in totals:
                totals[key] += int(suite.get(key, "0"))
            time_s += float(suite.get("time", "0"))
    merged.set("name", "trialrun")
    for key, value in totals.items():
        merged.set(key, str(value))
    merged.set("time", f"{time_s:.3f}")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(merged, encoding="unicode")
