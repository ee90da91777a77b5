"""Autoblocks' battles (`BaseManualBattle`, `BaseAutomaticBattle`) against a scripted
OpenAI-compatible server on 127.0.0.1, reached as Autoblocks reaches OpenAI
(OPENAI_BASE_URL, OPENAI_API_KEY). The server checks what the battle sends (the SDK's
model, a JSON-object answer, temperature 0, the criteria, baseline and challenger) and
answers as a model would; the automatic battle's baselines are read from the real run
store across runs."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest

from fake_openai import FakeChatServer, completion
from trialrun.testing.evaluators import BaseAutomaticBattle, BaseManualBattle
from trialrun.testing.models import BaseTestCase, Threshold
from trialrun.testing.run import run_test_suite


@dataclasses.dataclass
class Greeting(BaseTestCase):
    name: str
    reference: str

    def hash(self) -> str:
        return self.name


class Manual(BaseManualBattle[Greeting, str]):
    id = "manual"
    criteria = "Which greeting is warmer?"

    def baseline_mapper(self, test_case: Greeting) -> str:
        return test_case.reference

    def output_mapper(self, output: str) -> str:
        return output


class Automatic(BaseAutomaticBattle[Greeting, str]):
    id = "automatic"
    criteria = "Which greeting is warmer?"

    def output_mapper(self, output: str) -> str:
        return output


def warmth(text: str) -> int:
    return text.count("!") + 2 * ("dear" in text)


@pytest.fixture
def model(monkeypatch):
    """Picks the warmer greeting by its exclamation marks (and "dear")."""

    def answer(body: dict) -> dict:
        prompt = body["messages"][-1]["content"]
        baseline = prompt.split("[Baseline]\n")[1].split("\n\n[Challenger]")[0]
        challenger = prompt.split("[Challenger]\n")[1]
        if "garbled" in challenger:
            return completion("I think the second one")
        b, c = warmth(baseline), warmth(challenger)
        result = "0" if b == c else ("1" if b > c else "2")
        return completion(json.dumps({"result": result, "reason": f"{b} against {c}"}))

    server = FakeChatServer(answer)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-battle-test")
    yield server
    server.close()


def test_manual_battle_scores_challenger_wins_ties_and_losses_as_the_sdk(model):
    cases = [
        Greeting("win", "hello"),
        Greeting("tie", "hello!"),
        Greeting("lose", "hello dear!!"),
    ]
    result = run_test_suite(
        id="greetings",
        test_cases=cases,
        evaluators=[Manual()],
        fn=lambda case: "hi!",
        quiet=True,
    )
    by_case = {c.hash: c.evaluation("manual") for c in result.cases}
    assert {h: (e.score, e.verdict) for h, e in by_case.items()} == {
        "win": (1, "passed"),
        "tie": (0.5, "passed"),
        "lose": (0, "failed"),
    }
    assert by_case["win"].threshold == Threshold(gte=0.5)
    assert by_case["lose"].metadata == {
        "reason": "4 against 1",
        "baseline": "hello dear!!",
        "challenger": "hi!",
        "criteria": "Which greeting is warmer?",
    }
    assert len(model.requests) == 3
    for headers, body in model.requests:
        assert headers["authorization"] == "Bearer sk-battle-test"
        assert body["model"] == "gpt-4-turbo"
        assert body["response_format"] == {"type": "json_object"}
        assert body["temperature"] == 0
        assert body["messages"][-1]["content"].startswith("[Criteria]\nWhich greeting is warmer?")


def test_an_answer_that_is_not_the_json_asked_for_errors_that_case_naming_it(model):
    result = run_test_suite(
        id="greetings",
        test_cases=[Greeting("bad", "hello"), Greeting("good", "hello")],
        evaluators=[Manual()],
        fn=lambda case: "garbled" if case.name == "bad" else "hi!",
        quiet=True,
    )
    bad, good = result.cases
    assert bad.evaluation("manual").verdict == "errored"
    assert "'I think the second one'" in bad.evaluation("manual").error
    assert good.evaluation("manual").verdict == "passed"


def test_automatic_battle_keeps_its_baseline_in_the_store_across_runs(model, store_rows):
    def run(output: str):
        result = run_test_suite(
            id="greetings",
            test_cases=[Greeting("ann", "")],
            evaluators=[Automatic()],
            fn=lambda case: output,
            quiet=True,
        )
        return result.cases[0].evaluation("automatic")

    def stored() -> list:
        return [
            (r["suite_id"], r["case_hash"], r["evaluator_id"], r["baseline"])
            for r in store_rows("SELECT * FROM baselines")
        ]

    # The first output becomes the baseline, with no evaluation (as the SDK).
    assert run("hello!") is None
    assert stored() == [("greetings", "ann", "automatic", "hello!")]
    assert model.requests == []
    # A losing challenger leaves the baseline.
    losing = run("hello")
    assert (losing.score, losing.verdict) == (0, "failed")
    assert losing.metadata["baseline"] == "hello!"
    assert stored()[0][3] == "hello!"
    # A tie passes and leaves it too; a winner replaces it.
    assert run("hey!").score == 0.5
    assert stored()[0][3] == "hello!"
    assert run("hello dear!").score == 1
    assert stored()[0][3] == "hello dear!"
    assert run("hello dear!").metadata["baseline"] == "hello dear!"


def test_automatic_battle_outside_a_suite_says_it_needs_one(model):
    with pytest.raises(RuntimeError, match="run it inside run_test_suite"):
        asyncio.run(Automatic().evaluate_test_case(Greeting("x", ""), "hi"))
