"""Phone calls to voice agents: trialrun's call server, Twilio, and the loopback carrier.

The call server is trialrun's end of a call: Twilio (or the loopback carrier, which speaks
the same protocols on 127.0.0.1) fetches its voice webhook and streams the call's audio to it
over Media Streams. A carrier places the calls::

    from trialrun.telephony import CallServer, LoopbackCarrier

    async with LoopbackCarrier({"+15550100": "http://127.0.0.1:8765/voice"}) as carrier:
        async with CallServer(carrier=carrier, phone_number="+15550199") as server:
            call = await server.place_call("+15550100")
            async for event in call:
                if event.kind == "mark":
                    call.send_dtmf("1")
                ...

Swap ``LoopbackCarrier(...)`` for ``TwilioCarrier()`` (credentials from TWILIO_ACCOUNT_SID and
TWILIO_AUTH_TOKEN) and give the server a ``public_url`` Twilio can reach, and the same test
calls a real phone number.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trialrun import _core
from trialrun._core import Call, CallEvent, CallOverError, TwilioClient, TwilioError

__all__ = [
    "STATUS_EVENTS",
    "Call",
    "CallEvent",
    "CallOverError",
    "CallServer",
    "Carrier",
    "LoopbackCarrier",
    "NetworkFaults",
    "TwilioCarrier",
    "TwilioClient",
    "TwilioError",
]

#: The status callback events trialrun asks carriers for.
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


_FAULT_DIRECTIONS = ("both", "to_agent", "from_agent")


@dataclass(frozen=True)
class NetworkFaults:
    """What a bad network does to a loopback call's audio, per 20 ms frame, seeded: the same
    ``seed`` loses, delays, duplicates and reorders the same frames of a call again.

    ``loss``, ``reorder`` and ``duplicate`` are shares of frames in [0, 1): a lost frame is a
    whole 20 ms frame that never arrives (as an RTP packet lost); a reordered one arrives
    just after the frame sent after it; a duplicated one arrives twice. ``delay_ms`` is
    added to every frame; ``jitter_ms`` adds up to that much more to each frame (drawn
    anew per frame; frames keep their order, so jitter bunches them up). Delays are rounded
    to whole frames (the bridge's clock). ``direction``: ``"to_agent"`` (what the caller says
    to the agent), ``"from_agent"`` or ``"both"``; the agent is the number dialled, which on a
    ``LoopbackCarrier(faults=...)`` means the callee of every call.
    """

    loss: float = 0.0
    jitter_ms: int = 0
    reorder: float = 0.0
    duplicate: float = 0.0
    delay_ms: int = 0
    seed: int = 0
    direction: str = "both"

    def __post_init__(self) -> None:
        for name in ("loss", "reorder", "duplicate"):
            rate = getattr(self, name)
            if (
                isinstance(rate, bool)
                or not isinstance(rate, int | float)
                or not math.isfinite(rate)
                or not 0 <= rate < 1
            ):
                raise ValueError(
                    f"NetworkFaults.{name} must be a share of frames in [0, 1), not {rate!r}"
                )
        for name in ("jitter_ms", "delay_ms"):
            ms = getattr(self, name)
            if isinstance(ms, bool) or not isinstance(ms, int) or not 0 <= ms <= 60_000:
                raise ValueError(
                    f"NetworkFaults.{name} must be whole milliseconds in [0, 60000], not {ms!r}"
                )
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, int)
            or not 0 <= self.seed < 2**64
        ):
            raise ValueError(f"NetworkFaults.seed must be an int in [0, 2**64), not {self.seed!r}")
        if self.direction not in _FAULT_DIRECTIONS:
            raise ValueError(
                f"NetworkFaults.direction must be one of {', '.join(_FAULT_DIRECTIONS)}, not {self.direction!r}"
            )

    def _json(self, agent_is_callee: bool = True) -> str:
        """The carrier's form: directions by leg (caller, callee) rather than by role."""
        to_agent = "to_callee" if agent_is_callee else "to_caller"
        from_agent = "to_caller" if agent_is_callee else "to_callee"
        direction = {"both": "both", "to_agent": to_agent, "from_agent": from_agent}[self.direction]
        return json.dumps(
            {
                "loss": float(self.loss),
                "jitter_ms": self.jitter_ms,
                "reorder": float(self.reorder),
                "duplicate": float(self.duplicate),
                "delay_ms": self.delay_ms,
                "seed": self.seed,
                "direction": direction,
            }
        )


class Carrier:
    """Something that places calls through Twilio's REST API: Twilio itself, or the loopback
    carrier. ``client`` is the REST client, ``auth_token`` the token webhooks are signed with."""

    client: TwilioClient
    auth_token: str


class TwilioCarrier(Carrier):
    """Real Twilio. Credentials default to the environment variables Twilio's own tools use.

    ``calls_per_second`` paces call creation (Twilio's default limit is 1 per second)."""

    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        *,
        api_base: str | None = None,
        calls_per_second: float = 1.0,
        max_retries: int = 3,
    ) -> None:
        account_sid = account_sid or _env("TWILIO_ACCOUNT_SID")
        self.auth_token = auth_token or _env("TWILIO_AUTH_TOKEN")
        self.client = TwilioClient(
            account_sid,
            self.auth_token,
            api_base=api_base,
            calls_per_second=calls_per_second,
            max_retries=max_retries,
        )

    def __repr__(self) -> str:
        return f"TwilioCarrier(api_base={self.client.api_base!r})"


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ValueError(
            f"TwilioCarrier needs {name}: pass it as an argument or set the environment variable"
        )
    return value


_DIAL_ANSWERS = ("busy", "no-answer", "failed")


def _dial_targets_json(targets: Mapping[str, Any] | None) -> dict[str, Any]:
    """``dial_targets`` as the carrier's core reads them; a bad one raises naming it (the
    core checks the keys)."""
    if targets is None:
        return {}
    if not isinstance(targets, Mapping):
        raise TypeError(
            f"LoopbackCarrier dial_targets must be a mapping of party to answer, not {type(targets).__name__}"
        )
    out: dict[str, Any] = {}
    for name, answer in targets.items():
        if not isinstance(name, str):
            raise TypeError(f"dial target {name!r}: the party must be a str")
        if isinstance(answer, str):
            if answer not in _DIAL_ANSWERS:
                raise ValueError(
                    f"dial target {name}: {answer!r} is not an answer: give "
                    f"{', '.join(repr(a) for a in _DIAL_ANSWERS)} or a list of lines to say"
                )
            out[name] = answer
        elif isinstance(answer, (list, tuple)) and all(isinstance(line, str) for line in answer):
            out[name] = {"say": list(answer)}
        else:
            raise TypeError(
                f"dial target {name}: the answer must be "
                f"{', '.join(repr(a) for a in _DIAL_ANSWERS)} or a list of lines (str) to say, "
                f"not {answer!r}"
            )
    return out


def _offline_speech_for_dial_targets() -> Any:
    """espeak-ng, the simulated caller's offline voice, for dialled parties' lines."""
    try:
        from trialrun.voice.offline import Espeak

        return Espeak().core
    except ImportError as error:
        raise ValueError(
            "LoopbackCarrier dial_targets with lines to say need speech: give speech=... or "
            f'pip install "trialrun[voice]" for espeak-ng ({error})'
        ) from None


class LoopbackCarrier(Carrier):
    """An in-process stand-in for Twilio on 127.0.0.1: its REST API places calls to the
    numbers given, fetching each number's voice webhook (``numbers`` maps phone numbers to
    webhook URLs of agents running locally) and running their TwiML; audio flows in real time
    between the two sides of each call.

    ``speech`` lets agents use ``<Say>``: a text-to-speech provider (``TextToSpeech.openai(...)``
    and the others of ``trialrun.voice.providers``) or an ``Espeak`` speak it in Rust, with no
    Python in the loop; a callable ``(text, voice, language) -> bytes`` of 16-bit PCM at 8 kHz
    is called on a thread. TwiML's voice names are Twilio's: a provider speaks with its own
    configured voice, espeak-ng with the voice or language if it has one. Webhooks are signed with ``auth_token`` (random unless given), so an
    agent that checks ``X-Twilio-Signature`` can be given the same token.

    As Twilio does, the carrier buffers what a media stream sends and plays it out in real
    time: ``jitter_buffer`` seconds (default 0.08) are buffered before each stretch of speech
    plays, so audio sent in bursts plays without gaps; a gap that remains mid-speech counts
    as an underrun (``CallMetrics.underruns``). 0 plays each frame as it arrives.

    The agent's own CallSid (the one its webhook and stream ``start`` see) is a call on the
    REST API: fetch it, hang it up (``Status=completed``) or redirect it (``Url`` or
    ``Twiml``), as Twilio's "update a call" does. ``wss://`` streams are checked against the
    system's roots (SSL_CERT_FILE is honoured) and the CA certificates in ``ca_file`` (PEM),
    for an agent serving TLS with a certificate of its own; ``ws://`` needs nothing.

    ``faults`` (``NetworkFaults``) puts a bad network between the legs of every call; a call
    placed with faults of its own (``CallServer.place_call(..., faults=)``, a voice ``Test``'s
    ``faults``) has those instead. What they did is on the call's result
    (``CallMetrics.network_faults``).

    ``dial_targets`` says what answers the parties an agent's ``<Dial>`` calls, which the
    carrier simulates: keys are phone numbers (compared without spaces, dashes, dots and
    parentheses), ``sip:`` URIs and ``client:<identity>``; values are lines to say (a list
    of str: the party picks up after a second's ringing, says each line and waits for the
    caller's reply, then hangs up), ``"busy"``, ``"no-answer"`` (rings for the ``<Dial>``'s
    ``timeout``) or ``"failed"`` (no such party). A ``<Dial>`` to a party not given fails
    (``DialCallStatus=failed``) and is the call's error, naming it. Lines are spoken with
    ``speech`` (espeak-ng, offline, when none is given).
    """

    def __init__(
        self,
        numbers: Mapping[str, str] | None = None,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        speech: _core.TextToSpeech | Callable[[str, str | None, str | None], bytes] | None = None,
        max_call_duration: float = 600.0,
        jitter_buffer: float = 0.08,
        ca_file: str | os.PathLike[str] | None = None,
        log: bool = False,
        faults: NetworkFaults | None = None,
        dial_targets: Mapping[str, str | Sequence[str]] | None = None,
    ) -> None:
        if faults is not None and not isinstance(faults, NetworkFaults):
            raise TypeError(
                f"LoopbackCarrier faults must be a NetworkFaults, not {type(faults).__name__}"
            )
        targets = _dial_targets_json(dial_targets)
        given_speech = speech  # a worker's replica makes its own default
        if speech is None and any(isinstance(v, dict) for v in targets.values()):
            speech = _offline_speech_for_dial_targets()
        # An Espeak object speaks through its engine, not through Python.
        engine = getattr(speech, "core", None)
        if isinstance(engine, _core.EspeakSpeech):
            speech = engine
        self._core = _core.LoopbackCarrierCore(
            dict(numbers or {}),
            account_sid=account_sid,
            auth_token=auth_token,
            speech=speech,
            max_call_duration=max_call_duration,
            jitter_buffer=jitter_buffer,
            ca_file=ca_file,
            log=log,
            faults=faults._json() if faults is not None else None,
            dial_targets=json.dumps(targets) if targets else None,
        )
        self.faults = faults
        self.dial_targets = dict(dial_targets or {})
        # What a Ray worker needs to run a carrier like this one (trialrun.voice's TestRunner
        # with an executor): its numbers and settings.
        self._numbers = dict(numbers or {})
        self._settings = {
            "auth_token": self._core.auth_token,
            "account_sid": self._core.account_sid,
            "speech": given_speech,
            "max_call_duration": max_call_duration,
            "jitter_buffer": jitter_buffer,
            "ca_file": ca_file,
            "faults": faults,
            "dial_targets": self.dial_targets or None,
        }
        self.auth_token = self._core.auth_token
        self.account_sid = self._core.account_sid
        self.api_base = self._core.api_base
        # No pacing: nothing here limits calls per second.
        self.client = TwilioClient(
            self.account_sid, self.auth_token, api_base=self.api_base, calls_per_second=1e6
        )

    def set_number(self, number: str, voice_url: str) -> None:
        """Points ``number`` at a voice webhook."""
        self._core.set_number(number, voice_url)
        self._numbers[number] = voice_url

    def _replica(self) -> dict[str, Any]:
        """Its numbers and settings, to make a carrier like it elsewhere (a Ray worker):
        ``LoopbackCarrier(**carrier._replica())``."""
        return {"numbers": dict(self._numbers), **self._settings}

    def active_calls(self) -> int:
        return self._core.active_calls()

    def log_lines(self) -> list[str]:
        """What went wrong on calls: unreachable webhooks, TwiML it cannot run, stream errors."""
        return self._core.log_lines()

    def stop(self) -> None:
        self._core.stop()

    async def __aenter__(self) -> LoopbackCarrier:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    def __enter__(self) -> LoopbackCarrier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LoopbackCarrier(api_base={self.api_base!r})"


class CallServer:
    """trialrun's end of phone calls: answers voice webhooks, carries each call's Media
    Stream, and checks every webhook's ``X-Twilio-Signature`` against the carrier's auth token.

    ``public_url`` is the base URL the carrier reaches this server by (an https tunnel for
    real Twilio, the seed's ``ngrok_url``); by default ``http://127.0.0.1:PORT``, which is what
    the loopback carrier needs. ``recordings_dir`` turns on two-channel WAV recordings (caller
    left, agent right). ``audio_events=False`` stops the far end's audio from being passed on
    as events (for load tests, where nothing reads it). ``validate_signatures=False`` is for
    local experiments only.
    """

    def __init__(
        self,
        *,
        carrier: Carrier | None = None,
        phone_number: str | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        public_url: str | None = None,
        auth_token: str | None = None,
        validate_signatures: bool = True,
        recordings_dir: str | os.PathLike[str] | None = None,
        max_call_duration: float = 600.0,
        silence_timeout: float | None = 60.0,
        max_message_bytes: int = 64 * 1024,
        audio_events: bool = True,
        log: bool = False,
    ) -> None:
        self.carrier = carrier
        self.phone_number = phone_number
        token = (
            auth_token
            or (carrier.auth_token if carrier is not None else None)
            or os.environ.get("TWILIO_AUTH_TOKEN")
        )
        self._core = _core.CallServerCore(
            host=host,
            port=port,
            public_url=public_url,
            auth_token=token,
            validate_signatures=validate_signatures,
            max_message_bytes=max_message_bytes,
            max_call_duration=max_call_duration,
            silence_timeout=silence_timeout,
            recordings_dir=Path(recordings_dir) if recordings_dir is not None else None,
            audio_events=audio_events,
            log=log,
        )

    @property
    def url(self) -> str:
        """The public base URL webhooks are built from."""
        return self._core.url

    @property
    def port(self) -> int:
        return self._core.port

    @property
    def inbound_voice_url(self) -> str:
        """The voice webhook to set on a number that should ring this server."""
        return self._core.inbound_voice_url

    async def place_call(
        self,
        to: str,
        *,
        from_: str | None = None,
        send_digits: str | None = None,
        faults: NetworkFaults | None = None,
    ) -> Call:
        """Calls ``to`` through the carrier and returns the call at once; its events tell
        how it goes (status, started, audio, ..., ended). A carrier that refuses the call
        raises TwilioError, naming the reason. ``faults``: network faults on this call
        (``LoopbackCarrier`` only), instead of the carrier's."""
        if self.carrier is None:
            raise ValueError(
                "place_call needs a carrier: CallServer(carrier=LoopbackCarrier(...) or TwilioCarrier())"
            )
        if faults is not None and not isinstance(self.carrier, LoopbackCarrier):
            raise ValueError(
                "place_call faults= needs the LoopbackCarrier: Twilio's network cannot be given faults"
            )
        caller = from_ or self.phone_number
        if not caller:
            raise ValueError(
                "place_call needs a number to call from: CallServer(phone_number=...) or from_="
            )
        call, urls = self._core.new_outbound_call()
        try:
            await self.carrier.client.create_call(
                to=to,
                from_=caller,
                url=urls["voice"],
                status_callback=urls["status_callback"],
                status_callback_event=STATUS_EVENTS,
                send_digits=send_digits,
                network_faults=faults._json() if faults is not None else None,
            )
        except BaseException as error:
            self._core.fail_call(call.id, str(error))
            raise
        return call

    def expect_call(self, from_: str | None = None) -> Call:
        """A call this server will answer when a caller (``from_``, or anyone) rings it.
        Point the number at ``inbound_voice_url`` first (``await listen_on(number)``). A call
        that rang up to 10 s before it was expected is answered too."""
        return self._core.expect_inbound_call(from_)

    async def listen_on(self, number: str | None = None) -> None:
        """Sets ``number`` (default: ``phone_number``) to ring this server, through the
        carrier's REST API (Twilio's IncomingPhoneNumbers: a number of the account). The
        loopback carrier owns every number: one it does not list yet is added."""
        number = number or self.phone_number
        if self.carrier is None or not number:
            raise ValueError("listen_on needs a carrier and a number")
        if isinstance(self.carrier, LoopbackCarrier):
            self.carrier.set_number(number, self.inbound_voice_url)
            return
        await self.carrier.client.set_incoming_number_voice_url(number, self.inbound_voice_url)

    def pacing(self, *, reset: bool = False) -> dict[str, float]:
        """Lateness of every audio frame sent on any call against its 20 ms deadline, since
        the server started or since the last ``pacing(reset=True)``: ``frames``, ``p50_ms``,
        ``p99_ms``, ``max_ms``. For load tests: reset once every call is streaming, read
        before hanging up, and the figures cover just that window (each call's own
        ``pacing`` also holds its setting up and hanging up). Percentiles are within 10 µs
        below 10 ms, and within 1 ms above."""
        return self._core.pacing(reset=reset)

    def log_lines(self) -> list[str]:
        """Refused webhooks and streams, protocol errors: each with its reason."""
        return self._core.log_lines()

    def stop(self) -> None:
        """Hangs up every call and stops serving."""
        self._core.stop()

    async def __aenter__(self) -> CallServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    def __enter__(self) -> CallServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"CallServer(url={self.url!r})"
