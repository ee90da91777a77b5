"""Type stubs for the Rust extension module trialrun._core."""

import asyncio
import contextvars
import os
import pathlib
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Tuple

__version__: str

class SuiteValidationError(ValueError):
    """A suite's arguments are invalid; the message names the culprit."""

class Threshold:
    """The range a score must fall in to pass; every set bound must hold."""

    def __init__(
        self,
        lt: Optional[float] = None,
        lte: Optional[float] = None,
        gt: Optional[float] = None,
        gte: Optional[float] = None,
    ) -> None: ...
    @property
    def lt(self) -> Optional[float]: ...
    @property
    def lte(self) -> Optional[float]: ...
    @property
    def gt(self) -> Optional[float]: ...
    @property
    def gte(self) -> Optional[float]: ...
    def contains(self, score: float) -> bool: ...

class Evaluation:
    """An evaluator's verdict: a score in [0, 1], an optional threshold and metadata."""

    def __init__(
        self,
        score: float,
        threshold: Optional[Threshold] = None,
        metadata: Optional[Dict[str, Any]] = None,
    ) -> None: ...
    @property
    def score(self) -> float: ...
    @property
    def threshold(self) -> Optional[Threshold]: ...
    @property
    def metadata(self) -> Optional[Dict[str, Any]]: ...
    def passed(self) -> Optional[bool]:
        """True or False against the threshold; None without one."""

class EvaluationResult:
    @property
    def evaluator_id(self) -> str: ...
    @property
    def score(self) -> Optional[float]: ...
    @property
    def threshold(self) -> Optional[Threshold]: ...
    @property
    def verdict(self) -> str:
        """ "passed", "failed", "no_threshold" or "errored"."""
    @property
    def passed(self) -> Optional[bool]: ...
    @property
    def metadata(self) -> Optional[Dict[str, Any]]: ...
    @property
    def error(self) -> Optional[str]: ...
    @property
    def duration_s(self) -> float: ...

class CaseResult:
    @property
    def hash(self) -> str: ...
    @property
    def test_case(self) -> Any: ...
    @property
    def run_id(self) -> str: ...
    @property
    def grid(self) -> Optional[Dict[str, Any]]: ...
    @property
    def output(self) -> Any: ...
    @property
    def duration_s(self) -> float: ...
    @property
    def error(self) -> Optional[str]: ...
    @property
    def evaluations(self) -> List[EvaluationResult]: ...
    @property
    def passed(self) -> bool: ...
    def evaluation(self, evaluator_id: str) -> Optional[EvaluationResult]: ...

class RunInfo:
    @property
    def run_id(self) -> str: ...
    @property
    def grid(self) -> Optional[Dict[str, Any]]: ...

class SuiteResult:
    @property
    def suite_id(self) -> str: ...
    @property
    def status(self) -> str:
        """ "completed" or "interrupted"."""
    @property
    def duration_s(self) -> float: ...
    @property
    def store_path(self) -> Optional[str]: ...
    @property
    def store_error(self) -> Optional[str]: ...
    @property
    def cases(self) -> List[CaseResult]: ...
    @property
    def runs(self) -> List[RunInfo]: ...
    @property
    def run_ids(self) -> List[str]: ...
    @property
    def passed(self) -> bool: ...
    @property
    def totals(self) -> Dict[str, Any]: ...
    def failures(self) -> List[CaseResult]: ...
    def failure_report(self, limit: int = 20) -> str: ...
    def summary(self) -> str: ...
    def assert_passed(self, limit: int = 20) -> None: ...
    def __len__(self) -> int: ...
    def _repr_html_(self) -> str: ...

class SuiteRun:
    """The engine behind run_test_suite: validated on construction, run by start()."""

    def __init__(
        self,
        id: str,
        test_cases: Sequence[Any],
        evaluators: Sequence[Any],
        fn_: Callable[[Any], Any],
        max_test_case_concurrency: Optional[int] = None,
        grid_search_params: Optional[Dict[str, Sequence[Any]]] = None,
        *,
        progress: bool = False,
        record: bool = True,
        store_path: Optional[os.PathLike[str] | str] = None,
    ) -> None: ...
    def start(self, event_loop: asyncio.AbstractEventLoop) -> "asyncio.Future[SuiteResult]": ...
    def interrupt(self) -> None: ...

def md5(text: str) -> str: ...
def default_store_path() -> pathlib.Path: ...
def _bind(
    base_test_case: type, base_test_evaluator: type, grid_var: contextvars.ContextVar[Any]
) -> None: ...

class StoreError(RuntimeError):
    """The run store cannot be used (locked, corrupted, newer, not writable); names the file."""

class RunList:
    """Stored runs, newest first; renders as an HTML table in Jupyter."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> Dict[str, Any]: ...
    @property
    def ids(self) -> List[str]: ...
    def text(self) -> str: ...
    def _repr_html_(self) -> str: ...

class StoredRun:
    """One stored run with its cases and evaluations."""

    @property
    def run_id(self) -> str: ...
    @property
    def suite_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def started_at(self) -> float: ...
    @property
    def ended_at(self) -> Optional[float]: ...
    @property
    def git_commit(self) -> Optional[str]: ...
    @property
    def git_branch(self) -> Optional[str]: ...
    @property
    def grid(self) -> Optional[Dict[str, Any]]: ...
    @property
    def cases(self) -> List[Dict[str, Any]]: ...
    def text(self) -> str: ...
    def to_json(self) -> str: ...
    def to_csv(self) -> str: ...
    def junit_xml(self) -> str: ...
    def html(self, standalone: bool = True) -> str: ...
    def _repr_html_(self) -> str: ...

class Comparison:
    """Two runs compared case by case through their test-case hashes."""

    @property
    def base_id(self) -> str: ...
    @property
    def head_id(self) -> str: ...
    @property
    def added(self) -> List[str]: ...
    @property
    def removed(self) -> List[str]: ...
    @property
    def evaluators(self) -> List[Dict[str, Any]]: ...
    def regressions(
        self,
        newly_failing: bool = True,
        newly_errored: bool = True,
        max_score_drop: Optional[float] = None,
        removed_cases: bool = False,
    ) -> List[Dict[str, Any]]: ...
    def text(
        self,
        newly_failing: bool = True,
        newly_errored: bool = True,
        max_score_drop: Optional[float] = None,
        removed_cases: bool = False,
    ) -> str: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def html(self, standalone: bool = True) -> str: ...
    def _repr_html_(self) -> str: ...

def list_runs(
    suite: Optional[str] = None, limit: int = 20, store_path: Optional[str] = None
) -> RunList: ...
def load_run(
    reference: str = "latest", suite: Optional[str] = None, store_path: Optional[str] = None
) -> StoredRun: ...
def compare_runs(
    base: Optional[str] = None,
    head: Optional[str] = None,
    suite: Optional[str] = None,
    store_path: Optional[str] = None,
) -> Comparison: ...
def gc_runs(keep: int, store_path: Optional[str] = None) -> int: ...
def junit_for_runs(run_ids: List[str], store_path: Optional[str] = None) -> str: ...
def html_for_runs(
    run_ids: List[str], store_path: Optional[str] = None, standalone: bool = False
) -> str: ...

class Viewer:
    """The local web viewer: serves the run store on 127.0.0.1 until stopped."""

    def __init__(self, store_path: Optional[str] = None, port: int = 0) -> None: ...
    @property
    def url(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def running(self) -> bool: ...
    def stop(self) -> None: ...
    def __enter__(self) -> "Viewer": ...
    def __exit__(self, *exc: Any) -> None: ...

class StepsConfigError(ValueError):
    """A step sequence's config, step list, data file or saved state is invalid; the message
    names the file, line and key, or the step. Raised before anything starts."""

class WorkerError(RuntimeError):
    """A worker could not start, become ready, or stopped running; the message has the
    tail of its log, each line prefixed with [worker]."""

class StepsDataError(RuntimeError):
    """Loading the MongoDB test data failed, or a collection has fewer documents than its
    required_count."""

class StepSession:
    """One run of a step sequence (used by trialrun.steps.TestRunner). Dropping it, or
    close(), stops every process it started."""

    def __init__(
        self,
        config_file: str,
        overrides_json: str,
        steps: List[tuple[str, str, str]],
        python: str,
        fallback_id: str,
        force_reset: bool = False,
        from_step: Optional[str] = None,
        only: List[str] = ...,
        store_path: Optional[str] = None,
    ) -> None: ...
    @property
    def notes(self) -> List[str]: ...
    @property
    def config_warnings(self) -> List[str]: ...
    @property
    def suite_id(self) -> str: ...
    @property
    def state_path(self) -> pathlib.Path: ...
    @property
    def run_id(self) -> Optional[str]: ...
    @property
    def finished(self) -> bool: ...
    @property
    def round(self) -> int: ...
    def config_json(self) -> str: ...
    def begin_record(self) -> None: ...
    def start_data(self) -> tuple[Optional[str], Optional[str], bool, bool]:
        """(mongo_uri, database, loaded, embedded)."""
    def start_workers(self) -> None: ...
    def workers(self) -> List[tuple[str, int, Dict[str, str]]]: ...
    def pids(self) -> List[tuple[str, int]]: ...
    def states_json(self) -> tuple[str, str]: ...
    def next_step(self) -> Optional[tuple[int, int, str, str, str]]:
        """(index, round, name, description, worker), or None when finished or stopped."""
    def worker_down(self, worker: str) -> Optional[str]: ...
    def finish_step(
        self,
        index: int,
        round: int,
        outcome: str,
        output_json: Optional[str],
        error: Optional[str],
        reason: Optional[str],
        attempts: int,
        duration_s: float,
        round_state_json: str,
        global_state_json: str,
    ) -> None: ...
    def close(self, interrupted: bool = False, errored: bool = False) -> Optional[str]: ...

# Telephony (src/py/telephony.rs; the public surface is trialrun.telephony).

class TwilioError(RuntimeError):
    """Twilio (or the loopback carrier) refused a request or could not be reached."""

class CallOverError(RuntimeError):
    """The call has ended: nothing more can be sent on it."""

class CallEvent:
    @property
    def kind(self) -> str:
        """status, started, audio, mark, dtmf, recording or ended."""
    @property
    def status(self) -> Optional[str]: ...
    @property
    def call_sid(self) -> Optional[str]: ...
    @property
    def stream_sid(self) -> Optional[str]: ...
    @property
    def parameters(self) -> Optional[Dict[str, str]]: ...
    @property
    def at_ms(self) -> Optional[int]: ...
    @property
    def audio(self) -> Optional[bytes]:
        """16-bit little-endian PCM at 8 kHz."""
    @property
    def name(self) -> Optional[str]: ...
    @property
    def digit(self) -> Optional[str]: ...
    @property
    def recording_url(self) -> Optional[str]: ...
    @property
    def recording_sid(self) -> Optional[str]: ...
    @property
    def reason(self) -> Optional[str]:
        """hung_up, far_end_hung_up, not_answered, max_duration, silence_timeout,
        protocol_error or carrier_error."""
    @property
    def detail(self) -> Optional[str]: ...
    @property
    def duration_ms(self) -> Optional[int]: ...
    @property
    def recording_path(self) -> Optional[str]: ...
    @property
    def pacing(self) -> Optional[Dict[str, float]]:
        """frames, p50_ms, p99_ms, max_ms of outgoing frames against the 20 ms clock."""

class Call:
    @property
    def id(self) -> str: ...
    def send_audio(self, pcm: bytes) -> None: ...
    def send_mulaw(self, mulaw: bytes) -> None: ...
    def send_dtmf(self, digits: str) -> None: ...
    def mark(self, name: str) -> None: ...
    def clear(self) -> None: ...
    def hang_up(self) -> None: ...
    def next_event(self) -> Awaitable[Optional[CallEvent]]: ...
    def __aiter__(self) -> Call: ...
    def __anext__(self) -> Awaitable[CallEvent]: ...

class CallServer:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: Optional[str] = None,
        auth_token: Optional[str] = None,
        validate_signatures: bool = True,
        max_message_bytes: int = 65536,
        max_call_duration: float = 600.0,
        silence_timeout: Optional[float] = 60.0,
        recordings_dir: Optional[Any] = None,
        audio_events: bool = True,
        log: bool = False,
    ) -> None: ...
    @property
    def url(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def inbound_voice_url(self) -> str: ...
    def new_outbound_call(self) -> tuple[Call, Dict[str, str]]: ...
    def expect_inbound_call(self, from_: Optional[str] = None) -> Call: ...
    def fail_call(self, call_id: str, detail: str) -> None: ...
    def pacing(self, *, reset: bool = False) -> Dict[str, float]: ...
    def log_lines(self) -> List[str]: ...
    def stop(self) -> None: ...

class LoopbackCarrier:
    def __init__(
        self,
        numbers: Dict[str, str],
        *,
        account_sid: Optional[str] = None,
        auth_token: Optional[str] = None,
        speech: Optional[Callable[[str, Optional[str], Optional[str]], bytes]] = None,
        max_call_duration: float = 600.0,
        log: bool = False,
        measure_lateness: bool = False,
    ) -> None: ...
    @property
    def api_base(self) -> str: ...
    @property
    def account_sid(self) -> str: ...
    @property
    def auth_token(self) -> str: ...
    def set_number(self, number: str, voice_url: str) -> None: ...
    def active_calls(self) -> int: ...
    def lateness(self, call_sid: str) -> Optional[List[int]]: ...
    def log_lines(self) -> List[str]: ...
    def stop(self) -> None: ...

class TwilioClient:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        api_base: Optional[str] = None,
        calls_per_second: float = 1.0,
        max_retries: int = 3,
        timeout: float = 15.0,
    ) -> None: ...
    @property
    def api_base(self) -> str: ...
    def create_call(
        self,
        *,
        to: str,
        from_: str,
        url: Optional[str] = None,
        twiml: Optional[str] = None,
        method: Optional[str] = None,
        status_callback: Optional[str] = None,
        status_callback_event: Optional[List[str]] = None,
        status_callback_method: Optional[str] = None,
        record: bool = False,
        recording_channels: Optional[str] = None,
        recording_status_callback: Optional[str] = None,
        timeout: Optional[int] = None,
        machine_detection: Optional[str] = None,
        send_digits: Optional[str] = None,
    ) -> Awaitable[Dict[str, Any]]: ...
    def fetch_call(self, sid: str) -> Awaitable[Dict[str, Any]]: ...
    def hang_up(self, sid: str) -> Awaitable[Dict[str, Any]]: ...
    def set_incoming_number_voice_url(
        self, number: str, voice_url: str, method: str = "POST"
    ) -> Awaitable[None]: ...

class EspeakSpeech:
    """espeak-ng text-to-speech, loaded from ``library_path`` with its data at ``data_path``
    (once per process; later instances must name the same paths)."""

    def __init__(
        self,
        library_path: str | os.PathLike[str],
        data_path: str | os.PathLike[str],
        voice: str = "en-us",
        rate_wpm: Optional[int] = None,
    ) -> None: ...
    @property
    def sample_rate(self) -> int: ...
    @property
    def voice(self) -> str: ...
    @property
    def rate_wpm(self) -> int: ...
    def synthesize(self, text: str, voice: Optional[str] = None) -> tuple[bytes, int]: ...
    def synthesize_8k(
        self, text: str, voice: Optional[str] = None, language: Optional[str] = None
    ) -> bytes: ...

def resample_pcm16(pcm: bytes, from_rate: int, to_rate: int) -> bytes: ...

# --- voice: providers, personas, the simulated caller, the judge ---------------------

class LanguageModel:
    """A chat model (trialrun.voice.providers)."""

    @staticmethod
    def openai(
        model: str,
        *,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        max_completion_tokens: bool = False,
        timeout: float = 60.0,
    ) -> LanguageModel: ...
    @staticmethod
    def python(obj: Any) -> LanguageModel:
        """obj.chat(request: dict) -> str | dict (an OpenAI chat body without model in; text,
        {content, tool_calls} or an OpenAI completion out)"""

class SpeechToText:
    @staticmethod
    def openai(
        model: str = "whisper-1",
        *,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        timeout: float = 60.0,
    ) -> SpeechToText: ...
    @staticmethod
    def deepgram(
        model: Optional[str] = None,
        *,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        timeout: float = 60.0,
    ) -> SpeechToText: ...
    @staticmethod
    def python(obj: Any) -> SpeechToText:
        """obj.transcribe(pcm: bytes, rate: int, language: str | None) -> str"""

class TextToSpeech:
    @staticmethod
    def openai(
        model: str = "gpt-4o-mini-tts",
        *,
        voice: Optional[str] = None,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        timeout: float = 60.0,
    ) -> TextToSpeech: ...
    @staticmethod
    def elevenlabs(
        voice: Optional[str] = None,
        *,
        model_id: Optional[str] = None,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        timeout: float = 60.0,
    ) -> TextToSpeech: ...
    @staticmethod
    def cartesia(
        voice: Optional[str] = None,
        *,
        model_id: Optional[str] = None,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        timeout: float = 60.0,
    ) -> TextToSpeech: ...
    @staticmethod
    def espeak(engine: EspeakSpeech) -> TextToSpeech: ...
    @staticmethod
    def python(obj: Any) -> TextToSpeech:
        """obj.synthesize(text: str, voice: str | None) -> (pcm: bytes, rate: int)"""

class Persona:
    """The simulated caller's mind for one call."""

    @staticmethod
    def scripted(script: Any) -> Persona: ...
    @staticmethod
    def llm(
        model: LanguageModel,
        *,
        agent_name: str,
        agent_prompt: str,
        scenario_prompt: str,
        temperature: Optional[float] = None,
        max_tokens: Optional[int] = None,
        language: Optional[str] = None,
    ) -> Persona: ...
    @staticmethod
    def python(obj: Any) -> Persona:
        """obj.reply(turn: dict) -> dict | str | None"""

def simulate_caller(
    call: Call,
    persona: Persona,
    stt: SpeechToText,
    tts: TextToSpeech,
    *,
    voice: Optional[str] = None,
    language: Optional[str] = "en",
    barge_in: bool = True,
    max_turns: int = 12,
    max_duration: float = 180.0,
    silence_turn: float = 6.0,
    turn_gap: float = 0.8,
) -> Awaitable[Dict[str, Any]]: ...
def judge_call(
    model: LanguageModel,
    criteria: List[Tuple[str, str]],
    transcript: List[Any],
    keys: List[Any],
    *,
    duration: float,
    ended_by: str,
    end_reason: str,
    caller_name: str,
    caller_prompt: str,
    scenario: str,
    metrics: Optional[str] = None,
    response_format: str = "json_schema",
    retries: int = 2,
) -> Awaitable[List[Dict[str, Any]]]: ...
