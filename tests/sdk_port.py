"""What the ported Autoblocks SDK tests share: the SDK's test case, and readers of the
run store (the `store_rows` fixture's rows, JSON columns decoded)."""

from __future__ import annotations

import dataclasses
import json

from trialrun.testing.models import BaseTestCase


@dataclasses.dataclass
class MyTestCase(BaseTestCase):
    input: str

    def hash(self) -> str:
        return self.input


def stored_cases(store_rows):
    """The run store's cases in order, JSON columns decoded."""
    rows = store_rows(
        "SELECT run_id, hash, test_case, output, error FROM case_results ORDER BY run_id, idx"
    )
    for row in rows:
        row["test_case"] = json.loads(row["test_case"])
        row["output"] = None if row["output"] is None else json.loads(row["output"])
    return rows


def stored_evaluations(store_rows):
    """The run store's evaluations by (case hash, evaluator id), JSON columns decoded."""
    rows = store_rows(
        "SELECT case_hash, evaluator_id, score, threshold, verdict, metadata, error "
        "FROM evaluation_results"
    )
    out = {}
    for row in rows:
        row["threshold"] = None if row["threshold"] is None else json.loads(row["threshold"])
        row["metadata"] = None if row["metadata"] is None else json.loads(row["metadata"])
        out[(row.pop("case_hash"), row.pop("evaluator_id"))] = row
    return out


def no_store(trialrun_home) -> bool:
    return not (trialrun_home / "trialrun.db").exists()
