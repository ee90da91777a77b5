"""Telephony from Python: the call server calling the example voice agent through the
loopback carrier, TwiML run by the carrier, inbound calls, and what bad peers get."""

from __future__ import annotations

import array
import asyncio
import base64
import json
import math
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import wave
from pathlib import Path

import pytest
import websockets

from loopback_agent import Webhooks
from trialrun import _core
from trialrun.telephony import (
    CallOverError,
    CallServer,
    LoopbackCarrier,
    TwilioCarrier,
    TwilioError,
)

pytestmark = pytest.mark.calls

ROOT = Path(__file__).resolve().parent.parent
AGENT = ROOT / "examples" / "voice_agent" / "agent.py"
AGENT_NUMBER = "+15550100"
TRIALRUN_NUMBER = "+15550199"
TOKEN = "test-auth-token"


@pytest.fixture(scope="module")
def agent_url():
    """The example agent, checking signatures against TOKEN, on a free port."""
    env = dict(os.environ, TWILIO_AUTH_TOKEN=TOKEN)
    proc = subprocess.Popen(
        [sys.executable, str(AGENT), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = proc.stdout.readline()
    match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
    if not match:
        proc.kill()
        pytest.fail(f"the example agent did not start: {line!r} {proc.stderr.read()}")
    yield match.group(1)
    proc.terminate()
    proc.wait(timeout=10)


def loud(pcm: bytes) -> bool:
    samples = array.array("h", pcm)
    return math.sqrt(sum(s * s for s in samples) / max(len(samples), 1)) > 300


async def until_quiet(call, quiet_ms: int = 600, limit_s: float = 15.0) -> list:
    """Events until the far end has spoken and then been quiet for quiet_ms."""

    async def collect() -> list:
        events, spoke, quiet = [], False, 0
        async for event in call:
            events.append(event)
            if event.kind == "audio":
                if loud(event.audio):
                    spoke, quiet = True, 0
                elif spoke:
                    quiet += 20
                    if quiet >= quiet_ms:
                        break
            elif event.kind == "ended":
                break
        return events

    return await asyncio.wait_for(collect(), limit_s)


async def rest_of(call, limit_s: float = 15.0) -> list:
    async def collect() -> list:
        return [event async for event in call]

    return await asyncio.wait_for(collect(), limit_s)


async def next_of_kind(call, kind: str, limit_s: float = 10.0):
    async def find():
        while (event := await call.next_event()).kind != kind:
            pass
        return event

    return await asyncio.wait_for(find(), limit_s)


async def test_a_call_to_the_example_agent_over_the_loopback_carrier(agent_url, tmp_path):
    async with (
        LoopbackCarrier({AGENT_NUMBER: f"{agent_url}/voice"}, auth_token=TOKEN) as carrier,
        CallServer(
            carrier=carrier, phone_number=TRIALRUN_NUMBER, recordings_dir=tmp_path
        ) as server,
    ):
        call = await server.place_call(AGENT_NUMBER)
        greeting = await until_quiet(call)
        kinds = [e.kind for e in greeting]
        assert kinds[:4] == ["status", "status", "status", "started"], kinds
        assert [e.status for e in greeting[:3]] == ["initiated", "ringing", "in-progress"]
        assert greeting[3].parameters == {}  # trialrun's stream token is not shown
        assert greeting[3].call_sid.startswith("CA")
        assert (
            sum(1 for e in greeting if e.kind == "audio" and loud(e.audio)) > 100
        )  # ~3.7 s of speech

        call.mark("after-greeting")
        call.send_dtmf("2")  # "You pressed two. Our opening hours are nine to five."
        reply = await until_quiet(call)
        assert "after-greeting" in [e.name for e in reply if e.kind == "mark"]
        assert sum(1 for e in reply if e.kind == "audio" and loud(e.audio)) > 50

        call.send_dtmf("0")  # goodbye, then the agent hangs up
        rest = await rest_of(call)
        end = rest[-1]
        assert end.kind == "ended" and end.reason == "far_end_hung_up", end
        assert end.pacing["frames"] > 0 and end.pacing["p99_ms"] < 50, (
            end.pacing
        )  # paced, not sent in bursts
        # The server's pacing covers every call's frames (here, this call's), until reset.
        overall = server.pacing(reset=True)
        assert (overall["frames"], overall["max_ms"]) == (
            end.pacing["frames"],
            end.pacing["max_ms"],
        ), overall
        assert end.pacing["p99_ms"] <= overall["p99_ms"] <= end.pacing["p99_ms"] + 1, overall
        assert server.pacing() == {"frames": 0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
        # The carrier's "completed" callback races the stream's end and may come after it,
        # when the call is over and has no more events; the end's reason is what counts.

        # Two channels: the caller's keys on the left, the agent's speech on the right.
        with wave.open(end.recording_path) as recording:
            assert recording.getnchannels() == 2 and recording.getframerate() == 8000
            frames = array.array("h", recording.readframes(recording.getnframes()))
        left, right = frames[0::2], frames[1::2]
        assert max(abs(s) for s in left) > 4000 and max(abs(s) for s in right) > 4000
        assert carrier.log_lines() == [] and server.log_lines() == []


async def test_the_agent_refuses_webhooks_signed_with_another_token(agent_url):
    async with (
        LoopbackCarrier(
            {AGENT_NUMBER: f"{agent_url}/voice"}, auth_token="not-the-agents-token"
        ) as carrier,
        CallServer(carrier=carrier, phone_number=TRIALRUN_NUMBER) as server,
    ):
        call = await server.place_call(AGENT_NUMBER)
        events = await rest_of(call)
        assert events[-1].kind == "ended" and events[-1].reason == "carrier_error", events
        assert "failed" in [e.status for e in events if e.kind == "status"]
        assert any("HTTP 403" in line for line in carrier.log_lines()), carrier.log_lines()


async def test_a_number_the_carrier_does_not_have_raises_and_ends_the_call():
    async with (
        LoopbackCarrier({AGENT_NUMBER: "http://127.0.0.1:9/voice"}) as carrier,
        CallServer(carrier=carrier, phone_number=TRIALRUN_NUMBER) as server,
    ):
        with pytest.raises(TwilioError, match=r"21217.*\+15559999.*\+15550100"):
            await server.place_call("+15559999")


def test_twilio_carrier_names_the_missing_environment_variable(monkeypatch):
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    with pytest.raises(ValueError, match="TWILIO_ACCOUNT_SID"):
        TwilioCarrier()


def test_a_server_checking_signatures_needs_a_token(monkeypatch):
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    with pytest.raises(ValueError, match="validate_signatures=False"):
        CallServer()


def tone(ms: int, freq: float = 440.0) -> bytes:
    return array.array(
        "h", (int(8000 * math.sin(2 * math.pi * freq * n / 8000)) for n in range(ms * 8))
    ).tobytes()


async def test_say_is_spoken_by_a_text_to_speech_provider_at_its_own_rate():
    """A provider (here a Python one, through the same Rust path as OpenAI's or espeak-ng's)
    speaks <Say> with its own voice, at its own rate; the carrier resamples to the line."""
    asked = []

    class Provider:
        def synthesize(self, text, voice):
            asked.append((text, voice))
            pcm = array.array(
                "h", (int(8000 * math.sin(2 * math.pi * 440 * n / 16000)) for n in range(16000))
            )
            return pcm.tobytes(), 16000  # one second at 16 kHz

    app = Webhooks({"/start": '<Response><Say voice="alice">Hello</Say><Hangup/></Response>'})
    try:
        async with (
            LoopbackCarrier(
                {TRIALRUN_NUMBER: "http://127.0.0.1:9/unset"},
                speech=_core.TextToSpeech.python(Provider()),
            ) as carrier,
            CallServer(carrier=carrier, phone_number=TRIALRUN_NUMBER) as server,
        ):
            await server.listen_on()
            call = server.expect_call(from_=AGENT_NUMBER)
            await carrier.client.create_call(
                to=TRIALRUN_NUMBER, from_=AGENT_NUMBER, url=f"{app.url}/start"
            )
            events = await rest_of(call)
    finally:
        app.close()
    assert asked == [("Hello", None)]  # Twilio's "alice" is not the provider's voice
    assert events[-1].reason == "far_end_hung_up", events[-1]
    heard = sum(1 for e in events if e.kind == "audio" and loud(e.audio))
    assert 40 <= heard <= 51, heard  # one second of 20 ms frames, at 8 kHz on the line


def test_say_speech_of_another_kind_is_refused_by_name():
    with pytest.raises(TypeError, match="speech must be .*not int"):
        LoopbackCarrier({}, speech=42)


async def test_an_inbound_call_running_say_gather_and_redirect_twiml():
    """The far end here is TwiML, not a stream: the carrier speaks <Say> through the speech
    callable, <Gather> hears the key trialrun presses, and posts it to the action."""
    spoken = []

    def speech(text, voice, language):
        spoken.append((text, voice))
        return tone(400)

    app = Webhooks(
        {
            "/start": '<Response><Say voice="alice">Press a key</Say>'
            '<Gather numDigits="1" action="/pressed" timeout="5"/><Say>No key</Say></Response>',
            "/pressed": '<Response><Say>Thanks</Say><Pause length="1"/><Hangup/></Response>',
        }
    )
    try:
        async with (
            LoopbackCarrier(
                {TRIALRUN_NUMBER: "http://127.0.0.1:9/unset"}, speech=speech
            ) as carrier,
            CallServer(carrier=carrier, phone_number=TRIALRUN_NUMBER) as server,
        ):
            await server.listen_on()  # through the REST API's IncomingPhoneNumbers
            call = server.expect_call(from_=AGENT_NUMBER)
            await carrier.client.create_call(
                to=TRIALRUN_NUMBER, from_=AGENT_NUMBER, url=f"{app.url}/start"
            )
            prompt = await until_quiet(call, quiet_ms=200)
            assert prompt[0].kind == "started"
            call.send_dtmf("7")
            events = await rest_of(call)
            assert events[-1].reason == "far_end_hung_up"
            assert sum(1 for e in events if e.kind == "audio" and loud(e.audio)) >= 15  # "Thanks"
    finally:
        app.close()
    assert spoken == [("Press a key", "alice"), ("Thanks", None)]
    path, form, signature = app.requests[1]
    assert (path, form["Digits"], form["From"], form["Direction"]) == (
        "/pressed",
        "7",
        AGENT_NUMBER,
        "outbound-api",
    )
    assert signature  # signed like every webhook


def wav_16k(pcm: bytes) -> bytes:
    import io

    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(pcm)
    return out.getvalue()


async def test_play_fetches_a_wav_resamples_it_and_loops_it():
    # 250 ms of a 440 Hz tone at 16 kHz, played twice: about 500 ms of loud audio at 8 kHz.
    pcm16k = array.array(
        "h", (int(8000 * math.sin(2 * math.pi * 440 * n / 16000)) for n in range(4000))
    ).tobytes()
    app = Webhooks(
        {"/start": '<Response><Play loop="2">/tone.wav</Play><Hangup/></Response>'},
        {"/tone.wav": wav_16k(pcm16k)},
    )
    try:
        async with (
            LoopbackCarrier({TRIALRUN_NUMBER: "http://127.0.0.1:9/unset"}) as carrier,
            CallServer(carrier=carrier, phone_number=TRIALRUN_NUMBER) as server,
        ):
            carrier.set_number(TRIALRUN_NUMBER, server.inbound_voice_url)
            call = server.expect_call()
            await carrier.client.create_call(
                to=TRIALRUN_NUMBER, from_=AGENT_NUMBER, url=f"{app.url}/start"
            )
            events = await rest_of(call)
    finally:
        app.close()
    assert events[-1].reason == "far_end_hung_up", events[-1]
    loud_frames = sum(1 for e in events if e.kind == "audio" and loud(e.audio))
    assert 23 <= loud_frames <= 27, loud_frames


async def test_twiml_the_carrier_cannot_run_fails_the_call_naming_its_line():
    app = Webhooks({"/voice": "<Response>\n<Say>hi</Say>\n<Enqueue>support</Enqueue>\n</Response>"})
    try:
        async with (
            LoopbackCarrier({AGENT_NUMBER: f"{app.url}/voice"}) as carrier,
            CallServer(carrier=carrier, phone_number=TRIALRUN_NUMBER) as server,
        ):
            call = await server.place_call(AGENT_NUMBER)
            events = await rest_of(call)
            assert (
                events[-1].reason == "carrier_error" and events[-1].detail == "call status failed"
            ), events[-1]
            log = "\n".join(carrier.log_lines())
            assert "line 3" in log and "Enqueue" in log, log
    finally:
        app.close()


# Bad peers: a stream that breaks the protocol is closed with the reason; others go on.


def post_form(url: str, form: dict[str, str]) -> str:
    data = urllib.parse.urlencode(form).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data)) as response:
        return response.read().decode()


def start_messages(token: str) -> list[str]:
    start = {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": "MZ1",
        "start": {
            "streamSid": "MZ1",
            "accountSid": "AC1",
            "callSid": "CA1",
            "tracks": ["inbound"],
            "customParameters": {"trialrun_token": token},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }
    return [
        json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
        json.dumps(start),
    ]


def media(sequence: int, payload: str) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": str(sequence),
            "streamSid": "MZ1",
            "media": {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": payload},
        }
    )


def pcm_of_mulaw(mulaw: bytes) -> bytes:
    """G.711 mu-law decoded to 16-bit little-endian PCM (the standard's formula)."""

    def sample(byte: int) -> int:
        code = ~byte & 0xFF
        magnitude = (((code & 0x0F) << 3) + 0x84 << ((code >> 4) & 0x07)) - 0x84
        return -magnitude if code & 0x80 else magnitude

    return array.array("h", [sample(b) for b in mulaw]).tobytes()


async def drain(socket) -> None:
    """Receives until the server closes the socket (which raises ConnectionClosed)."""
    while True:
        await socket.recv()


BAD_INPUT = {
    "bad JSON": ("{not json", "JSON"),
    "bad base64": (media(2, "%%%not base64%%%"), "base64"),
    "oversize frame": (media(2, base64.b64encode(bytes(100_000)).decode()), ""),
    "out of order": (
        json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
        "out of order",
    ),
    "sequence gap": (media(7, base64.b64encode(bytes(160)).decode()), "sequenceNumber"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
async def test_bad_input_closes_only_that_call_with_its_reason(case):
    bad, reason = BAD_INPUT[case]
    async with CallServer(validate_signatures=False, max_message_bytes=64 * 1024) as server:
        broken, urls = server._core.new_outbound_call()
        healthy, healthy_urls = server._core.new_outbound_call()
        tokens = []
        for hook in (urls, healthy_urls):
            twiml = await asyncio.to_thread(
                post_form, hook["voice"], {"CallSid": "CA1", "From": "+1", "To": "+2"}
            )
            tokens.append(re.search(r'name="trialrun_token" value="(\w+)"', twiml).group(1))
        ws_url = server.url.replace("http://", "ws://") + "/twilio/stream"
        async with (
            websockets.connect(ws_url) as good,
            websockets.connect(ws_url, max_size=None) as bad_socket,
        ):
            for message in start_messages(tokens[1]):
                await good.send(message)
            for message in start_messages(tokens[0]):
                await bad_socket.send(message)
            await bad_socket.send(bad)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(drain(bad_socket), 5)
            events = await rest_of(broken)
            assert events[-1].reason == "protocol_error", events[-1]
            if case != "oversize frame":
                assert closed.value.rcvd.code == 1008
                assert reason in closed.value.rcvd.reason, closed.value.rcvd.reason
                assert reason in events[-1].detail
            # The other call still streams: its audio reaches trialrun.
            await good.send(media(2, base64.b64encode(bytes([0x10] * 160)).decode()))
            await next_of_kind(healthy, "audio")
            healthy.hang_up()
            assert (await rest_of(healthy))[-1].reason == "hung_up"
        assert any("closed" in line or "refused" in line for line in server.log_lines()), (
            server.log_lines()
        )


async def test_a_cancelled_next_event_takes_no_event_from_the_call():
    """Regression: a `next_event()` cancelled by a timeout kept waiting in Rust, took the
    next event and dropped it."""
    async with CallServer(validate_signatures=False) as server:
        call, urls = server._core.new_outbound_call()
        twiml = await asyncio.to_thread(
            post_form, urls["voice"], {"CallSid": "CA1", "From": "+1", "To": "+2"}
        )
        token = re.search(r'name="trialrun_token" value="(\w+)"', twiml).group(1)
        ws_url = server.url.replace("http://", "ws://") + "/twilio/stream"
        async with websockets.connect(ws_url) as socket:
            for message in start_messages(token):
                await socket.send(message)
            await next_of_kind(call, "started")
            for _ in range(3):  # nothing arrives: each wait times out and is cancelled
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(call.next_event(), 0.2)
            first, second = bytes([0x10] * 160), bytes([0x20] * 160)
            await socket.send(media(2, base64.b64encode(first).decode()))
            await socket.send(media(3, base64.b64encode(second).decode()))
            heard = [await asyncio.wait_for(call.next_event(), 5) for _ in range(2)]
            assert [e.kind for e in heard] == ["audio", "audio"], heard
            assert [e.audio for e in heard] == [pcm_of_mulaw(first), pcm_of_mulaw(second)]
            call.hang_up()
            assert (await rest_of(call))[-1].reason == "hung_up"


async def test_a_stream_with_an_unknown_token_is_refused():
    async with CallServer(validate_signatures=False) as server:
        ws_url = server.url.replace("http://", "ws://") + "/twilio/stream"
        async with websockets.connect(ws_url) as socket:
            for message in start_messages("0" * 32):
                await socket.send(message)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(drain(socket), 5)
        assert closed.value.rcvd.code == 1008 and "unknown stream token" in closed.value.rcvd.reason
        assert any("unknown stream token" in line for line in server.log_lines())


async def test_hanging_up_a_call_whose_stream_was_refused_before_start_ends_it_at_once():
    """Regression (issue 17, item 15): the hang-up waited for a stream that would never
    come, took 10 s and ended the call as carrier_error."""
    async with CallServer(validate_signatures=False) as server:
        call, urls = server._core.new_outbound_call()
        await asyncio.to_thread(post_form, urls["voice"], {"CallSid": "CA1", "From": "+1"})
        ws_url = server.url.replace("http://", "ws://") + "/twilio/stream"
        async with websockets.connect(ws_url) as socket:
            await socket.send("not json")
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(drain(socket), 5)
        started = time.monotonic()
        call.hang_up()
        events = await rest_of(call, limit_s=5)
        assert events[-1].kind == "ended" and events[-1].reason == "hung_up", events
        assert time.monotonic() - started < 1
        with pytest.raises(CallOverError):
            call.hang_up()


async def test_hanging_up_ends_the_call_and_commands_after_it_fail(agent_url):
    async with (
        LoopbackCarrier({AGENT_NUMBER: f"{agent_url}/voice"}, auth_token=TOKEN) as carrier,
        CallServer(carrier=carrier, phone_number=TRIALRUN_NUMBER) as server,
    ):
        call = await server.place_call(AGENT_NUMBER)
        await next_of_kind(call, "started")
        call.hang_up()
        events = await rest_of(call)
        assert events[-1].reason == "hung_up"
        assert await call.next_event() is None
        with pytest.raises(CallOverError):
            call.send_dtmf("1")


async def test_trialrun_serve_answers_logs_and_records_inbound_calls(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trialrun",
            "serve",
            "--port",
            "0",
            "--no-signature-check",
            "--record",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = await asyncio.to_thread(proc.stdout.readline)
        voice_url = re.search(r"voice webhook (http://\S+)", line).group(1)
        async with LoopbackCarrier(
            {TRIALRUN_NUMBER: voice_url}, speech=lambda text, voice, language: tone(300)
        ) as carrier:
            await carrier.client.create_call(
                to=TRIALRUN_NUMBER,
                from_=AGENT_NUMBER,
                twiml="<Response><Say>hello</Say><Hangup/></Response>",
            )
            lines = []
            while not any("ended" in seen for seen in lines):
                lines.append(await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 10))
        ended = next(seen for seen in lines if "ended" in seen)
        assert "far_end_hung_up" in ended, lines
        recording = re.search(r"recording (\S+\.wav)", ended).group(1)
        with wave.open(recording) as wav:
            assert wav.getnchannels() == 2 and wav.getnframes() >= 2400  # the 300 ms "hello"
    finally:
        proc.send_signal(2)  # Ctrl-C
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
