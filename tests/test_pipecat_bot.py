"""Calls to a real Pipecat bot (examples/pipecat_bot: pipecat-ai's FastAPI WebSocket
transport, TwilioFrameSerializer, Silero VAD, Whisper, its OpenAI LLM service), a process
these tests start, on its real Twilio path through the loopback carrier: the webhook
answers ``<Connect><Stream url="ws://...">``, the serializer hangs up through the carrier's
REST API, transfers are REST redirects to ``<Dial>``. Offline: the bot's brain is trialrun's
scripted OpenAI-compatible server, its voice espeak-ng, its ears faster-whisper tiny.en."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from trialrun.openai_server import OpenAIServer, chat_completion
from trialrun.telephony import LoopbackCarrier, NetworkFaults
from trialrun.voice import Agent, Scenario, Test, TestRunner
from trialrun.voice.evaluators import (
    EndedBy,
    MaxResponseLatency,
    MustNotSay,
    MustSay,
    NoError,
    TransferredTo,
)
from trialrun.voice.offline import Whisper

# pipecat-ai supports Python 3.11 and later (the test extra installs it there).
pytestmark = [
    pytest.mark.calls,
    pytest.mark.skipif(sys.version_info < (3, 11), reason="pipecat-ai needs Python 3.11"),
]

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "examples" / "pipecat_bot" / "bot.py"
BOT_NUMBER = "+15550100"
PERSON = "+15550123"  # the number the bot transfers to

GREETING = "Hello, you have reached the pizza shop. What can I get you?"
# Long enough (about 11 s of espeak-ng) to be talked over; its end is never heard if the
# bot stops when interrupted.
MENU = (
    "Today we have margherita, pepperoni, four cheese, mushroom and olive, spicy salami, "
    "ham and pineapple, and a garden vegetable pizza. Every large pizza comes with a free "
    "bottle of lemonade."
)


def brain(body: dict[str, Any]) -> dict[str, Any]:
    """The bot's language model: answers from the caller's last words (as the bot's Whisper
    heard them), as a model told to run a pizza shop's phone line would, and calls the bot's
    tools to hang up and to transfer."""
    said = [m for m in body["messages"] if m["role"] == "user"]
    if not said:
        return chat_completion(GREETING)
    text = str(said[-1]["content"]).lower()
    # Tiny Whisper over a phone line mishears some words: listen for several.
    if any(w in text for w in ("menu", "kind", "make")):
        return chat_completion(MENU)
    if any(w in text for w in ("person", "talk to", "someone")):
        return chat_completion(
            "Please hold while I transfer you to a person.",
            [("transfer_call", {"number": PERSON})],
        )
    if "bye" in text:
        return chat_completion("Thank you for calling. Goodbye.", [("end_call", {})])
    if any(w in text for w in ("pepper", "pizz", "would like")):
        return chat_completion("One large pepperoni pizza. Anything else?")
    if any(w in text for w in ("much", "price", "cost")):
        return chat_completion("That will be ten dollars.")
    return chat_completion("Sorry, could you say that again?")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


class Bot:
    """The Pipecat bot as a process of its own (its own session, so its process group can
    be stopped whole)."""

    def __init__(self, carrier: LoopbackCarrier, brain_url: str) -> None:
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="pipecat-bot-", suffix=".log", delete=False)
        env = dict(
            os.environ,
            TWILIO_ACCOUNT_SID=carrier.account_sid,
            TWILIO_AUTH_TOKEN=carrier.auth_token,
            TWILIO_API_BASE=carrier.api_base,
            OPENAI_BASE_URL=brain_url,
            OPENAI_API_KEY="test-key",
        )
        self.process = subprocess.Popen(
            [sys.executable, str(BOT), "--port", str(self.port), "--log-level", "DEBUG"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        self.webhook_url = f"http://127.0.0.1:{self.port}/voice"
        deadline = time.monotonic() + 90
        while not answers(self.webhook_url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                output = self.output()
                self.stop()
                pytest.fail(f"the Pipecat bot did not start; it printed:\n{output[-4000:]}")
            time.sleep(0.2)

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(10)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # whatever the bot left in its group
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def pipecat():
    """One carrier (with the person the bot transfers to), one scripted model and one bot
    process for the module's calls: (carrier, bot, model server)."""
    model = OpenAIServer(brain)
    carrier = LoopbackCarrier(
        dial_targets={PERSON: ["Hi, this is Maria from the kitchen. What can I do for you?"]},
    )
    bot = Bot(carrier, model.url)
    carrier.set_number(BOT_NUMBER, bot.webhook_url)
    try:
        yield carrier, bot, model
    finally:
        bot.stop()
        carrier.stop()
        model.close()
        if os.environ.get("KEEP_BOT_LOG") is None:
            Path(bot.log.name).unlink(missing_ok=True)
        else:
            print("bot log:", bot.log.name)


async def call(
    pipecat,
    tmp_path,
    *tests: Test,
    limit: float = 90.0,
    silence_turn: float = 4.0,
    beam_size: int = 5,
) -> list:
    carrier, bot, _model = pipecat
    runner = TestRunner(
        carrier=carrier,
        checks=[NoError()],
        concurrency=len(tests),
        silence_turn=silence_turn,
        # the caller's ears: tiny.en (greedy, beam_size=1, is light enough for five calls)
        speech_to_text=Whisper(beam_size=beam_size),
        recordings_dir=tmp_path,
        quiet=True,
    )
    for test in tests:
        runner.add_test(test)
    results = await asyncio.wait_for(runner.run_tests(BOT_NUMBER), limit)
    for result in results:
        print(f"--- {result.test.scenario.name} x {result.test.agent.name}")
        print(result.transcript_text())  # shown when a test fails
        assert result.error is None, f"{result.error}\nbot log:\n{bot.output()[-3000:]}"
    return results


def agent_lines(result) -> list:
    return [u for u in result.transcript if u.role == "agent"]


CALLER = Agent("sam", "A hungry caller.")

ORDER = Scenario(
    "order",
    "You order a pizza, ask its price and say goodbye; the bot hangs up.",
    script=[
        "Hi, I would like a pepperoni pizza please.",
        "How much is that?",
        "Goodbye now.",  # then the caller waits: the bot hangs up
    ],
    checks=[
        MustSay("pizza shop"),
        MustSay("pepperoni pizza"),
        MustSay("ten dollars"),
        MustSay("goodbye"),
        EndedBy("agent"),
        MaxResponseLatency(4.0, percentile="max"),
    ],
)


@pytest.fixture(scope="module")
def order_call(pipecat, tmp_path_factory):
    """One ordering call, which the next two tests read (with a run store of its own: the
    per-test store of conftest.py is set up after module fixtures)."""
    home = tmp_path_factory.mktemp("order")
    saved = os.environ.get("TRIALRUN_HOME")
    os.environ["TRIALRUN_HOME"] = str(home / "store")
    try:
        (result,) = asyncio.run(call(pipecat, home, Test(ORDER, CALLER)))
    finally:
        if saved is None:
            os.environ.pop("TRIALRUN_HOME", None)
        else:
            os.environ["TRIALRUN_HOME"] = saved
    return result


def test_the_greeting_is_heard_and_the_bot_answers_each_turn(order_call):
    result = order_call
    result.assert_passed()
    first = result.transcript[0]
    assert first.role == "agent" and first.start < 2.0, result.transcript_text()
    # greeting, two answers and the goodbye, in turn with the caller's three lines
    roles = [u.role for u in result.transcript]
    assert roles == ["agent", "caller"] * 3 + ["agent"], result.transcript_text()
    assert len(result.metrics.response_latencies) == 3
    assert all(0 < latency < 4.0 for latency in result.metrics.response_latencies)


def test_the_bot_hangs_up_through_the_rest_api_right_after_its_goodbye(pipecat, order_call):
    """Pipecat's serializer ends the call (POST Status=completed to the carrier's REST base)
    once the goodbye has played: no tail of open line after it."""
    _carrier, bot, _model = pipecat
    result = order_call
    assert result.metrics.ended_by == "agent"
    assert "REST API (Status=completed)" in result.metrics.end_reason
    goodbye = agent_lines(result)[-1]
    assert "goodbye" in goodbye.text.lower().replace(" ", "")
    assert 0 <= result.metrics.duration - goodbye.end < 1.0, (goodbye, result.metrics.duration)
    assert f"Successfully terminated Twilio call {result.agent_call_sid}" in bot.output()


BARGE_IN = Scenario(
    "barge-in",
    "You ask for the menu and cut the bot off with your order.",
    script=[
        "What kinds of pizza do you make?",
        {"say": "Sorry, one pepperoni pizza please.", "barge_in_ms": 1500},
        "Goodbye now.",
    ],
    checks=[MustSay("today we have"), MustNotSay("lemonade"), MustSay("pepperoni pizza")],
)


async def test_a_caller_talking_over_the_bot_stops_it(pipecat, tmp_path):
    """Pipecat's interruption handling on the Twilio path: Silero hears the caller, the
    pipeline is interrupted and the serializer sends ``clear``; the carrier stops playing
    the menu, and the bot answers what the caller said over it."""
    (result,) = await call(pipecat, tmp_path, Test(BARGE_IN, CALLER))
    result.assert_passed()
    (interruption,) = result.metrics.interruptions
    assert interruption.by == "caller"
    over = next(u for u in result.transcript if u.role == "caller" and u.start == interruption.at)
    menu = next(u for u in agent_lines(result) if u.start < over.start < u.end)
    assert menu.cut_off or menu.end - menu.start < 8.0, menu  # the whole menu is ~11 s
    # Silero needs 0.2 s of speech to start a turn; then the bot went quiet at once.
    assert interruption.overlap < 1.0, (interruption, menu, over)
    after = [u.text.lower() for u in agent_lines(result) if u.start > over.end]
    assert any("pepperoni" in text for text in after), result.transcript_text()


TRANSFER = Scenario(
    "transfer",
    "You ask for a person; the bot transfers you to the kitchen.",
    script=["Can I talk to a person, please?", "Yes, where is my order?"],
    checks=[
        MustSay("transfer"),
        TransferredTo(PERSON),
        MustSay("from the kitchen", role="transferee"),
    ],
)


async def test_the_bot_transfers_the_call_by_redirecting_it_to_dial(pipecat, tmp_path):
    """The bot says it transfers, then updates its call over REST with
    ``Twiml=<Response><Dial>+15550123</Dial></Response>``: its stream stops, the carrier
    dials the person, who talks with the caller; the bot's pipeline ends without hanging
    the transferred call up."""
    _carrier, bot, model = pipecat
    (result,) = await call(pipecat, tmp_path, Test(TRANSFER, CALLER))
    result.assert_passed()
    (transfer,) = result.transfers
    assert transfer.status == "completed" and transfer.kind == "number"
    said = agent_lines(result)[-1]
    assert transfer.start >= said.end, (transfer, said)  # after its words, not over them
    assert result.transcript[-1].role in ("transferee", "caller")
    assert f"Successfully terminated Twilio call {result.agent_call_sid}" not in bot.output()
    # The model was asked with the tools, and the redirect came from its tool call.
    tools = {t["function"]["name"] for t in model.requests[-1].body["tools"]}
    assert tools == {"end_call", "transfer_call"}


SHORT_ORDER = Scenario(
    "short-order",
    "You order a pepperoni pizza and say goodbye.",
    script=["Hi, I would like a pepperoni pizza please.", "Goodbye now."],
    # Ten Whisper listeners on two cores: what greedy tiny.en makes of the bot's words
    # varies ("one hundred number only beat so anything else", "thank you for calling the
    # man", on a busy machine); the bot's model says what it answered (below).
    checks=[EndedBy("agent")],
)


async def test_five_calls_at_once_each_get_their_own_conversation(pipecat, tmp_path):
    _carrier, _bot, model = pipecat
    since = len(model.requests)
    callers = [Agent(f"caller-{i}", "A hungry caller.") for i in range(5)]
    tests = [Test(SHORT_ORDER, c) for c in callers]
    # Five callers and the bot hear with Whisper on two cores: give answers time (a caller
    # whose script is done waits this long for the bot's goodbye before it hangs up; the
    # bot's own Whisper, one model for five calls, once took longer than 8 s to hear it).
    results = await call(pipecat, tmp_path, *tests, limit=180, silence_turn=15.0, beam_size=1)
    assert len(results) == 5
    for result in results:
        result.assert_passed()
        assert result.metrics.latency_p50 is not None
        # greeting, the answer to the order, goodbye: each heard by its own caller
        assert len(agent_lines(result)) >= 3, result.transcript_text()
    # five calls, five different calls at the bot's end
    assert len({r.agent_call_sid for r in results}) == 5
    # and the bot heard each order and each goodbye
    answered = answers_given(model, since)
    assert answered.count("One large pepperoni pizza. Anything else?") >= 5, answered
    assert answered.count("Thank you for calling. Goodbye.") == 5, answered


def answers_given(model: OpenAIServer, since: int) -> list[str]:
    """What the bot's model answered to the requests after the first ``since``."""
    return [brain(r.body)["choices"][0]["message"]["content"] for r in model.requests[since:]]


def heard(model: OpenAIServer, since: int) -> list[str]:
    """The caller's words as the bot's Whisper heard them, turn by turn, since request
    ``since`` (each request carries the whole conversation: the last one has them all)."""
    if len(model.requests) <= since:
        return []
    messages = model.requests[-1].body["messages"]
    return [str(m["content"]) for m in messages if m["role"] == "user"]


LOSSY_ORDER = Scenario(
    "lossy-order",
    "You order a pepperoni pizza and say goodbye, over a bad line.",
    # The order said twice, as callers on a bad line do: whichever the bot's Whisper makes
    # out through the lost frames, it answers.
    script=[
        "Hi, I would like a pepperoni pizza please.",
        "One pepperoni pizza, please.",
        "Thank you, goodbye now.",
    ],
    # What either side's Whisper makes of words with frames missing varies (the bot once
    # heard the goodbye as something else and asked again; then the caller, its script
    # done, hung up): what must hold is that the conversation went through and ended.
    checks=[MustSay("pizza shop"), EndedBy(["agent", "caller"])],
)


async def test_a_call_under_five_percent_frame_loss_still_passes(pipecat, tmp_path):
    _carrier, _bot, model = pipecat
    since = len(model.requests)
    faults = NetworkFaults(loss=0.05, seed=7)
    (result,) = await call(pipecat, tmp_path, Test(LOSSY_ORDER, CALLER, faults=faults))
    result.assert_passed()
    lost = result.metrics.network_faults
    assert lost.to_agent.dropped > 0 and lost.from_agent.dropped > 0, lost
    assert result.metrics.latency_p50 is not None
    # The bot heard the order through the lost frames (its model was asked with it and
    # answered it), and each of the caller's lines reached it as a turn.
    answered, turns = answers_given(model, since), heard(model, since)
    assert "One large pepperoni pizza. Anything else?" in answered, (answered, turns)
    assert len(turns) >= 3, turns
