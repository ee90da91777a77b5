"""Autoblocks' Ragas bases with the real Ragas 0.2 (the `ragas` extra), in a suite.

scripts/test.sh runs this folder in a virtualenv of its own with `trialrun[ragas]`
installed (Ragas and its langchain dependencies are large, so the other test runs leave
them out and ignore this folder). The metrics here are Ragas' string-based ones, which
need no model: their scores are Ragas' own.
"""

from __future__ import annotations

import dataclasses

import ragas
from trialrun.testing.evaluators import (
    BaseRagasNonLLMContextPrecisionWithReference,
    BaseRagasNonLLMContextRecall,
)
from trialrun.testing.models import BaseTestCase
from trialrun.testing.run import run_test_suite


@dataclasses.dataclass
class Question(BaseTestCase):
    text: str
    reference_contexts: list[str]

    def hash(self) -> str:
        return self.text


class Recall(BaseRagasNonLLMContextRecall[Question, list]):
    id = "context-recall"

    def reference_contexts_mapper(self, test_case: Question) -> list[str]:
        return test_case.reference_contexts

    def retrieved_contexts_mapper(self, test_case: Question, output: list) -> list[str]:
        return output


class Precision(BaseRagasNonLLMContextPrecisionWithReference[Question, list]):
    id = "context-precision"

    def reference_contexts_mapper(self, test_case: Question) -> list[str]:
        return test_case.reference_contexts

    def retrieved_contexts_mapper(self, test_case: Question, output: list) -> list[str]:
        return output


def retrieve(case: Question) -> list[str]:
    if case.text == "capital":
        return ["Paris is the capital of France."]
    return ["Bananas are yellow.", "The Eiffel Tower is in Paris."]


def test_ragas_string_metrics_score_in_a_suite(store_rows):
    assert ragas.__version__.startswith("0.2.")
    result = run_test_suite(
        id="retrieval",
        test_cases=[
            Question("capital", ["Paris is the capital of France."]),
            Question("sights", ["The Eiffel Tower is in Paris.", "The Louvre is a museum."]),
        ],
        evaluators=[Recall(), Precision()],
        fn=retrieve,
        quiet=True,
    )
    scores = {
        (c.hash, e.evaluator_id): (e.score, e.error) for c in result.cases for e in c.evaluations
    }
    assert scores == {
        ("capital", "context-recall"): (1.0, None),
        ("capital", "context-precision"): (1.0, None),
        # one of the two reference contexts retrieved
        ("sights", "context-recall"): (0.5, None),
        # the relevant context ranked second of two
        ("sights", "context-precision"): (0.5, None),
    }
    stored = store_rows("SELECT case_hash, evaluator_id, score FROM evaluation_results")
    assert len(stored) == 4
