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
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit
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
TRANSFERRING = "Please hold while I transfer your call."
ALL_PROMPTS = [GREETING, *SCRIPT, GOODBYE, *DTMF_REPLIES.values(), INVALID_OPTION, TRANSFERRING]
FRONT_DESK_KEY = "9"

FRAME_SECONDS = 0.02


@dataclass
class Settings:
    """Behaviour switches, set from the command line."""

    response_delay_s: float = 0.3
    flaw: str | None = None  # "never-says-goodbye"
    vad_threshold: float = 500.0  # RMS of 16-bit samples; about -36 dBFS
    speech_start_s: float = 0.2  # speech this long starts a caller turn
    turn_end_silence_s: float = 0.7  # silence this long after speech ends it
    front_desk: str | None = None  # the number key 9 transfers to
    hang_up: str = "stream"  # "stream": close the WebSocket; "rest": Twilio's REST API


def twilio_rest() -> tuple[str, str, str] | None:
    """(API base, account sid, auth token) from the environment, when the agent may use
    Twilio's REST API on its calls."""
    sid, token = os.environ.get("TWILIO_ACCOUNT_SID"), os.environ.get("TWILIO_AUTH_TOKEN")
    if not (sid and token):
        return None
    return os.environ.get("TWILIO_API_BASE", "https://api.twilio.com").rstrip("/"), sid, token


def update_call(call_sid: str, form: dict[str, str]) -> None:
    """Twilio's "update a call in progress" (POST /Calls/{sid}.json): Twiml= redirects it,
    Status=completed hangs it up."""
    rest = twilio_rest()
    if rest is None:
        raise RuntimeError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are needed to update a call")
    base, sid, token = rest
    request = urllib.request.Request(
        f"{base}/2010-04-01/Accounts/{sid}/Calls/{call_sid}.json",
        data=urlencode(form).encode(),
        method="POST",
    )
    auth = base64.b64encode(f"{sid}:{token}".encode()).decode()
    request.add_header("Authorization", f"Basic {auth}")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def dial_twiml(number: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response><Dial>{number}</Dial></Response>'


# Calls handed to the front desk by closing their stream: <Connect action> asks what next.
HANDED_OFF: dict[str, str] = {}


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


async def signed_form(request: Request) -> dict[str, str] | None:
    """The webhook's form, or None when TWILIO_AUTH_TOKEN is set and the request's
    X-Twilio-Signature does not match it."""
    body = (await request.body()).decode("utf-8", "replace")
    params = parse_qsl(body, keep_blank_values=True)
    token = os.environ.get("TWILIO_AUTH_TOKEN")
    if token:
        given = request.headers.get("x-twilio-signature", "")
        urls = signed_url_variants(public_url(request))
        if not any(hmac.compare_digest(twilio_signature(token, u, params), given) for u in urls):
            log.warning("%s refused: bad or missing X-Twilio-Signature", request.url.path)
            return None
    return dict(params)


REFUSED = Response("invalid signature", status_code=403, media_type="text/plain")


@app.post("/voice")
async def voice(request: Request) -> Response:
    form = await signed_form(request)
    if form is None:
        return REFUSED
    log.info(
        "[%s] incoming call from %s to %s (%s)",
        form.get("CallSid", "?"),
        form.get("From", "?"),
        form.get("To", "?"),
        form.get("Direction", "?"),
    )
    # A stream the agent closes to transfer is followed by what /after-stream answers.
    hand_off = SETTINGS.front_desk and twilio_rest() is None
    connect = '<Connect action="/after-stream">' if hand_off else "<Connect>"
    twiml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response>{connect}<Stream url={quoteattr(stream_url(request))}>"
        f'<Parameter name="caller" value={quoteattr(form.get("From", ""))}/>'
        "</Stream></Connect></Response>"
    )
    return Response(twiml, media_type="text/xml")


@app.post("/after-stream")
async def after_stream(request: Request) -> Response:
    """<Connect action>: the stream was closed; a call handed to the front desk is dialled
    through, any other hangs up."""
    form = await signed_form(request)
    if form is None:
        return REFUSED
    number = HANDED_OFF.pop(form.get("CallSid", ""), None)
    if number is None:
        return Response("<Response><Hangup/></Response>", media_type="text/xml")
    log.info("[%s] handing off to %s", form.get("CallSid"), number)
    return Response(dial_twiml(number), media_type="text/xml")


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
    transfer_mark: str | None = None  # the front desk is dialled when it comes back
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

    def say(self, text: str, *, goodbye: bool = False, transfer: bool = False) -> None:
        self.prompts_said += 1
        kind = "goodbye" if goodbye else "transfer" if transfer else "prompt"
        name = f"{kind}-{self.prompts_said}"
        if goodbye or transfer:
            self.ending = True
        if goodbye:
            self.goodbye_mark = name
        if transfer:
            self.transfer_mark = name
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

    def reply_later(self, text: str, *, goodbye: bool = False, transfer: bool = False) -> None:
        """Answers after the configured response delay."""

        async def later() -> None:
            await asyncio.sleep(self.settings.response_delay_s)
            self.say(text, goodbye=goodbye, transfer=transfer)

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
        elif digit == FRONT_DESK_KEY and self.settings.front_desk:
            self.reply_later(TRANSFERRING, transfer=True)
            self.ending = True
        else:
            self.reply_later(DTMF_REPLIES.get(digit, INVALID_OPTION))

    async def on_mark(self, name: str) -> bool:
        """A mark came back; returns True when the agent is done with the stream (it then
        closes it)."""
        self.pending_marks.discard(name)
        self.log("mark %s played", name)
        if name == self.transfer_mark:
            return await self.transfer()
        if name != self.goodbye_mark:
            return False
        if self.settings.hang_up == "rest":
            self.log("goodbye played: hanging up through the REST API")
            await asyncio.to_thread(update_call, self.call_sid, {"Status": "completed"})
            return False  # the carrier ends the stream
        self.log("goodbye played: hanging up")
        return True

    async def transfer(self) -> bool:
        """To the front desk: a REST redirect to <Dial> when the agent has Twilio
        credentials (the carrier stops the stream), else a hand-off by closing the stream,
        which <Connect action> follows."""
        number = self.settings.front_desk
        assert number is not None
        if twilio_rest() is not None:
            self.log("transferring to %s by redirecting the call", number)
            await asyncio.to_thread(update_call, self.call_sid, {"Twiml": dial_twiml(number)})
            return False
        self.log("transferring to %s by closing the stream", number)
        HANDED_OFF[self.call_sid] = number
        return True


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
    parser.add_argument(
        "--front-desk", metavar="NUMBER", help="key 9 transfers the caller to this number"
    )
    parser.add_argument(
        "--hang-up",
        choices=["stream", "rest"],
        default="stream",
        help="end calls by closing the stream, or through Twilio's REST API",
    )
    args = parser.parse_args(argv)
    if args.hang_up == "rest" and twilio_rest() is None:
        parser.error("--hang-up rest needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    SETTINGS.response_delay_s = args.response_delay_ms / 1000
    SETTINGS.flaw = args.flaw
    SETTINGS.vad_threshold = args.vad_threshold
    SETTINGS.front_desk = args.front_desk
    SETTINGS.hang_up = args.hang_up
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
