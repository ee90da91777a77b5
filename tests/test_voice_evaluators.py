"""The deterministic call evaluators: verdicts, metadata, bad configuration, and use in a suite."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from trialrun import BaseTestCase, BaseTestEvaluator, Threshold, run_test_suite
from trialrun.voice.evaluators import (
    DtmfHeard,
    EndedBy,
    MaxInterruptions,
    MaxResponseLatency,
    MustNotSay,
    MustSay,
    NoError,
)
from trialrun.voice.results import CallMetrics, Interruption, Silence, TestResult, Utterance

# --- hand-built calls ----------------------------------------------------------------------


def metrics(**changes: Any) -> CallMetrics:
    base = CallMetrics(
        duration=30.0,
        time_to_first_word=0.8,
        response_latencies=[0.7, 1.0, 0.9],
        latency_p50=0.9,
        latency_p95=1.0,
        interruptions=[],
        silences=[],
        ended_by="caller",
        end_reason="the persona hung up: booked",
        dtmf_sent="",
        dtmf_heard="",
        turns=3,
    )
    return dataclasses.replace(base, **changes)


TRANSCRIPT = [
    Utterance("agent", "Thank you for calling Acme Dental. How can I help?", 0.8, 3.0),
    Utterance("caller", "Hi, when are you open?", 3.5, 5.0),
    Utterance("agent", "We're open Nine to five, Monday-through-Friday.", 5.7, 8.0),
    Utterance("caller", "Great, book me for Tuesday.", 8.4, 9.9, cut_off=True),
    Utterance("agent", "Sure, I don't see a problem with that.", 9.4, 12.0),
]


def call(
    transcript: list[Utterance] | None = None, error: str | None = None, **metric_changes: Any
) -> TestResult:
    return TestResult(
        test="any object",
        transcript=list(TRANSCRIPT if transcript is None else transcript),
        metrics=metrics(**metric_changes),
        error=error,
    )


FAILED_TO_START = TestResult(
    test=None, transcript=[], metrics=None, error="carrier refused the call: 403"
)


def judge(evaluator: BaseTestEvaluator, result: Any):
    evaluation = evaluator.evaluate_test_case("case", result)
    assert evaluation.threshold is not None
    assert evaluation.metadata is not None and isinstance(evaluation.metadata["reason"], str)
    return evaluation


# --- MaxResponseLatency ------------------------------------------------------------------


def test_latency_p95_is_the_default_and_passes_within_the_limit():
    ev = MaxResponseLatency(1.0)
    assert isinstance(ev, BaseTestEvaluator)
    assert ev.id == "max-response-latency" and ev.percentile == "p95"
    ok = judge(ev, call())
    assert ok.score == 1 and ok.passed() is True
    assert ok.metadata["value"] == 1.0 and ok.metadata["max_seconds"] == 1.0
    assert ok.metadata["response_latencies"] == [0.7, 1.0, 0.9]
    assert ok.metadata["too_slow"] == []


def test_latency_over_the_limit_fails_and_names_the_slow_turns():
    bad = judge(MaxResponseLatency(0.8), call())
    assert bad.score == 0 and bad.passed() is False
    assert bad.metadata["percentile"] == "p95" and bad.metadata["value"] == 1.0
    assert bad.metadata["too_slow"] == [{"turn": 1, "latency": 1.0}, {"turn": 2, "latency": 0.9}]
    assert "1.000 s exceeds 0.8 s" in bad.metadata["reason"]


@pytest.mark.parametrize(
    "percentile, limit, passes",
    [
        ("p50", 0.9, True),
        ("p50", 0.85, False),
        ("p95", 1.0, True),
        ("max", 1.4, False),
        ("max", 1.5, True),
    ],
)
def test_latency_percentile_choice(percentile, limit, passes):
    result = call(response_latencies=[0.7, 1.5, 0.9], latency_p50=0.9, latency_p95=1.0)
    evaluation = judge(MaxResponseLatency(limit, percentile=percentile), result)
    assert evaluation.passed() is passes
    assert evaluation.metadata["value"] == {"p50": 0.9, "p95": 1.0, "max": 1.5}[percentile]


def test_latency_with_no_measured_turn_fails_with_the_reason():
    result = call(response_latencies=[], latency_p50=None, latency_p95=None)
    for percentile in ("p50", "p95", "max"):
        evaluation = judge(MaxResponseLatency(5, percentile), result)
        assert evaluation.score == 0 and evaluation.passed() is False
        assert evaluation.metadata["value"] is None
        assert "no response latency was measured" in evaluation.metadata["reason"]


def test_latency_zero_limit_accepts_only_instant_answers():
    assert judge(MaxResponseLatency(0, "max"), call(response_latencies=[0.0, 0.0])).passed() is True
    assert (
        judge(MaxResponseLatency(0, "max"), call(response_latencies=[0.0, 0.001])).passed() is False
    )


@pytest.mark.parametrize("seconds", [-0.1, float("nan"), float("inf"), "1", None, True])
def test_latency_bad_seconds_raise_naming_the_argument(seconds):
    with pytest.raises(ValueError, match="max_seconds"):
        MaxResponseLatency(seconds)


@pytest.mark.parametrize("percentile", ["p99", "P95", "", None])
def test_latency_unknown_percentile_raises(percentile):
    with pytest.raises(ValueError, match="percentile"):
        MaxResponseLatency(1.0, percentile)


# --- MaxInterruptions --------------------------------------------------------------------

BARGE_INS = [
    Interruption("agent", 9.4, 0.5),
    Interruption("caller", 20.0, 1.2),
    Interruption("agent", 25.0, 0.3),
]


def test_interruptions_by_the_agent_by_default():
    ev = MaxInterruptions()
    assert ev.id == "max-interruptions" and ev.max_count == 0 and ev.by == "agent"
    assert judge(ev, call()).passed() is True
    bad = judge(ev, call(interruptions=BARGE_INS))
    assert bad.score == 0 and bad.passed() is False
    assert (
        bad.metadata["count"] == 2
        and bad.metadata["max_count"] == 0
        and bad.metadata["by"] == "agent"
    )
    # Each with what the interrupter said, when it is in the transcript.
    assert bad.metadata["interruptions"] == [
        {
            "by": "agent",
            "at": 9.4,
            "overlap": 0.5,
            "said": "Sure, I don't see a problem with that.",
        },
        {"by": "agent", "at": 25.0, "overlap": 0.3},
    ]
    assert "at 9.400 s" in bad.metadata["reason"]


def test_interruptions_by_the_caller_or_either_side():
    result = call(interruptions=BARGE_INS)
    by_caller = judge(MaxInterruptions(1, by="caller"), result)
    assert by_caller.passed() is True and by_caller.metadata["count"] == 1
    assert judge(MaxInterruptions(0, by="caller"), result).passed() is False
    either = judge(MaxInterruptions(2, by=None), result)
    assert either.passed() is False and either.metadata["count"] == 3
    # The first over the limit is the third.
    assert "at 25.000 s" in either.metadata["reason"]
    assert judge(MaxInterruptions(3, by=None), result).passed() is True


@pytest.mark.parametrize("count", [-1, 1.5, "2", None, True])
def test_interruptions_bad_count_raises(count):
    with pytest.raises(ValueError, match="max_count"):
        MaxInterruptions(count)


@pytest.mark.parametrize("by", ["Agent", "both", ""])
def test_interruptions_unknown_side_raises(by):
    with pytest.raises(ValueError, match="by"):
        MaxInterruptions(0, by=by)


# --- MustSay / MustNotSay -----------------------------------------------------------------


def test_must_say_ignores_case_punctuation_and_spacing():
    ev = MustSay("nine   to five")
    assert ev.id == "must-say" and ev.role == "agent"
    ok = judge(ev, call())
    assert ok.score == 1 and ok.passed() is True
    assert ok.metadata["said"] == [
        {
            "phrase": "nine   to five",
            "said": "We're open Nine to five, Monday-through-Friday.",
            "start": 5.7,
            "end": 8.0,
        }
    ]
    assert ok.metadata["missing"] == []
    # Hyphens split words, apostrophes vanish on both sides.
    assert judge(MustSay("monday through friday"), call()).passed() is True
    assert judge(MustSay("were open"), call()).passed() is True
    assert judge(MustSay("I dont see"), call()).passed() is True
    assert judge(MustSay("“I don’t see a problem”!"), call()).passed() is True


@pytest.mark.parametrize(
    "said, phrase",
    [
        ("Good-bye, and thanks!", "goodbye"),
        ("Goodbye, and thanks!", "good-bye"),
        ("Good bye, and thanks!", "goodbye"),
        ("We open at 9am.", "nine am"),
        ("Your total is 1,205 dollars.", "one thousand two hundred five dollars"),
        ("Press nine for more.", "press 9"),
        ("It is 3.5 miles away.", "three point five miles"),
        ("Call 24 hours a day", "twenty-four hours"),
    ],
)
def test_must_say_survives_how_recognizers_write_compounds_and_numbers(said, phrase):
    result = call([Utterance("agent", said, 1.0, 3.0)])
    assert judge(MustSay(phrase), result).passed() is True
    assert judge(MustNotSay(phrase), result).passed() is False


def test_joining_words_still_needs_whole_words():
    result = call([Utterance("agent", "Goodbye everyone, nine to five.", 1.0, 3.0)])
    assert judge(MustSay("good"), result).passed() is False  # a part of "goodbye"
    assert judge(MustSay("byeeveryone"), result).passed() is False  # starts inside a word
    assert judge(MustSay("goodbyeeveryone"), result).passed() is True  # whole words joined
    assert judge(MustSay("ninety five"), result).passed() is False
    assert judge(MustSay("9 to 5"), result).passed() is True


def test_must_say_matches_whole_words_within_one_utterance():
    assert judge(MustSay("open nin"), call()).passed() is False  # not a prefix of "nine"
    assert judge(MustSay("help"), call()).passed() is True
    assert judge(MustSay("elp"), call()).passed() is False
    # "help? We're" spans two agent utterances with the caller in between.
    assert judge(MustSay("help we're open"), call()).passed() is False


def test_must_say_a_list_needs_every_phrase():
    ev = MustSay(["acme dental", "goodbye", "nine to five", "have a nice day"])
    evaluation = judge(ev, call())
    assert evaluation.score == 0.5 and evaluation.passed() is False
    assert evaluation.metadata["missing"] == ["goodbye", "have a nice day"]
    assert [s["phrase"] for s in evaluation.metadata["said"]] == ["acme dental", "nine to five"]
    assert "never said 'goodbye', 'have a nice day'" in evaluation.metadata["reason"]
    lenient = MustSay(["acme dental", "goodbye"], threshold=Threshold(gte=0.5), id="half")
    assert lenient.id == "half" and judge(lenient, call()).passed() is True


def test_must_say_checks_one_side():
    assert judge(MustSay("when are you open"), call()).passed() is False
    caller = judge(MustSay("When are you open", role="caller"), call())
    assert caller.passed() is True and caller.metadata["role"] == "caller"
    assert caller.metadata["said"][0]["start"] == 3.5


def test_must_not_say_passes_when_nothing_matches():
    ev = MustNotSay(["I'm just an AI", "as a language model"])
    assert ev.id == "must-not-say"
    ok = judge(ev, call())
    assert ok.score == 1 and ok.passed() is True and ok.metadata["said"] == []


def test_must_not_say_names_the_phrase_and_the_utterance():
    ev = MustNotSay(["problem", "goodbye"])
    bad = judge(ev, call())
    assert bad.score == 0.5 and bad.passed() is False
    assert bad.metadata["said"] == [
        {
            "phrase": "problem",
            "said": "Sure, I don't see a problem with that.",
            "start": 9.4,
            "end": 12.0,
        }
    ]
    assert (
        bad.metadata["reason"]
        == "the agent said 'problem' at 9.400 s: \"Sure, I don't see a problem with that.\""
    )
    assert judge(MustNotSay("book me", role="caller"), call()).passed() is False
    assert judge(MustNotSay("book me"), call()).passed() is True


def test_must_say_on_a_silent_call():
    silent = call(transcript=[])
    assert judge(MustSay("hello"), silent).passed() is False
    assert judge(MustNotSay("hello"), silent).passed() is True


@pytest.mark.parametrize("phrases", ["", "  ", "?!", [], ["ok", ""], ["ok", 3], None, 42])
@pytest.mark.parametrize("evaluator", [MustSay, MustNotSay])
def test_phrases_without_words_raise(evaluator, phrases):
    with pytest.raises(ValueError, match="phrase"):
        evaluator(phrases)


@pytest.mark.parametrize("evaluator", [MustSay, MustNotSay])
def test_phrase_unknown_role_raises(evaluator):
    with pytest.raises(ValueError, match="role"):
        evaluator("hello", role="user")


# --- DtmfHeard ---------------------------------------------------------------------------


def test_dtmf_heard_finds_the_sequence_as_consecutive_keys():
    ev = DtmfHeard("1234")
    assert ev.id == "dtmf-heard" and ev.role == "agent" and ev.exact is False
    ok = judge(ev, call(dtmf_heard="912345#"))
    assert ok.passed() is True
    assert ok.metadata == {
        "reason": "the agent pressed '1234' in a row",
        "pressed_by": "agent",
        "expected": "1234",
        "pressed": "912345#",
        "exact": False,
    }
    bad = judge(ev, call(dtmf_heard="12934"))
    assert bad.score == 0 and bad.passed() is False and bad.metadata["pressed"] == "12934"
    # The caller's keys are not the agent's.
    assert judge(ev, call(dtmf_sent="1234")).passed() is False


def test_dtmf_heard_exact_and_caller_side():
    assert judge(DtmfHeard("1234", exact=True), call(dtmf_heard="1234")).passed() is True
    assert judge(DtmfHeard("1234", exact=True), call(dtmf_heard="12345")).passed() is False
    caller = DtmfHeard("*9", role="caller")
    assert judge(caller, call(dtmf_sent="1*9")).passed() is True
    assert judge(caller, call(dtmf_heard="*9")).passed() is False
    # Letter keys are accepted in either case.
    assert judge(DtmfHeard("a#"), call(dtmf_heard="A#")).passed() is True


@pytest.mark.parametrize("sequence", ["", "12x", "1 2", "E", None, 12])
def test_dtmf_bad_sequence_raises(sequence):
    with pytest.raises(ValueError, match="sequence"):
        DtmfHeard(sequence)


def test_dtmf_unknown_role_raises():
    with pytest.raises(ValueError, match="pressed_by"):
        DtmfHeard("1", role="both")
    with pytest.raises(ValueError, match="pressed_by"):
        DtmfHeard("1", "both")


def test_dtmf_pressed_by_names_who_pressed_and_role_is_its_earlier_name():
    by_caller = DtmfHeard("*9", pressed_by="caller")
    assert judge(by_caller, call(dtmf_sent="*9")).passed() is True
    assert judge(DtmfHeard("*9", "caller"), call(dtmf_sent="*9")).passed() is True
    assert DtmfHeard("1", role="caller", pressed_by="caller").role == "caller"
    with pytest.raises(ValueError, match="disagree"):
        DtmfHeard("1", role="caller", pressed_by="agent")


# --- EndedBy ----------------------------------------------------------------------------


def test_ended_by_one_or_several_causes():
    ev = EndedBy("caller")
    assert ev.id == "ended-by" and ev.who == ["caller"]
    ok = judge(ev, call())
    assert ok.passed() is True
    assert (
        ok.metadata["ended_by"] == "caller"
        and ok.metadata["end_reason"] == "the persona hung up: booked"
    )
    bad = judge(EndedBy("agent"), call())
    assert bad.score == 0 and bad.passed() is False
    assert bad.metadata["reason"] == "ended by caller (the persona hung up: booked), not agent"
    timed_out = call(ended_by="timeout", end_reason="max_duration")
    assert judge(EndedBy(["caller", "agent"]), timed_out).passed() is False
    assert judge(EndedBy(("agent", "timeout")), timed_out).passed() is True


@pytest.mark.parametrize("who", ["hangup", "", [], ["caller", "nobody"], None])
def test_ended_by_unknown_cause_raises(who):
    with pytest.raises(ValueError, match="who"):
        EndedBy(who)


# --- NoError ----------------------------------------------------------------------------


def test_no_error():
    ev = NoError()
    assert ev.id == "no-error"
    assert judge(ev, call()).passed() is True
    broken = judge(ev, call(error="the stream closed: 1011", ended_by="error"))
    assert broken.score == 0 and broken.passed() is False
    assert broken.metadata == {
        "reason": "the call failed: the stream closed: 1011",
        "call_error": "the stream closed: 1011",
    }


# --- calls with nothing to judge ----------------------------------------------------------

EVERY_EVALUATOR = [
    MaxResponseLatency(10),
    MaxInterruptions(5, by=None),
    MustSay("hello"),
    MustNotSay("goodbye"),
    DtmfHeard("1"),
    EndedBy(["caller", "agent", "timeout", "error"]),
    NoError(),
]


@pytest.mark.parametrize("evaluator", EVERY_EVALUATOR, ids=lambda ev: ev.id)
def test_a_call_that_never_started_fails_every_check(evaluator):
    evaluation = judge(evaluator, FAILED_TO_START)
    assert evaluation.score == 0 and evaluation.passed() is False
    assert evaluation.metadata == {
        "reason": "the call produced no metrics: it failed before it started",
        "call_error": "carrier refused the call: 403",
    }


@pytest.mark.parametrize("evaluator", EVERY_EVALUATOR, ids=lambda ev: ev.id)
def test_an_output_that_is_not_a_call_fails_every_check(evaluator):
    evaluation = judge(evaluator, {"transcript": []})
    assert evaluation.passed() is False
    assert "not a trialrun.voice.results.TestResult" in evaluation.metadata["reason"]


def test_output_mapper_finds_the_call_in_fn_output():
    ev = NoError(output_mapper=lambda out: out["call"])
    assert judge(ev, {"call": call()}).passed() is True


# --- in a real suite ----------------------------------------------------------------------


@dataclasses.dataclass
class Scenario(BaseTestCase):
    name: str
    latency: float
    agent_line: str
    keys: str

    def hash(self) -> str:
        return self.name


def place_call(scenario: Scenario) -> TestResult:
    if scenario.name == "unreachable":
        return FAILED_TO_START
    return TestResult(
        test=scenario,
        transcript=[
            Utterance("caller", "I need an appointment.", 0.5, 2.0),
            Utterance("agent", scenario.agent_line, 2.0 + scenario.latency, 5.0),
        ],
        metrics=metrics(
            response_latencies=[scenario.latency],
            latency_p50=scenario.latency,
            latency_p95=scenario.latency,
            dtmf_heard=scenario.keys,
            silences=[Silence(5.0, 25.0)],
            turns=1,
        ),
    )


def test_call_evaluators_in_a_suite_are_stored_and_reported(store_rows):
    scenarios = [
        Scenario("good", 0.6, "Sure, Tuesday at nine works.", "1234"),
        Scenario("slow-and-rude", 2.5, "Ugh, whatever, Tuesday.", ""),
        Scenario("unreachable", 0, "", ""),
    ]
    evaluators = [
        MaxResponseLatency(1.0),
        MustSay("tuesday"),
        MustNotSay("whatever"),
        DtmfHeard("1234"),
        EndedBy("caller"),
        NoError(),
    ]
    result = run_test_suite("voice-checks", scenarios, evaluators, place_call, quiet=True)
    assert result.passed is False
    verdicts = {c.hash: {e.evaluator_id: e.verdict for e in c.evaluations} for c in result.cases}
    assert verdicts["good"] == {ev.id: "passed" for ev in evaluators}
    assert verdicts["slow-and-rude"] == {
        "max-response-latency": "failed",
        "must-say": "passed",
        "must-not-say": "failed",
        "dtmf-heard": "failed",
        "ended-by": "passed",
        "no-error": "passed",
    }
    assert verdicts["unreachable"] == {ev.id: "failed" for ev in evaluators}
    slow = next(c for c in result.cases if c.hash == "slow-and-rude")
    assert slow.evaluation("max-response-latency").metadata["value"] == 2.5
    assert slow.evaluation("must-not-say").metadata["said"][0]["start"] == 4.5

    rows = store_rows(
        "SELECT case_hash, evaluator_id, verdict, threshold, metadata FROM evaluation_results"
    )
    assert len(rows) == 3 * len(evaluators)
    stored = {(r["case_hash"], r["evaluator_id"]): r for r in rows}
    assert {k: r["verdict"] for k, r in stored.items() if k[0] == "slow-and-rude"} == {
        ("slow-and-rude", ev_id): verdict for ev_id, verdict in verdicts["slow-and-rude"].items()
    }
    assert all(json.loads(r["threshold"]) == {"gte": 1} for r in rows)
    unreachable = json.loads(stored[("unreachable", "no-error")]["metadata"])
    assert unreachable["call_error"] == "carrier refused the call: 403"
    latency = json.loads(stored[("slow-and-rude", "max-response-latency")]["metadata"])
    assert latency["response_latencies"] == [2.5] and "exceeds 1 s" in latency["reason"]
