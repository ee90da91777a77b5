"""Real Autoblocks users' suites, run unchanged but for their import lines (the files under
tests/real_suites/ name where each came from and its licence)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SUITES = Path(__file__).resolve().parent / "real_suites"


def test_autoblocks_cli_end_to_end_suite_runs_with_its_grid_and_optional_evaluations(
    trialrun_home, store_rows
):
    """Autoblocks' CLI e2e suite: two suites in one script, async fn and evaluators, a
    grid of two combinations, md5 hashes, and an evaluator that sometimes returns None."""
    env = dict(os.environ, TEST_SUITE_SUFFIX="ci", TRIALRUN_HOME=str(trialrun_home))
    proc = subprocess.run(
        [sys.executable, str(SUITES / "autoblocks_cli_e2e.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    runs = store_rows("SELECT id, suite_id, status, grid FROM runs ORDER BY suite_id, grid")
    assert [(r["suite_id"], r["status"]) for r in runs] == [
        ("python-e2e-test-suite-1-ci", "completed"),
        ("python-e2e-test-suite-1-ci", "completed"),
        ("python-e2e-test-suite-2-ci", "completed"),
    ]
    assert [json.loads(r["grid"]) for r in runs[:2]] == [
        {"x": "x1", "y": "y1"},
        {"x": "x2", "y": "y1"},
    ]
    cases = store_rows("SELECT run_id, hash, output, error FROM case_results")
    per_run = {r["id"]: 0 for r in runs}
    for case in cases:
        per_run[case["run_id"]] += 1
        assert case["error"] is None and len(case["hash"]) == 32  # md5 of the input
    assert sorted(per_run.values()) == [4, 4, 10]
    evaluations = store_rows("SELECT evaluator_id, score, verdict FROM evaluation_results")
    substrings = [e for e in evaluations if e["evaluator_id"] == "has-all-substrings"]
    friendly = [e for e in evaluations if e["evaluator_id"] == "is-friendly"]
    assert len(substrings) == 18  # one per case
    assert {e["verdict"] for e in substrings} <= {"passed", "failed"}
    assert len(friendly) <= 18  # None (about one in five) stores no evaluation
    assert all(e["verdict"] == "no_threshold" for e in friendly)
