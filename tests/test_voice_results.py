"""Voice results speak like suites' and step sequences': TestResults (what run_tests returns)
is the list of TestResult fixa returns, with passed, failures(), summary() and
assert_passed(); each TestResult has failure_reasons(), summary() and assert_passed().

Results are built here as run_tests builds them, without calls; the checks are real suite
evaluation results (a run_test_suite of the call evaluators on hand-built calls).
tests/test_voice_calls.py checks the same through real run_tests calls."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from trialrun import BaseTestCase, BaseTestEvaluator, run_test_suite
from trialrun.voice import (
    Agent,
    Evaluation,
    EvaluationResult,
    Scenario,
    Test,
    TestResult,
    TestResults,
    VoiceTestCase,
)
from trialrun.voice.evaluators import EndedBy, MustSay, NoError
from trialrun.voice.results import CallMetrics, Utterance
from trialrun.voice.runner import _result_of_case

BOOK = Test(Scenario("book", "You want an appointment."), Agent("alex", "A calm caller."))
HOURS = Test(Scenario("hours", "You want the opening hours."), Agent("sam", "In a hurry."))
BYE = Test(Scenario("goodbye", "You expect a goodbye."), Agent("robin", "Cheerful."))


def metrics(ended_by: str = "caller") -> CallMetrics:
    return CallMetrics(
        duration=12.0,
        time_to_first_word=0.8,
        response_latencies=[0.9],
        latency_p50=0.9,
        latency_p95=0.9,
        interruptions=[],
        silences=[],
        ended_by=ended_by,
        end_reason="the caller hung up",
        dtmf_sent="",
        dtmf_heard="",
        turns=1,
    )


def call(test: Test, agent_line: str, ended_by: str = "caller", **fields: Any) -> TestResult:
    return TestResult(
        test=test,
        transcript=[
            Utterance("agent", agent_line, 0.8, 3.0),
            Utterance("caller", "Thanks.", 3.9, 4.5),
        ],
        metrics=metrics(ended_by),
        **fields,
    )


@dataclasses.dataclass
class Case(BaseTestCase):
    result: TestResult

    def hash(self) -> str:
        return f"{self.result.test.scenario.name} x {self.result.test.agent.name}"


def with_checks(*results: TestResult) -> list[TestResult]:
    """Each result with the checks a real suite run gave it (MustSay, EndedBy, NoError)."""
    suite = run_test_suite(
        "voice-results",
        [Case(r) for r in results],
        [MustSay("goodbye"), EndedBy("caller"), NoError()],
        lambda case: case.result,
        quiet=True,
        record=False,
    )
    for case in suite.cases:
        case.test_case.result.checks = list(case.evaluations)
    return list(results)


def test_run_tests_results_are_a_list_of_test_results():
    good = call(BOOK, "Goodbye!")
    results = TestResults([good])
    assert isinstance(results, list)
    assert results == [good] and results[0] is good and len(results) == 1
    assert list(results) == [good] and results[-1:] == [good]
    assert TestResults() == [] and TestResults().passed  # no test, nothing failed


def test_all_passing_results_pass_and_say_so():
    results = TestResults(
        with_checks(
            call(BOOK, "Booked, goodbye!", evaluation_results=[EvaluationResult("ok", True, "")]),
            call(HOURS, "Nine to five. Goodbye."),
        )
    )
    assert results.passed is True and results.failures() == []
    assert results.summary() == "voice tests: 2 passed (2 calls)\n"
    results.assert_passed()
    for result in results:
        assert result.failure_reasons() == []
        result.assert_passed()
    assert results[0].summary() == "passed: book x alex\n"


def test_a_failed_criterion_and_failed_checks_are_listed_with_their_reasons():
    good, bad = with_checks(
        call(BOOK, "Goodbye!"),
        call(
            BYE,
            "Anything else?",
            ended_by="agent",
            evaluation_results=[
                EvaluationResult("greets", True, "it did"),
                EvaluationResult("says-goodbye", False, "The agent never\nsays goodbye."),
            ],
        ),
    )
    results = TestResults([good, bad])
    assert results.passed is False and results.failures() == [bad]
    assert bad.failure_reasons() == [
        "criterion says-goodbye failed: The agent never says goodbye.",
        "check must-say failed: the agent never said 'goodbye'",
        "check ended-by failed: ended by agent (the caller hung up), not caller",
    ]
    assert results.summary() == (
        "voice tests: 1 passed, 1 failed (2 calls)\n"
        "  failed: goodbye x robin\n"
        "    criterion says-goodbye failed: The agent never says goodbye.\n"
        "    check must-say failed: the agent never said 'goodbye'\n"
        "    check ended-by failed: ended by agent (the caller hung up), not caller\n"
    )
    with pytest.raises(AssertionError) as raised:
        results.assert_passed()
    assert str(raised.value) == "voice tests did not pass:\n" + results.summary()
    with pytest.raises(AssertionError, match="voice test did not pass:\nfailed: goodbye x robin"):
        bad.assert_passed()


def test_a_call_that_failed_is_counted_as_errored_with_its_error():
    failed = TestResult(
        test=HOURS,
        transcript=[],
        metrics=None,
        error="Traceback (most recent call last):\n  ...\nRuntimeError: the carrier refused the call: 403\n",
    )
    results = TestResults([call(BOOK, "Goodbye!"), failed])
    assert results.summary() == (
        "voice tests: 1 passed, 1 errored (2 calls)\n"
        "  failed: hours x sam\n"
        "    error: RuntimeError: the carrier refused the call: 403\n"
    )


def test_errored_checks_and_checks_without_a_reason():
    class Check:
        """A suite evaluation result as run_tests attaches it: verdict, score, metadata, error."""

        def __init__(self, evaluator_id: str, verdict: str, **fields: Any) -> None:
            self.evaluator_id, self.verdict = evaluator_id, verdict
            self.score, self.threshold = fields.get("score"), fields.get("threshold")
            self.metadata, self.error = fields.get("metadata"), fields.get("error")

    result = call(
        BOOK,
        "Hello.",
        checks=[
            Check("tone", "errored", error="Traceback ...\nValueError: no audio"),
            Check("score", "failed", score=0.25, threshold="Threshold(gte=0.5)", metadata={}),
            Check("fine", "passed", score=1.0),
            Check("unscored", "no_threshold", score=0.1),
        ],
    )
    assert result.passed is False
    assert result.failure_reasons() == [
        "check tone errored: ValueError: no audio",
        "check score failed: score 0.25 outside Threshold(gte=0.5)",
    ]
    assert TestResults([result]).summary().startswith("voice tests: 0 passed, 1 failed (1 call)")


def test_a_result_of_a_test_that_is_not_a_voice_test_is_named_by_its_repr():
    result = TestResult(test="case-7", transcript=[], metrics=None, error="no line")
    assert result.summary() == "failed: 'case-7'\n  error: no line\n"


def test_a_judge_that_raises_fails_its_criteria_instead_of_passing_the_call():
    """The judge is a suite evaluator: when it raises, the suite fails, and so does the call
    in run_tests' results (its criteria not judged, with the judge's error)."""

    class Judge(BaseTestEvaluator):
        id = "criteria"

        def evaluate_test_case(self, test_case: Any, output: Any) -> None:
            raise RuntimeError("the judge model answered 401")

    judged = Test(
        Scenario("book", "x", evaluations=[Evaluation("greets", "?"), Evaluation("books", "?")]),
        Agent("alex", "y"),
    )
    output = call(judged, "Hello, goodbye.")
    suite = run_test_suite(
        "voice-judge",
        [VoiceTestCase(judged)],
        [Judge()],
        lambda case: output,
        quiet=True,
        record=False,
    )
    assert suite.passed is False
    result = _result_of_case(suite.cases[0], Judge())
    assert result.passed is False and result.checks == []
    why = "not judged: the judge raised: RuntimeError: the judge model answered 401"
    assert [(r.name, r.passed, r.reason) for r in result.evaluation_results] == [
        ("greets", False, why),
        ("books", False, why),
    ]
    assert f"criterion books failed: {why}" in TestResults([result]).summary()
