"""Voice providers from Python: keys from the vendors' environment variables (a missing one
is named), local servers without keys, and Python objects checked for the method they need."""

from __future__ import annotations

import pytest

from trialrun.voice.providers import LanguageModel, Persona, SpeechToText, TextToSpeech


@pytest.fixture(autouse=True)
def no_vendor_keys(monkeypatch):
    for name in ("OPENAI_API_KEY", "DEEPGRAM_API_KEY", "ELEVENLABS_API_KEY", "CARTESIA_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    "make, variable",
    [
        (lambda: LanguageModel.openai("gpt-4o-mini"), "OPENAI_API_KEY"),
        (lambda: SpeechToText.openai(), "OPENAI_API_KEY"),
        (lambda: TextToSpeech.openai(), "OPENAI_API_KEY"),
        (lambda: SpeechToText.deepgram(), "DEEPGRAM_API_KEY"),
        (lambda: TextToSpeech.elevenlabs(), "ELEVENLABS_API_KEY"),
        (lambda: TextToSpeech.cartesia(), "CARTESIA_API_KEY"),
    ],
)
def test_a_missing_key_names_its_environment_variable(make, variable):
    with pytest.raises(ValueError, match=variable):
        make()


def test_keys_from_the_environment_or_arguments_and_none_for_a_local_server(monkeypatch):
    monkeypatch.setenv("DEEPGRAM_API_KEY", "dg-key")
    SpeechToText.deepgram()
    TextToSpeech.elevenlabs("voice-id", api_key="el-key")
    LanguageModel.openai("llama3", base_url="http://127.0.0.1:11434/v1")  # Ollama: no key
    SpeechToText.openai("whisper-1", base_url="http://127.0.0.1:8000/v1")


def test_python_objects_must_have_the_method_they_stand_for():
    class NoTranscribe:
        pass

    with pytest.raises(ValueError, match=r"speech-to-text provider needs a transcribe\(\) method; NoTranscribe has none"):
        SpeechToText.python(NoTranscribe())
    with pytest.raises(ValueError, match=r"synthesize\(\)"):
        TextToSpeech.python(NoTranscribe())
    with pytest.raises(ValueError, match=r"reply\(\)"):
        Persona.python(NoTranscribe())


def test_a_bad_script_is_refused_naming_the_entry():
    with pytest.raises(ValueError, match=r"script: lines\[0\]"):
        Persona.scripted([{"sya": "typo"}])
    with pytest.raises(ValueError, match=r"rules\[0\]: missing \"when\""):
        Persona.scripted({"lines": ["hi"], "rules": [{"say": "x"}]})
