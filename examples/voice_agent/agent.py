"""A small Twilio Media Streams voice agent: the receptionist of "Acme Dental".

It stands for a user's agent and knows nothing of trialrun. Twilio (or trialrun's loopback
carrier, which speaks the same protocol) POSTs the voice webhook to /voice; the agent answers
with <Connect><Stream> TwiML, and the call's audio then flows over the WebSocket at /media:
mu-law 8 kHz in 20 ms frames both ways.

Run:  python examples/voice_agent/agent.py --port 8765 [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import quoteattr

from fastapi import FastAPI, Request, Response, WebSocket, WebSocketDisconnect

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import speech  # noqa: E402  (beside this file; the example is not a package)

log = logging.getLogger("voice_agent")

GREETING = "Thank you for calling Acme Dental. How can I help you today?"
SCRIPT = [
    "Sure, I can make an appointment for you. When would you like to come in?",
    "Great, your appointment is confirmed. Can I help with anything else?",
]
GOODBYE = "Thank you for calling. Goodbye."
DTMF_REPLIES = {
    "1": "You pressed one. I will book an appointment for you.",
    "2": "You pressed two. Our opening hours are nine to five.",
}
INVALID_OPTION = "Sorry, that is not a valid option."
ALL_PROMPTS = [GREETING, *SCRIPT, GOODBYE, *DTMF_REPLIES.values(), INVALID_OPTION]

FRAME_SECONDS = 0.02


@dataclass
class Settings:
    """Behaviour switches, set from the command line."""

    response_delay_s: float = 0.3
    flaw: str | None = None  # "never-says-goodbye"
    vad_threshold: float = 500.0  # RMS of 16-bit samples; about -36 dBFS
    speech_start_s: float = 0.2  # speech this long starts a caller turn
    turn_end_silence_s: float = 0.7  # silence this long after speech ends it


SETTINGS = Settings()
VOICE: speech.Voice | None = None


def get_voice() -> speech.Voice:
    """The shared voice, made on first use when the app is served by another entry point."""
    global VOICE
    if VOICE is None:
        VOICE = speech.Voice()
    return VOICE


app = FastAPI(title="Acme Dental voice agent")


# --- Webhook ----------------------------------------------------------------------------


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's X-Twilio-Signature: base64 HMAC-SHA1 of the URL + sorted key/value pairs."""
    payload = url + "".join(k + v for k, v in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signed_url_variants(url: str) -> list[str]:
    """The URL as given and with its default port added or dropped, as Twilio's libraries accept."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None or not parts.hostname:
        return [url]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.port is None:
        other = parts._replace(netloc=f"{host}:{default}")
    elif parts.port == default:
        other = parts._replace(netloc=host)
    else:
        return [url]
    return [url, other.geturl()]


def public_url(request: Request) -> str:
    """The URL Twilio called: PUBLIC_URL's scheme and host when set (behind a tunnel)."""
    base = os.environ.get("PUBLIC_URL")
    if not base:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return base.rstrip("/") + request.url.path + query


def stream_url(request: Request) -> str:
    base = os.environ.get("PUBLIC_URL")
    if base:
        parts = urlsplit(base)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}/media"
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"ws://{host}/media"


@app.get("/health")
async def health() -> dict:
    return {"ok": True}


@app.post("/voice")
async def voice(request: Request) -> Response:
    body = (await request.body()).decode("utf-8", "replace")
    params = parse_qsl(body, keep_blank_values=True)
    form = dict(params)
    token = os.environ.get("TWILIO_AUTH_TOKEN")
    if token:
        given = request.headers.get("x-twilio-signature", "")
        urls = signed_url_variants(public_url(request))
        if not any(hmac.compare_digest(twilio_signature(token, u, params), given) for u in urls):
            log.warning("voice webhook refused: bad or missing X-Twilio-Signature")
            return Response("invalid signature", status_code=403, media_type="text/plain")
    log.info(
        "[%s] incoming call from %s to %s (%s)",
        form.get("CallSid", "?"),
        form.get("From", "?"),
        form.get("To", "?"),
        form.get("Direction", "?"),
    )
    twiml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Connect><Stream url={quoteattr(stream_url(request))}>"
        f'<Parameter name="caller" value={quoteattr(form.get("From", ""))}/>'
        "</Stream></Connect></Response>"
    )
    return Response(twiml, media_type="text/xml")


# --- Media stream -----------------------------------------------------------------------


@dataclass
class Prompt:
    name: str
    text: str
    audio: bytes
    generation: int


@dataclass
class Call:
    """One call's state on its stream."""

    ws: WebSocket
    settings: Settings
    stream_sid: str = ""
    call_sid: str = "?"
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    pending_marks: set = field(default_factory=set)
    generation: int = 0  # bumped on barge-in: queued prompts of older generations are dropped
    sending: bool = False
    prompts_said: int = 0
    script_index: int = 0
    ending: bool = False  # goodbye queued; the call ends when its mark comes back
    goodbye_mark: str | None = None
    # Voice activity detection on the caller's audio.
    speech_frames: int = 0
    silence_frames: int = 0
    in_turn: bool = False
    turn_started: float = 0.0
    reply_task: asyncio.Task | None = None

    def log(self, message: str, *args) -> None:
        log.info("[%s] " + message, self.call_sid, *args)

    @property
    def playing(self) -> bool:
        """Agent audio is queued, being sent, or sent but not yet played (mark not back)."""
        return self.sending or not self.queue.empty() or bool(self.pending_marks)

    async def send(self, message: dict) -> None:
        await self.ws.send_text(json.dumps(message))

    def say(self, text: str, *, goodbye: bool = False) -> None:
        self.prompts_said += 1
        name = f"{'goodbye' if goodbye else 'prompt'}-{self.prompts_said}"
        if goodbye:
            self.ending = True
            self.goodbye_mark = name
        self.log("saying %s: %r", name, text)
        self.queue.put_nowait(Prompt(name, text, get_voice().say(text), self.generation))

    async def player(self) -> None:
        """Sends queued prompts until the socket goes away."""
        try:
            await self._play()
        except (WebSocketDisconnect, RuntimeError) as e:  # closed under us: the call is over
            self.log("audio stopped: %s", e.__class__.__name__)

    async def _play(self) -> None:
        """Sends queued prompts in real time, one 20 ms frame per 20 ms, then a mark."""
        clock = time.monotonic()
        while True:
            prompt = await self.queue.get()
            if prompt.generation != self.generation:
                continue
            self.sending = True
            clock = max(clock, time.monotonic())  # absolute deadlines: no drift from sleep
            try:
                for frame in speech.frames(prompt.audio):
                    if prompt.generation != self.generation:
                        break  # barged in on
                    delay = clock - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    payload = base64.b64encode(frame).decode()
                    await self.send(
                        {
                            "event": "media",
                            "streamSid": self.stream_sid,
                            "media": {"payload": payload},
                        }
                    )
                    clock += FRAME_SECONDS
                else:
                    self.pending_marks.add(prompt.name)
                    await self.send(
                        {
                            "event": "mark",
                            "streamSid": self.stream_sid,
                            "mark": {"name": prompt.name},
                        }
                    )
            finally:
                self.sending = False

    async def barge_in(self, why: str) -> None:
        """Caller interrupted: drop queued audio here and at Twilio."""
        self.generation += 1
        while not self.queue.empty():
            self.queue.get_nowait()
        if self.reply_task and not self.reply_task.done():
            self.reply_task.cancel()
        await self.send({"event": "clear", "streamSid": self.stream_sid})
        self.log("interrupted by the caller (%s): sent clear", why)

    def reply_later(self, text: str, *, goodbye: bool = False) -> None:
        """Answers after the configured response delay."""

        async def later() -> None:
            await asyncio.sleep(self.settings.response_delay_s)
            self.say(text, goodbye=goodbye)

        self.reply_task = asyncio.create_task(later())

    def next_line(self) -> None:
        """The reply to a finished caller turn: the next scripted line, then goodbye."""
        if self.script_index < len(SCRIPT):
            self.reply_later(SCRIPT[self.script_index])
            self.script_index += 1
        else:
            self.goodbye()

    def goodbye(self) -> None:
        if self.settings.flaw == "never-says-goodbye":
            self.ending = True  # the flaw: silence, and the call is never ended
            self.log("flaw never-says-goodbye: staying silent instead of saying goodbye")
            return
        self.reply_later(GOODBYE, goodbye=True)
        self.ending = True

    async def on_audio(self, payload: bytes) -> None:
        """Energy VAD: 200 ms of speech starts a turn, 700 ms of silence ends it."""
        loud = speech.rms(speech.mulaw_decode(payload)) >= self.settings.vad_threshold
        frame_s = len(payload) / speech.SAMPLE_RATE
        if loud:
            self.speech_frames += 1
            self.silence_frames = 0
        else:
            self.silence_frames += 1
            if not self.in_turn:
                self.speech_frames = 0
        if not self.in_turn and self.speech_frames * frame_s >= self.settings.speech_start_s - 1e-9:
            self.in_turn = True
            self.turn_started = time.monotonic() - self.speech_frames * frame_s
            self.log("caller started speaking")
            if self.playing and not self.ending:
                await self.barge_in("speech")
        elif (
            self.in_turn
            and self.silence_frames * frame_s >= self.settings.turn_end_silence_s - 1e-9
        ):
            self.in_turn = False
            self.speech_frames = 0
            spoke = time.monotonic() - self.turn_started - self.silence_frames * frame_s
            self.log("caller turn ended after %.2f s of speech", spoke)
            if not self.ending:
                self.next_line()

    async def on_dtmf(self, digit: str) -> None:
        self.log("dtmf %s", digit)
        if self.ending:
            return
        if self.playing:
            await self.barge_in(f"key {digit}")
        if digit == "0":
            self.goodbye()
        else:
            self.reply_later(DTMF_REPLIES.get(digit, INVALID_OPTION))

    async def on_mark(self, name: str) -> bool:
        """A mark came back; returns True when the call should end now."""
        self.pending_marks.discard(name)
        self.log("mark %s played", name)
        return name == self.goodbye_mark


@app.websocket("/media")
async def media(ws: WebSocket) -> None:
    await ws.accept()
    call = Call(ws, SETTINGS)
    player: asyncio.Task | None = None
    try:
        while True:
            message = json.loads(await ws.receive_text())
            event = message.get("event")
            if event == "connected":
                log.info(
                    "stream connected (protocol %s %s)",
                    message.get("protocol"),
                    message.get("version"),
                )
            elif event == "start":
                start = message["start"]
                call.stream_sid = message.get("streamSid") or start["streamSid"]
                call.call_sid = start.get("callSid", "?")
                fmt = start.get("mediaFormat", {})
                call.log(
                    "stream %s started: %s %s Hz x%s, parameters %s",
                    call.stream_sid,
                    fmt.get("encoding"),
                    fmt.get("sampleRate"),
                    fmt.get("channels"),
                    start.get("customParameters", {}),
                )
                player = asyncio.create_task(call.player())
                call.say(GREETING)
            elif event == "media":
                media = message["media"]
                if media.get("track", "inbound") == "inbound":
                    await call.on_audio(base64.b64decode(media["payload"]))
            elif event == "dtmf":
                await call.on_dtmf(message["dtmf"]["digit"])
            elif event == "mark":
                if await call.on_mark(message["mark"]["name"]):
                    call.log("goodbye played: hanging up")
                    await ws.close()
                    break
            elif event == "stop":
                call.log("stream stopped by the carrier")
                break
            else:
                call.log("ignoring unknown event %r", event)
    except WebSocketDisconnect:
        call.log("stream closed by the carrier")
    finally:
        for task in (player, call.reply_task):
            if task and not task.done():
                task.cancel()
        call.log("call over")


# --- Entry point ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Acme Dental: a Twilio Media Streams voice agent")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--response-delay-ms", type=int, default=300)
    parser.add_argument("--flaw", choices=["never-says-goodbye"], default=None)
    parser.add_argument("--vad-threshold", type=float, default=SETTINGS.vad_threshold)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    SETTINGS.response_delay_s = args.response_delay_ms / 1000
    SETTINGS.flaw = args.flaw
    SETTINGS.vad_threshold = args.vad_threshold
    try:
        voice = get_voice()
    except speech.EspeakUnavailable as e:
        sys.exit(f"error: {e}")
    started = time.perf_counter()
    for text in ALL_PROMPTS:  # synthesize every prompt before taking calls
        voice.say(text)
    log.info("synthesized %d prompts in %.2f s", len(ALL_PROMPTS), time.perf_counter() - started)
    asyncio.run(serve(args.host, args.port))


async def serve(host: str, port: int) -> None:
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it (e.g. the port is taken)
            return
        await asyncio.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"listening on http://{shown}:{bound}", flush=True)
    await task


if __name__ == "__main__":
    main()
