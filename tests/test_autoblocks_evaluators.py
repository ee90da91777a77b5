"""Autoblocks' models and evaluator bases under `trialrun.testing.*`.

The suite tests of the four model-free evaluators are ported from the Autoblocks SDK's
`tests/autoblocks/test_evaluators.py` (github.com/autoblocksai/python-sdk, MIT licence):
`test_has_all_substrings_evaluator`, `test_is_equals_evaluator`,
`test_is_valid_json_evaluator` and `test_assertions_evaluator`, with the same test cases,
fns and evaluators. Where the SDK test expects HTTP posts to its CLI server (/results,
/evals), these assert what trialrun's `run_test_suite` returns and what its run store holds.
The model-backed bases are checked here for the SDK's hooks and defaults, and the Ragas ones
for what they hand Ragas; the judges and battles run against a scripted model server in
test_autoblocks_judges.py and test_autoblocks_battles.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import sys
import types
from typing import Any

import pytest

import trialrun.evaluators
from trialrun.testing import evaluators as ab_evaluators
from trialrun.testing import models as ab_models
from trialrun.testing.evaluators import (
    AutomaticBattle,
    BaseAccuracy,
    BaseAssertions,
    BaseAutomaticBattle,
    BaseHasAllSubstrings,
    BaseIsEquals,
    BaseIsValidJSON,
    BaseLLMJudge,
    BaseManualBattle,
    BaseNSFW,
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
    BaseToxicity,
    HasAllSubstrings,
    ManualBattle,
)
from trialrun.testing.models import (
    Assertion,
    BaseEvaluator,
    BaseEventEvaluator,
    BaseTestCase,
    BaseTestEvaluator,
    CreateHumanReviewJob,
    Evaluation,
    EvaluationOverride,
    EvaluationOverrideComment,
    EvaluationOverrideField,
    EvaluationWithId,
    HumanReviewField,
    HumanReviewFieldContentType,
    ScoreChoice,
    TestCaseConfig,
    Threshold,
    TracerEvent,
)
from trialrun.testing.run import run_test_suite


@dataclasses.dataclass
class MyTestCase(BaseTestCase):
    input: str
    expected_substrings: list[str]

    def hash(self) -> str:
        return self.input


def stored(store_rows: Any, json_loads: Any) -> tuple[list[dict], list[dict]]:
    """The run store's case rows and evaluation rows, JSON columns decoded, in case order."""
    cases = store_rows("SELECT hash, test_case, output, error FROM case_results ORDER BY idx")
    evals = store_rows(
        "SELECT case_hash, evaluator_id, score, threshold, verdict, metadata, error "
        "FROM evaluation_results ORDER BY case_idx, evaluator_id"
    )
    for row in cases:
        row["test_case"] = json_loads(row["test_case"])
        row["output"] = json_loads(row["output"])
    for row in evals:
        row["threshold"] = json_loads(row["threshold"])
        row["metadata"] = json_loads(row["metadata"])
    return cases, evals


# --- the exported names ----------------------------------------------------------------

# autoblocks.testing.models.__all__ and autoblocks.testing.evaluators.__all__ (SDK 0.0.137).
SDK_MODELS = {
    "Assertion",
    "BaseEvaluator",
    "BaseEventEvaluator",
    "BaseTestCase",
    "BaseTestEvaluator",
    "CreateHumanReviewJob",
    "Evaluation",
    "EvaluationOverride",
    "EvaluationOverrideComment",
    "EvaluationOverrideField",
    "EvaluationWithId",
    "HumanReviewField",
    "HumanReviewFieldContentType",
    "ScoreChoice",
    "TestCaseConfig",
    "Threshold",
    "TracerEvent",
}
SDK_EVALUATORS = {
    "BaseAssertions",
    "BaseIsEquals",
    "BaseIsValidJSON",
    "BaseHasAllSubstrings",
    "BaseAutomaticBattle",
    "BaseManualBattle",
    "BaseRagasFactualCorrectness",
    "BaseRagasResponseRelevancy",
    "BaseRagasSemanticSimilarity",
    "BaseRagasContextEntitiesRecall",
    "BaseRagasLLMContextRecall",
    "BaseRagasLLMContextPrecisionWithReference",
    "BaseRagasNonLLMContextPrecisionWithReference",
    "BaseRagasFaithfulness",
    "BaseRagasNoiseSensitivity",
    "BaseRagasNonLLMContextRecall",
    "BaseLLMJudge",
    "BaseAccuracy",
    "BaseNSFW",
    "BaseToxicity",
    "HasAllSubstrings",
    "AutomaticBattle",
    "ManualBattle",
}


def test_models_exports_the_sdk_names():
    assert set(ab_models.__all__) == SDK_MODELS
    for name in SDK_MODELS:
        assert getattr(ab_models, name) is not None
    namespace: dict = {}
    exec("from trialrun.testing.models import *", namespace)
    assert SDK_MODELS <= set(namespace)


def test_models_share_the_top_level_classes():
    assert ab_models.Evaluation is trialrun.Evaluation
    assert ab_models.Threshold is trialrun.Threshold
    assert ab_models.BaseTestCase is trialrun.BaseTestCase
    assert ab_models.BaseTestEvaluator is trialrun.BaseTestEvaluator


def test_evaluators_exports_the_sdk_names():
    assert set(ab_evaluators.__all__) == SDK_EVALUATORS
    namespace: dict = {}
    exec("from trialrun.testing.evaluators import *", namespace)
    assert SDK_EVALUATORS <= set(namespace)


def test_deprecated_aliases_are_the_bases():
    assert HasAllSubstrings is BaseHasAllSubstrings
    assert AutomaticBattle is BaseAutomaticBattle
    assert ManualBattle is BaseManualBattle
    # trialrun's own configurable evaluator keeps its place and behaviour
    assert trialrun.evaluators.HasAllSubstrings is not HasAllSubstrings
    assert trialrun.evaluators.HasAllSubstrings(["a"]).id


# --- models ----------------------------------------------------------------------------


def test_evaluation_takes_assertions_fourth_and_keeps_them():
    assertions = [Assertion("Must pass", True, True), Assertion("Flaky", False, False)]
    ev = Evaluation(1, Threshold(gte=1), {"k": "v"}, assertions)
    assert ev.assertions is assertions
    assert ev.metadata == {"k": "v"}
    assert Evaluation(0.5).assertions is None
    assert Evaluation(score=1, assertions=assertions).assertions is assertions
    assert Evaluation(1, assertions=assertions) == Evaluation(1, assertions=list(assertions))
    assert Evaluation(1, assertions=assertions) != Evaluation(1)
    assert "assertions=" in repr(Evaluation(1, assertions=assertions))


def test_evaluation_refuses_assertions_that_are_not_a_list():
    with pytest.raises(TypeError, match="assertions must be a list"):
        Evaluation(1, assertions=Assertion("x", True, True))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "score, threshold, passed",
    [
        (0.5, None, None),
        (0.5, Threshold(), None),
        (0.5, Threshold(gte=0.5), True),
        (0.5, Threshold(gt=0.5), False),
        (0.5, Threshold(lt=0.5), False),
        (0.5, Threshold(lte=0.5), True),
        (0.5, Threshold(gt=0.2, lt=0.8), True),
    ],
)
def test_evaluation_passed_as_in_the_sdk(score, threshold, passed):
    assert Evaluation(score, threshold).passed() is passed


def test_assertion_fields_and_serialize():
    a = Assertion(criterion="Must pass", passed=True, required=True)
    assert a.metadata is None
    assert a.serialize() == {
        "criterion": "Must pass",
        "passed": True,
        "required": True,
        "metadata": None,
    }
    assert Assertion("c", False, False, {"why": "x"}).serialize()["metadata"] == {"why": "x"}


def test_evaluation_with_id_defaults():
    e = EvaluationWithId(id="ev", score=0.7)
    assert (e.threshold, e.metadata, e.assertions) == (None, None, None)
    assert [f.name for f in dataclasses.fields(EvaluationWithId)] == [
        "id",
        "score",
        "threshold",
        "metadata",
        "assertions",
    ]


def test_test_case_config_is_not_collected_and_defaults_to_no_repeat():
    assert TestCaseConfig().repeat_num_times is None
    assert TestCaseConfig(repeat_num_times=3).repeat_num_times == 3
    assert TestCaseConfig.__test__ is False


def test_human_review_fields():
    assert issubclass(HumanReviewFieldContentType, enum.Enum)
    assert HumanReviewFieldContentType.MARKDOWN == "markdown"
    assert str(HumanReviewFieldContentType.HTML) == "html"
    assert f"{HumanReviewFieldContentType.LINK}" == "link"
    assert [m.value for m in HumanReviewFieldContentType] == ["text", "link", "markdown", "html"]
    field = HumanReviewField(name="answer", value="42")
    assert field.content_type is HumanReviewFieldContentType.TEXT
    assert field.serialize() == {"name": "answer", "value": "42", "contentType": "text"}
    assert (
        json.dumps(field.serialize()) == '{"name": "answer", "value": "42", "contentType": "text"}'
    )


def test_base_test_case_hooks_default_to_none():
    case = MyTestCase("x", [])
    assert case.serialize_for_human_review() is None
    assert case.serialize_dataset_item_id() is None
    with pytest.raises(TypeError):
        BaseTestCase()  # type: ignore[abstract]


def test_create_human_review_job():
    job = CreateHumanReviewJob(assignee_email_address="a@example.com", name="review")
    assert job.rubric_id is None
    assert job.get_assignee_email_addresses() == ["a@example.com"]
    many = CreateHumanReviewJob(["a@example.com", "b@example.com"], "review", "rubric-1")
    assert many.get_assignee_email_addresses() == ["a@example.com", "b@example.com"]


def test_override_models_and_score_choice():
    choice = ScoreChoice(value=1, name="Accurate")
    field = EvaluationOverrideField(id="f1", name="output", value="hi")
    comment = EvaluationOverrideComment(field_id="f1", quoted_text="hi", comment_text="terse")
    override = EvaluationOverride(
        original_score=ScoreChoice(0, "Not accurate"),
        override_score=choice,
        input_fields=[],
        output_fields=[field],
        comments=[comment],
    )
    assert override.output_fields[0].value == "hi"
    assert override.comments[0].comment_text == "terse"
    event = TracerEvent(message="m", timestamp="2024-01-01T00:00:00Z", properties={}, trace_id=None)
    assert event.trace_id is None


def test_event_and_combined_evaluator_bases():
    class OnEvents(BaseEventEvaluator):
        id = "on-events"

        def evaluate_event(self, event: TracerEvent) -> Evaluation:
            return Evaluation(1)

    class Both(BaseEvaluator):
        id = "both"

        def evaluate_test_case(self, test_case: Any, output: Any) -> Evaluation:
            return Evaluation(1)

        def evaluate_event(self, event: TracerEvent) -> Evaluation:
            return Evaluation(0)

    assert OnEvents().max_concurrency == 10
    assert isinstance(Both(), BaseTestEvaluator) and isinstance(Both(), BaseEventEvaluator)
    with pytest.raises(TypeError):

        class OnlyCases(BaseEvaluator):
            id = "only-cases"

            def evaluate_test_case(self, test_case: Any, output: Any) -> None:
                return None

        OnlyCases()  # type: ignore[abstract]


@pytest.mark.parametrize("base", [BaseTestEvaluator, BaseEventEvaluator])
def test_max_concurrency_must_be_an_int_when_the_class_is_defined(base):
    with pytest.raises(TypeError, match=r"Slow\.max_concurrency must be an int"):
        type("Slow", (base,), {"max_concurrency": 2.5})


# --- the model-free evaluators in a suite (ported from the SDK) --------------------------


def test_has_all_substrings_evaluator(store_rows, json_loads):
    def test_fn(test_case: MyTestCase) -> str:
        return test_case.input

    class HasAllSubstrings(BaseHasAllSubstrings[MyTestCase, str]):
        id = "has-all-substrings"

        def test_case_mapper(self, test_case: MyTestCase) -> list[str]:
            return test_case.expected_substrings

        def output_mapper(self, output: str) -> str:
            return output

    result = run_test_suite(
        id="my-test-id",
        test_cases=[
            MyTestCase(input="hello world", expected_substrings=["hello", "world"]),
            MyTestCase(input="foo", expected_substrings=["bar"]),
        ],
        evaluators=[HasAllSubstrings()],
        fn=test_fn,
        max_test_case_concurrency=1,
    )

    first, second = result.cases
    ev = first.evaluation("has-all-substrings")
    assert (ev.score, ev.threshold, ev.metadata) == (
        1,
        Threshold(gte=1),
        {"missing_substrings": []},
    )
    assert ev.verdict == "passed"
    ev = second.evaluation("has-all-substrings")
    assert (ev.score, ev.metadata) == (0, {"missing_substrings": ["bar"]})
    assert ev.verdict == "failed"

    cases, evals = stored(store_rows, json_loads)
    assert cases == [
        {
            "hash": "hello world",
            "test_case": {"input": "hello world", "expected_substrings": ["hello", "world"]},
            "output": "hello world",
            "error": None,
        },
        {
            "hash": "foo",
            "test_case": {"input": "foo", "expected_substrings": ["bar"]},
            "output": "foo",
            "error": None,
        },
    ]
    assert [(e["case_hash"], e["evaluator_id"], e["score"]) for e in evals] == [
        ("hello world", "has-all-substrings", 1),
        ("foo", "has-all-substrings", 0),
    ]
    assert [e["threshold"] for e in evals] == [{"gte": 1}, {"gte": 1}]
    assert [e["metadata"] for e in evals] == [
        {"missing_substrings": []},
        {"missing_substrings": ["bar"]},
    ]
    [run] = store_rows("SELECT suite_id FROM runs")
    assert run["suite_id"] == "my-test-id"


def test_has_all_substrings_is_case_sensitive_and_scores_all_or_nothing():
    class Substrings(BaseHasAllSubstrings[MyTestCase, str]):
        id = "substrings"

        def test_case_mapper(self, test_case: MyTestCase) -> list[str]:
            return test_case.expected_substrings

        def output_mapper(self, output: str) -> str:
            return output

    ev = Substrings().evaluate_test_case(MyTestCase("q", ["Hello", "world", "moon"]), "hello world")
    # two of three missing still scores 0, not a fraction
    assert ev.score == 0
    assert ev.metadata == {"missing_substrings": ["Hello", "moon"]}
    assert ev.passed() is False


def test_is_equals_evaluator(store_rows, json_loads):
    def test_fn(test_case: MyTestCase) -> str:
        return "hello world"

    class IsEquals(BaseIsEquals[MyTestCase, str]):
        id = "is-equals"

        def test_case_mapper(self, test_case: MyTestCase) -> str:
            return test_case.input

        def output_mapper(self, output: str) -> str:
            return output

    result = run_test_suite(
        id="my-test-id",
        test_cases=[
            MyTestCase(input="hello world", expected_substrings=["hello", "world"]),
            MyTestCase(input="hi world", expected_substrings=["hello", "world"]),
        ],
        evaluators=[IsEquals()],
        fn=test_fn,
    )

    by_hash = {c.hash: c.evaluation("is-equals") for c in result.cases}
    assert (by_hash["hello world"].score, by_hash["hello world"].metadata) == (1, None)
    assert by_hash["hi world"].score == 0
    assert by_hash["hi world"].metadata == {
        "expected_output": "hi world",
        "actual_output": "hello world",
    }
    assert by_hash["hi world"].threshold == Threshold(gte=1)

    _, evals = stored(store_rows, json_loads)
    assert {e["case_hash"]: (e["score"], e["threshold"], e["metadata"]) for e in evals} == {
        "hello world": (1, {"gte": 1}, None),
        "hi world": (
            0,
            {"gte": 1},
            {"expected_output": "hi world", "actual_output": "hello world"},
        ),
    }


def test_is_valid_json_evaluator(store_rows, json_loads):
    def test_fn(test_case: MyTestCase) -> str:
        return test_case.input

    class IsValidJSON(BaseIsValidJSON[MyTestCase, str]):
        id = "is-valid-json"

        def output_mapper(self, output: str) -> str:
            return output

    result = run_test_suite(
        id="my-test-id",
        test_cases=[
            MyTestCase(input="hello world", expected_substrings=["hello", "world"]),
            MyTestCase(input='{"hi": "world"}', expected_substrings=["hi", "world"]),
        ],
        evaluators=[IsValidJSON()],
        fn=test_fn,
        max_test_case_concurrency=1,
    )

    not_json, is_json = (c.evaluation("is-valid-json") for c in result.cases)
    assert not_json.score == 0
    assert not_json.metadata == {"error": "Expecting value: line 1 column 1 (char 0)"}
    assert (is_json.score, is_json.metadata) == (1, None)

    _, evals = stored(store_rows, json_loads)
    assert [(e["case_hash"], e["score"], e["threshold"], e["metadata"]) for e in evals] == [
        ("hello world", 0, {"gte": 1}, {"error": "Expecting value: line 1 column 1 (char 0)"}),
        ('{"hi": "world"}', 1, {"gte": 1}, None),
    ]


def test_is_valid_json_scores_zero_for_output_that_is_not_text():
    class IsValidJSON(BaseIsValidJSON[MyTestCase, Any]):
        id = "is-valid-json"

        def output_mapper(self, output: Any) -> Any:
            return output

    ev = IsValidJSON().evaluate_test_case(MyTestCase("x", []), {"already": "parsed"})
    assert ev.score == 0 and "dict" in ev.metadata["error"]


def test_assertions_evaluator(store_rows, json_loads):
    def test_fn(test_case: MyTestCase) -> str:
        return "hello world"

    class Assertions(BaseAssertions[MyTestCase, str]):
        id = "assertions"

        def evaluate_assertions(self, test_case: MyTestCase, output: str) -> list[Assertion]:
            return [
                Assertion(criterion="Must pass", passed=True, required=True, metadata=None),
                Assertion(criterion="This is flaky", passed=False, required=False, metadata=None),
            ]

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="hello world", expected_substrings=["hello", "world"])],
        evaluators=[Assertions()],
        fn=test_fn,
    )

    ev = result.cases[0].evaluation("assertions")
    assert (ev.score, ev.threshold, ev.metadata, ev.verdict) == (
        1,
        Threshold(gte=1),
        None,
        "passed",
    )
    assert ev.assertions == [
        Assertion(criterion="Must pass", passed=True, required=True, metadata=None),
        Assertion(criterion="This is flaky", passed=False, required=False, metadata=None),
    ]

    # The store has no assertions column: they are kept in the metadata JSON.
    _, [row] = stored(store_rows, json_loads)
    assert (row["score"], row["threshold"]) == (1, {"gte": 1})
    assert row["metadata"] == {
        "_assertions": [
            {"criterion": "Must pass", "passed": True, "required": True, "metadata": None},
            {"criterion": "This is flaky", "passed": False, "required": False, "metadata": None},
        ]
    }


async def test_assertions_failing_a_required_one_scores_zero_and_keep_metadata(
    store_rows, json_loads
):
    class Assertions(BaseAssertions[MyTestCase, str]):
        id = "assertions"

        async def evaluate_assertions(self, test_case: MyTestCase, output: str) -> list[Assertion]:
            return [
                Assertion("Mentions the input", test_case.input in output, True, {"seen": output}),
                Assertion("Is short", len(output) < 100, False),
            ]

    result = await trialrun.run_test_suite_async(
        id="assertions-async",
        test_cases=[MyTestCase("apple", []), MyTestCase("pear", [])],
        evaluators=[Assertions()],
        fn=lambda case: "an apple a day",
    )
    apple, pear = (c.evaluation("assertions") for c in result.cases)
    assert (apple.score, apple.verdict) == (1, "passed")
    assert (pear.score, pear.verdict) == (0, "failed")
    assert [a.passed for a in pear.assertions] == [False, True]
    assert not result.passed

    _, evals = stored(store_rows, json_loads)
    assert [e["metadata"]["_assertions"][0]["passed"] for e in evals] == [True, False]
    assert evals[1]["metadata"]["_assertions"][0]["metadata"] == {"seen": "an apple a day"}


def test_assertions_alongside_metadata_are_merged_into_the_stored_metadata(store_rows, json_loads):
    class WithBoth(BaseTestEvaluator):
        id = "with-both"

        def evaluate_test_case(self, test_case: Any, output: Any) -> Evaluation:
            return Evaluation(1, None, {"reason": "ok"}, [Assertion("c", True, True)])

    result = run_test_suite(
        id="both", test_cases=[MyTestCase("x", [])], evaluators=[WithBoth()], fn=lambda c: c
    )
    ev = result.cases[0].evaluation("with-both")
    assert ev.metadata == {"reason": "ok"}  # the evaluation's own dict is left as it was
    _, [row] = stored(store_rows, json_loads)
    assert row["metadata"] == {
        "reason": "ok",
        "_assertions": [{"criterion": "c", "passed": True, "required": True, "metadata": None}],
    }


@pytest.mark.parametrize("returned", [None, []])
async def test_no_assertions_means_no_evaluation(returned, store_rows):
    class Nothing(BaseAssertions[MyTestCase, str]):
        id = "nothing"

        def evaluate_assertions(self, test_case: MyTestCase, output: str) -> list[Assertion] | None:
            return returned

    assert await Nothing().evaluate_test_case(MyTestCase("x", []), "out") is None
    result = run_test_suite(
        id="nothing", test_cases=[MyTestCase("x", [])], evaluators=[Nothing()], fn=lambda c: "out"
    )
    assert result.cases[0].evaluation("nothing") is None
    assert store_rows("SELECT * FROM evaluation_results") == []


# --- generics and abstract hooks -------------------------------------------------------

MODEL_FREE = [BaseHasAllSubstrings, BaseIsEquals, BaseIsValidJSON, BaseAssertions]


@pytest.mark.parametrize("base", MODEL_FREE)
def test_model_free_bases_subscript_and_stay_abstract_until_hooks_are_defined(base):
    alias = base[MyTestCase, str]
    assert alias.__origin__ is base
    assert alias.__args__ == (MyTestCase, str)
    assert issubclass(base, BaseTestEvaluator)

    class Bare(alias):  # type: ignore[misc, valid-type]
        id = "bare"

    with pytest.raises(TypeError, match="abstract"):
        Bare()


# A subclass of every model-backed base with exactly the hooks the SDK requires.


class Judge(BaseLLMJudge[MyTestCase, str]):
    id = "judge"
    score_choices = [ScoreChoice(1, "Yes"), ScoreChoice(0, "No")]

    def make_prompt(self, test_case: MyTestCase, output: str, recent_overrides: list) -> str:
        return f"Is {output!r} a good answer to {test_case.input!r}?"


class Accuracy(BaseAccuracy[MyTestCase, str]):
    id = "accuracy"

    def output_mapper(self, output: str) -> str:
        return output

    def expected_output_mapper(self, test_case: MyTestCase) -> str:
        return test_case.input


class Toxicity(BaseToxicity[MyTestCase, str]):
    id = "toxicity"

    def output_mapper(self, output: str) -> str:
        return output


class NSFW(BaseNSFW[MyTestCase, str]):
    id = "nsfw"

    def output_mapper(self, output: str) -> str:
        return output


class Manual(BaseManualBattle[MyTestCase, str]):
    id = "manual-battle"
    criteria = "Which is friendlier?"

    def baseline_mapper(self, test_case: MyTestCase) -> str:
        return test_case.input

    def output_mapper(self, output: str) -> str:
        return output


class Automatic(BaseAutomaticBattle[MyTestCase, str]):
    id = "automatic-battle"
    criteria = "Which is friendlier?"

    def output_mapper(self, output: str) -> str:
        return output


class _Mappers:
    llm = object()
    embeddings = object()

    def user_input_mapper(self, test_case: MyTestCase, output: str) -> str:
        return test_case.input

    def response_mapper(self, output: str) -> str:
        return output

    def reference_mapper(self, test_case: MyTestCase) -> str:
        return test_case.input

    def retrieved_contexts_mapper(self, test_case: MyTestCase, output: str) -> list[str]:
        return [output]

    def reference_contexts_mapper(self, test_case: MyTestCase) -> list[str]:
        return test_case.expected_substrings


def ragas_subclass(base: Any, hooks: list[str]) -> type:
    """A subclass of `base` defining only `hooks` (taken from _Mappers)."""
    namespace = {"id": base.__name__.lower()}
    namespace.update({name: _Mappers.__dict__[name] for name in hooks})
    return types.new_class(
        f"My{base.__name__}", (base[MyTestCase, str],), exec_body=lambda ns: ns.update(namespace)
    )


# (base, the abstract hooks the SDK declares for it)
RAGAS = [
    (BaseRagasContextEntitiesRecall, ["llm", "reference_mapper", "retrieved_contexts_mapper"]),
    (BaseRagasFactualCorrectness, ["llm", "response_mapper", "reference_mapper"]),
    (
        BaseRagasFaithfulness,
        ["llm", "user_input_mapper", "response_mapper", "retrieved_contexts_mapper"],
    ),
    (
        BaseRagasLLMContextPrecisionWithReference,
        ["llm", "user_input_mapper", "reference_mapper", "retrieved_contexts_mapper"],
    ),
    (
        BaseRagasLLMContextRecall,
        [
            "llm",
            "user_input_mapper",
            "response_mapper",
            "reference_mapper",
            "retrieved_contexts_mapper",
        ],
    ),
    (
        BaseRagasNoiseSensitivity,
        [
            "llm",
            "user_input_mapper",
            "response_mapper",
            "reference_mapper",
            "retrieved_contexts_mapper",
        ],
    ),
    (
        BaseRagasNonLLMContextPrecisionWithReference,
        ["reference_contexts_mapper", "retrieved_contexts_mapper"],
    ),
    (BaseRagasNonLLMContextRecall, ["reference_contexts_mapper", "retrieved_contexts_mapper"]),
    (
        BaseRagasResponseRelevancy,
        [
            "llm",
            "embeddings",
            "user_input_mapper",
            "response_mapper",
            "retrieved_contexts_mapper",
        ],
    ),
    (BaseRagasSemanticSimilarity, ["embeddings", "response_mapper", "reference_mapper"]),
]


def model_backed() -> list[BaseTestEvaluator]:
    ragas = [ragas_subclass(base, hooks)() for base, hooks in RAGAS]
    return [Judge(), Accuracy(), Toxicity(), NSFW(), Manual(), Automatic(), *ragas]


def test_model_backed_subclasses_instantiate_with_the_sdk_attributes():
    judge, accuracy, toxicity, nsfw, manual, automatic, *ragas = model_backed()
    assert (judge.model, judge.num_overrides, judge.threshold) == ("gpt-4o", 0, None)
    assert [(c.value, c.name) for c in accuracy.score_choices] == [
        (1, "Accurate"),
        (0.5, "Somewhat accurate"),
        (0, "Not accurate"),
    ]
    assert [(c.value, c.name) for c in toxicity.score_choices] == [(1, "Not Toxic"), (0, "Toxic")]
    assert [(c.value, c.name) for c in nsfw.score_choices] == [
        (1, "Safe for work"),
        (0, "Not safe for work"),
    ]
    for judged in (accuracy, toxicity, nsfw):
        assert judged.threshold == Threshold(gte=1)
        assert isinstance(judged, BaseLLMJudge)
    assert accuracy.example_output_mapper(None) is None
    assert accuracy.example_expected_output_mapper(None) is None
    assert manual.threshold == Threshold(gte=0.5)
    assert not hasattr(automatic, "threshold")
    for metric in ragas:
        assert metric.threshold is None
    by_name = {type(m).__name__: m for m in ragas}
    factual = by_name["MyBaseRagasFactualCorrectness"]
    assert (factual.mode, factual.atomicity) == (None, None)
    assert by_name["MyBaseRagasFaithfulness"].focus is None
    assert by_name["MyBaseRagasNoiseSensitivity"].focus is None


@pytest.mark.parametrize("base, hooks", RAGAS, ids=[b.__name__ for b, _ in RAGAS])
def test_each_ragas_hook_is_required(base, hooks):
    for left_out in hooks:
        cls = ragas_subclass(base, [h for h in hooks if h != left_out])
        with pytest.raises(TypeError, match=left_out):
            cls()


# What each Ragas base hands Ragas, as the SDK does: (the SingleTurnSample fields, the
# metric under ragas.metrics, the metric's constructor arguments).
RAGAS_CALLS = {
    "BaseRagasContextEntitiesRecall": (
        ["reference", "retrieved_contexts"],
        "ContextEntityRecall",
        ["llm"],
    ),
    "BaseRagasFactualCorrectness": (["response", "reference"], "FactualCorrectness", ["llm"]),
    "BaseRagasFaithfulness": (
        ["user_input", "response", "retrieved_contexts"],
        "Faithfulness",
        ["llm"],
    ),
    "BaseRagasLLMContextPrecisionWithReference": (
        ["user_input", "reference", "retrieved_contexts"],
        "_context_precision.LLMContextPrecisionWithReference",
        ["llm"],
    ),
    "BaseRagasLLMContextRecall": (
        ["user_input", "response", "reference", "retrieved_contexts"],
        "LLMContextRecall",
        ["llm"],
    ),
    "BaseRagasNoiseSensitivity": (
        ["user_input", "response", "reference", "retrieved_contexts"],
        "NoiseSensitivity",
        ["llm"],
    ),
    "BaseRagasNonLLMContextPrecisionWithReference": (
        ["reference_contexts", "retrieved_contexts"],
        "NonLLMContextPrecisionWithReference",
        [],
    ),
    "BaseRagasNonLLMContextRecall": (
        ["reference_contexts", "retrieved_contexts"],
        "NonLLMContextRecall",
        [],
    ),
    "BaseRagasResponseRelevancy": (
        ["user_input", "response", "retrieved_contexts"],
        "ResponseRelevancy",
        ["llm", "embeddings"],
    ),
    "BaseRagasSemanticSimilarity": (
        ["response", "reference"],
        "SemanticSimilarity",
        ["embeddings"],
    ),
}


class _RecordingRagas(types.ModuleType):
    """A stand-in `ragas` 0.2 module that records the sample and the metric it is asked
    for, so the mapping from the SDK's hooks to Ragas' API is checked without Ragas'
    dependencies (langchain and friends); scores 0.123456."""

    def __init__(self) -> None:
        super().__init__("ragas")
        self.__version__ = "0.2.15"
        self.calls: list[tuple[str, dict, dict]] = []
        recorder = self

        class SingleTurnSample:
            def __init__(self, **fields: Any) -> None:
                self.fields = fields

        def metric(name: str) -> type:
            class Metric:
                def __init__(self, **options: Any) -> None:
                    self.options = options

                async def single_turn_ascore(self, sample: SingleTurnSample) -> float:
                    recorder.calls.append((name, sample.fields, self.options))
                    return 1.000004 if name == "SemanticSimilarity" else 0.123456

            return Metric

        self.SingleTurnSample = SingleTurnSample
        names = {call[1] for call in RAGAS_CALLS.values()}
        metrics = types.SimpleNamespace(**{n: metric(n) for n in names if "." not in n})
        metrics._context_precision = types.SimpleNamespace(
            LLMContextPrecisionWithReference=metric(
                "_context_precision.LLMContextPrecisionWithReference"
            )
        )
        self.metrics = metrics


@pytest.mark.parametrize("base, hooks", RAGAS, ids=[b.__name__ for b, _ in RAGAS])
async def test_ragas_metrics_get_the_sdk_sample_and_metric(monkeypatch, base, hooks):
    ragas = _RecordingRagas()
    monkeypatch.setitem(sys.modules, "ragas", ragas)
    evaluation = await ragas_subclass(base, hooks)().evaluate_test_case(
        MyTestCase("question", ["context"]), "answer"
    )
    fields, metric, models = RAGAS_CALLS[base.__name__]
    ((called, sample, options),) = ragas.calls
    assert called == metric
    assert sorted(sample) == sorted(fields)
    expected = {
        "user_input": "question",
        "response": "answer",
        "reference": "question",
        "retrieved_contexts": ["answer"],
        "reference_contexts": ["context"],
    }
    assert sample == {f: expected[f] for f in fields}
    assert options == {m: getattr(_Mappers, m) for m in models}
    # rounded to two places and capped at 1, as the SDK does
    assert evaluation.score == (1 if metric == "SemanticSimilarity" else 0.12)
    assert evaluation.threshold is None


async def test_ragas_settings_reach_the_metric_only_when_set(monkeypatch):
    ragas = _RecordingRagas()
    monkeypatch.setitem(sys.modules, "ragas", ragas)

    class Factual(ragas_subclass(BaseRagasFactualCorrectness, RAGAS[1][1])):
        mode = "precision"
        atomicity = "high"

    class Noise(ragas_subclass(BaseRagasNoiseSensitivity, RAGAS[5][1])):
        focus = "irrelevant"

    case = MyTestCase("q", ["c"])
    await Factual().evaluate_test_case(case, "a")
    await Noise().evaluate_test_case(case, "a")
    await ragas_subclass(BaseRagasNoiseSensitivity, RAGAS[5][1])().evaluate_test_case(case, "a")
    assert [options for _, _, options in ragas.calls] == [
        {"llm": _Mappers.llm, "mode": "precision", "atomicity": "high"},
        {"llm": _Mappers.llm, "focus": "irrelevant"},
        {"llm": _Mappers.llm},
    ]


def test_ragas_missing_or_of_another_series_is_named_with_the_install_command(monkeypatch):
    faithfulness = ragas_subclass(BaseRagasFaithfulness, RAGAS[2][1])
    monkeypatch.setitem(sys.modules, "ragas", None)  # import ragas raises ImportError
    result = run_test_suite(
        id="ragas-missing",
        test_cases=[MyTestCase("q", [])],
        evaluators=[faithfulness()],
        fn=lambda case: case.input,
        quiet=True,
    )
    error = result.cases[0].evaluation("baseragasfaithfulness").error
    assert "the baseragasfaithfulness evaluator needs Ragas 0.2.x" in error
    assert 'pip install "trialrun[ragas]"' in error
    newer = _RecordingRagas()
    newer.__version__ = "0.3.1"
    monkeypatch.setitem(sys.modules, "ragas", newer)
    with pytest.raises(ImportError, match=r"needs Ragas 0\.2\.x, found 0\.3\.1"):
        asyncio.run(faithfulness().evaluate_test_case(MyTestCase("q", []), "a"))
