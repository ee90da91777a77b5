"""What an agent's model told it to do, per call: the agent's model traffic goes to
trialrun's scripted OpenAI-compatible server, which tags each request with the call it
belongs to; `TestRunner(model_server=...)` puts the tool calls on `TestResult.tool_calls`
and `ToolCalled` asserts them. Realtime call control (a SIP agent's accept / refer /
hangup) is answered and kept, and a call's refers are its transfers (issue 16)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest

from loopback_agent import StreamAgent
from test_loopback_call_control import AGENT_NUMBER, LOUD, agent_for, runner_for
from trialrun.openai_server import OpenAIServer
from trialrun.telephony import LoopbackCarrier
from trialrun.voice import Scenario, TestResult
from trialrun.voice.evaluators import ToolCalled, TransferredTo
from trialrun.voice.results import ToolCall

pytestmark = pytest.mark.calls

TWIML = '<Response><Connect><Stream url="{ws}"/></Connect><Pause length="20"/></Response>'


def post(url: str, body: dict, headers: dict | None = None) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        text = response.read()
    return json.loads(text) if text else {}


def ask_model(base: str, tag: str | None) -> dict:
    """What an agent does on each turn: a chat completion, with its call's sid in the base
    URL when it tags its traffic."""
    url = f"{base}/calls/{tag}/v1/chat/completions" if tag else f"{base}/v1/chat/completions"
    return post(url, {"model": "agent-model", "messages": [{"role": "user", "content": "hi"}]})


def model_agent(
    server: OpenAIServer,
    carrier: LoopbackCarrier,
    *,
    tags: bool,
    pause: float = 0.0,
    answer_after: float = 0.0,
) -> StreamAgent:
    """An agent taking two turns, each a model request and then its words (``pause``
    seconds of them played before it goes on); its webhook answers after ``answer_after``
    seconds."""
    base = server.url.removesuffix("/v1")

    async def converse(agent: StreamAgent, socket) -> None:
        tag = agent.call_sid() if tags else None
        for _ in range(2):  # two turns, each one model request
            await asyncio.to_thread(ask_model, base, tag)
            await agent.say(socket, LOUD)
            await asyncio.sleep(pause)
        await asyncio.sleep(0.3)
        await agent.rest_call("POST", {"Status": "completed"})

    return agent_for(
        carrier,
        {"/voice": TWIML},
        on_start=converse,
        on_webhook=lambda _path, _form: time.sleep(answer_after),
    )


async def call_agent(tmp_path, server: OpenAIServer, make_agent) -> tuple[TestResult, StreamAgent]:
    """One call to the agent ``make_agent(carrier)`` makes, with ``server`` as the runner's
    model server."""
    async with LoopbackCarrier({}) as carrier:
        async with make_agent(carrier) as agent:
            carrier.set_number(AGENT_NUMBER, f"{agent.url}/voice")
            runner = runner_for(
                carrier, tmp_path, Scenario("call", "x", script=[], max_duration=15)
            )
            runner.model_server = server
            (result,) = await asyncio.wait_for(runner.run_tests(AGENT_NUMBER), 30)
    assert result.error is None, result.error
    return result, agent


async def run_one(tmp_path, server: OpenAIServer, *, tags: bool, **behaviour: float) -> TestResult:
    result, _agent = await call_agent(
        tmp_path, server, lambda carrier: model_agent(server, carrier, tags=tags, **behaviour)
    )
    return result


async def test_the_tool_calls_of_the_agents_model_are_on_the_result_and_asserted(tmp_path):
    with OpenAIServer() as server:
        server.reply(tool_calls=[("find_slots", {"day": "Tuesday"})])
        server.reply(tool_calls=[("book", {"day": "Tuesday", "time": "10:00"})])
        server.reply("unrelated, made outside any call")
        result = await run_one(tmp_path, server, tags=True)
        ask_model(server.url.removesuffix("/v1"), None)  # not the call's: not on its result
    assert [(c.name, c.arguments) for c in result.tool_calls] == [
        ("find_slots", {"day": "Tuesday"}),
        ("book", {"day": "Tuesday", "time": "10:00"}),
    ]
    assert all(isinstance(c, ToolCall) and 0 <= c.at < 15 for c in result.tool_calls)
    assert {e.call for e in server.exchanges} == {result.agent_call_sid, None}

    def verdict(check: ToolCalled) -> tuple[float, str]:
        e = check.evaluate_test_case(None, result)
        return e.score, e.metadata["reason"]

    assert verdict(ToolCalled("book"))[0] == 1
    assert verdict(ToolCalled("book", {"day": "Tuesday"}))[0] == 1
    score, reason = verdict(ToolCalled("book", {"day": "Friday"}))
    assert score == 0 and 'its arguments were: {"day": "Tuesday", "time": "10:00"}' in reason
    score, reason = verdict(ToolCalled("cancel"))
    assert score == 0 and reason == "the agent did not call cancel; it called book, find_slots"
    assert verdict(ToolCalled("find_slots", times=2))[0] == 0
    with pytest.raises(ValueError, match="times must be"):
        ToolCalled("book", times=0)


async def test_an_agent_that_tags_nothing_has_the_calls_made_while_its_call_was_up(tmp_path):
    with OpenAIServer() as server:
        server.reply(tool_calls=[("lookup_order", {"order": 42})])
        server.reply("Your order ships tomorrow.")
        result = await run_one(tmp_path, server, tags=False)
    assert [c.name for c in result.tool_calls] == ["lookup_order"]
    no_calls = TestResult(test=result.test, transcript=[], metrics=result.metrics)
    e = ToolCalled("lookup_order").evaluate_test_case(None, no_calls)
    assert e.score == 0 and "made no tool call" in e.metadata["reason"]


def test_realtime_call_control_is_answered_and_kept():
    """An agent on OpenAI's Realtime SIP calls accepts, transfers (SIP REFER) and hangs up
    through the REST API; the scripted server answers as OpenAI does and keeps each one."""
    with OpenAIServer() as server:
        calls = f"{server.url}/realtime/calls/rtc_123"
        post(f"{calls}/accept", {"type": "realtime", "model": "gpt-realtime"})
        post(f"{calls}/refer", {"target_uri": "tel:+15550123"})
        post(f"{calls}/hangup", {})
        kept = [(c.call_id, c.action, c.body) for c in server.call_control]
    assert kept == [
        ("rtc_123", "accept", {"type": "realtime", "model": "gpt-realtime"}),
        ("rtc_123", "refer", {"target_uri": "tel:+15550123"}),
        ("rtc_123", "hangup", {}),
    ]
    assert server.other_requests == []


async def test_calls_are_never_replayed_from_the_store(tmp_path, monkeypatch):
    """TRIALRUN_CACHE / TRIALRUN_RESUME (trialrun run --cache / --resume) are for suites:
    a call's result is not kept whole in the store, so a voice test always calls."""
    monkeypatch.setenv("TRIALRUN_CACHE", "1")
    monkeypatch.setenv("TRIALRUN_RESUME", "1")
    with OpenAIServer() as server:
        for _ in range(4):
            server.reply(tool_calls=[("greet", {})])
        first = await run_one(tmp_path, server, tags=True)
        second = await run_one(tmp_path, server, tags=True)
    assert len(server.exchanges) == 4  # two model requests per call, both calls made
    assert first.agent_call_sid != second.agent_call_sid
    assert [c.name for c in second.tool_calls] == ["greet", "greet"]


def refer_agent(server: OpenAIServer, carrier: LoopbackCarrier, target: str, *, tags: bool):
    """An agent that speaks, then transfers its caller by a Realtime refer (as a SIP agent's
    ``request_transfer`` tool does), speaks again and hangs up."""
    base = server.url.removesuffix("/v1")

    async def converse(agent: StreamAgent, socket) -> None:
        prefix = f"{base}/calls/{agent.call_sid()}" if tags else base
        await asyncio.sleep(1.0)  # the caller's end connects after the agent's
        await agent.say(socket, LOUD)
        # After its words have played (the caller's clock is not the agent's: on a loaded
        # machine, words sent at once may reach the caller later than a sleep suggests).
        await agent.played(socket, "greeting")
        await asyncio.sleep(0.3)
        try:
            await asyncio.to_thread(
                post, f"{prefix}/v1/realtime/calls/rtc_7/refer", {"target_uri": target}
            )
        except urllib.error.HTTPError as e:
            agent.refused = e.code  # what a real agent would tell its caller
        await agent.say(socket, LOUD)
        await asyncio.sleep(0.5)
        await agent.rest_call("POST", {"Status": "completed"})

    return agent_for(carrier, {"/voice": TWIML}, on_start=converse)


async def run_refer(tmp_path, server: OpenAIServer, target: str, *, tags: bool = True):
    return await call_agent(
        tmp_path, server, lambda carrier: refer_agent(server, carrier, target, tags=tags)
    )


def verdict(check, result: TestResult) -> tuple[float, str]:
    e = check.evaluate_test_case(None, result)
    return e.score, e.metadata["reason"]


@pytest.mark.parametrize("tags", [True, False], ids=["tagged", "untagged"])
async def test_a_realtime_refer_is_the_calls_transfer(tmp_path, tags):
    with OpenAIServer() as server:
        result, _agent = await run_refer(tmp_path, server, "tel:+1 555-0123", tags=tags)
        (control,) = server.call_control
    assert control.call == (result.agent_call_sid if tags else None)
    (transfer,) = result.transfers
    assert (transfer.via, transfer.kind, transfer.target, transfer.status) == (
        "refer",
        "number",
        "+15550123",
        "accepted",
    )
    # On the transcript's clock: after the agent's first words, before the call's end.
    first = next(u for u in result.transcript if u.role == "agent")
    assert first.start < transfer.start < result.metrics.duration, (first, transfer)
    assert "transfer to +15550123 (number, refer): accepted" in result.transcript_text()
    assert verdict(TransferredTo("+15550123"), result) == (
        1.0,
        "the call was transferred to +15550123 (accepted)",
    )
    assert verdict(TransferredTo("tel:+15550123"), result)[0] == 1
    assert verdict(TransferredTo("+15550123", "completed"), result) == (
        0.0,
        "the transfer to +15550123 ended accepted, not completed",
    )
    assert verdict(TransferredTo("sip:desk@example.com"), result) == (
        0.0,
        "the call was transferred to +15550123 (accepted), not to sip:desk@example.com",
    )


async def test_a_refer_the_api_refuses_is_a_failed_transfer(tmp_path):
    with OpenAIServer() as server:
        server.fail_call_control("refer", 409, "the call is not bridged")
        result, agent = await run_refer(tmp_path, server, "sip:desk@example.com")
        (control,) = server.call_control
    assert agent.refused == 409 and control.status == 409
    (transfer,) = result.transfers
    assert (transfer.kind, transfer.target, transfer.status) == (
        "sip",
        "sip:desk@example.com",
        "failed",
    )
    assert transfer.reason == "the Realtime API answered HTTP 409"
    assert verdict(TransferredTo("sip:desk@example.com"), result) == (
        0.0,
        "the transfer to sip:desk@example.com ended failed, not accepted",
    )
    assert verdict(TransferredTo("sip:desk@example.com", "failed"), result)[0] == 1
    with pytest.raises(ValueError, match="action must be one of"):
        server.fail_call_control("transfer")
    with pytest.raises(ValueError, match="target must be a phone number, a tel: or sip: URI"):
        TransferredTo("desk")


async def test_tool_calls_are_timed_on_the_transcripts_clock(tmp_path):
    """From the stream's start, as the transcript: an agent whose webhook took a second to
    answer made its first request at once (not a second into the call)."""
    with OpenAIServer() as server:
        server.reply(tool_calls=[("find_slots", {})])
        server.reply(tool_calls=[("book", {})])
        placed = time.time()
        result = await run_one(tmp_path, server, tags=True, pause=0.6, answer_after=1.0)
    find, book = result.tool_calls
    assert result.started_at is not None and result.started_at >= placed + 1.0
    assert find.at < 0.3 and 0.5 < book.at - find.at < 1.0, result.tool_calls
    assert book.at < result.metrics.duration
