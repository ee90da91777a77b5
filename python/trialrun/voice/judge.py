"""The language-model judge of a call's criteria (fixa's LocalEvaluator), as a suite
evaluator: one request judges every criterion of the scenario on the timestamped
transcript, with structured JSON output, retries, and no verdict ever passed by default."""

from __future__ import annotations

from typing import Any

from trialrun import _core
from trialrun._core import Evaluation, Threshold
from trialrun._models import BaseTestEvaluator
from trialrun.voice.results import TestResult

__all__ = ["LocalEvaluator"]


class LocalEvaluator(BaseTestEvaluator):
    """Judges each scenario's ``evaluations`` (fixa's criteria) with ``model``, a
    ``trialrun.voice.providers`` language model (default: OpenAI's gpt-4o-mini, key from
    OPENAI_API_KEY). Score: the fraction of criteria passed; by default all must pass.
    Metadata ``criteria`` lists each criterion's name, passed and reason.

    ``response_format``: ``"json_schema"`` (strict structured output), ``"json_object"``
    or ``"none"`` (the JSON is asked for in the prompt), for servers without the former.
    """

    id: str = ""  # each instance's own, set by __init__

    def __init__(
        self,
        model: Any = None,
        *,
        id: str = "criteria",
        threshold: Threshold | None = None,
        response_format: str = "json_schema",
        retries: int = 2,
        max_concurrency: int = 4,
    ) -> None:
        if model is None:
            model = _core.LanguageModel.openai("gpt-4o-mini")
        if not isinstance(model, _core.LanguageModel):
            raise TypeError(
                f"model must be a trialrun.voice.providers language model, not {type(model).__name__}"
            )
        if response_format not in ("json_schema", "json_object", "none"):
            raise ValueError(
                f'response_format must be "json_schema", "json_object" or "none", not {response_format!r}'
            )
        self.model = model
        self.id = id
        self.threshold = threshold if threshold is not None else Threshold(gte=1)
        self.response_format = response_format
        self.retries = retries
        self.max_concurrency = max_concurrency

    async def evaluate_test_case(self, test_case: Any, output: Any) -> Evaluation | None:
        scenario = test_case.test.scenario
        if not scenario.evaluations:
            return None
        if not isinstance(output, TestResult) or output.metrics is None:
            reason = getattr(output, "error", None) or "the call produced no transcript"
            criteria = [
                {"name": e.name, "passed": False, "reason": f"not judged: {reason}"}
                for e in scenario.evaluations
            ]
            return Evaluation(0.0, self.threshold, {"criteria": criteria})
        m = output.metrics
        summary = (
            f"time to first word {_s(m.time_to_first_word)}, response latency p50 {_s(m.latency_p50)} "
            f"p95 {_s(m.latency_p95)}, {len(m.interruptions)} interruption(s), keys sent {m.dtmf_sent or 'none'}, "
            f"keys heard {m.dtmf_heard or 'none'}"
        )
        verdicts = await _core.judge_call(
            self.model,
            [(e.name, e.prompt) for e in scenario.evaluations],
            list(output.transcript),
            list(output.keys),
            duration=m.duration,
            ended_by=m.ended_by,
            end_reason=m.end_reason,
            caller_name=test_case.test.agent.name,
            caller_prompt=test_case.test.agent.prompt,
            scenario=scenario.prompt,
            metrics=summary,
            response_format=self.response_format,
            retries=self.retries,
        )
        passed = sum(1 for v in verdicts if v["passed"])
        criteria = [
            {"name": v["name"], "passed": v["passed"], "reason": v["reason"]} for v in verdicts
        ]
        metadata: dict[str, Any] = {"criteria": criteria}
        errors = {v["name"]: v["error"] for v in verdicts if v["error"]}
        if errors:
            metadata["errors"] = errors
        return Evaluation(passed / len(verdicts), self.threshold, metadata)

    def __repr__(self) -> str:
        return f"LocalEvaluator(id={self.id!r})"


def _s(seconds: float | None) -> str:
    return "not measured" if seconds is None else f"{seconds:.2f} s"
