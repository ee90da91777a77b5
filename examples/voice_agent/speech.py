"""Speech for the example agent: espeak-ng text-to-speech, resampling to 8 kHz, G.711 mu-law.

Pure Python apart from espeak-ng itself (the `espeakng-loader` package ships the library and
its data; it is driven here through ctypes). `audioop` is gone in Python 3.13, so mu-law and
resampling are written out; prompts are synthesized once and cached.
"""

from __future__ import annotations

import ctypes
import math
import threading
from functools import lru_cache

SAMPLE_RATE = 8000
FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law, the frame size Twilio uses
MULAW_SILENCE = 0xFF

# --- G.711 mu-law -----------------------------------------------------------------------

_BIAS = 0x84
_CLIP = 32635


def _encode_sample(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sign else sample, _CLIP) + _BIAS
    exponent = (magnitude >> 7).bit_length() - 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _decode_byte(byte: int) -> int:
    byte = ~byte & 0xFF
    exponent = (byte >> 4) & 0x07
    sample = (((byte & 0x0F) << 3) + _BIAS) << exponent
    sample -= _BIAS
    return -sample if byte & 0x80 else sample


# Lookup tables: every 16-bit sample (offset by 32768) and every mu-law byte.
_ENCODE = bytes(_encode_sample(s) for s in range(-32768, 32768))
MULAW_TO_LINEAR: tuple[int, ...] = tuple(_decode_byte(b) for b in range(256))


def mulaw_encode(samples: list[int]) -> bytes:
    """16-bit linear samples to mu-law bytes."""
    table = _ENCODE
    return bytes(table[s + 32768] for s in samples)


def mulaw_decode(data: bytes) -> list[int]:
    """Mu-law bytes to 16-bit linear samples."""
    table = MULAW_TO_LINEAR
    return [table[b] for b in data]


def rms(samples: list[int]) -> float:
    """Root mean square of linear samples (0 for no samples)."""
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


# --- Resampling -------------------------------------------------------------------------

_HALF_TAPS = 16  # taps each side of the output instant


@lru_cache(maxsize=8)
def _kernels(rate_in: int, rate_out: int) -> tuple[int, int, list[list[float]]]:
    """Polyphase windowed-sinc filters for rate_in -> rate_out (up/down by their gcd)."""
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    # Low-pass just under the output's Nyquist (and the input's, when upsampling).
    cutoff = 0.45 * min(rate_in, rate_out) / rate_in  # cycles per input sample
    phases = []
    for p in range(up):
        frac = p / up
        taps = []
        for j in range(2 * _HALF_TAPS):
            d = (j - _HALF_TAPS + 1) - frac  # distance from the output instant, input samples
            x = 2 * cutoff * d
            sinc = 1.0 if x == 0 else math.sin(math.pi * x) / (math.pi * x)
            w = d / _HALF_TAPS  # Blackman window over [-1, 1]
            window = 0.42 + 0.5 * math.cos(math.pi * w) + 0.08 * math.cos(2 * math.pi * w)
            taps.append(sinc * max(window, 0.0))
        total = sum(taps)
        phases.append([t / total for t in taps])  # unity gain at DC
    return up, down, phases


def resample(samples: list[int], rate_in: int, rate_out: int = SAMPLE_RATE) -> list[int]:
    """Band-limited resampling of 16-bit samples; output is clipped to 16 bits."""
    if rate_in == rate_out:
        return list(samples)
    up, down, phases = _kernels(rate_in, rate_out)
    pad = [0] * _HALF_TAPS
    padded = pad + list(samples) + pad
    n_out = len(samples) * up // down
    out = []
    for n in range(n_out):
        pos = n * down
        i, p = divmod(pos, up)
        window = padded[i + 1 : i + 1 + 2 * _HALF_TAPS]  # input i-15 .. i+16, shifted by pad
        value = sum(map(float.__mul__, phases[p], map(float, window)))
        out.append(max(-32768, min(32767, round(value))))
    return out


# --- espeak-ng --------------------------------------------------------------------------

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_RATE = 1
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class EspeakUnavailable(RuntimeError):
    """espeak-ng could not be loaded."""


class Espeak:
    """One espeak-ng instance (the library is process-global, so calls are serialized)."""

    def __init__(self, voice: str = "en-us", words_per_minute: int = 165) -> None:
        try:
            import espeakng_loader
        except ImportError as e:  # the agent's only non-web dependency
            raise EspeakUnavailable(
                "the example voice agent needs espeak-ng from the PyPI package "
                "'espeakng-loader': pip install espeakng-loader"
            ) from e
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        data_path = espeakng_loader.get_data_path().encode()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0)
        if rate <= 0:
            raise EspeakUnavailable(f"espeak-ng failed to initialise (data at {data_path!r})")
        self.rate = rate
        self._lib = lib
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()

        def on_audio(wav, count, _events):  # called during espeak_Synth
            if wav and count > 0:
                self._chunks.append(ctypes.string_at(wav, count * 2))
            return 0

        self._callback = _SYNTH_CALLBACK(on_audio)  # kept alive as long as self
        lib.espeak_SetSynthCallback(self._callback)
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EspeakUnavailable(f"espeak-ng has no voice {voice!r}")
        lib.espeak_SetParameter(_ESPEAK_RATE, words_per_minute, 0)

    def synthesize(self, text: str) -> list[int]:
        """16-bit samples at `self.rate` for `text`."""
        data = text.encode("utf-8") + b"\0"
        with self._lock:
            self._chunks = []
            self._lib.espeak_Synth(data, len(data), 0, 0, 0, _ESPEAK_CHARS_UTF8, None, None)
            self._lib.espeak_Synchronize()
            raw = b"".join(self._chunks)
        samples = memoryview(raw).cast("h")  # native-endian int16, as espeak writes it
        return list(samples)


class Voice:
    """Text to 8 kHz mu-law, with a cache: the agent's prompts are synthesized once."""

    def __init__(self, espeak: Espeak | None = None) -> None:
        self.espeak = espeak or Espeak()
        self._cache: dict[str, bytes] = {}

    def say(self, text: str) -> bytes:
        """Mu-law audio of `text`, padded with silence to whole 20 ms frames."""
        audio = self._cache.get(text)
        if audio is None:
            pcm = resample(self.espeak.synthesize(text), self.espeak.rate, SAMPLE_RATE)
            audio = mulaw_encode(pcm)
            short = -len(audio) % FRAME_BYTES
            audio += bytes([MULAW_SILENCE]) * short
            self._cache[text] = audio
        return audio


def frames(audio: bytes) -> list[bytes]:
    """Audio cut into 20 ms frames."""
    return [audio[i : i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES)]
