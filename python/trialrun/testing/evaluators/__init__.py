"""`autoblocks.testing.evaluators` under trialrun: Autoblocks' evaluator bases.

The model-free bases (`BaseHasAllSubstrings`, `BaseIsEquals`, `BaseIsValidJSON`,
`BaseAssertions`) evaluate in trialrun today. The model-backed ones (LLM judges, battles,
Ragas metrics) define and instantiate like Autoblocks' but raise NotImplementedError when
asked to evaluate, until a later change of trialrun implements them. trialrun's own
configurable evaluators are in `trialrun.evaluators`.
"""

from trialrun.testing.evaluators.assertions import BaseAssertions
from trialrun.testing.evaluators.battles import BaseAutomaticBattle, BaseManualBattle
from trialrun.testing.evaluators.llm_judges import (
    BaseAccuracy,
    BaseLLMJudge,
    BaseNSFW,
    BaseToxicity,
)
from trialrun.testing.evaluators.ragas import (
    BaseRagasContextEntitiesRecall,
    BaseRagasFactualCorrectness,
    BaseRagasFaithfulness,
    BaseRagasLLMContextPrecisionWithReference,
    BaseRagasLLMContextRecall,
    BaseRagasNoiseSensitivity,
    BaseRagasNonLLMContextPrecisionWithReference,
    BaseRagasNonLLMContextRecall,
    BaseRagasResponseRelevancy,
    BaseRagasSemanticSimilarity,
)
from trialrun.testing.evaluators.text_checks import (
    BaseHasAllSubstrings,
    BaseIsEquals,
    BaseIsValidJSON,
)

# Autoblocks' deprecated aliases.
HasAllSubstrings = BaseHasAllSubstrings
AutomaticBattle = BaseAutomaticBattle
ManualBattle = BaseManualBattle

__all__ = [
    "AutomaticBattle",
    "BaseAccuracy",
    "BaseAssertions",
    "BaseAutomaticBattle",
    "BaseHasAllSubstrings",
    "BaseIsEquals",
    "BaseIsValidJSON",
    "BaseLLMJudge",
    "BaseManualBattle",
    "BaseNSFW",
    "BaseRagasContextEntitiesRecall",
    "BaseRagasFactualCorrectness",
    "BaseRagasFaithfulness",
    "BaseRagasLLMContextPrecisionWithReference",
    "BaseRagasLLMContextRecall",
    "BaseRagasNoiseSensitivity",
    "BaseRagasNonLLMContextPrecisionWithReference",
    "BaseRagasNonLLMContextRecall",
    "BaseRagasResponseRelevancy",
    "BaseRagasSemanticSimilarity",
    "BaseToxicity",
    "HasAllSubstrings",
    "ManualBattle",
]
