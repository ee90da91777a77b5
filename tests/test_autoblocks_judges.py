"""Autoblocks' LLM judges (`BaseLLMJudge`, `BaseAccuracy`, `BaseToxicity`, `BaseNSFW`) run
against a scripted OpenAI-compatible server on 127.0.0.1 reached as Autoblocks reaches
OpenAI: OPENAI_BASE_URL and OPENAI_API_KEY. The server checks what the judge sends (the
forced `select_answer` function with the score names as its enum, the prompt, temperature
0) and answers as a model would."""

from __future__ import annotations

import dataclasses

import pytest

from fake_openai import FakeChatServer, completion
from trialrun import BaseTestCase, run_test_suite
from trialrun.testing.evaluators import BaseAccuracy, BaseLLMJudge, BaseNSFW, BaseToxicity
from trialrun.testing.models import ScoreChoice, Threshold


@dataclasses.dataclass
class Question(BaseTestCase):
    text: str
    expected: str

    def hash(self) -> str:
        return self.text


class Polite(BaseLLMJudge[Question, str]):
    id = "polite"
    model = "judge-model"
    threshold = Threshold(gte=1)
    score_choices = [ScoreChoice(1, "Polite"), ScoreChoice(0.5, "Neutral"), ScoreChoice(0, "Rude")]

    def make_prompt(self, test_case: Question, output: str, recent_overrides: list) -> str:
        return f"Is this answer to {test_case.text!r} polite?\n\n{output}"


class Accuracy(BaseAccuracy[Question, str]):
    id = "accuracy"

    def output_mapper(self, output: str) -> str:
        return output

    def expected_output_mapper(self, test_case: Question) -> str:
        return test_case.expected


class Toxicity(BaseToxicity[Question, str]):
    id = "toxicity"

    def output_mapper(self, output: str) -> str:
        return output


class NSFW(BaseNSFW[Question, str]):
    id = "nsfw"

    def output_mapper(self, output: str) -> str:
        return output


def select(answer: str, reason: str) -> dict:
    return completion(tool_calls=[("select_answer", {"answer": answer, "reason": reason})])


@pytest.fixture
def model(monkeypatch):
    """A chat server that answers each judge by the words in its prompt."""

    def answer(body: dict) -> dict:
        prompt = body["messages"][-1]["content"]
        names = body["tools"][0]["function"]["parameters"]["properties"]["answer"]["enum"]
        if "Polite" in names:
            return select("Rude" if "go away" in prompt else "Polite", "by its words")
        if "Accurate" in names:
            return select(
                "Accurate" if "Paris" in prompt.split("[Output]")[1] else "Not accurate", "compared"
            )
        if "Toxic" in names:
            return select("Toxic" if "idiot" in prompt else "Not Toxic", "checked")
        return select("Safe for work", "checked")

    server = FakeChatServer(answer)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-judge-test")
    yield server
    server.close()


CASES = [Question("capital of France?", "Paris"), Question("capital of Spain?", "Madrid")]


def answer_of(case: Question) -> str:
    return "It is Paris." if "France" in case.text else "go away, idiot"


def test_llm_judges_score_by_the_choice_the_model_selects(model):
    result = run_test_suite(
        id="judged",
        test_cases=CASES,
        evaluators=[Polite(), Accuracy(), Toxicity(), NSFW()],
        fn=answer_of,
        quiet=True,
    )
    france, spain = result.cases
    scores = {
        case.hash: {ev.evaluator_id: (ev.score, ev.verdict) for ev in case.evaluations}
        for case in result.cases
    }
    assert scores[france.hash] == {
        "polite": (1, "passed"),
        "accuracy": (1, "passed"),
        "toxicity": (1, "passed"),
        "nsfw": (1, "passed"),
    }
    assert scores[spain.hash] == {
        "polite": (0, "failed"),
        "accuracy": (0, "failed"),
        "toxicity": (0, "failed"),
        "nsfw": (1, "passed"),
    }
    polite = spain.evaluation("polite")
    assert polite.metadata == {
        "reason": "by its words",
        "prompt": "Is this answer to 'capital of Spain?' polite?\n\ngo away, idiot",
    }

    # What the judges sent: one forced function call, the score names as its enum.
    assert len(model.requests) == 8
    for headers, body in model.requests:
        assert headers["authorization"] == "Bearer sk-judge-test"
        assert body["temperature"] == 0
        assert body["tool_choice"] == {"type": "function", "function": {"name": "select_answer"}}
        (tool,) = body["tools"]
        assert tool["function"]["name"] == "select_answer"
        assert tool["function"]["parameters"]["required"] == ["reason", "answer"]
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
    models = sorted(body["model"] for _, body in model.requests)
    assert models == ["gpt-4o"] * 6 + ["judge-model"] * 2
    enums = {
        tuple(body["tools"][0]["function"]["parameters"]["properties"]["answer"]["enum"])
        for _, body in model.requests
    }
    assert enums == {
        ("Polite", "Neutral", "Rude"),
        ("Accurate", "Somewhat accurate", "Not accurate"),
        ("Not Toxic", "Toxic"),
        ("Safe for work", "Not safe for work"),
    }


def test_built_in_judges_show_the_model_the_output_and_the_expected_output(model):
    result = run_test_suite(
        id="prompts",
        test_cases=CASES[:1],
        evaluators=[Accuracy(), Toxicity()],
        fn=answer_of,
        quiet=True,
    )
    case = result.cases[0]
    assert case.evaluation("accuracy").metadata["prompt"] == (
        "Is the output accurate, judged against the expected output?\n\n"
        "[Output]\nIt is Paris.\n\n[Expected Output]\nParis"
    )
    assert case.evaluation("toxicity").metadata["prompt"] == (
        "Is this output toxic?\n\n[Output]\nIt is Paris."
    )


def test_an_answer_outside_the_choices_errors_that_evaluation_only(monkeypatch):
    server = FakeChatServer(lambda body: select("Maybe", "unsure"))
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    try:
        result = run_test_suite(
            id="odd-answer",
            test_cases=CASES[:1],
            evaluators=[Polite()],
            fn=answer_of,
            quiet=True,
        )
    finally:
        server.close()
    evaluation = result.cases[0].evaluation("polite")
    assert evaluation.verdict == "errored"
    assert "'Maybe', not one of ['Polite', 'Neutral', 'Rude']" in evaluation.error
    assert not result.passed


def test_a_model_that_does_not_call_the_function_is_an_error_naming_what_it_said(monkeypatch):
    server = FakeChatServer(lambda body: completion(content="I think it is polite."))
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    try:
        result = run_test_suite(
            id="no-call", test_cases=CASES[:1], evaluators=[Polite()], fn=answer_of, quiet=True
        )
    finally:
        server.close()
    error = result.cases[0].evaluation("polite").error
    assert "did not call select_answer" in error and "I think it is polite." in error


def test_a_busy_model_is_retried(monkeypatch):
    """429 and 5xx answers are retried by trialrun's client, as OpenAI's SDK does."""
    calls = []

    def answer(body: dict) -> dict:
        calls.append(body)
        return select("Polite", "fine")

    server = FakeChatServer(answer)
    server.fail(503, "busy")  # the first request; then `answer`
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    try:
        result = run_test_suite(
            id="retried", test_cases=CASES[:1], evaluators=[Polite()], fn=answer_of, quiet=True
        )
    finally:
        server.close()
    assert result.cases[0].evaluation("polite").verdict == "passed"
    assert len(calls) == 1  # the 503 was answered without asking `answer`
    assert len(server.requests) == 2


def test_openai_without_a_key_is_refused_by_name(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = run_test_suite(
        id="no-key", test_cases=CASES[:1], evaluators=[Polite()], fn=answer_of, quiet=True
    )
    error = result.cases[0].evaluation("polite").error
    assert "polite evaluator" in error and "OPENAI_API_KEY" in error


async def test_language_model_chat_refuses_a_bad_body_naming_the_field():
    from trialrun._core import LanguageModel

    model = LanguageModel.openai("m", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ValueError, match=r"messages\[0\]\.role"):
        await model.chat({"messages": [{"role": "robot", "content": "hi"}]})
    with pytest.raises(ValueError, match="temperatur"):
        await model.chat({"messages": [{"role": "user", "content": "hi"}], "temperatur": 0})


def test_the_judges_tokens_count_against_the_suites_budget(model):
    """An LLM judge's model calls spend the run's budget (max_tokens) without the judge
    reporting them: the scripted server's completions used 10 + 5 tokens each."""
    cases = [Question(f"Capital of France, case {n}?", "Paris") for n in range(12)]
    result = run_test_suite(
        "judged-budget",
        cases,
        lambda q: "Paris, thank you",
        [Polite()],
        max_test_case_concurrency=1,
        max_tokens=60,
        quiet=True,
    )
    assert result.status == "stopped", result.summary()
    assert result.stop_reason and result.stop_reason.startswith("budget exhausted")
    assert result.totals["tokens"] >= 60
    assert result.cases[0].evaluations[0].usage == {"input_tokens": 10, "output_tokens": 5}
