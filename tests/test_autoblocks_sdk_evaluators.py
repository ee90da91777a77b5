"""The Autoblocks SDK's tests of its model-backed evaluators, ported to trialrun.

Ported from github.com/autoblocksai/python-sdk at commit fc6826d (MIT licence),
`tests/autoblocks/test_evaluators.py`: test_toxicity_evaluator, test_nsfw_evaluator,
test_accuracy_evaluator, test_llm_judge_evaluator, test_manual_battle_evaluator and
test_automatic_battle_evaluator, with the SDK's test cases, fns and evaluators. The SDK's
tests call OpenAI itself; here the judges reach a scripted OpenAI-compatible server on
127.0.0.1 (OPENAI_BASE_URL, OPENAI_API_KEY, as the SDK's OpenAI client reads them) that
answers by reading the prompt as a model would. Where the SDK expects posts to its CLI
server (/results, /evals), these assert what run_test_suite returns and what the run store
holds; the automatic battle's baseline, which the SDK reads from and writes to Autoblocks'
API, is read from the run store's `baselines` table. The model-free evaluators' tests of
the same file are ported in test_autoblocks_evaluators.py.
"""

from __future__ import annotations

import dataclasses
import json
from textwrap import dedent

import pytest

from fake_openai import FakeChatServer, completion
from trialrun.testing.evaluators import (
    BaseAccuracy,
    BaseAutomaticBattle,
    BaseLLMJudge,
    BaseManualBattle,
    BaseNSFW,
    BaseToxicity,
)
from trialrun.testing.models import BaseTestCase, EvaluationOverride, ScoreChoice, Threshold
from trialrun.testing.run import run_test_suite


@dataclasses.dataclass
class MyTestCase(BaseTestCase):
    input: str
    expected_substrings: list[str]

    def hash(self) -> str:
        return self.input


def section(prompt: str, label: str) -> str:
    """The text under `[label]` in a judge's prompt."""
    return prompt.split(f"[{label}]\n", 1)[1].split("\n\n[", 1)[0]


def judge(body: dict) -> dict:
    """A model: it picks a score choice (LLM judges) or a battle winner by what it reads."""
    prompt = body["messages"][-1]["content"]
    if "tools" not in body:  # a battle: JSON verdict, the challenger wins with "hello"
        challenger = "hello" in section(prompt, "Challenger")
        baseline = "hello" in section(prompt, "Baseline")
        result = "0" if challenger == baseline else ("2" if challenger else "1")
        return completion(json.dumps({"result": result, "reason": "the warmer greeting"}))
    names = body["tools"][0]["function"]["parameters"]["properties"]["answer"]["enum"]
    output = section(prompt, "Output")
    if "Toxic" in names:
        answer = "Toxic" if "hate" in output else "Not Toxic"
    elif "Safe for work" in names:
        answer = "Not safe for work" if "shit" in output else "Safe for work"
    elif "Accurate" in names:
        accurate = output == section(prompt, "Expected Output")
        answer = "Accurate" if accurate else "Not accurate"
    else:
        answer = "Contains Zero" if "0" in output else "Does Not Contain Zero"
    return completion(tool_calls=[("select_answer", {"answer": answer, "reason": "I read it"})])


@pytest.fixture
def model(monkeypatch):
    server = FakeChatServer(judge)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sdk-port")
    yield server
    server.close()


def stored(store_rows):
    """(case rows, evaluation rows by case hash) from the run store, JSON decoded."""
    cases = store_rows("SELECT hash, test_case, output, error FROM case_results ORDER BY idx")
    for row in cases:
        row["test_case"] = json.loads(row["test_case"])
        row["output"] = json.loads(row["output"])
    evals = {}
    for row in store_rows(
        "SELECT case_hash, evaluator_id, score, threshold, verdict, metadata "
        "FROM evaluation_results"
    ):
        row["threshold"] = json.loads(row["threshold"])
        row["metadata"] = json.loads(row["metadata"])
        evals[row.pop("case_hash")] = row
    return cases, evals


def assert_judged(result, store_rows, evaluator_id, scores, prompt_has):
    """Each case got `scores[hash]` with threshold gte 1 and the SDK's metadata keys
    (reason, prompt), in the result and in the store."""
    for case in result.cases:
        ev = case.evaluation(evaluator_id)
        assert (ev.score, ev.threshold) == (scores[case.hash], Threshold(gte=1))
        assert ev.verdict == ("passed" if scores[case.hash] == 1 else "failed")
        assert set(ev.metadata) == {"reason", "prompt"}
        assert ev.metadata["reason"] == "I read it"
        assert prompt_has(case) in ev.metadata["prompt"]
    _, evals = stored(store_rows)
    assert {h: (e["evaluator_id"], e["score"], e["threshold"]) for h, e in evals.items()} == {
        h: (evaluator_id, s, {"gte": 1}) for h, s in scores.items()
    }
    assert all(set(e["metadata"]) == {"reason", "prompt"} for e in evals.values())


def test_toxicity_evaluator(model, store_rows):
    @dataclasses.dataclass
    class TestCase(BaseTestCase):
        input: str

        def hash(self) -> str:
            return self.input

    def test_fn(test_case: TestCase) -> str:
        return test_case.input

    class Toxicity(BaseToxicity[TestCase, str]):
        id = "toxicity"

        def output_mapper(self, output: str) -> str:
            return output

    result = run_test_suite(
        id="my-test-id",
        test_cases=[TestCase(input="I hate you"), TestCase(input="I love you")],
        evaluators=[Toxicity()],
        fn=test_fn,
        max_test_case_concurrency=1,
    )
    assert_judged(
        result,
        store_rows,
        "toxicity",
        {"I hate you": 0, "I love you": 1},
        lambda case: f"[Output]\n{case.output}",
    )
    cases, _ = stored(store_rows)
    assert [(c["hash"], c["test_case"], c["output"]) for c in cases] == [
        ("I hate you", {"input": "I hate you"}, "I hate you"),
        ("I love you", {"input": "I love you"}, "I love you"),
    ]
    assert len(model.requests) == 2


def test_nsfw_evaluator(model, store_rows):
    @dataclasses.dataclass
    class TestCase(BaseTestCase):
        input: str

        def hash(self) -> str:
            return self.input

    def test_fn(test_case: TestCase) -> str:
        return test_case.input

    class NSFW(BaseNSFW[TestCase, str]):
        id = "nsfw"

        def output_mapper(self, output: str) -> str:
            return output

    result = run_test_suite(
        id="my-test-id",
        test_cases=[TestCase(input="shit"), TestCase(input="I love you")],
        evaluators=[NSFW()],
        fn=test_fn,
        max_test_case_concurrency=1,
    )
    assert_judged(
        result,
        store_rows,
        "nsfw",
        {"shit": 0, "I love you": 1},
        lambda case: f"[Output]\n{case.output}",
    )


def test_accuracy_evaluator(model, store_rows):
    @dataclasses.dataclass
    class TestCase(BaseTestCase):
        input: str
        expected_output: str

        def hash(self) -> str:
            return self.input

    def test_fn(test_case: TestCase) -> str:
        return test_case.input

    class Accuracy(BaseAccuracy[TestCase, str]):
        id = "accuracy"

        def output_mapper(self, output: str) -> str:
            return output

        def expected_output_mapper(self, test_case: TestCase) -> str:
            return test_case.expected_output

    result = run_test_suite(
        id="my-test-id",
        test_cases=[
            TestCase(input="hello", expected_output="hello"),
            TestCase(input="How are you?", expected_output="hi"),
        ],
        evaluators=[Accuracy()],
        fn=test_fn,
        max_test_case_concurrency=1,
    )
    assert_judged(
        result,
        store_rows,
        "accuracy",
        {"hello": 1, "How are you?": 0},
        lambda case: f"[Expected Output]\n{case.test_case.expected_output}",
    )
    cases, _ = stored(store_rows)
    assert [c["test_case"] for c in cases] == [
        {"input": "hello", "expected_output": "hello"},
        {"input": "How are you?", "expected_output": "hi"},
    ]


def test_llm_judge_evaluator(model, store_rows):
    @dataclasses.dataclass
    class TestCase(BaseTestCase):
        input: str

        def hash(self) -> str:
            return self.input

    def test_fn(test_case: TestCase) -> str:
        return test_case.input

    class ContainsZero(BaseLLMJudge[TestCase, str]):
        id = "contains-zero"
        threshold = Threshold(gte=1)
        score_choices = [
            ScoreChoice(value=1, name="Contains Zero"),
            ScoreChoice(value=0, name="Does Not Contain Zero"),
        ]

        def make_prompt(
            self, test_case: TestCase, output: str, recent_overrides: list[EvaluationOverride]
        ) -> str:
            return dedent(
                f"""
            Does this output contain a zero?

            [Output]
            {output}
            """
            ).strip()

    result = run_test_suite(
        id="my-test-id",
        test_cases=[TestCase(input="70"), TestCase(input="5")],
        evaluators=[ContainsZero()],
        fn=test_fn,
        max_test_case_concurrency=1,
    )
    assert_judged(
        result,
        store_rows,
        "contains-zero",
        {"70": 1, "5": 0},
        lambda case: f"Does this output contain a zero?\n\n[Output]\n{case.output}",
    )
    sent = {body["messages"][-1]["content"] for _, body in model.requests}
    assert sent == {
        "Does this output contain a zero?\n\n[Output]\n70",
        "Does this output contain a zero?\n\n[Output]\n5",
    }


BATTLE_METADATA = dict(
    reason="the warmer greeting",
    baseline="goodbye",
    challenger="hello world",
    criteria="Choose the best greeting.",
)


def assert_battle_won(result, store_rows):
    (case,) = result.cases
    ev = case.evaluation("battle")
    assert (ev.score, ev.threshold, ev.verdict) == (1, Threshold(gte=0.5), "passed")
    assert ev.metadata == BATTLE_METADATA
    cases, evals = stored(store_rows)
    assert [(c["hash"], c["test_case"], c["output"]) for c in cases][-1] == (
        "hello world",
        {"input": "hello world", "expected_substrings": []},
        "hello world",
    )
    assert evals["hello world"] == {
        "evaluator_id": "battle",
        "score": 1,
        "threshold": {"gte": 0.5},
        "verdict": "passed",
        "metadata": BATTLE_METADATA,
    }


def test_manual_battle_evaluator(model, store_rows):
    def test_fn(test_case: MyTestCase) -> str:
        return test_case.input

    class Battle(BaseManualBattle[MyTestCase, str]):
        id = "battle"
        criteria = "Choose the best greeting."

        def output_mapper(self, output: str) -> str:
            return output

        def baseline_mapper(self, test_case: MyTestCase) -> str:
            return "goodbye"

    result = run_test_suite(
        id="my-test-id",
        test_cases=[MyTestCase(input="hello world", expected_substrings=[])],
        evaluators=[Battle()],
        fn=test_fn,
        max_test_case_concurrency=1,
    )
    assert_battle_won(result, store_rows)
    ((_, body),) = model.requests
    prompt = body["messages"][-1]["content"]
    assert (section(prompt, "Baseline"), section(prompt, "Challenger")) == (
        "goodbye",
        "hello world",
    )


def test_automatic_battle_evaluator(model, store_rows):
    class Battle(BaseAutomaticBattle[MyTestCase, str]):
        id = "battle"
        criteria = "Choose the best greeting."

        def output_mapper(self, output: str) -> str:
            return output

    def suite(output: str):
        return run_test_suite(
            id="my-test-id",
            test_cases=[MyTestCase(input="hello world", expected_substrings=[])],
            evaluators=[Battle()],
            fn=lambda test_case: output,
            max_test_case_concurrency=1,
        )

    def baselines():
        rows = store_rows("SELECT suite_id, case_hash, evaluator_id, baseline FROM baselines")
        return [tuple(r.values()) for r in rows]

    # The SDK's test has Autoblocks' API answer the baseline "goodbye"; here an earlier
    # run leaves it in the run store (a first output is kept without an evaluation).
    first = suite("goodbye")
    assert first.cases[0].evaluations == [] and model.requests == []
    assert baselines() == [("my-test-id", "hello world", "battle", "goodbye")]

    result = suite("hello world")
    assert_battle_won(result, store_rows)
    # ... and the winner is the new baseline (the SDK posts it to the API).
    assert baselines() == [("my-test-id", "hello world", "battle", "hello world")]
