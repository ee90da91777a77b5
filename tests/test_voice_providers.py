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

    with pytest.raises(
        ValueError,
        match=r"speech-to-text provider needs a transcribe\(\) method; NoTranscribe has none",
    ):
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


def judged_call():
    from trialrun.voice import (
        Agent,
        CallMetrics,
        Evaluation,
        Scenario,
        Test,
        TestResult,
        Utterance,
        VoiceTestCase,
    )

    test = Test(
        Scenario(
            "s", "Book a visit.", evaluations=[Evaluation("greets", "The agent greets the caller.")]
        ),
        Agent("a", "b"),
    )
    metrics = CallMetrics(
        duration=5.0,
        time_to_first_word=0.1,
        response_latencies=[],
        latency_p50=None,
        latency_p95=None,
        interruptions=[],
        silences=[],
        ended_by="agent",
        end_reason="the agent hung up",
        dtmf_sent="",
        dtmf_heard="",
        turns=0,
    )
    result = TestResult(
        test=test,
        transcript=[Utterance("agent", "Hello, thanks for calling.", 0.1, 1.5)],
        metrics=metrics,
    )
    return VoiceTestCase(test), result


@pytest.mark.parametrize("openai_shape", [False, True])
async def test_a_python_language_model_can_be_the_judge(openai_shape):
    import json

    from trialrun.voice.judge import LocalEvaluator

    class Model:
        def __init__(self) -> None:
            self.requests: list = []

        def chat(self, request: dict):
            self.requests.append(request)
            content = json.dumps(
                {"evaluations": [{"name": "greets", "reason": "hello at [00:00]", "passed": True}]}
            )
            if openai_shape:
                return {
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]
                }
            return {"content": content}

    model = Model()
    case, result = judged_call()
    evaluation = await LocalEvaluator(LanguageModel.python(model)).evaluate_test_case(case, result)
    assert evaluation.score == 1.0 and evaluation.passed()
    assert evaluation.metadata == {
        "criteria": [{"name": "greets", "passed": True, "reason": "hello at [00:00]"}]
    }
    (request,) = model.requests
    assert "model" not in request and request["response_format"]["type"] == "json_schema"
    assert "agent: Hello, thanks for calling." in request["messages"][-1]["content"]


async def test_a_python_language_model_that_raises_fails_the_criteria_with_the_error():
    from trialrun.voice.judge import LocalEvaluator

    class Broken:
        def chat(self, request):
            raise RuntimeError("model offline")

    case, result = judged_call()
    evaluation = await LocalEvaluator(LanguageModel.python(Broken())).evaluate_test_case(
        case, result
    )
    assert evaluation.score == 0.0 and not evaluation.passed()
    assert "model offline" in evaluation.metadata["criteria"][0]["reason"]
