"""Agents that transfer calls (TwiML ``<Dial>``): the loopback carrier rings the party,
which the test says how to answer (``LoopbackCarrier(dial_targets=...)``), connects it to
the simulated caller, requests the ``<Dial>``'s action with Twilio's parameters and runs
what it returns; the result lists the transfers and ``TransferredTo`` checks them."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from loopback_agent import StreamAgent, Webhooks
from test_loopback_call_control import agent_for
from trialrun.telephony import LoopbackCarrier
from trialrun.voice import Agent, Scenario, Test, TestRunner, Transfer
from trialrun.voice.evaluators import EndedBy, MustSay, TransferredTo
from trialrun.voice.results import CallMetrics, TestResult

pytestmark = pytest.mark.calls

AGENT_NUMBER = "+15550100"
LOUD = bytes([0x00, 0x80]) * 800  # 200 ms of a loud square wave in mu-law


class Hears:
    """Speech providers for a scripted caller: every stretch of far-end speech reads as
    "hello"; the caller's lines are half a second of tone."""

    def transcribe(self, pcm, rate, language):
        return "hello"

    def synthesize(self, text, voice):
        return bytes([0, 40]) * 4000, 8000


def tone_speech(text: str, voice: str | None, language: str | None) -> bytes:
    """The carrier's <Say> and the dialled parties' lines: 0.6 s of tone each."""
    return bytes([0, 40]) * 4800


def runner_for(carrier: LoopbackCarrier, tmp_path, script: list, **scenario) -> TestRunner:
    runner = TestRunner(
        carrier=carrier,
        speech_to_text=Hears(),
        text_to_speech=Hears(),
        recordings_dir=tmp_path,
        quiet=True,
        silence_turn=30.0,
        turn_gap=0.8,
    )
    runner.add_test(
        Test(
            Scenario("transfer", "x", script=script, max_duration=40, **scenario),
            Agent("caller", "A caller."),
        )
    )
    return runner


async def one_call(runner: TestRunner, limit: float = 60.0):
    (result,) = await asyncio.wait_for(runner.run_tests(AGENT_NUMBER), limit)
    return result


def score(check, result) -> tuple[float, str]:
    evaluation = check.evaluate_test_case(None, result)
    return evaluation.score, evaluation.metadata["reason"]


async def test_an_agent_answering_with_dial_connects_the_caller_to_the_party(tmp_path):
    """Offline speech end to end: the party's lines are spoken with espeak-ng, the caller
    hears and transcribes them (faster-whisper) under the role "transferee"; with no
    action and no verb after the <Dial>, the call ends when the party hangs up."""
    pytest.importorskip("espeakng_loader")
    pytest.importorskip("faster_whisper")
    app = Webhooks({"/voice": "<Response><Dial>+1 (555) 012-3</Dial></Response>"})
    party = [
        "Hello, my name is Sarah. How can I help you today?",
        "Your money will arrive on Monday. Goodbye.",
    ]
    try:
        carrier = LoopbackCarrier(
            {AGENT_NUMBER: f"{app.url}/voice"}, dial_targets={"+15550123": party}
        )
        async with carrier:
            runner = TestRunner(carrier=carrier, recordings_dir=tmp_path, quiet=True)
            runner.add_test(
                Test(
                    Scenario(
                        "billing",
                        "x",
                        script=["I have a question about my bill.", "Thank you."],
                        max_duration=40,
                    ),
                    Agent("caller", "A caller."),
                )
            )
            result = await one_call(runner, 90)
            log = carrier.log_lines()
    finally:
        app.close()
    assert result.error is None, (result.error, log)
    (transfer,) = result.transfers
    assert (transfer.target, transfer.kind, transfer.status) == ("+15550123", "number", "completed")
    assert transfer.answered_at is not None and transfer.answered_at >= transfer.start + 0.9
    assert transfer.duration is not None and transfer.duration > 2.0
    heard = result.said("transferee").lower()
    assert "help" in heard and "monday" in heard, result.transcript_text()
    assert result.said("agent") == "", result.transcript_text()  # the agent never spoke
    assert score(TransferredTo("+1 555-0123"), result) == (
        1.0,
        "the call was transferred to +15550123 (completed)",
    )
    assert score(MustSay("Monday", role="transferee"), result)[0] == 1.0
    assert score(EndedBy("agent"), result)[0] == 1.0
    assert "transfer to +15550123 (number): completed, connected" in result.transcript_text()
    assert any("<Dial> +15550123 (number): completed" in line for line in log), log


async def test_a_rest_redirect_mid_call_transfers_to_a_sip_party_and_runs_the_action(tmp_path):
    """As Pipecat bots transfer: the agent redirects its own call (REST, Twiml=) to a
    <Dial>; its stream is stopped, the SIP party answers and talks with the caller, and
    the action URL gets Twilio's Dial parameters; its TwiML runs after."""

    async def transfer(agent: StreamAgent, socket) -> None:
        await asyncio.sleep(1.0)  # the caller's end connects after the agent's
        await agent.say(socket, LOUD * 3)
        await asyncio.sleep(1.5)
        dial = (
            f'<Response><Dial action="{agent.url}/after" timeout="5">'
            "<Sip>sip:billing@example.com</Sip></Dial></Response>"
        )
        await agent.rest_call("POST", {"Twiml": dial})

    answers = {
        "/voice": '<Response><Connect><Stream url="{ws}"/></Connect><Pause length="30"/></Response>',
        "/after": "<Response><Say>Back with the assistant.</Say><Hangup/></Response>",
    }
    carrier = LoopbackCarrier(
        speech=tone_speech,
        dial_targets={"sip:billing@example.com": ["Billing here.", "Sorted, bye."]},
    )
    async with carrier:
        agent = StreamAgent(
            answers,
            api_base=carrier.api_base,
            account_sid=carrier.account_sid,
            auth_token=carrier.auth_token,
            on_start=transfer,
        )
        async with agent:
            carrier.set_number(AGENT_NUMBER, f"{agent.url}/voice")
            result = await one_call(runner_for(carrier, tmp_path, ["Hi.", "I see.", "Thanks."]))
            log = carrier.log_lines()
    assert result.error is None, (result.error, log)
    assert [m["event"] for m in agent.messages][-1] == "stop"  # the agent's stream ended
    (transfer,) = result.transfers
    assert (transfer.target, transfer.kind, transfer.status) == (
        "sip:billing@example.com",
        "sip",
        "completed",
    )
    [(path, form, signature)] = [r for r in agent.webhooks if r[0] == "/after"]
    assert signature  # signed, as every webhook
    assert form["CallSid"] == agent.call_sid() and form["CallStatus"] == "in-progress"
    assert form["DialCallStatus"] == "completed" and form["DialBridged"] == "true"
    assert re.fullmatch(r"CA[0-9a-f]{32}", form["DialCallSid"]), form
    assert form["DialCallSid"] == transfer.call_sid
    assert abs(int(form["DialCallDuration"]) - transfer.duration) <= 1, (form, transfer)
    roles = [u.role for u in result.transcript]
    # The agent spoke, then the party (two lines), then the agent's action TwiML.
    far = [r for r in roles if r != "caller"]
    assert far[0] == "agent" and far.count("transferee") >= 2 and far[-1] == "agent", (
        result.transcript_text()
    )
    last_party = max(u.end for u in result.transcript if u.role == "transferee")
    after = [u for u in result.transcript if u.role == "agent" and u.start > last_party]
    assert after, result.transcript_text()  # the action's <Say> was heard after the party
    assert score(EndedBy("agent"), result)[0] == 1.0
    assert score(TransferredTo("sip:billing@example.com"), result)[0] == 1.0


async def test_no_answer_rings_for_the_timeout_then_the_action_says_so(tmp_path):
    calls: list[float] = []
    app = Webhooks(
        {
            "/voice": '<Response><Dial action="/after" timeout="3"><Number>+15550124</Number></Dial></Response>',
            "/after": "<Response><Say>Nobody is free, goodbye.</Say><Hangup/></Response>",
        },
        on_post=lambda path, form: calls.append(time.monotonic()),
    )
    try:
        carrier = LoopbackCarrier(
            {AGENT_NUMBER: f"{app.url}/voice"},
            speech=tone_speech,
            dial_targets={"+15550124": "no-answer"},
        )
        async with carrier:
            result = await one_call(runner_for(carrier, tmp_path, []))
    finally:
        app.close()
    assert result.error is None, result.error
    [(_, voice, _), (_, after, _)] = app.requests
    assert calls[1] - calls[0] >= 3.0, calls  # it rang for the whole timeout
    assert after["DialCallStatus"] == "no-answer" and after["DialBridged"] == "false"
    assert "DialCallDuration" not in after and after["DialCallSid"].startswith("CA")
    (transfer,) = result.transfers
    assert (transfer.status, transfer.answered_at, transfer.duration) == ("no-answer", None, None)
    # The action's <Say> was carried out after the ringing, and its <Hangup> ended the call.
    said = [u for u in result.transcript if u.role == "agent"]
    assert said and said[0].start >= transfer.start + 3.0, result.transcript_text()
    assert not any(u.role == "transferee" for u in result.transcript)
    assert result.metrics.ended_by == "agent" and "<Hangup>" in result.metrics.end_reason
    assert score(TransferredTo("+15550124", status="no-answer"), result)[0] == 1.0
    assert score(TransferredTo("+15550124"), result) == (
        0.0,
        "the transfer to +15550124 ended no-answer, not completed",
    )


async def test_a_busy_client_without_action_goes_on_to_the_next_verb(tmp_path):
    app = Webhooks(
        {
            "/voice": "<Response><Dial><Client><Identity>alice</Identity></Client></Dial>"
            "<Say>Alice is on another call.</Say></Response>",
        }
    )
    try:
        carrier = LoopbackCarrier(
            {AGENT_NUMBER: f"{app.url}/voice"},
            speech=tone_speech,
            dial_targets={"client:alice": "busy"},
        )
        async with carrier:
            began = time.monotonic()
            result = await one_call(runner_for(carrier, tmp_path, []))
            took = time.monotonic() - began
    finally:
        app.close()
    assert result.error is None, result.error
    (transfer,) = result.transfers
    assert (transfer.target, transfer.kind, transfer.status) == ("client:alice", "client", "busy")
    assert [path for path, _, _ in app.requests] == ["/voice"]  # no action to request
    said = [u for u in result.transcript if u.role == "agent"]
    assert said and said[0].start > transfer.start, result.transcript_text()  # the <Say> after
    assert result.metrics.ended_by == "agent"  # its TwiML ended
    assert took < 20, took
    assert score(TransferredTo("client:alice", "busy"), result)[0] == 1.0


async def test_a_party_nobody_said_how_to_answer_fails_the_call_naming_it(tmp_path):
    app = Webhooks(
        {
            "/voice": '<Response><Dial action="/after">+15550999</Dial></Response>',
            "/after": "<Response><Hangup/></Response>",
        }
    )
    try:
        carrier = LoopbackCarrier(
            {AGENT_NUMBER: f"{app.url}/voice"}, dial_targets={"+15550123": "busy"}
        )
        async with carrier:
            result = await one_call(runner_for(carrier, tmp_path, []))
            log = carrier.log_lines()
    finally:
        app.close()
    (transfer,) = result.transfers
    assert transfer.status == "failed"
    assert "no dial target" in transfer.reason and "+15550123" in transfer.reason
    assert result.error is not None and "<Dial> +15550999" in result.error, result.error
    assert "dial_targets" in result.error
    assert any("no dial target" in line for line in log), log
    assert app.requests[-1][1]["DialCallStatus"] == "failed"  # the agent is told, as on Twilio
    assert not result.passed


@pytest.mark.parametrize(
    ("dial", "message"),
    [
        (
            "<Dial>\n<Number>+15550123</Number>\n<Number>+15550124</Number>\n</Dial>",
            "TwiML line 4: <Dial> holds 2 nouns: dialling several parties at once",
        ),
        ('<Dial hangupOnStar="true">+15550123</Dial>', "TwiML line 2: <Dial hangupOnStar"),
        ("<Dial>\n<Sip>billing@example.com</Sip></Dial>", "TwiML line 3: <Sip> needs a sip: URI"),
    ],
)
async def test_a_dial_the_carrier_cannot_run_is_the_calls_error_naming_the_line(
    dial, message, tmp_path
):
    app = Webhooks({"/voice": f"<Response>\n{dial}</Response>"})
    try:
        carrier = LoopbackCarrier(
            {AGENT_NUMBER: f"{app.url}/voice"}, dial_targets={"+15550123": "busy"}
        )
        async with carrier:
            result = await one_call(runner_for(carrier, tmp_path, []))
    finally:
        app.close()
    assert result.error is not None and message in result.error, result.error
    assert result.transfers == []


def test_dial_targets_are_checked_before_any_call():
    with pytest.raises(ValueError, match=r"dial target \+15550123: 'engaged' is not an answer"):
        LoopbackCarrier({}, dial_targets={"+15550123": "engaged"})
    with pytest.raises(ValueError, match="is not a phone number, a sip: URI or client:<identity>"):
        LoopbackCarrier({}, dial_targets={"billing": "busy"})
    with pytest.raises(TypeError, match=r"dial target \+1: the answer must be"):
        LoopbackCarrier({}, dial_targets={"+1": 5})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="give at least one line to say"):
        LoopbackCarrier({}, dial_targets={"+1": []})
    with pytest.raises(ValueError, match="given twice"):
        LoopbackCarrier({}, dial_targets={"+1 555": "busy", "+1555": "no-answer"})


def result_with(*transfers: Transfer) -> TestResult:
    metrics = CallMetrics(
        duration=10.0,
        time_to_first_word=0.5,
        response_latencies=[],
        latency_p50=None,
        latency_p95=None,
        interruptions=[],
        silences=[],
        ended_by="agent",
        end_reason="the agent hung up",
        dtmf_sent="",
        dtmf_heard="",
        turns=0,
    )
    return TestResult(test=None, transcript=[], metrics=metrics, transfers=list(transfers))


def test_transferred_to_fails_naming_what_happened_instead():
    check = TransferredTo("+1 (555) 012-3")
    assert score(check, result_with()) == (
        0.0,
        "the call was not transferred; expected a transfer to +15550123",
    )
    elsewhere = Transfer("sip:sales@example.com", "sip", "completed", 2.0, 3.0, 4.0)
    assert score(check, result_with(elsewhere)) == (
        0.0,
        "the call was transferred to sip:sales@example.com (completed), not to +15550123",
    )
    busy = Transfer("+15550123", "number", "busy", 2.0)
    retried = Transfer("+15550123", "number", "completed", 5.0, 6.0, 8.0)
    assert score(check, result_with(busy)) == (
        0.0,
        "the transfer to +15550123 ended busy, not completed",
    )
    assert score(check, result_with(busy, retried))[0] == 1.0  # a later try connected
    no_metrics = TestResult(test=None, transcript=[], metrics=None, error="boom")
    assert score(check, no_metrics)[0] == 0.0
    with pytest.raises(ValueError, match="target must be a phone number"):
        TransferredTo("billing")
    with pytest.raises(ValueError, match="status must be one of"):
        TransferredTo("+1", status="answered")


async def test_a_redirect_while_the_dial_rings_cancels_it(tmp_path):
    """Twilio's "modify a live call" during a <Dial>: the dial ends canceled, its action is
    not requested, and the new TwiML runs."""

    async def transfer_then_think_again(agent: StreamAgent, socket) -> None:
        await asyncio.sleep(1.0)
        dial = (
            f'<Response><Dial action="{agent.url}/after" timeout="20">+15550124</Dial></Response>'
        )
        await agent.rest_call("POST", {"Twiml": dial})
        await asyncio.sleep(1.5)
        await agent.rest_call("POST", {"Twiml": "<Response><Say>Sorry.</Say><Hangup/></Response>"})

    answers = {
        "/voice": '<Response><Connect><Stream url="{ws}"/></Connect><Pause length="30"/></Response>',
        "/after": "<Response><Hangup/></Response>",
    }
    carrier = LoopbackCarrier(speech=tone_speech, dial_targets={"+15550124": "no-answer"})
    async with carrier:
        agent = StreamAgent(
            answers,
            api_base=carrier.api_base,
            account_sid=carrier.account_sid,
            auth_token=carrier.auth_token,
            on_start=transfer_then_think_again,
        )
        async with agent:
            carrier.set_number(AGENT_NUMBER, f"{agent.url}/voice")
            began = time.monotonic()
            result = await one_call(runner_for(carrier, tmp_path, []))
            took = time.monotonic() - began
    assert result.error is None, result.error
    (transfer,) = result.transfers
    assert (transfer.status, transfer.answered_at) == ("canceled", None)
    assert [s for _, s, _ in agent.rest] == [200, 200], agent.rest
    assert "/after" not in [path for path, _, _ in agent.webhooks]
    assert took < 15, took  # not the 20 s of ringing
    assert score(TransferredTo("+15550124", "canceled"), result)[0] == 1.0


async def test_time_limit_cuts_the_connected_party_off(tmp_path):
    app = Webhooks(
        {
            "/voice": '<Response><Dial timeLimit="2" action="/after">+15550123</Dial></Response>',
            "/after": "<Response><Hangup/></Response>",
        }
    )
    try:
        carrier = LoopbackCarrier(
            {AGENT_NUMBER: f"{app.url}/voice"},
            speech=tone_speech,
            dial_targets={"+15550123": [f"Line {n}." for n in range(10)]},
        )
        async with carrier:
            result = await one_call(runner_for(carrier, tmp_path, ["Okay."] * 10))
    finally:
        app.close()
    assert result.error is None, result.error
    (transfer,) = result.transfers
    assert transfer.status == "completed", (
        result.metrics.end_reason,
        [p for p, _, _ in app.requests],
        result.transcript_text(),
    )
    assert 1.8 <= transfer.duration <= 3.0, transfer
    assert app.requests[-1][1]["DialCallDuration"] == "2"


async def test_a_caller_hanging_up_on_the_party_leaves_the_transfer_completed(tmp_path):
    """As Twilio reports it: the party answered and was connected until the call ended."""
    app = Webhooks({"/voice": "<Response><Dial>+15550123</Dial></Response>"})
    try:
        carrier = LoopbackCarrier(
            {AGENT_NUMBER: f"{app.url}/voice"},
            speech=tone_speech,
            dial_targets={"+15550123": ["Hello.", "Still there?"]},
        )
        async with carrier:
            # An empty script: the caller hangs up once it has heard the party's first line.
            result = await one_call(runner_for(carrier, tmp_path, []))
    finally:
        app.close()
    assert result.error is None, result.error
    assert result.metrics.ended_by == "caller", result.metrics
    (transfer,) = result.transfers
    assert transfer.status == "completed" and transfer.duration is not None, transfer
    assert [u.role for u in result.transcript] == ["transferee"], result.transcript_text()
    assert score(TransferredTo("+15550123"), result)[0] == 1.0


async def test_an_agent_hands_off_by_closing_its_stream_and_connects_action_dials(tmp_path):
    """Twilio's <Connect action>: when the agent closes its stream, the carrier asks the
    action URL what follows (the verbs after <Connect> are not run) and runs it: here a
    <Dial> to the front desk."""

    async def hand_off(agent: StreamAgent, socket) -> None:
        await asyncio.sleep(1.0)
        await agent.say(socket, LOUD * 3)
        await asyncio.sleep(1.2)
        await socket.close()

    answers = {
        "/voice": '<Response><Connect action="/handoff"><Stream url="{ws}"/></Connect>'
        "<Say>Never said.</Say></Response>",
        "/handoff": "<Response><Dial>+15550123</Dial></Response>",
    }
    carrier = LoopbackCarrier(speech=tone_speech, dial_targets={"+15550123": ["Front desk."]})
    async with carrier:
        async with agent_for(carrier, answers, on_start=hand_off) as agent:
            carrier.set_number(AGENT_NUMBER, f"{agent.url}/voice")
            result = await one_call(runner_for(carrier, tmp_path, ["Hi.", "Thanks."]))
            log = carrier.log_lines()
    assert result.error is None, (result.error, log)
    [(_path, form, signature)] = [r for r in agent.webhooks if r[0] == "/handoff"]
    assert signature and form["CallSid"] == agent.call_sid(), form
    (transfer,) = result.transfers
    assert (transfer.target, transfer.status) == ("+15550123", "completed"), transfer
    first_agent = next(u for u in result.transcript if u.role == "agent")
    assert transfer.start > first_agent.end, (transfer, result.transcript_text())
    # the party spoke, and nothing of the agent's after it: "Never said." was not run
    party = [u for u in result.transcript if u.role == "transferee"]
    assert party, result.transcript_text()
    assert not [u for u in result.transcript if u.role == "agent" and u.start > party[0].start]
    assert score(TransferredTo("+15550123"), result)[0] == 1.0
