"""What the battle and Ragas evaluator bases do until their evaluation is implemented."""

from __future__ import annotations

from typing import NoReturn


def not_yet_implemented(evaluator: object, what: str = "evaluate_test_case") -> NoReturn:
    """Raise the NotImplementedError shared by every model-backed base."""
    name = type(evaluator).__name__
    raise NotImplementedError(
        f"{name}.{what}: trialrun defines Autoblocks' battle and Ragas evaluator bases so "
        "that code using them imports and runs, but their evaluation arrives with a later "
        "change of trialrun. Until then use an evaluator of your own (a BaseTestEvaluator), "
        "an LLM judge (BaseLLMJudge, BaseAccuracy, BaseToxicity, BaseNSFW) or one of the "
        "model-free bases (BaseHasAllSubstrings, BaseIsEquals, BaseIsValidJSON, BaseAssertions)."
    )
