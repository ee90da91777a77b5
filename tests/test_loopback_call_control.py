"""What an agent does to a live call through the loopback carrier's REST API, with its own
CallSid, as Pipecat bots and others do: fetch it, hang it up, redirect it to new TwiML; and
what the test's result then says."""

from __future__ import annotations

import asyncio
import time

from loopback_agent import StreamAgent
from trialrun.telephony import CallServer, LoopbackCarrier

AGENT_NUMBER = "+15550100"
TRIALRUN_NUMBER = "+15550199"
LOUD = bytes([0x00, 0x80]) * 800  # 200 ms of a loud square wave in mu-law


async def rest_of(call, limit_s: float = 20.0) -> list:
    async def collect() -> list:
        return [event async for event in call]

    return await asyncio.wait_for(collect(), limit_s)


def agent_for(carrier: LoopbackCarrier, answers: dict[str, str], **kwargs) -> StreamAgent:
    return StreamAgent(
        answers,
        api_base=carrier.api_base,
        account_sid=carrier.account_sid,
        auth_token=carrier.auth_token,
        **kwargs,
    )


async def test_the_agent_fetches_and_hangs_up_its_own_call_by_the_sid_it_was_given():
    """Defect 1: the CallSid in the agent's webhook and stream `start` is a call the REST API
    knows (it answered 20404 and the agent's hang-up did nothing: the call ran on through
    the <Pause> after the stream)."""
    live: dict = {}

    async def fetch_then_hang_up(agent: StreamAgent, socket) -> None:
        await agent.say(socket, LOUD)
        live.update(await agent.rest_call("GET"))
        await agent.rest_call("POST", {"Status": "completed"})

    async with LoopbackCarrier({}) as carrier:
        twiml = '<Response><Connect><Stream url="{ws}"/></Connect><Pause length="12"/></Response>'
        async with agent_for(carrier, {"/voice": twiml}, on_start=fetch_then_hang_up) as agent:
            carrier.set_number(AGENT_NUMBER, f"{agent.url}/voice")
            async with CallServer(carrier=carrier, phone_number=TRIALRUN_NUMBER) as server:
                began = time.monotonic()
                call = await server.place_call(AGENT_NUMBER)
                events = await rest_of(call)
                took = time.monotonic() - began
            ended = await agent.rest_call("GET")
    sid = agent.call_sid()
    assert agent.webhooks[0][1]["CallSid"] == sid  # the same sid in the webhook and the stream
    started = next(e for e in events if e.kind == "started")
    assert started.call_sid != sid  # trialrun's leg has a sid of its own
    assert (live["sid"], live["status"], live["direction"]) == (sid, "in-progress", "inbound")
    assert live["parent_call_sid"] == started.call_sid and live["to"] == AGENT_NUMBER
    assert [(method, status) for method, status, _ in agent.rest] == [
        ("GET", 200),
        ("POST", 200),
        ("GET", 200),
    ], agent.rest
    assert events[-1].reason == "far_end_hung_up", events[-1]
    assert took < 6, f"the hang-up took effect after {took:.1f} s (the <Pause> is 12 s)"
    assert (ended["sid"], ended["status"]) == (sid, "completed")
    assert ended["end_time"] and ended["duration"] is not None
    assert any(m["event"] == "stop" for m in agent.messages)  # the agent's stream was stopped
