"""Voice-agent tests end to end, offline: trialrun's TestRunner phones the example agent
(examples/voice_agent, run with its deliberate flaw) over the loopback carrier, with espeak-ng
speech and faster-whisper recognition; 3 personas x 3 scenarios = 9 calls at once. Language
models (a persona, the judge) are OpenAI-compatible servers on 127.0.0.1 that check what they
receive."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

import pytest

from fake_openai import FakeChatServer, completion
from trialrun import history
from trialrun.telephony import CallServer, LoopbackCarrier, NetworkFaults, TwilioCarrier
from trialrun.voice import Agent, Evaluation, Scenario, Test, TestResults, TestRunner
from trialrun.voice.evaluators import (
    DtmfHeard,
    EndedBy,
    MaxResponseLatency,
    MustSay,
    NoError,
    TransferredTo,
)
from trialrun.voice.judge import LocalEvaluator
from trialrun.voice.offline import Espeak
from trialrun.voice.providers import LanguageModel

pytestmark = pytest.mark.calls

ROOT = Path(__file__).resolve().parent.parent
AGENT = ROOT / "examples" / "voice_agent" / "agent.py"
AGENT_NUMBER = "+15550100"
TRIALRUN_NUMBER = "+15550199"
TOKEN = "voice-test-token"
MODEL_KEY = "sk-test-key"


def start_agent(
    *flags: str, env: dict[str, str] | None = None, log: Path | None = None
) -> tuple[subprocess.Popen, str]:
    """The example agent on a free port, and its URL; its log (stderr) goes to ``log``."""
    env = dict(os.environ, TWILIO_AUTH_TOKEN=TOKEN, **(env or {}))
    proc = subprocess.Popen(
        [sys.executable, str(AGENT), "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=log.open("w") if log is not None else subprocess.DEVNULL,
        text=True,
        env=env,
    )
    match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", proc.stdout.readline())
    if not match:
        proc.kill()
        pytest.fail("the example agent did not start")
    return proc, match.group(1)


@pytest.fixture(scope="module")
def flawed_agent_url():
    """The example agent with its deliberate bug: it never says goodbye nor hangs up."""
    proc, url = start_agent("--flaw", "never-says-goodbye")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def judge_answer(body: dict) -> dict:
    """Judges like a careful model would, from the transcript it was sent: the greeting is
    there in every call; a goodbye only where the agent said one."""
    transcript = body["messages"][-1]["content"]
    agent_said = " ".join(line for line in transcript.splitlines() if "] agent:" in line).lower()
    names = body["response_format"]["json_schema"]["schema"]["properties"]["evaluations"]["items"][
        "properties"
    ]["name"]["enum"]
    verdicts = []
    for name in names:
        passed = (
            "thank you for calling" in agent_said if name == "greets" else "goodbye" in agent_said
        )
        verdicts.append({"name": name, "reason": "read the transcript", "passed": passed})
    return completion(json.dumps({"evaluations": verdicts}))


BOOK = Scenario(
    "book-appointment",
    "You want to book a dental appointment for Tuesday morning.",
    evaluations=[Evaluation("greets", "The agent greets the caller.")],
    script=[
        "Hi, I would like to book an appointment please.",
        "Tuesday morning would be great.",
        {"say": "Thank you, that is all. Bye.", "hang_up": True},
    ],
    checks=[MustSay("confirmed"), EndedBy("caller"), MaxResponseLatency(4.0, percentile="max")],
)
HOURS = Scenario(
    "opening-hours-by-keypad",
    "You want the opening hours, through the keypad menu.",
    evaluations=[Evaluation("greets", "The agent greets the caller.")],
    script=[{"keys": "2"}, {"say": "Thanks, goodbye.", "hang_up": True}],
    checks=[MustSay("opening"), DtmfHeard("2", role="caller"), EndedBy("caller")],
)
# The example agent's flaw makes this one fail: it goes silent instead of saying goodbye.
GOODBYE = Scenario(
    "agent-says-goodbye",
    "You book a cleaning and expect the agent to close the call politely.",
    evaluations=[
        Evaluation("greets", "The agent greets the caller."),
        Evaluation("says-goodbye", "The agent says goodbye before the call ends."),
    ],
    script={
        "lines": ["Hello, I need a cleaning.", "Friday afternoon.", "No, that is everything."],
        "on_silence": "Hello? Are you still there?",
        "silence_limit": 1,
    },
    checks=[MustSay("goodbye"), EndedBy("agent")],
)
PERSONAS = [
    Agent("alex", "A calm caller.", voice_id="en-us"),
    Agent("sam", "A caller in a hurry.", voice_id="en-gb"),
    Agent("robin", "A cheerful caller.", voice_id="en-us+f3"),
]


@pytest.fixture(scope="module")
def nine_calls(flawed_agent_url, tmp_path_factory):
    """The 9 calls, run once for the tests below: (results, suite result, judge server, store home)."""
    home = tmp_path_factory.mktemp("voice-home")
    judge_server = FakeChatServer(judge_answer)
    saved = os.environ.get("TRIALRUN_HOME")
    os.environ["TRIALRUN_HOME"] = str(home)

    async def run() -> tuple[list, Any]:
        carrier = LoopbackCarrier(
            {AGENT_NUMBER: f"{flawed_agent_url}/voice"}, auth_token=TOKEN, speech=Espeak()
        )
        judge = LocalEvaluator(
            LanguageModel.openai("judge-model", base_url=judge_server.url, api_key=MODEL_KEY)
        )
        runner = TestRunner(
            carrier=carrier,
            twilio_phone_number=TRIALRUN_NUMBER,
            evaluator=judge,
            checks=[NoError()],
            concurrency=9,
            silence_turn=3.0,
            recordings_dir=home / "recordings",
            suite_id="acme-voice",
            quiet=True,
        )
        for scenario in (BOOK, HOURS, GOODBYE):
            for persona in PERSONAS:
                runner.add_test(Test(scenario, persona))
        try:
            results = await asyncio.wait_for(runner.run_tests(phone_number=AGENT_NUMBER), 240)
        finally:
            carrier.stop()
        return results, runner.last_suite_result

    try:
        results, suite = asyncio.run(run())
    finally:
        judge_server.close()
        if saved is None:
            os.environ.pop("TRIALRUN_HOME", None)
        else:
            os.environ["TRIALRUN_HOME"] = saved
    return results, suite, judge_server, home


def by_name(results: list, scenario: Scenario) -> list:
    return [r for r in results if r.test.scenario.name == scenario.name]


def test_nine_calls_run_in_parallel_each_a_scenario_and_persona(nine_calls):
    results, suite, _, _ = nine_calls
    assert [(r.test.scenario.name, r.test.agent.name) for r in results] == [
        (s.name, p.name) for s in (BOOK, HOURS, GOODBYE) for p in PERSONAS
    ]
    assert [r.error for r in results] == [None] * 9
    assert all(r.call_sid and r.call_sid.startswith("CA") for r in results)
    # At once: the whole run takes far less than the calls' durations added up.
    assert suite.duration_s < 0.5 * sum(r.metrics.duration for r in results)


def test_transcripts_have_both_sides_with_the_right_roles(nine_calls):
    results, _, _, _ = nine_calls
    for r in results:
        first = r.transcript[0]
        assert first.role == "agent" and "thank you for calling" in first.text.lower(), (
            r.transcript_text()
        )
        assert all(u.end >= u.start for u in r.transcript)
        assert [u.start for u in r.transcript] == sorted(u.start for u in r.transcript)
    for r in by_name(results, BOOK):
        # The caller's lines are its own words, in order, each answered by the agent.
        assert [u.text for u in r.transcript if u.role == "caller"] == [
            "Hi, I would like to book an appointment please.",
            "Tuesday morning would be great.",
            "Thank you, that is all. Bye.",
        ]
        assert [u.role for u in r.transcript] == ["agent", "caller"] * 3, r.transcript_text()
        assert "appointment" in r.transcript[2].text.lower(), r.transcript_text()
        assert "confirmed" in r.said("agent").lower(), r.transcript_text()
    for r in by_name(results, HOURS):
        assert [(k.role, k.digit) for k in r.keys] == [("caller", "2")]


def test_metrics_are_measured_for_every_call(nine_calls):
    results, _, _, _ = nine_calls
    for r in results:
        m = r.metrics
        assert m is not None and m.duration > 10
        assert 0 < m.time_to_first_word < 3.0
        assert m.interruptions == []
    for r in by_name(results, BOOK):
        m = r.metrics
        assert (m.ended_by, m.turns) == ("caller", 3)
        # The agent answers 300 ms after the end of a turn it has waited 700 ms of silence
        # for: about a second.
        assert len(m.response_latencies) == 2 and all(
            0.7 < x < 3.0 for x in m.response_latencies
        ), m
        assert m.latency_p50 == min(m.response_latencies) and m.latency_p95 == max(
            m.response_latencies
        )
    for r in by_name(results, HOURS):
        assert (r.metrics.dtmf_sent, r.metrics.dtmf_heard) == ("2", "")
    for r in by_name(results, GOODBYE):
        assert r.metrics.ended_by == "caller"
        assert r.metrics.end_reason == "the caller hung up: the agent stayed silent"
        assert r.metrics.silences and r.metrics.silences[-1].duration >= 2.0


def test_every_call_is_recorded_in_two_channels(nine_calls):
    results, _, _, home = nine_calls
    for r in results:
        path = Path(r.recording_path)
        assert path.parent == home / "recordings" and path.exists()
        assert r.stereo_recording_url == path.resolve().as_uri()
        with wave.open(str(path)) as wav:
            assert (wav.getnchannels(), wav.getframerate()) == (2, 8000)
            assert abs(wav.getnframes() / 8000 - r.metrics.duration) < 1.5


def test_deterministic_evaluators_pass_and_fail_as_designed(nine_calls):
    results, suite, _, _ = nine_calls
    verdicts = {
        (case.test_case.test.scenario.name, case.test_case.test.agent.name): {
            e.evaluator_id: e.verdict for e in case.evaluations
        }
        for case in suite.cases
    }
    for persona in PERSONAS:
        assert verdicts[(BOOK.name, persona.name)] == {
            "no-error": "passed",
            "must-say": "passed",
            "ended-by": "passed",
            "max-response-latency": "passed",
            "criteria": "passed",
        }
        assert verdicts[(HOURS.name, persona.name)] == {
            "no-error": "passed",
            "must-say": "passed",
            "dtmf-heard": "passed",
            "ended-by": "passed",
            "criteria": "passed",
        }
        # The flaw: no goodbye, and the caller, not the agent, ends the call.
        assert verdicts[(GOODBYE.name, persona.name)] == {
            "no-error": "passed",
            "must-say": "failed",
            "ended-by": "failed",
            "criteria": "failed",
        }
    goodbye_case = next(c for c in suite.cases if c.test_case.test.scenario.name == GOODBYE.name)
    ended_by = goodbye_case.evaluation("ended-by")
    assert "caller" in json.dumps(ended_by.metadata), ended_by.metadata
    assert not suite.passed


def test_the_judge_reads_the_timestamped_transcript_and_its_verdicts_reach_the_results(nine_calls):
    results, _, judge_server, _ = nine_calls
    assert len(judge_server.requests) == 9  # one request judges all of a call's criteria
    for headers, body in judge_server.requests:
        assert headers["authorization"] == f"Bearer {MODEL_KEY}"
        assert body["model"] == "judge-model"
        assert body["response_format"]["type"] == "json_schema"
        transcript = body["messages"][-1]["content"]
        assert re.search(r"\[00:00\.\d-00:0\d\.\d\] agent: ", transcript), transcript
    for r in results:
        expected = [("greets", True)]
        if r.test.scenario is GOODBYE:
            expected.append(("says-goodbye", False))
        assert [(v.name, v.passed) for v in r.evaluation_results] == expected
        assert all(v.reason for v in r.evaluation_results)
    assert not any(r.passed for r in by_name(results, GOODBYE))
    assert all(r.passed for r in by_name(results, BOOK))
    # run_tests' list says so too: the three goodbye calls fail, each with why.
    assert isinstance(results, TestResults) and isinstance(results, list) and len(results) == 9
    assert results.passed is False
    assert results.failures() == by_name(results, GOODBYE)
    summary = results.summary()
    assert summary.startswith("voice tests: 6 passed, 3 failed (9 calls)\n"), summary
    for persona in PERSONAS:
        assert (
            f"  failed: {GOODBYE.name} x {persona.name}\n"
            "    criterion says-goodbye failed: read the transcript\n"
            "    check must-say failed: the agent never said 'goodbye'\n"
        ) in summary, summary
    assert BOOK.name not in summary and HOURS.name not in summary
    with pytest.raises(AssertionError, match="voice tests did not pass:\nvoice tests: 6 passed"):
        results.assert_passed()
    # The checks' results travel with each call too.
    goodbye = by_name(results, GOODBYE)[0]
    assert {c.evaluator_id: c.verdict for c in goodbye.checks} == {
        "no-error": "passed",
        "must-say": "failed",
        "ended-by": "failed",
    }


def test_the_calls_are_stored_as_a_run_that_history_can_read(nine_calls, monkeypatch):
    _, suite, _, home = nine_calls
    monkeypatch.setenv("TRIALRUN_HOME", str(home))
    assert history.runs(suite="acme-voice").ids == suite.run_ids
    stored = history.run("latest", suite="acme-voice")
    hashes = sorted(case["hash"] for case in stored.cases)
    assert hashes == sorted(
        f"{s.name} x {p.name}" for s in (BOOK, HOURS, GOODBYE) for p in PERSONAS
    )
    book = next(case for case in stored.cases if case["hash"] == f"{BOOK.name} x alex")
    assert "Tuesday morning would be great." in json.dumps(book["output"])


async def test_a_language_model_can_play_the_caller(flawed_agent_url, tmp_path):
    """The persona's model gets the agent's words as user messages and its own as
    assistant messages, and hangs up with the end_call tool."""

    def persona_answer(body: dict) -> dict:
        said_before = [m for m in body["messages"] if m["role"] == "assistant"]
        if not said_before:
            return completion("Hello, I would like to book an appointment.")
        return completion(
            "Thanks, goodbye.", tool_calls=[("end_call", {"reason": "got what I wanted"})]
        )

    server = FakeChatServer(persona_answer)
    try:
        async with LoopbackCarrier(
            {AGENT_NUMBER: f"{flawed_agent_url}/voice"}, auth_token=TOKEN
        ) as carrier:
            runner = TestRunner(
                carrier=carrier,
                language_model=LanguageModel.openai("persona-model", base_url=server.url),
                recordings_dir=tmp_path,
                quiet=True,
            )
            runner.add_test(
                Test(
                    Scenario("llm", "You want an appointment."),
                    Agent("kim", "A nervous first-time patient."),
                )
            )
            (result,) = await asyncio.wait_for(runner.run_tests(AGENT_NUMBER), 120)
    finally:
        server.close()
    assert result.error is None, result.error
    assert [u.text for u in result.transcript if u.role == "caller"] == [
        "Hello, I would like to book an appointment.",
        "Thanks, goodbye.",
    ]
    assert (result.metrics.ended_by, result.metrics.end_reason) == (
        "caller",
        "the caller hung up: got what I wanted",
    )
    _, first = server.requests[0]
    assert first["model"] == "persona-model"
    system = first["messages"][0]
    assert (
        system["role"] == "system"
        and "kim" in system["content"]
        and "You want an appointment." in system["content"]
    )
    assert (
        first["messages"][-1]["role"] == "user"
        and "calling" in first["messages"][-1]["content"].lower()
    )
    assert {t["function"]["name"] for t in first["tools"]} == {"end_call", "press_keys"}
    _, second = server.requests[1]
    assert [m["role"] for m in second["messages"][1:]] == ["user", "assistant", "user"]
    assert second["messages"][2]["content"] == "Hello, I would like to book an appointment."


async def test_an_inbound_test_answers_the_agents_call(flawed_agent_url, tmp_path):
    """INBOUND: the agent calls the runner's number; the caller's side is the same."""
    async with LoopbackCarrier(
        {TRIALRUN_NUMBER: "http://127.0.0.1:9/unset"}, auth_token=TOKEN
    ) as carrier:
        runner = TestRunner(
            carrier=carrier,
            twilio_phone_number=TRIALRUN_NUMBER,
            recordings_dir=tmp_path,
            quiet=True,
        )
        runner.add_test(
            Test(
                Scenario(
                    "inbound",
                    "Press 1.",
                    script=[{"keys": "1"}, {"say": "Great, bye.", "hang_up": True}],
                ),
                Agent("lee", "A caller."),
            )
        )
        async with runner:
            await runner.listen()
            # fixa 0.0.1's argument order: run_tests(type, phone_number).
            task = asyncio.create_task(runner.run_tests(TestRunner.INBOUND, AGENT_NUMBER))
            await asyncio.sleep(0)  # run_tests expects the call before any await
            await carrier.client.create_call(
                to=TRIALRUN_NUMBER, from_=AGENT_NUMBER, url=f"{flawed_agent_url}/voice"
            )
            (result,) = await asyncio.wait_for(task, 120)
    assert result.error is None, result.error
    assert result.transcript[0].role == "agent" and "calling" in result.transcript[0].text.lower()
    assert result.metrics.dtmf_sent == "1" and result.metrics.ended_by == "caller"
    assert any(
        "pressed one" in u.text.lower() or "appointment" in u.text.lower()
        for u in result.transcript
        if u.role == "agent"
    )


class HeardParts:
    """Whisper, noting when it was given each piece of audio (Unix time) and how long it was."""

    def __init__(self) -> None:
        from trialrun.voice.offline import Whisper

        self.whisper = Whisper(prompt="Acme Dental")
        self.given: list[tuple[float, float]] = []

    def transcribe(self, pcm: bytes, rate: int, language: str | None = None) -> str:
        self.given.append((time.time(), len(pcm) / 2 / rate))
        return self.whisper.transcribe(pcm, rate, language)


@pytest.mark.parametrize("early_gap", [0.25, 0.4, None], ids=["short", "default", "off"])
async def test_the_agents_turn_is_recognised_from_its_pause_and_heard_whole(
    flawed_agent_url, tmp_path, early_gap
):
    """The greeting ("Thank you for calling Acme Dental. How can I help you today?", a
    300 ms pause between its sentences) goes to recognition 0.4 s into the silence after
    it, not once the 0.8 s turn gap has passed; an early gap shorter than the sentences'
    pause sends the first sentence too, in vain. The transcript is the greeting whole."""
    stt = HeardParts()
    async with LoopbackCarrier(
        {AGENT_NUMBER: f"{flawed_agent_url}/voice"}, auth_token=TOKEN
    ) as carrier:
        runner = TestRunner(
            carrier=carrier,
            speech_to_text=stt,
            recordings_dir=tmp_path,
            quiet=True,
            **({"early_gap": early_gap} if early_gap != 0.4 else {}),
        )
        script = [{"say": "Hello.", "hang_up": True}]
        runner.add_test(Test(Scenario("hello", "Say hello.", script=script), Agent("a", "b")))
        (result,) = await asyncio.wait_for(runner.run_tests(AGENT_NUMBER), 120)
    assert result.error is None, result.error
    (greeting,) = [u for u in result.transcript if u.role == "agent"]
    words = re.sub(r"[^a-z ]", "", greeting.text.lower()).split()
    assert words[:2] == ["thank", "you"], greeting
    # Its last word ("today") tiny.en hears variously ("convey", "can make").
    assert {"calling", "help"} <= set(words), greeting
    assert len(stt.given) == (2 if early_gap == 0.25 else 1), stt.given
    # The last piece is the whole greeting, given this long after its last word.
    at, seconds = stt.given[-1]
    assert greeting.end - greeting.start < seconds < greeting.end - greeting.start + 0.8
    after = at - result.started_at - greeting.end
    if early_gap is None:
        assert after >= 0.75, after
    else:
        assert early_gap - 0.05 <= after < 0.75, after
    if early_gap == 0.25:
        assert stt.given[0][1] < seconds / 2 + 0.5, stt.given  # the first sentence


@pytest.mark.parametrize("gap", [0, -1, 0.8, 2])
def test_an_early_gap_must_be_shorter_than_the_turn_gap(gap):
    with pytest.raises(
        ValueError,
        match=rf"early_gap must be None or positive seconds below turn_gap \(0.8\), not {gap}",
    ):
        TestRunner(early_gap=gap)


def test_bad_tests_are_refused_before_any_call_naming_the_test():
    carrier = LoopbackCarrier({})
    try:
        runner = TestRunner(carrier=carrier, quiet=True)
        runner.add_test(Test(Scenario("no-script", "x"), Agent("a", "y")))
        with pytest.raises(
            ValueError,
            match=r"test 0 \('no-script' x 'a'\): scenario.script is not set and the TestRunner has no language_model",
        ):
            asyncio.run(runner.run_tests("+15550100"))

        runner = TestRunner(carrier=carrier, quiet=True)
        runner.add_test(
            Test(Scenario("bad-keys", "x", script=["hi", {"keys": "1x"}]), Agent("a", "y"))
        )
        with pytest.raises(ValueError, match=r"lines\[1\]\.keys"):
            asyncio.run(runner.run_tests("+15550100"))

        runner = TestRunner(carrier=carrier, quiet=True)
        runner.add_test(
            Test(
                Scenario("judged", "x", evaluations=[Evaluation("e", "q")], script=["hi"]),
                Agent("a", "y"),
            )
        )
        with pytest.raises(ValueError, match=r"needs a judge"):
            asyncio.run(runner.run_tests("+15550100"))

        runner = TestRunner(carrier=carrier, quiet=True)
        runner.add_test(Test(Scenario("s", "x", script=["hi"]), Agent("a", "y")))
        runner.add_test(Test(Scenario("s", "x", script=["hello"]), Agent("a", "y")))
        with pytest.raises(ValueError, match=r"test 1 .* appear twice"):
            asyncio.run(runner.run_tests("+15550100"))
        assert carrier.active_calls() == 0

        with pytest.raises(TypeError, match="add_test takes a trialrun.voice.Test"):
            runner.add_test(Scenario("s", "x"))
        with pytest.raises(ValueError, match="type must be"):
            asyncio.run(runner.run_tests("+15550100", type="sideways"))
    finally:
        carrier.stop()


def test_without_a_carrier_or_twilio_credentials_the_runner_says_what_it_needs(monkeypatch):
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    runner = TestRunner(quiet=True)
    runner.add_test(Test(Scenario("s", "x", script=["hi"]), Agent("a", "y")))
    with pytest.raises(ValueError, match="TestRunner needs a carrier.*TWILIO_ACCOUNT_SID"):
        asyncio.run(runner.run_tests("+15550100"))


async def test_a_call_the_carrier_cannot_place_fails_that_test_with_the_reason(tmp_path):
    class Silent:
        """Never asked: no call gets far enough to speak or hear."""

        def transcribe(self, pcm, rate, language):
            raise AssertionError("not reached")

        def synthesize(self, text, voice):
            raise AssertionError("not reached")

    async with LoopbackCarrier({AGENT_NUMBER: "http://127.0.0.1:9/voice"}) as carrier:
        runner = TestRunner(
            carrier=carrier,
            speech_to_text=Silent(),
            text_to_speech=Silent(),
            recordings_dir=tmp_path,
            checks=[NoError()],
            quiet=True,
        )
        for name in ("a", "b"):
            runner.add_test(Test(Scenario(name, "x", script=["hi"]), Agent("p", "y")))
        results = await asyncio.wait_for(runner.run_tests("+15559999"), 60)
    assert len(results) == 2
    for result in results:
        assert result.error and "+15559999" in result.error, result.error
        assert not result.passed
        assert result.checks == []  # as in any suite, an errored case is not evaluated
    assert not results.passed
    summary = results.summary()
    assert summary.startswith(
        "voice tests: 0 passed, 2 errored (2 calls)\n  failed: a x p\n    error: "
    )
    assert "+15559999" in summary
    with pytest.raises(AssertionError, match="b x p"):
        results.assert_passed()


LOSSY = Scenario(
    "book-under-loss",
    "You book an appointment over a bad line.",
    script=[
        "Hi, I would like to book an appointment please.",
        "Tuesday morning would be great.",
        {"say": "Thank you, that is all. Bye.", "hang_up": True},
    ],
)


async def test_calls_under_five_percent_frame_loss_complete_and_report_what_was_lost(
    flawed_agent_url, tmp_path
):
    """Whole 20 ms frames are lost both ways, the same frames for the same seed; the call
    goes on and its result says what the network did."""
    faults = NetworkFaults(loss=0.05, seed=7)
    async with LoopbackCarrier(
        {AGENT_NUMBER: f"{flawed_agent_url}/voice"}, auth_token=TOKEN
    ) as carrier:
        runner = TestRunner(
            carrier=carrier,
            twilio_phone_number=TRIALRUN_NUMBER,
            silence_turn=3.0,
            recordings_dir=tmp_path,
            concurrency=3,
            quiet=True,
        )
        runner.add_test(Test(LOSSY, PERSONAS[0], faults=faults))
        runner.add_test(Test(LOSSY, PERSONAS[1], faults=faults))
        runner.add_test(Test(LOSSY, PERSONAS[2]))
        results = await asyncio.wait_for(runner.run_tests(AGENT_NUMBER), 180)
    lossy = results[:2]
    for result in results:
        assert result.error is None, result.error
        assert result.metrics.ended_by == "caller"
        # The agent answered each line it was told, lost frames and all.
        assert sum(u.role == "agent" for u in result.transcript) >= 3, result.transcript
    assert results[2].metrics.network_faults is None
    for result in lossy:
        report = result.metrics.network_faults
        for line in (report.to_agent, report.from_agent):
            assert line is not None
            assert line.frames > 250  # 5 s and more of call, at 50 frames a second
            assert 0.02 < line.dropped / line.frames < 0.09, line
            assert line.dropped == len(line.dropped_frames)
            assert all(0 <= i < line.frames for i in line.dropped_frames)
            assert line.duplicated == line.reordered == line.jittered == line.delay_ms == 0
        # Each way draws its own frames.
        assert report.to_agent.dropped_frames != report.from_agent.dropped_frames
    # The same seed lost the same frames on both calls, as far as the shorter call went.
    first, second = (r.metrics.network_faults for r in lossy)
    for a, b in ((first.to_agent, second.to_agent), (first.from_agent, second.from_agent)):
        upto = min(a.frames, b.frames)
        assert [i for i in a.dropped_frames if i < upto] == [
            i for i in b.dropped_frames if i < upto
        ]


def test_network_faults_are_checked_before_any_call():
    with pytest.raises(
        ValueError, match=r"NetworkFaults.loss must be a share of frames in \[0, 1\)"
    ):
        NetworkFaults(loss=1.5)
    with pytest.raises(ValueError, match="NetworkFaults.direction must be one of"):
        NetworkFaults(direction="sideways")
    with pytest.raises(ValueError, match="NetworkFaults.jitter_ms"):
        NetworkFaults(jitter_ms=-1)
    with pytest.raises(TypeError, match="LoopbackCarrier faults must be a NetworkFaults"):
        LoopbackCarrier({}, faults={"loss": 0.1})
    twilio = TwilioCarrier("AC" + "0" * 32, "token", api_base="http://127.0.0.1:9")
    server = CallServer(carrier=twilio, phone_number="+15550199")
    try:
        with pytest.raises(ValueError, match="place_call faults= needs the LoopbackCarrier"):
            asyncio.run(server.place_call("+15550100", faults=NetworkFaults(loss=0.1)))
        runner = TestRunner(carrier=twilio, quiet=True)
        runner.add_test(
            Test(Scenario("s", "x", script=["hi"]), Agent("a", "y"), faults=NetworkFaults())
        )
        with pytest.raises(ValueError, match=r"test 0 .*faults need the LoopbackCarrier"):
            asyncio.run(runner.run_tests("+15550100"))
    finally:
        server.stop()
    carrier = LoopbackCarrier({})
    try:
        runner = TestRunner(carrier=carrier, quiet=True)
        runner.add_test(
            Test(Scenario("s", "x", script=["hi"], faults=NetworkFaults(loss=0.1)), Agent("a", "y"))
        )
        with pytest.raises(
            ValueError, match=r"test 0 .*faults of a test apply to the calls it places"
        ):
            asyncio.run(runner.run_tests("+15550100", type=TestRunner.INBOUND))
        assert carrier.active_calls() == 0
    finally:
        carrier.stop()


async def one_call(carrier: LoopbackCarrier, scenario: Scenario, tmp_path):
    """One call of ``scenario`` through ``carrier`` (started and stopped here): the result
    and the carrier's log."""
    async with carrier:
        runner = TestRunner(
            carrier=carrier,
            twilio_phone_number=TRIALRUN_NUMBER,
            silence_turn=3.0,
            recordings_dir=tmp_path,
            quiet=True,
        )
        runner.add_test(Test(scenario, PERSONAS[0]))
        (result,) = await asyncio.wait_for(runner.run_tests(AGENT_NUMBER), 120)
        return result, carrier.log_lines()


BARGE_IN = Scenario(
    "caller-barges-in",
    "You cut the agent off while it answers.",
    script=[
        "Hi, I would like to book an appointment please.",
        {"say": "Sorry, Tuesday morning would be great.", "barge_in_ms": 800},
        {"say": "Thank you, that is all. Bye.", "hang_up": True},
    ],
)


async def test_a_caller_that_barges_in_stops_the_agent_and_the_interruption_is_recorded(
    flawed_agent_url, tmp_path
):
    """The caller speaks 800 ms into the agent's answer; the example agent hears it, clears
    its audio and stops, then answers what the caller said."""
    carrier = LoopbackCarrier({AGENT_NUMBER: f"{flawed_agent_url}/voice"}, auth_token=TOKEN)
    result, _log = await one_call(carrier, BARGE_IN, tmp_path)
    assert result.error is None, result.error
    assert result.metrics.ended_by == "caller"
    (interruption,) = result.metrics.interruptions
    assert interruption.by == "caller"
    over = next(u for u in result.transcript if u.role == "caller" and u.text.startswith("Sorry"))
    assert over.start == interruption.at and not over.cut_off
    # The agent's answer it spoke over: it had been speaking about 800 ms (as the caller's
    # ear timed it) and stopped within a second of being talked over (its full line is 4 s).
    answer = next(
        u for u in result.transcript if u.role == "agent" and u.start < over.start < u.end
    )
    assert 0.7 <= over.start - answer.start <= 1.2, (answer, over)
    assert answer.end - over.start < 1.0, (answer, over)
    assert interruption.overlap == pytest.approx(answer.end - over.start, abs=0.01)
    # Then it answered what the caller said over it.
    later = [u.text.lower() for u in result.transcript if u.role == "agent" and u.start > over.end]
    assert any("confirmed" in text for text in later), result.transcript


FRONT_DESK = "+15550123"
TO_THE_FRONT_DESK = Scenario(
    "front-desk",
    "You want to talk to a person: you press 9 for the front desk.",
    script=[{"keys": "9"}, "Hi Maria, I need to move my appointment.", "Thank you, bye."],
    checks=[
        MustSay("transfer your call"),
        TransferredTo(FRONT_DESK),
        MustSay("Maria", role="transferee"),
        DtmfHeard("9", role="caller"),
    ],
)


async def call_own_agent(
    carrier: LoopbackCarrier, scenario: Scenario, tmp_path, *flags: str, rest: bool, log=None
):
    """One call to an example agent started for it with ``flags`` (and, when ``rest``, the
    carrier's REST API in its environment); the result and the carrier's log."""
    env = {"TWILIO_ACCOUNT_SID": carrier.account_sid, "TWILIO_API_BASE": carrier.api_base}
    proc, url = start_agent(*flags, env=env if rest else None, log=log)
    try:
        carrier.set_number(AGENT_NUMBER, f"{url}/voice")
        return await one_call(carrier, scenario, tmp_path)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("how", ["rest-redirect", "stream-hand-off"])
async def test_the_example_agent_transfers_to_the_front_desk(how, tmp_path):
    """Key 9: with Twilio credentials the agent redirects its call to a <Dial> (REST, as
    Pipecat bots do); without, it closes its stream and its <Connect action> dials. Either
    way the front desk (a party trialrun plays) answers and talks with the caller."""
    carrier = LoopbackCarrier(
        auth_token=TOKEN,
        speech=Espeak(),
        dial_targets={FRONT_DESK: ["Front desk, this is Maria.", "Sure, all done. Goodbye."]},
    )
    agent_log = tmp_path / "agent.log"
    result, log = await call_own_agent(
        carrier,
        TO_THE_FRONT_DESK,
        tmp_path,
        "--front-desk",
        FRONT_DESK,
        rest=how == "rest-redirect",
        log=agent_log,
    )
    assert result.error is None, (result.error, log)
    print(result.transcript_text())  # shown when a test fails
    result.assert_passed()
    (transfer,) = result.transfers
    assert (transfer.target, transfer.status, transfer.via) == (FRONT_DESK, "completed", "dial")
    said = next(u for u in result.transcript if "transfer" in u.text.lower())
    assert said.role == "agent" and transfer.start >= said.end - 0.3, result.transcript_text()
    way = "by redirecting the call" if how == "rest-redirect" else "by closing the stream"
    assert f"transferring to {FRONT_DESK} {way}" in agent_log.read_text()


async def test_the_example_agent_hangs_up_through_the_rest_api(tmp_path):
    scenario = Scenario(
        "rest-goodbye",
        "You book a cleaning; the agent says goodbye and hangs up.",
        script=["Hello, I need a cleaning.", "Friday afternoon.", "No, that is all."],
        checks=[MustSay("goodbye"), EndedBy("agent")],
    )
    carrier = LoopbackCarrier(auth_token=TOKEN, speech=Espeak())
    result, _log = await call_own_agent(carrier, scenario, tmp_path, "--hang-up", "rest", rest=True)
    result.assert_passed()
    assert "REST API (Status=completed)" in result.metrics.end_reason, result.metrics
    goodbye = [u for u in result.transcript if u.role == "agent"][-1]
    assert 0 <= result.metrics.duration - goodbye.end < 1.0, (goodbye, result.metrics.duration)


def test_the_example_agent_refuses_a_rest_hang_up_without_credentials():
    proc = subprocess.run(
        [sys.executable, str(AGENT), "--port", "0", "--hang-up", "rest"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")},
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--hang-up rest needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" in proc.stderr
