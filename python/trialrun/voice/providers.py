"""Model providers for voice tests, built in Rust: pass them to ``TestRunner`` and
``LocalEvaluator``.

- ``LanguageModel.openai(model, base_url=None, api_key=None)``: OpenAI-compatible chat
  completions (OpenAI, vLLM, Ollama, llama.cpp server).
- ``SpeechToText.openai(...)``, ``SpeechToText.deepgram(...)``, ``SpeechToText.python(obj)``.
- ``TextToSpeech.openai(...)``, ``.elevenlabs(...)``, ``.cartesia(...)``, ``.espeak(core)``,
  ``.python(obj)``.

Keys come from the vendor's usual environment variable (OPENAI_API_KEY, DEEPGRAM_API_KEY,
ELEVENLABS_API_KEY, CARTESIA_API_KEY) unless given; a missing one is named in the error. A
``base_url`` points OpenAI-compatible providers at a local server, which needs no key.
Python objects work too: ``transcribe(pcm, rate, language) -> str`` for speech-to-text,
``synthesize(text, voice) -> (pcm, rate)`` for text-to-speech (16-bit mono PCM).
"""

from trialrun._core import LanguageModel, Persona, SpeechToText, TextToSpeech

__all__ = ["LanguageModel", "Persona", "SpeechToText", "TextToSpeech"]
