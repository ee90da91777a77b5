"""Voice-agent tests: phone a voice agent with simulated callers, measure and judge the calls.

fixa's API (``TestRunner``, ``Test``, ``Agent``, ``Scenario``, ``Evaluation``) on trialrun's
engine, offline by default: the loopback carrier, espeak-ng speech and faster-whisper
recognition (``pip install "trialrun[voice]"``), scripted callers or any OpenAI-compatible
language model::

    from trialrun.telephony import LoopbackCarrier
    from trialrun.voice import Agent, Scenario, Test, TestRunner
    from trialrun.voice.evaluators import EndedBy, MustSay

    carrier = LoopbackCarrier({"+15550100": "http://127.0.0.1:8765/voice"})
    runner = TestRunner(carrier=carrier)
    runner.add_test(Test(
        Scenario("book", "You want an appointment on Tuesday.",
                 script=["I'd like to book an appointment.", "Tuesday, please.", {"say": "Thanks, bye.", "hang_up": True}],
                 checks=[MustSay("booked"), EndedBy("caller")]),
        Agent("alex", "A polite caller.", voice_id="en-us"),
    ))
    results = await runner.run_tests(phone_number="+15550100")
    results.assert_passed()  # a list of TestResult; passed, summary() and assert_passed() too
"""

from trialrun.voice.results import (
    CallMetrics,
    EvaluationResult,
    Interruption,
    LineFaults,
    NetworkFaultReport,
    Silence,
    TestResult,
    TestResults,
    Transfer,
    Utterance,
)
from trialrun.voice.runner import Agent, Evaluation, Scenario, Test, TestRunner, VoiceTestCase

__all__ = [
    "Agent",
    "CallMetrics",
    "Evaluation",
    "EvaluationResult",
    "Interruption",
    "LineFaults",
    "NetworkFaultReport",
    "Scenario",
    "Silence",
    "Test",
    "TestResult",
    "TestResults",
    "TestRunner",
    "Transfer",
    "Utterance",
    "VoiceTestCase",
]
