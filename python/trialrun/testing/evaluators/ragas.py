"""Autoblocks' Ragas metrics (https://docs.ragas.io), as evaluator bases.

Each carries the SDK's hooks (`llm` / `embeddings` for the models Ragas uses, mappers from
test case and output to Ragas' sample fields) and optional settings (`threshold`, `mode`,
`atomicity`, `focus`, all None by default), so that subclasses define and instantiate;
evaluating raises NotImplementedError until trialrun's model-backed evaluators land.
"""

from __future__ import annotations

import abc
from typing import Any, Generic

from trialrun._core import Evaluation, Threshold
from trialrun._models import BaseTestEvaluator, OutputType, TestCaseType
from trialrun.testing.evaluators._model_backed import not_yet_implemented


class _RagasMetric(BaseTestEvaluator, abc.ABC, Generic[TestCaseType, OutputType]):
    """What every Ragas base shares: an optional threshold and the pending evaluation."""

    @property
    def threshold(self) -> Threshold | None:
        """The threshold of the evaluations; None by default."""
        return None

    async def evaluate_test_case(self, test_case: TestCaseType, output: OutputType) -> Evaluation:
        not_yet_implemented(self)


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


class BaseRagasFactualCorrectness(
    _RagasMetric[TestCaseType, OutputType], _UsesLLM, _Response, _Reference
):
    """Factual overlap of response and reference; `mode` and `atomicity` tune Ragas."""

    @property
    def mode(self) -> str | None:
        """Ragas' mode ("precision", "recall" or "f1"); None leaves Ragas' default."""
        return None

    @property
    def atomicity(self) -> str | None:
        """Ragas' claim atomicity ("low" or "high"); None leaves Ragas' default."""
        return None


class BaseRagasFaithfulness(
    _RagasMetric[TestCaseType, OutputType], _UsesLLM, _UserInput, _Response, _RetrievedContexts
):
    """Share of the response's claims that the retrieved contexts support."""

    @property
    def focus(self) -> str | None:
        """Ragas' focus; None leaves Ragas' default."""
        return None


class BaseRagasLLMContextPrecisionWithReference(
    _RagasMetric[TestCaseType, OutputType], _UsesLLM, _UserInput, _Reference, _RetrievedContexts
):
    """Whether relevant retrieved contexts rank above irrelevant ones, judged by a model."""


class BaseRagasLLMContextRecall(
    _RagasMetric[TestCaseType, OutputType],
    _UsesLLM,
    _UserInput,
    _Response,
    _Reference,
    _RetrievedContexts,
):
    """Share of the reference's claims the retrieved contexts support, judged by a model."""


class BaseRagasNoiseSensitivity(
    _RagasMetric[TestCaseType, OutputType],
    _UsesLLM,
    _UserInput,
    _Response,
    _Reference,
    _RetrievedContexts,
):
    """How often the response goes wrong because of irrelevant retrieved contexts."""

    @property
    def focus(self) -> str | None:
        """Ragas' focus ("relevant" or "irrelevant"); None leaves Ragas' default."""
        return None


class BaseRagasNonLLMContextPrecisionWithReference(
    _RagasMetric[TestCaseType, OutputType], _ReferenceContexts, _RetrievedContexts
):
    """Context precision against reference contexts by string similarity (no model)."""


class BaseRagasNonLLMContextRecall(
    _RagasMetric[TestCaseType, OutputType], _ReferenceContexts, _RetrievedContexts
):
    """Context recall against reference contexts by string similarity (no model)."""


class BaseRagasResponseRelevancy(
    _RagasMetric[TestCaseType, OutputType],
    _UsesLLM,
    _UsesEmbeddings,
    _UserInput,
    _Response,
    _RetrievedContexts,
):
    """How well the response addresses the question."""


class BaseRagasSemanticSimilarity(
    _RagasMetric[TestCaseType, OutputType], _UsesEmbeddings, _Response, _Reference
):
    """Embedding similarity of response and reference."""
