"""Autoblocks' Ragas metrics (https://docs.ragas.io), as evaluator bases.

Each carries the SDK's hooks (`llm` / `embeddings` for the models Ragas uses, mappers from
test case and output to Ragas' sample fields) and optional settings (`threshold`, `mode`,
`atomicity`, `focus`, all None by default). Evaluating builds Ragas' `SingleTurnSample`
from the mappers and scores it with the Ragas metric, as the SDK does; the score is
rounded to two places and capped at 1. Ragas is not a dependency of trialrun: install it
with `pip install "trialrun[ragas]"` (Ragas 0.2, the series the SDK supports); without it
evaluating raises ImportError naming the evaluator and the command.
"""

from __future__ import annotations

import abc
import importlib
from typing import Any, ClassVar, Generic

from trialrun._core import Evaluation, Threshold
from trialrun._models import BaseTestEvaluator, OutputType, TestCaseType

# The Ragas series the SDK supports (its metric classes and sample fields are used here).
RAGAS_SERIES = "0.2."


def ragas_module(evaluator_id: str) -> Any:
    """The installed `ragas`, or ImportError saying how to install it."""
    try:
        ragas = importlib.import_module("ragas")
    except ImportError as error:
        raise ImportError(
            f"the {evaluator_id} evaluator needs Ragas {RAGAS_SERIES}x, which is not installed "
            f'({error}): pip install "trialrun[ragas]"'
        ) from None
    version = getattr(ragas, "__version__", "")
    if not version.startswith(RAGAS_SERIES):
        raise ImportError(
            f"the {evaluator_id} evaluator needs Ragas {RAGAS_SERIES}x, found {version or '?'}: "
            'pip install "trialrun[ragas]"'
        )
    return ragas


# Per sample field: the hook that maps to it and the arguments the hook takes (the SDK's).
_MAPPERS = {
    "user_input": ("user_input_mapper", ("test_case", "output")),
    "response": ("response_mapper", ("output",)),
    "reference": ("reference_mapper", ("test_case",)),
    "retrieved_contexts": ("retrieved_contexts_mapper", ("test_case", "output")),
    "reference_contexts": ("reference_contexts_mapper", ("test_case",)),
}


def rounded(score: float) -> float:
    """Ragas' score to two places, capped at 1 (Ragas may return 1.000004)."""
    return min(round(score, 2), 1)


class _RagasMetric(BaseTestEvaluator, abc.ABC, Generic[TestCaseType, OutputType]):
    """What every Ragas base shares: an optional threshold, and the evaluation: a
    SingleTurnSample of the `_fields` the metric reads, scored by the Ragas metric `_metric`
    (a dotted path under `ragas.metrics`) made with the models it needs."""

    # The sample fields the metric reads, in Ragas' names.
    _fields: ClassVar[tuple[str, ...]] = ()
    _metric: ClassVar[str] = ""
    # The hooks passed to the metric's constructor (llm, embeddings).
    _models: ClassVar[tuple[str, ...]] = ("llm",)

    @property
    def threshold(self) -> Threshold | None:
        """The threshold of the evaluations; None by default."""
        return None

    def _metric_options(self) -> dict[str, Any]:
        return {}

    def _sample_fields(self, test_case: Any, output: Any) -> dict[str, Any]:
        given = {"test_case": test_case, "output": output}
        sample = {}
        for field in self._fields:
            mapper, arguments = _MAPPERS[field]
            sample[field] = getattr(self, mapper)(**{a: given[a] for a in arguments})
        return sample

    async def evaluate_test_case(self, test_case: TestCaseType, output: OutputType) -> Evaluation:
        ragas = ragas_module(self.id)
        sample = ragas.SingleTurnSample(**self._sample_fields(test_case, output))
        metric_class: Any = ragas.metrics
        for part in self._metric.split("."):
            metric_class = getattr(metric_class, part)
        options = {name: getattr(self, name) for name in self._models}
        scorer = metric_class(**options, **self._metric_options())
        score = await scorer.single_turn_ascore(sample=sample)
        return Evaluation(score=rounded(score), threshold=self.threshold)


class _UsesLLM(abc.ABC):
    @property
    @abc.abstractmethod
    def llm(self) -> Any:
        """The Ragas LLM wrapper the metric calls."""


class _UsesEmbeddings(abc.ABC):
    @property
    @abc.abstractmethod
    def embeddings(self) -> Any:
        """The Ragas embeddings wrapper the metric calls."""


class _UserInput(abc.ABC):
    @abc.abstractmethod
    def user_input_mapper(self, test_case: Any, output: Any) -> str:
        """The question asked."""


class _Response(abc.ABC):
    @abc.abstractmethod
    def response_mapper(self, output: Any) -> str:
        """The answer given."""


class _Reference(abc.ABC):
    @abc.abstractmethod
    def reference_mapper(self, test_case: Any) -> str:
        """The reference (ground-truth) answer."""


class _RetrievedContexts(abc.ABC):
    @abc.abstractmethod
    def retrieved_contexts_mapper(self, test_case: Any, output: Any) -> list[str]:
        """The contexts the system retrieved."""


class _ReferenceContexts(abc.ABC):
    @abc.abstractmethod
    def reference_contexts_mapper(self, test_case: Any) -> list[str]:
        """The contexts that should have been retrieved."""


class BaseRagasContextEntitiesRecall(
    _RagasMetric[TestCaseType, OutputType], _UsesLLM, _Reference, _RetrievedContexts
):
    """Share of the reference's entities that appear in the retrieved contexts."""

    _fields = ("reference", "retrieved_contexts")
    _metric = "ContextEntityRecall"
    _models = ("llm",)


class BaseRagasFactualCorrectness(
    _RagasMetric[TestCaseType, OutputType], _UsesLLM, _Response, _Reference
):
    """Factual overlap of response and reference; `mode` and `atomicity` tune Ragas."""

    _fields = ("response", "reference")
    _metric = "FactualCorrectness"
    _models = ("llm",)

    @property
    def mode(self) -> str | None:
        """Ragas' mode ("precision", "recall" or "f1"); None leaves Ragas' default."""
        return None

    @property
    def atomicity(self) -> str | None:
        """Ragas' claim atomicity ("low" or "high"); None leaves Ragas' default."""
        return None

    def _metric_options(self) -> dict[str, Any]:
        options = {"mode": self.mode, "atomicity": self.atomicity}
        return {k: v for k, v in options.items() if v is not None}


class BaseRagasFaithfulness(
    _RagasMetric[TestCaseType, OutputType], _UsesLLM, _UserInput, _Response, _RetrievedContexts
):
    """Share of the response's claims that the retrieved contexts support."""

    _fields = ("user_input", "response", "retrieved_contexts")
    _metric = "Faithfulness"
    _models = ("llm",)

    @property
    def focus(self) -> str | None:
        """Ragas' focus; None leaves Ragas' default."""
        return None


class BaseRagasLLMContextPrecisionWithReference(
    _RagasMetric[TestCaseType, OutputType], _UsesLLM, _UserInput, _Reference, _RetrievedContexts
):
    """Whether relevant retrieved contexts rank above irrelevant ones, judged by a model."""

    _fields = ("user_input", "reference", "retrieved_contexts")
    _metric = "_context_precision.LLMContextPrecisionWithReference"
    _models = ("llm",)


class BaseRagasLLMContextRecall(
    _RagasMetric[TestCaseType, OutputType],
    _UsesLLM,
    _UserInput,
    _Response,
    _Reference,
    _RetrievedContexts,
):
    """Share of the reference's claims the retrieved contexts support, judged by a model."""

    _fields = ("user_input", "response", "reference", "retrieved_contexts")
    _metric = "LLMContextRecall"
    _models = ("llm",)


class BaseRagasNoiseSensitivity(
    _RagasMetric[TestCaseType, OutputType],
    _UsesLLM,
    _UserInput,
    _Response,
    _Reference,
    _RetrievedContexts,
):
    """How often the response goes wrong because of irrelevant retrieved contexts."""

    _fields = ("user_input", "response", "reference", "retrieved_contexts")
    _metric = "NoiseSensitivity"
    _models = ("llm",)

    @property
    def focus(self) -> str | None:
        """Ragas' focus ("relevant" or "irrelevant"); None leaves Ragas' default."""
        return None

    def _metric_options(self) -> dict[str, Any]:
        return {} if self.focus is None else {"focus": self.focus}


class BaseRagasNonLLMContextPrecisionWithReference(
    _RagasMetric[TestCaseType, OutputType], _ReferenceContexts, _RetrievedContexts
):
    """Context precision against reference contexts by string similarity (no model)."""

    _fields = ("reference_contexts", "retrieved_contexts")
    _metric = "NonLLMContextPrecisionWithReference"
    _models = ()


class BaseRagasNonLLMContextRecall(
    _RagasMetric[TestCaseType, OutputType], _ReferenceContexts, _RetrievedContexts
):
    """Context recall against reference contexts by string similarity (no model)."""

    _fields = ("reference_contexts", "retrieved_contexts")
    _metric = "NonLLMContextRecall"
    _models = ()


class BaseRagasResponseRelevancy(
    _RagasMetric[TestCaseType, OutputType],
    _UsesLLM,
    _UsesEmbeddings,
    _UserInput,
    _Response,
    _RetrievedContexts,
):
    """How well the response addresses the question."""

    _fields = ("user_input", "response", "retrieved_contexts")
    _metric = "ResponseRelevancy"
    _models = ("llm", "embeddings")


class BaseRagasSemanticSimilarity(
    _RagasMetric[TestCaseType, OutputType], _UsesEmbeddings, _Response, _Reference
):
    """Embedding similarity of response and reference."""

    _fields = ("response", "reference")
    _metric = "SemanticSimilarity"
    _models = ("embeddings",)
