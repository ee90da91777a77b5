"""Autoblocks' battles: a model compares the output (the challenger) with a baseline under
`criteria` and says which is better.

The score is the SDK's: 1 when the challenger wins, 0.5 for a tie, 0 when the baseline
wins; a tie passes (threshold >= 0.5). The model is `gpt-4-turbo` (the SDK's; override the
`model` property) at OPENAI_BASE_URL with OPENAI_API_KEY, through trialrun's Rust client,
asked for a JSON object. The automatic battle keeps its baselines in the run store (table
`baselines`, per suite, case hash and evaluator) where the SDK keeps them in Autoblocks'
cloud.
"""

from __future__ import annotations

import abc
import json
from typing import Any, Generic

from trialrun import _core
from trialrun._core import Evaluation, Threshold
from trialrun._models import BaseTestEvaluator, OutputType, TestCaseType
from trialrun._run import current_suite_id
from trialrun.testing.evaluators.llm_judges import judge_chat

# A tie passes, as in the SDK.
TIE_PASSES = Threshold(gte=0.5)
# The model's verdicts: "0" a tie, "1" the baseline is better, "2" the challenger is.
_SCORES = {"0": 0.5, "1": 0.0, "2": 1.0}
_SYSTEM = (
    "You compare two responses, a baseline and a challenger, against the criteria you "
    "are given and decide which one meets them better. Answer with a JSON object with two "
    'keys: "result", the string "1" when the baseline is better, "2" when the challenger '
    'is better, or "0" when they are equally good; and "reason", one or two sentences '
    "saying why."
)


async def battle(
    evaluator_id: str, model: str, baseline: str, challenger: str, criteria: str
) -> Evaluation:
    """The model's verdict on challenger against baseline, as an Evaluation."""
    prompt = f"[Criteria]\n{criteria}\n\n[Baseline]\n{baseline}\n\n[Challenger]\n{challenger}"
    answer = await judge_chat(
        evaluator_id,
        model,
        {
            "messages": [
                {"role": "system", "content": _SYSTEM},
                {"role": "user", "content": prompt},
            ],
            "response_format": {"type": "json_object"},
            "temperature": 0.0,
        },
    )
    content = (answer["content"] or "").strip()
    try:
        verdict: Any = json.loads(content)
    except ValueError:
        verdict = None
    result = verdict.get("result") if isinstance(verdict, dict) else None
    if str(result) not in _SCORES:
        raise ValueError(
            f"the battle model did not answer a JSON object with result 0, 1 or 2; "
            f"it said {content!r}"
        )
    return Evaluation(
        score=_SCORES[str(result)],
        threshold=TIE_PASSES,
        metadata={
            "reason": verdict.get("reason"),
            "baseline": baseline,
            "challenger": challenger,
            "criteria": criteria,
        },
    )


class _Battle(BaseTestEvaluator, abc.ABC, Generic[TestCaseType, OutputType]):
    @property
    def model(self) -> str:
        """The comparing model; "gpt-4-turbo" by default, as in the SDK."""
        return "gpt-4-turbo"

    @property
    @abc.abstractmethod
    def criteria(self) -> str:
        """What the two responses are compared on."""

    @abc.abstractmethod
    def output_mapper(self, output: OutputType) -> str:
        """The challenger response, from the output."""


class BaseManualBattle(_Battle[TestCaseType, OutputType]):
    """Output against a baseline the test case gives; a tie (0.5) passes."""

    threshold = TIE_PASSES

    @abc.abstractmethod
    def baseline_mapper(self, test_case: TestCaseType) -> str:
        """The baseline response, from the test case."""

    async def evaluate_test_case(self, test_case: TestCaseType, output: OutputType) -> Evaluation:
        challenger = self.output_mapper(output)
        baseline = self.baseline_mapper(test_case)
        return await battle(self.id, self.model, baseline, challenger, self.criteria)


class BaseAutomaticBattle(_Battle[TestCaseType, OutputType]):
    """Output against the stored baseline for the case. A case's first output becomes
    its baseline and gets no evaluation; later, a challenger that wins becomes the new
    baseline."""

    async def evaluate_test_case(
        self, test_case: TestCaseType, output: OutputType
    ) -> Evaluation | None:
        suite_id = current_suite_id()
        if suite_id is None:
            raise RuntimeError(
                f"{type(self).__name__} keeps baselines per suite: run it inside "
                "run_test_suite, not on its own"
            )
        store = _core.default_store_path()
        key = (suite_id, test_case.hash(), self.id)
        challenger = self.output_mapper(output)
        baseline = _core._battle_baseline(store, *key)
        if baseline is None:
            _core._save_battle_baseline(store, *key, challenger)
            return None
        evaluation = await battle(self.id, self.model, baseline, challenger, self.criteria)
        if evaluation.score == 1:
            _core._save_battle_baseline(store, *key, challenger)
        return evaluation
