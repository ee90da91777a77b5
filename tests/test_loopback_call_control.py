"""What an agent does to a live call through the loopback carrier's REST API, with its own
CallSid, as Pipecat bots and others do: fetch it, hang it up, redirect it to new TwiML; and
what the test's result then says."""

from __future__ import annotations

import array
import asyncio
import io
import re
import ssl
import subprocess
import time
import wave

import pytest

from loopback_agent import StreamAgent, Webhooks
from trialrun.telephony import CallServer, LoopbackCarrier
from trialrun.voice import Agent, Scenario, Test, TestRunner
from trialrun.voice.evaluators import EndedBy

pytestmark = pytest.mark.calls

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


class Hears:
    """Speech providers for a scripted caller: every stretch of the agent's speech reads as
    "hello"; the caller's lines are half a second of tone."""

    def transcribe(self, pcm, rate, language):
        return "hello"

    def synthesize(self, text, voice):
        return bytes([0, 40]) * 4000, 8000


def runner_for(carrier: LoopbackCarrier, tmp_path, *scenarios) -> TestRunner:
    runner = TestRunner(
        carrier=carrier,
        speech_to_text=Hears(),
        text_to_speech=Hears(),
        recordings_dir=tmp_path,
        quiet=True,
        # The caller keeps quiet: these tests are about what the agent does to the call.
        silence_turn=30.0,
        turn_gap=5.0,
    )
    for scenario in scenarios:
        runner.add_test(Test(scenario, Agent("caller", "A caller.")))
    return runner


async def test_an_agent_hanging_up_over_rest_ends_the_test_call_saying_so(tmp_path):
    """The result tells a REST hang-up by the agent from a caller's or a timeout's end, and
    carries the agent's own CallSid."""

    async def greet_then_hang_up(agent: StreamAgent, socket) -> None:
        await agent.say(socket, LOUD * 3)
        await asyncio.sleep(1.0)
        await agent.rest_call("POST", {"Status": "completed"})

    twiml = '<Response><Connect><Stream url="{ws}"/></Connect><Pause length="30"/></Response>'
    async with LoopbackCarrier({}) as carrier:
        async with agent_for(carrier, {"/voice": twiml}, on_start=greet_then_hang_up) as agent:
            carrier.set_number(AGENT_NUMBER, f"{agent.url}/voice")
            runner = runner_for(
                carrier, tmp_path, Scenario("hang-up", "x", script=[], max_duration=20)
            )
            began = time.monotonic()
            (result,) = await asyncio.wait_for(runner.run_tests(AGENT_NUMBER), 30)
            took = time.monotonic() - began
    assert result.error is None, result.error
    assert result.metrics.ended_by == "agent", result.metrics
    assert "REST API" in result.metrics.end_reason, result.metrics.end_reason
    assert result.agent_call_sid == agent.call_sid() and result.call_sid != agent.call_sid()
    assert took < 10, took
    assert EndedBy("agent").evaluate_test_case(None, result).score == 1


async def test_a_rest_redirect_runs_new_twiml_on_the_agents_leg():
    """Twilio's "modify a live call" with Url (or Twiml): the agent's leg leaves its TwiML
    (its stream gets `stop`) and runs the new document, which the caller hears; the webhook
    is fetched with the agent's CallSid, as a transfer by a Pipecat bot does."""

    async def redirect(agent: StreamAgent, socket) -> None:
        await agent.say(socket, LOUD)
        await asyncio.sleep(0.5)
        await agent.rest_call("POST", {"Url": f"{agent.url}/transfer"})

    answers = {
        "/voice": '<Response><Connect><Stream url="{ws}"/></Connect><Pause length="30"/></Response>',
        "/transfer": "<Response><Play>/tone.wav</Play><Hangup/></Response>",
    }
    async with LoopbackCarrier({}) as carrier:
        async with agent_for(carrier, answers, on_start=redirect) as agent:
            agent.files["/tone.wav"] = wav_of(LOUD * 5)  # one second
            carrier.set_number(AGENT_NUMBER, f"{agent.url}/voice")
            async with CallServer(carrier=carrier, phone_number=TRIALRUN_NUMBER) as server:
                call = await server.place_call(AGENT_NUMBER)
                events = await rest_of(call)
            log = carrier.log_lines()
    paths = [path for path, _, _ in agent.webhooks]
    assert paths == ["/voice", "/transfer"], (paths, log)
    assert agent.webhooks[1][1]["CallSid"] == agent.call_sid()
    assert [m["event"] for m in agent.messages][-1] == "stop"  # the stream was left
    loud = [e for e in events if e.kind == "audio" and is_loud(e.audio)]
    assert len(loud) >= 55, len(loud)  # 200 ms streamed, then the 1 s tone after the redirect
    assert events[-1].reason == "far_end_hung_up", events[-1]
    assert log == [], log


async def test_a_redirect_with_inline_twiml_and_one_of_an_ended_call():
    async def redirect(agent: StreamAgent, socket) -> None:
        await agent.rest_call("POST", {"Twiml": "<Response><Hangup/></Response>"})

    twiml = '<Response><Connect><Stream url="{ws}"/></Connect><Pause length="30"/></Response>'
    async with LoopbackCarrier({}) as carrier:
        async with agent_for(carrier, {"/voice": twiml}, on_start=redirect) as agent:
            carrier.set_number(AGENT_NUMBER, f"{agent.url}/voice")
            async with CallServer(carrier=carrier, phone_number=TRIALRUN_NUMBER) as server:
                call = await server.place_call(AGENT_NUMBER)
                events = await asyncio.wait_for(rest_of(call), 10)
            await agent.rest_call("POST", {"Url": f"{agent.url}/voice"})
    assert events[-1].reason == "far_end_hung_up", events[-1]
    (_, status, body) = agent.rest[-1]
    assert (status, body["code"]) == (400, 21220), body  # not in progress: cannot redirect


async def test_a_call_whose_end_is_still_being_reported_cannot_be_redirected():
    """Regression: the carrier still held an ended call while it posted the "completed"
    status callback, and a redirect then was accepted (200) instead of refused (21220).
    The callback's handler redirects the call before answering, so it lands in that window."""

    async def hang_up(agent: StreamAgent, socket) -> None:
        await agent.rest_call("POST", {"Twiml": "<Response><Hangup/></Response>"})

    twiml = '<Response><Connect><Stream url="{ws}"/></Connect><Pause length="30"/></Response>'
    async with LoopbackCarrier({}) as carrier:
        async with agent_for(carrier, {"/voice": twiml}, on_start=hang_up) as agent:

            def on_status(path: str, form: dict[str, str]) -> None:
                if form.get("CallStatus") == "completed":
                    agent.rest_call_blocking("POST", {"Url": f"{agent.url}/voice"})

            caller_app = Webhooks(
                {"/caller": '<Response><Pause length="30"/></Response>'}, on_post=on_status
            )
            try:
                carrier.set_number(AGENT_NUMBER, f"{agent.url}/voice")
                await carrier.client.create_call(
                    to=AGENT_NUMBER,
                    from_=TRIALRUN_NUMBER,
                    url=f"{caller_app.url}/caller",
                    status_callback=f"{caller_app.url}/status",
                    status_callback_event=["completed"],
                )
                for _ in range(200):
                    if len(agent.rest) == 2:
                        break
                    await asyncio.sleep(0.05)
            finally:
                caller_app.close()
    [(_, hung_up, _), (_, status, body)] = agent.rest
    assert hung_up == 200
    assert (status, body.get("code")) == (400, 21220), body


def is_loud(pcm: bytes) -> bool:
    samples = array.array("h", pcm)
    return max(abs(s) for s in samples) > 4000


def wav_of(mulaw: bytes) -> bytes:
    """A WAV of 16-bit PCM at 8 kHz holding the mu-law audio given (G.711 decoding)."""

    def sample(byte: int) -> int:
        byte = ~byte & 0xFF
        magnitude = (((byte & 0x0F) << 3) + 0x84) << ((byte & 0x70) >> 4)
        return (0x84 - magnitude) if byte & 0x80 else (magnitude - 0x84)

    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(array.array("h", [sample(b) for b in mulaw]).tobytes())
    return out.getvalue()


@pytest.mark.parametrize(
    ("case", "cause"),
    [
        ("wss", r"cannot connect to stream wss://127\.0\.0\.1:1/stream"),
        ("http-500", r"/voice answered HTTP 500"),
        ("malformed", r"cannot run the TwiML from http://127\.0\.0\.1:\d+/voice"),
        ("closed-port", r"http://127\.0\.0\.1:9/voice cannot be reached"),
    ],
)
async def test_a_failure_at_the_agents_end_is_the_tests_error_naming_its_cause(
    case, cause, tmp_path
):
    """Defect 3: a stream the carrier cannot open, a webhook answering 500, TwiML that does
    not parse and a closed port each end the test with an error naming the cause (before,
    the cause was only in the carrier's log, and a wss:// stream read as the agent hanging
    up normally)."""
    answers = {
        "wss": '<Response><Connect><Stream url="wss://127.0.0.1:1/stream"/></Connect></Response>',
        "http-500": "<Response/>",
        "malformed": "<Response><Say>hi</Response>",
        "closed-port": "",
    }
    status = 500 if case == "http-500" else 200
    async with LoopbackCarrier({}) as carrier:
        async with agent_for(carrier, {"/voice": answers[case]}, webhook_status=status) as agent:
            url = "http://127.0.0.1:9/voice" if case == "closed-port" else f"{agent.url}/voice"
            carrier.set_number(AGENT_NUMBER, url)
            runner = runner_for(carrier, tmp_path, Scenario(case, "x", script=["hi"]))
            (result,) = await asyncio.wait_for(runner.run_tests(AGENT_NUMBER), 30)
    assert result.error is not None and re.search(cause, result.error), result.error
    assert not result.passed
    if result.metrics is not None:
        assert result.metrics.ended_by == "error", result.metrics
        assert re.search(cause, result.metrics.end_reason), result.metrics.end_reason
    assert EndedBy("agent").evaluate_test_case(None, result).score == 0


async def test_an_inbound_test_no_call_reaches_ends_after_max_duration_without_spinning(tmp_path):
    """Defect 4: with no call coming, run_tests waited forever, one core busy (the caller's
    timer kept returning a deadline already past). Now it ends at max_duration, idle, with an
    error saying what did not happen."""
    async with LoopbackCarrier({TRIALRUN_NUMBER: "http://127.0.0.1:9/unset"}) as carrier:
        runner = runner_for(
            carrier, tmp_path, Scenario("nobody", "x", script=["hi"], max_duration=3)
        )
        runner.twilio_phone_number = TRIALRUN_NUMBER
        began, cpu = time.monotonic(), time.process_time()
        (result,) = await asyncio.wait_for(
            runner.run_tests(AGENT_NUMBER, type=TestRunner.INBOUND), 15
        )
        took, cpu = time.monotonic() - began, time.process_time() - cpu
    assert 2.5 < took < 6, took
    assert cpu < 1.5, f"{cpu:.1f} s of CPU in {took:.1f} s: the wait spins"
    assert result.error and "no call was connected within 3 s" in result.error, result.error
    assert not result.passed


async def test_an_inbound_call_placed_just_before_run_tests_is_answered(tmp_path):
    """Defect 4: a call that rang before run_tests expected it was refused ("no inbound
    call is expected") and the test then hung. Now it rings until the test expects it."""

    async def greet_then_hang_up(agent: StreamAgent, socket) -> None:
        await agent.say(socket, LOUD * 3)
        await asyncio.sleep(1.0)
        await agent.rest_call("POST", {"Status": "completed"})

    twiml = '<Response><Connect><Stream url="{ws}"/></Connect><Pause length="30"/></Response>'
    # No placeholder mapping for the runner's number: listen() adds it (issue 16).
    async with LoopbackCarrier({}) as carrier:
        async with agent_for(carrier, {"/voice": twiml}, on_start=greet_then_hang_up) as agent:
            runner = runner_for(
                carrier, tmp_path, Scenario("early", "x", script=[], max_duration=20)
            )
            runner.twilio_phone_number = TRIALRUN_NUMBER
            async with runner:
                await runner.listen()
                await carrier.client.create_call(
                    to=TRIALRUN_NUMBER, from_=AGENT_NUMBER, url=f"{agent.url}/voice"
                )
                await asyncio.sleep(1.0)  # the call is ringing before any test expects it
                (result,) = await asyncio.wait_for(
                    runner.run_tests(AGENT_NUMBER, type=TestRunner.INBOUND), 30
                )
            log = carrier.log_lines()
    assert result.error is None, (result.error, log)
    assert result.metrics.ended_by == "agent" and "REST API" in result.metrics.end_reason
    assert result.agent_call_sid == agent.call_sid()


def bursty_speaker(stall_after: int | None = None):
    """An agent speaking as a 16 kHz pipeline does at 8 kHz: 758-byte payloads at real-time
    pace, every other one 40 ms late; with ``stall_after``, nothing for 200 ms after that
    many payloads. Then it hangs up over REST."""

    async def speak(agent: StreamAgent, socket) -> None:
        loop = asyncio.get_running_loop()
        began, late = loop.time() + 0.2, 0.0
        for k in range(24):
            if stall_after is not None and k == stall_after:
                late += 0.2
            due = began + late + k * 758 / 8000 + (0.04 if k % 2 else 0.0)
            await asyncio.sleep(max(0.0, due - loop.time()))
            await agent.say(socket, bytes([0x00, 0x80]) * 379)
        await asyncio.sleep(1.0)
        await agent.rest_call("POST", {"Status": "completed"})

    return speak


def gap_frames(recording_path: str) -> int:
    """Silent 20 ms frames of the agent's channel (right) between its first and last sound."""
    with wave.open(recording_path) as recording:
        frames = array.array("h", recording.readframes(recording.getnframes()))
    agent = frames[1::2]
    loud = [max(abs(s) for s in agent[i : i + 160]) > 4000 for i in range(0, len(agent), 160)]
    first, last = loud.index(True), len(loud) - 1 - loud[::-1].index(True)
    return loud[first : last + 1].count(False)


@pytest.mark.parametrize(
    ("jitter_buffer", "stall_after", "gaps", "underruns"),
    [(0.08, None, 0, 0), (0.0, None, None, 0), (0.08, 12, None, 1)],
    ids=["buffered", "unbuffered", "stalled"],
)
async def test_bursty_speech_plays_without_gaps_and_underruns_are_counted(
    jitter_buffer, stall_after, gaps, underruns, tmp_path
):
    """Defect 2: audio sent in bursts was played as it came, each 20 ms tick taking what was
    queued and padding the rest with silence: gaps in the agent's speech (Whisper then
    misheard it). The carrier buffers it as Twilio does; a gap that remains is counted."""
    twiml = '<Response><Connect><Stream url="{ws}"/></Connect><Pause length="30"/></Response>'
    speak = bursty_speaker(stall_after)
    async with LoopbackCarrier({}, jitter_buffer=jitter_buffer) as carrier:
        async with agent_for(carrier, {"/voice": twiml}, on_start=speak) as agent:
            carrier.set_number(AGENT_NUMBER, f"{agent.url}/voice")
            runner = runner_for(carrier, tmp_path, Scenario("bursts", "x", script=[]))
            (result,) = await asyncio.wait_for(runner.run_tests(AGENT_NUMBER), 30)
    assert result.error is None, result.error
    heard_gaps = gap_frames(result.recording_path)
    if gaps is not None:
        assert heard_gaps == gaps, heard_gaps
    elif stall_after is None:
        assert heard_gaps > 0  # unbuffered, the late payloads leave gaps
    else:
        assert heard_gaps >= 5, heard_gaps  # the 200 ms stall, less what the buffer held
    if jitter_buffer:
        assert result.metrics.underruns == underruns, result.metrics


async def test_tests_with_their_own_numbers_call_several_agents_in_one_run(tmp_path):
    """A broken agent does not hide behind a working one: each test calls its own number,
    and each result names it, with the run id and the agent's CallSid."""

    async def greet_then_hang_up(agent: StreamAgent, socket) -> None:
        await agent.say(socket, LOUD)
        await asyncio.sleep(0.5)
        await agent.rest_call("POST", {"Status": "completed"})

    twiml = '<Response><Connect><Stream url="{ws}"/></Connect><Pause length="30"/></Response>'
    async with LoopbackCarrier({}) as carrier:
        async with agent_for(carrier, {"/voice": twiml}, on_start=greet_then_hang_up) as agent:
            carrier.set_number("+15550101", f"{agent.url}/voice")
            carrier.set_number("+15550102", "http://127.0.0.1:9/voice")  # a broken agent
            runner = runner_for(carrier, tmp_path)
            scenario = Scenario("greets", "x", script=[])
            for number in ("+15550101", "+15550102"):
                runner.add_test(Test(scenario, Agent("caller", "A caller."), phone_number=number))
            results = await asyncio.wait_for(runner.run_tests(), 30)
    working, broken = results
    assert working.error is None and working.agent_call_sid == agent.call_sid()
    assert broken.error and "127.0.0.1:9/voice" in broken.error
    assert working.run_id and working.run_id == broken.run_id
    assert "greets x caller @ +15550102" in results.summary()
    assert [c.hash for c in runner.last_suite_result.cases] == [
        "greets x caller @ +15550101",
        "greets x caller @ +15550102",
    ]


def test_a_test_without_a_number_is_refused_naming_it():
    carrier = LoopbackCarrier({})
    try:
        runner = TestRunner(carrier=carrier, quiet=True)
        runner.add_test(Test(Scenario("s", "x", script=["hi"]), Agent("a", "y"), phone_number="+1"))
        runner.add_test(Test(Scenario("t", "x", script=["hi"]), Agent("a", "y")))
        with pytest.raises(ValueError, match=r"test 1 \('t' x 'a'\): no phone number to call"):
            asyncio.run(runner.run_tests())
    finally:
        carrier.stop()


async def test_a_call_the_caller_ends_still_names_the_agents_sid_and_underruns(tmp_path):
    """What the carrier knows of the agent's end is there however the call ends, also when
    the caller hangs up first (before the carrier has finished the call)."""
    twiml = '<Response><Connect><Stream url="{ws}"/></Connect><Pause length="30"/></Response>'
    async with LoopbackCarrier({}) as carrier:
        async with agent_for(carrier, {"/voice": twiml}) as agent:
            carrier.set_number(AGENT_NUMBER, f"{agent.url}/voice")
            scenario = Scenario("bye", "x", script=[{"say": "bye", "hang_up": True}])
            runner = runner_for(carrier, tmp_path, scenario)
            runner.silence_turn = 1.0
            (result,) = await asyncio.wait_for(runner.run_tests(AGENT_NUMBER), 30)
    assert result.error is None, result.error
    assert result.metrics.ended_by == "caller", result.metrics
    assert result.agent_call_sid == agent.call_sid()
    assert result.metrics.underruns == 0


def certificates(directory) -> tuple[str, str, str]:
    """A CA, and a certificate for 127.0.0.1 it signed (openssl): (ca.pem, cert, key)."""
    ca_key, ca, key, csr, cert = (
        str(directory / name)
        for name in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    extensions = directory / "server.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    run = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
        "-days", "1", "-subj", "/CN=trialrun test CA")  # fmt: skip
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        key,
        "-out",
        csr,
        "-subj",
        "/CN=127.0.0.1",
    )
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
        "-days", "1", "-extfile", str(extensions))  # fmt: skip
    return ca, cert, key


@pytest.mark.parametrize("trusted", [True, False], ids=["ca-file", "unknown-ca"])
async def test_a_wss_stream_is_opened_with_the_ca_given(trusted, tmp_path):
    """An agent serving its stream over TLS with a certificate of its own CA: with that CA
    in ca_file the call streams; without it the test's error names the certificate."""
    ca, cert, key = certificates(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    async def greet_then_hang_up(agent: StreamAgent, socket) -> None:
        await agent.say(socket, LOUD)
        await asyncio.sleep(0.5)
        await agent.rest_call("POST", {"Status": "completed"})

    # After a stream that fails, TwiML goes on (as at Twilio): no <Pause> to sit through.
    after = '<Pause length="30"/>' if trusted else ""
    twiml = f'<Response><Connect><Stream url="{{ws}}"/></Connect>{after}</Response>'
    async with LoopbackCarrier({}, ca_file=ca if trusted else None) as carrier:
        async with agent_for(
            carrier, {"/voice": twiml}, on_start=greet_then_hang_up, ssl=context
        ) as agent:
            carrier.set_number(AGENT_NUMBER, f"{agent.url}/voice")
            runner = runner_for(carrier, tmp_path, Scenario("tls", "x", script=[]))
            (result,) = await asyncio.wait_for(runner.run_tests(AGENT_NUMBER), 30)
    if trusted:
        assert result.error is None, result.error
        assert result.metrics.ended_by == "agent" and result.agent_call_sid == agent.call_sid()
    else:
        assert result.error and "wss://127.0.0.1:" in result.error, result.error
        assert "certificate" in result.error.lower(), result.error


def test_a_ca_file_that_cannot_be_read_is_refused_naming_it(tmp_path):
    with pytest.raises(ValueError, match=r"ca_file .*missing\.pem: "):
        LoopbackCarrier({}, ca_file=tmp_path / "missing.pem")


async def test_a_redirect_loop_ends_the_call_naming_it(tmp_path):
    """Issue 17, item 8: a <Redirect> to itself fetched ~1,700 documents a second for the
    whole call; the leg now stops after 200 fetches, and the test's error says why."""
    loop = "<Response><Redirect>/voice</Redirect></Response>"
    async with LoopbackCarrier({}) as carrier:
        async with agent_for(carrier, {"/voice": loop}) as agent:
            carrier.set_number(AGENT_NUMBER, f"{agent.url}/voice")
            scenario = Scenario("loop", "x", script=["hi"], max_duration=20)
            runner = runner_for(carrier, tmp_path, scenario)
            (result,) = await asyncio.wait_for(runner.run_tests(AGENT_NUMBER), 30)
            fetched = len(agent.webhooks)
    assert result.error is not None and "redirect loop" in result.error, result.error
    assert fetched == 202  # the first document, then redirects until more than 200


async def test_a_gather_prompt_of_years_of_silence_takes_no_memory(tmp_path):
    """Issue 17, item 3: <Pause length="4294967295"/> in a <Gather> queued 32 GB of
    silence up front and the process died; the prompt is now bounded and the call runs
    to its end."""
    resource = pytest.importorskip("resource")
    pause = '<Response><Gather><Pause length="4294967295"/><Play loop="100000">/a.wav</Play></Gather></Response>'
    tone = io.BytesIO()
    with wave.open(tone, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(array.array("h", [1000, -1000] * 400).tobytes())
    async with LoopbackCarrier({}) as carrier:
        async with agent_for(carrier, {"/voice": pause}) as agent:
            agent.files["/a.wav"] = tone.getvalue()
            carrier.set_number(AGENT_NUMBER, f"{agent.url}/voice")
            scenario = Scenario("pause", "x", script=["hi"], max_duration=3)
            runner = runner_for(carrier, tmp_path, scenario)
            (result,) = await asyncio.wait_for(runner.run_tests(AGENT_NUMBER), 30)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert peak_mb < 2000, f"peak RSS {peak_mb:.0f} MB"
    assert result.metrics is not None and result.metrics.ended_by == "timeout", result
