"""`trialrun demo`: a real suite on the embedded defaults, no API keys, no network.

A small deterministic support agent answers customer messages as JSON. The suite runs
it over 120 messages in two prompt versions (grid search): version "v1" has a bug with
refund requests, "v2" fixes it. Built-in and custom evaluators, sync and async, judge
every answer; results land in the local run store. Then trialrun phones the example voice
agent (demo_voice). The demo exits 0 when it ran, whatever the verdicts (v1 and one call are
built to fail).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json

from trialrun import (
    BaseTestCase,
    BaseTestEvaluator,
    Evaluation,
    Threshold,
    grid_search_ctx,
    md5,
    run_test_suite,
)
from trialrun.evaluators import HasAllSubstrings, IsValidJSON

TOPICS = {
    "order": ("Where is my order {n}?", "order_status", ["order {n}", "tracking"]),
    "refund": (
        "I want a refund for order {n}.",
        "refund",
        ["refund", "order {n}", "5 business days"],
    ),
    "hours": ("When are you open? (ticket {n})", "hours", ["9am", "5pm"]),
}


@dataclasses.dataclass
class SupportCase(BaseTestCase):
    message: str
    expected_intent: str
    expected_phrases: list[str]

    def hash(self) -> str:
        return md5(self.message)


def cases() -> list[SupportCase]:
    out = []
    for n in range(40):
        for template, intent, phrases in TOPICS.values():
            out.append(SupportCase(template.format(n=n), intent, [p.format(n=n) for p in phrases]))
    return out


async def support_agent(case: SupportCase) -> str:
    """The agent under test: classifies the message and answers, as JSON."""
    await asyncio.sleep(0.005)  # stands in for a model call
    version = (grid_search_ctx() or {}).get("prompt_version", "v2")
    text = case.message.lower()
    order = "".join(ch for ch in text if ch.isdigit())
    if "refund" in text:
        # v1 forgets to say when the money arrives
        tail = " within 5 business days" if version == "v2" else ""
        reply = {
            "intent": "refund",
            "answer": f"Your refund for order {order} is on its way{tail}.",
        }
    elif "order" in text:
        reply = {
            "intent": "order_status",
            "answer": f"Order {order} has shipped; tracking is in your email.",
        }
    else:
        reply = {"intent": "hours", "answer": "We are open 9am to 5pm, Monday to Friday."}
    return json.dumps(reply)


class IntentMatches(BaseTestEvaluator):
    id = "intent-matches"

    def evaluate_test_case(self, test_case: SupportCase, output: str) -> Evaluation:
        intent = json.loads(output)["intent"]
        ok = intent == test_case.expected_intent
        return Evaluation(
            score=1.0 if ok else 0.0,
            threshold=Threshold(gte=1),
            metadata=None if ok else {"expected": test_case.expected_intent, "got": intent},
        )


class Politeness(BaseTestEvaluator):
    """An async judge, rate limited as a model-based judge would be."""

    id = "politeness"
    max_concurrency = 4

    async def evaluate_test_case(self, test_case: SupportCase, output: str) -> Evaluation:
        await asyncio.sleep(0.001)
        answer = json.loads(output)["answer"]
        rude = [w for w in ("no.", "can't", "won't") if w in answer.lower()]
        return Evaluation(
            score=0.0 if rude else 1.0,
            threshold=Threshold(gte=0.5),
            metadata={"rude": rude} if rude else None,
        )


def main() -> int:
    result = run_test_suite(
        id="demo-support-agent",
        test_cases=cases(),
        evaluators=[
            IsValidJSON(),
            IntentMatches(),
            HasAllSubstrings(
                "expected_phrases",
                output_mapper=lambda out: json.loads(out)["answer"],
                case_sensitive=False,
            ),
            Politeness(),
        ],
        fn=support_agent,
        max_test_case_concurrency=20,
        grid_search_params={"prompt_version": ["v1", "v2"]},
    )
    by_version = {}
    for case in result.cases:
        version = case.grid["prompt_version"]
        by_version.setdefault(version, [0, 0])[0 if case.passed else 1] += 1
    print()
    for version, (passed, failed) in sorted(by_version.items()):
        print(f"prompt_version={version}: {passed} cases passed, {failed} failed")
    report = result.failure_report(limit=3)
    if report:
        print("\nfirst failures:\n" + report)
    print(f"\nruns {', '.join(result.run_ids)} are stored in {result.store_path}")
    from trialrun import demo_voice

    return demo_voice.main()


if __name__ == "__main__":
    raise SystemExit(main())
