"""Type stubs for the Rust extension module trialrun._core."""

import asyncio
import contextvars
import os
import pathlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypedDict, final

from typing_extensions import Self

__version__: str

_Verdict = Literal["passed", "failed", "no_threshold", "errored"]
_RunStatus = Literal["running", "completed", "interrupted", "failed", "stopped", "skipped"]
_CallEventKind = Literal["status", "started", "audio", "mark", "dtmf", "recording", "ended"]
_EndReason = Literal[
    "hung_up",
    "far_end_hung_up",
    "not_answered",
    "max_duration",
    "silence_timeout",
    "protocol_error",
    "carrier_error",
]

class _ToolCall(TypedDict):
    id: str
    name: str
    arguments: dict[str, Any]

class _ChatAnswer(TypedDict):
    content: str | None
    tool_calls: list[_ToolCall]
    finish_reason: str | None
    usage: dict[str, int] | None

class _Pacing(TypedDict):
    """Frames sent and their lateness against the 20 ms clock, in milliseconds."""

    frames: int
    p50_ms: float
    p99_ms: float
    max_ms: float

class SuiteValidationError(ValueError):
    """A suite's arguments are invalid; the message names the culprit."""

@final
class Threshold:
    """The range a score must fall in to pass; every set bound must hold."""

    def __new__(
        cls,
        lt: float | None = None,
        lte: float | None = None,
        gt: float | None = None,
        gte: float | None = None,
    ) -> Self: ...
    @property
    def lt(self) -> float | None: ...
    @property
    def lte(self) -> float | None: ...
    @property
    def gt(self) -> float | None: ...
    @property
    def gte(self) -> float | None: ...
    def contains(self, score: float) -> bool: ...

@final
class Evaluation:
    """An evaluator's verdict: a score in [0, 1], an optional threshold, metadata and
    assertions (Autoblocks' `Assertion`s, kept as given)."""

    def __new__(
        cls,
        score: float,
        threshold: Threshold | None = None,
        metadata: dict[str, Any] | None = None,
        assertions: list[Any] | None = None,
    ) -> Self: ...
    @property
    def score(self) -> float: ...
    @property
    def threshold(self) -> Threshold | None: ...
    @property
    def metadata(self) -> dict[str, Any] | None: ...
    @property
    def assertions(self) -> list[Any] | None: ...
    def passed(self) -> bool | None:
        """True or False against the threshold; None without one."""

@final
class EvaluationResult:
    @property
    def evaluator_id(self) -> str: ...
    @property
    def score(self) -> float | None: ...
    @property
    def threshold(self) -> Threshold | None: ...
    @property
    def verdict(self) -> _Verdict: ...
    @property
    def passed(self) -> bool | None: ...
    @property
    def metadata(self) -> dict[str, Any] | None: ...
    @property
    def assertions(self) -> list[Any] | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def duration_s(self) -> float: ...
    @property
    def retries(self) -> int: ...
    @property
    def attempts(self) -> list[dict[str, Any]]: ...
    @property
    def usage(self) -> dict[str, int] | None: ...

@final
class CaseResult:
    @property
    def hash(self) -> str: ...
    @property
    def label(self) -> str | None: ...
    @property
    def test_case(self) -> Any: ...
    @property
    def run_id(self) -> str: ...
    @property
    def grid(self) -> dict[str, Any] | None: ...
    @property
    def output(self) -> Any: ...
    @property
    def duration_s(self) -> float: ...
    @property
    def retries(self) -> int: ...
    @property
    def attempts(self) -> list[dict[str, Any]]: ...
    @property
    def usage(self) -> dict[str, int] | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def evaluations(self) -> list[EvaluationResult]: ...
    @property
    def passed(self) -> bool: ...
    @property
    def trial(self) -> int: ...
    @property
    def trials(self) -> list[CaseResult]: ...
    @property
    def pass_rate(self) -> float: ...
    @property
    def ci(self) -> tuple[float, float]: ...
    @property
    def flaky(self) -> bool: ...
    @property
    def verdict(self) -> Literal["passed", "failed", "flaky"]: ...
    def evaluation(self, evaluator_id: str) -> EvaluationResult | None: ...

@final
class RunInfo:
    @property
    def run_id(self) -> str: ...
    @property
    def grid(self) -> dict[str, Any] | None: ...

@final
class SuiteResult:
    @property
    def suite_id(self) -> str: ...
    @property
    def status(self) -> _RunStatus: ...
    @property
    def duration_s(self) -> float: ...
    @property
    def store_path(self) -> str | None: ...
    @property
    def store_error(self) -> str | None: ...
    @property
    def skip_reason(self) -> str | None: ...
    @property
    def stop_reason(self) -> str | None: ...
    @property
    def rescored_from(self) -> str | None: ...
    @staticmethod
    def _skipped(suite_id: str, reason: str) -> SuiteResult: ...
    @property
    def cases(self) -> list[CaseResult]: ...
    @property
    def runs(self) -> list[RunInfo]: ...
    @property
    def run_ids(self) -> list[str]: ...
    @property
    def passed(self) -> bool: ...
    @property
    def totals(self) -> dict[str, Any]: ...
    def failures(self) -> list[CaseResult]: ...
    def failure_report(self, limit: int = 20) -> str: ...
    def summary(self) -> str: ...
    def assert_passed(self, limit: int = 20) -> None: ...
    def __len__(self) -> int: ...
    def _repr_html_(self) -> str: ...

@final
class SuiteRun:
    """The engine behind run_test_suite: validated on construction, run by start()."""

    def __new__(
        cls,
        id: str,
        test_cases: Sequence[Any],
        evaluators: Sequence[Any],
        fn_: Callable[[Any], Any],
        max_test_case_concurrency: int | None = None,
        grid_search_params: dict[str, Sequence[Any]] | None = None,
        *,
        before_evaluators_hook: Callable[[Any, Any], Any] | None = None,
        progress: bool = False,
        record: bool = True,
        store_path: os.PathLike[str] | str | None = None,
        run_id: str | None = None,
        repeats: int | None = None,
        verdict: str | None = None,
        limits: SuiteLimits | None = None,
        wrap: Callable[[Any, int, str], Any] | None = None,
        shard: tuple[int, int] | None = None,
        resume: bool = False,
        cache: str | None = None,
        rescore: str | None = None,
        load_output: Callable[[Any], Any] | None = None,
    ) -> Self: ...
    def start(self, event_loop: asyncio.AbstractEventLoop) -> asyncio.Future[SuiteResult]: ...
    def progress(self) -> tuple[int, int, int]:
        """(cases done, cases planned, cases failing so far)."""
    def interrupt(self) -> None: ...

@final
class SuiteLimits:
    """A suite's adaptive concurrency, budget and stops; callee 0 is fn, 1 + i evaluator i."""

    def __new__(
        cls,
        case_var: contextvars.ContextVar[Any],
        *,
        adaptive: bool = True,
        max_tokens: int | None = None,
        max_cost: float | None = None,
        prices: dict[str, tuple[float, float]] | None = None,
    ) -> Self: ...
    def epoch(self, callee: int) -> int: ...
    def rate_limited(self, callee: int, epoch: int) -> None: ...
    def succeeded(self, callee: int) -> None: ...
    def limit(self, callee: int) -> int | None: ...
    def stop_now(self, reason: str) -> None: ...
    def used(self) -> tuple[int, float]: ...

@final
class CallRecord:
    """One fn or evaluator call's retries and usage (set in its context by the engine)."""

    def retried(self, error: str, wait_s: float) -> None: ...
    def usage(self, model: str | None, input_tokens: int, output_tokens: int) -> None: ...
    @property
    def retries(self) -> int: ...

def retry_after_seconds(value: str) -> float | None: ...
def backoff_seconds(attempt: int, base_s: float, cap_s: float) -> float: ...
def set_key_limits(
    key: str, requests_per_minute: float | None = None, tokens_per_minute: float | None = None
) -> None: ...
def reserve_key(key: str, tokens: float = 0.0) -> float | None: ...
def md5(text: str) -> str: ...
def default_store_path() -> pathlib.Path: ...
def _bind(
    base_test_case: type, base_test_evaluator: type, grid_var: contextvars.ContextVar[Any]
) -> None: ...

class StoreError(RuntimeError):
    """The run store cannot be used (locked, corrupted, newer, not writable); names the file."""

@final
class RunList:
    """Stored runs, newest first; renders as an HTML table in Jupyter."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: int, /) -> dict[str, Any]: ...
    @property
    def ids(self) -> list[str]: ...
    def text(self) -> str: ...
    def _repr_html_(self) -> str: ...

@final
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
    def ended_at(self) -> float | None: ...
    @property
    def git_commit(self) -> str | None: ...
    @property
    def git_branch(self) -> str | None: ...
    @property
    def grid(self) -> dict[str, Any] | None: ...
    @property
    def cases(self) -> list[dict[str, Any]]: ...
    @property
    def review(self) -> dict[str, Any]: ...
    def text(self) -> str: ...
    def to_json(self) -> str: ...
    def to_csv(self) -> str: ...
    def junit_xml(self) -> str: ...
    def html(self, standalone: bool = True) -> str: ...
    def _repr_html_(self) -> str: ...

@final
class Comparison:
    """Two runs compared case by case through their test-case hashes."""

    @property
    def base_id(self) -> str: ...
    @property
    def head_id(self) -> str: ...
    @property
    def added(self) -> list[str]: ...
    @property
    def removed(self) -> list[str]: ...
    @property
    def evaluators(self) -> list[dict[str, Any]]: ...
    def regressions(
        self,
        newly_failing: bool = True,
        newly_errored: bool = True,
        max_score_drop: float | None = None,
        removed_cases: bool = False,
        alpha: float = 0.05,
    ) -> list[dict[str, Any]]: ...
    def text(
        self,
        newly_failing: bool = True,
        newly_errored: bool = True,
        max_score_drop: float | None = None,
        removed_cases: bool = False,
        alpha: float = 0.05,
    ) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...
    def html(self, standalone: bool = True) -> str: ...
    def _repr_html_(self) -> str: ...

def list_runs(
    suite: str | None = None, limit: int = 20, store_path: str | None = None
) -> RunList: ...
def load_run(
    reference: str = "latest", suite: str | None = None, store_path: str | None = None
) -> StoredRun: ...
def compare_runs(
    base: str | None = None,
    head: str | None = None,
    suite: str | None = None,
    store_path: str | None = None,
) -> Comparison: ...
def _battle_baseline(
    store_path: os.PathLike[str] | str, suite_id: str, case_hash: str, evaluator_id: str
) -> str | None: ...
def _save_battle_baseline(
    store_path: os.PathLike[str] | str,
    suite_id: str,
    case_hash: str,
    evaluator_id: str,
    baseline: str,
) -> None: ...
def gc_runs(keep: int, store_path: str | None = None) -> int: ...
def old_runs(keep: int, store_path: str | None = None) -> list[str]: ...
def call_timeline(output_json: str) -> tuple[str, str] | None: ...
def clear_cache(suite: str | None = None, store_path: str | None = None) -> int: ...
def cache_sizes(store_path: str | None = None) -> list[tuple[str, int, int]]: ...
def stored_suite(
    reference: str, cases: bool = True, store_path: str | None = None
) -> tuple[str, str, str | None, str | None, list[tuple[str, str]]]: ...
def merge_shards(
    sources: Sequence[os.PathLike[str] | str],
    store_path: os.PathLike[str] | str | None = None,
    allow_mixed_commits: bool = False,
) -> list[dict[str, Any]]: ...
def save_review(
    run_id: str,
    job: tuple[str, list[str], str | None] | None,
    items: list[tuple[str, Any, Any]],
    store_path: os.PathLike[str] | str | None = None,
) -> None: ...
def grade_case(
    run: str,
    case_hash: str,
    grade: str,
    score: float | None = None,
    note: str | None = None,
    store_path: os.PathLike[str] | str | None = None,
) -> dict[str, Any]: ...

@final
class ManualRun:
    """A run whose results are added by hand (RunManager): start, add_result, end."""

    def __new__(cls, suite_id: str, store_path: os.PathLike[str] | str | None = None) -> Self: ...
    def start(self) -> str: ...
    def add_result(
        self,
        test_case: Any,
        output: Any,
        duration_s: float = 0.0,
        evaluations: Sequence[Any] | None = None,
        *,
        error: str | None = None,
        evaluation_errors: Sequence[tuple[str, str]] | None = None,
    ) -> str: ...
    def end(self) -> None: ...
    @property
    def suite_id(self) -> str: ...
    @property
    def store_path(self) -> pathlib.Path: ...
    @property
    def run_id(self) -> str: ...
    @property
    def started(self) -> bool: ...
    @property
    def ended(self) -> bool: ...

def junit_for_runs(run_ids: list[str], store_path: str | None = None) -> str: ...
def html_for_runs(
    run_ids: list[str], store_path: str | None = None, standalone: bool = False
) -> str: ...

@final
class Viewer:
    """The local web viewer: serves the run store on 127.0.0.1 until stopped."""

    def __new__(cls, store_path: str | None = None, port: int = 0) -> Self: ...
    @property
    def url(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def running(self) -> bool: ...
    def stop(self) -> None: ...
    def __enter__(self) -> Viewer: ...
    def __exit__(
        self, _exc_type: Any = None, _exc_value: Any = None, _traceback: Any = None, /
    ) -> None: ...

class StepsConfigError(ValueError):
    """A step sequence's config, step list, data file or saved state is invalid; the message
    names the file, line and key, or the step. Raised before anything starts."""

class WorkerError(RuntimeError):
    """A worker could not start, become ready, or stopped running; the message has the
    tail of its log, each line prefixed with [worker]."""

class StepsDataError(RuntimeError):
    """Loading the MongoDB test data failed, or a collection has fewer documents than its
    required_count."""

@final
class StepSession:
    """One run of a step sequence (used by trialrun.steps.TestRunner). Dropping it, or
    close(), stops every process it started."""

    def __new__(
        cls,
        config_file: str,
        overrides_json: str,
        steps: list[tuple[str, str, str]],
        python: str,
        fallback_id: str,
        force_reset: bool = False,
        from_step: str | None = None,
        only: list[str] = ...,
        store_path: str | None = None,
    ) -> Self: ...
    @property
    def notes(self) -> list[str]: ...
    @property
    def config_warnings(self) -> list[str]: ...
    @property
    def suite_id(self) -> str: ...
    @property
    def state_path(self) -> pathlib.Path: ...
    @property
    def run_id(self) -> str | None: ...
    @property
    def finished(self) -> bool: ...
    @property
    def round(self) -> int: ...
    def config_json(self) -> str: ...
    def begin_record(self) -> None: ...
    def start_data(self) -> tuple[str | None, str | None, bool, bool]:
        """(mongo_uri, database, loaded, embedded)."""
    def start_workers(self) -> None: ...
    def workers(self) -> list[tuple[str, int, dict[str, str], str]]: ...
    def count_rounds(self) -> int: ...
    def pids(self) -> list[tuple[str, int]]: ...
    def states_json(self) -> tuple[str, str, str]: ...
    def next_step(self) -> tuple[int, int, str, str, str] | None:
        """(index, round, name, description, worker), or None when finished or stopped."""
    def worker_down(self, worker: str) -> str | None: ...
    def finish_step(
        self,
        index: int,
        round: int,
        outcome: str,
        output_json: str | None,
        error: str | None,
        reason: str | None,
        attempts: int,
        duration_s: float,
        round_state_json: str,
        global_state_json: str,
    ) -> None: ...
    def close(self, interrupted: bool = False, errored: bool = False) -> str | None: ...

# Step sequences' signing (trialrun.steps.utils): ed25519 and base58.
def keys_public_key(seed_bytes: bytes) -> bytes: ...
def keys_sign(seed_bytes: bytes, message: bytes) -> bytes: ...
def keys_signed_message(seed_bytes: bytes, message: bytes) -> str: ...
def keys_open_signed_message(signed: str, public: str) -> bytes: ...
def keys_b58encode(data: bytes) -> str: ...
def keys_b58decode(text: str) -> bytes: ...
def keys_read_keypair(path: str | os.PathLike[str]) -> bytes: ...

# Telephony (src/py/telephony.rs; the public surface is trialrun.telephony).

class TwilioError(RuntimeError):
    """Twilio (or the loopback carrier) refused a request or could not be reached."""

class CallOverError(RuntimeError):
    """The call has ended: nothing more can be sent on it."""

@final
class CallEvent:
    @property
    def kind(self) -> _CallEventKind: ...
    @property
    def status(self) -> str | None: ...
    @property
    def call_sid(self) -> str | None: ...
    @property
    def stream_sid(self) -> str | None: ...
    @property
    def parameters(self) -> dict[str, str] | None: ...
    @property
    def at_ms(self) -> int | None: ...
    @property
    def audio(self) -> bytes | None:
        """16-bit little-endian PCM at 8 kHz."""
    @property
    def name(self) -> str | None: ...
    @property
    def digit(self) -> str | None: ...
    @property
    def recording_url(self) -> str | None: ...
    @property
    def recording_sid(self) -> str | None: ...
    @property
    def reason(self) -> _EndReason | None: ...
    @property
    def detail(self) -> str | None: ...
    @property
    def duration_ms(self) -> int | None: ...
    @property
    def recording_path(self) -> str | None: ...
    @property
    def pacing(self) -> _Pacing | None:
        """frames, p50_ms, p99_ms, max_ms of outgoing frames against the 20 ms clock."""

@final
class Call:
    @property
    def id(self) -> str: ...
    def send_audio(self, pcm: bytes) -> None: ...
    def send_mulaw(self, mulaw: bytes) -> None: ...
    def send_dtmf(self, digits: str) -> None: ...
    def mark(self, name: str) -> None: ...
    def clear(self) -> None: ...
    def hang_up(self) -> None: ...
    def next_event(self) -> Awaitable[CallEvent | None]: ...
    def __aiter__(self) -> Call: ...
    def __anext__(self) -> Awaitable[CallEvent]: ...

@final
class CallServerCore:
    def __new__(
        cls,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
        auth_token: str | None = None,
        validate_signatures: bool = True,
        max_message_bytes: int = 65536,
        max_call_duration: float = 600.0,
        silence_timeout: float | None = 60.0,
        recordings_dir: Any | None = None,
        audio_events: bool = True,
        log: bool = False,
    ) -> Self: ...
    @property
    def url(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def inbound_voice_url(self) -> str: ...
    def new_outbound_call(self) -> tuple[Call, dict[str, str]]: ...
    def expect_inbound_call(self, from_: str | None = None) -> Call: ...
    def fail_call(self, call_id: str, detail: str) -> None: ...
    def pacing(self, *, reset: bool = False) -> _Pacing: ...
    def log_lines(self) -> list[str]: ...
    def stop(self) -> None: ...

@final
class LoopbackCarrierCore:
    def __new__(
        cls,
        numbers: dict[str, str],
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        speech: TextToSpeech
        | EspeakSpeech
        | Callable[[str, str | None, str | None], bytes]
        | None = None,
        max_call_duration: float = 600.0,
        jitter_buffer: float = 0.08,
        ca_file: str | os.PathLike[str] | None = None,
        log: bool = False,
        measure_lateness: bool = False,
        faults: str | None = None,
        dial_targets: str | None = None,
    ) -> Self: ...
    @property
    def api_base(self) -> str: ...
    @property
    def account_sid(self) -> str: ...
    @property
    def auth_token(self) -> str: ...
    def set_number(self, number: str, voice_url: str) -> None: ...
    def active_calls(self) -> int: ...
    def lateness(self, call_sid: str) -> list[int] | None: ...
    def log_lines(self) -> list[str]: ...
    def stop(self) -> None: ...

@final
class TwilioClient:
    def __new__(
        cls,
        account_sid: str,
        auth_token: str,
        *,
        api_base: str | None = None,
        calls_per_second: float = 1.0,
        max_retries: int = 3,
        timeout: float = 15.0,
    ) -> Self: ...
    @property
    def api_base(self) -> str: ...
    def create_call(
        self,
        *,
        to: str,
        from_: str,
        url: str | None = None,
        twiml: str | None = None,
        method: str | None = None,
        status_callback: str | None = None,
        status_callback_event: list[str] | None = None,
        status_callback_method: str | None = None,
        record: bool = False,
        recording_channels: str | None = None,
        recording_status_callback: str | None = None,
        timeout: int | None = None,
        machine_detection: str | None = None,
        send_digits: str | None = None,
        network_faults: str | None = None,
    ) -> Awaitable[dict[str, Any]]: ...
    def fetch_call(self, sid: str) -> Awaitable[dict[str, Any]]: ...
    def hang_up(self, sid: str) -> Awaitable[dict[str, Any]]: ...
    def set_incoming_number_voice_url(
        self, number: str, voice_url: str, method: str = "POST"
    ) -> Awaitable[None]: ...

@final
class EspeakSpeech:
    """espeak-ng text-to-speech, loaded from ``library_path`` with its data at ``data_path``
    (once per process; later instances must name the same paths)."""

    def __new__(
        cls,
        library_path: str | os.PathLike[str],
        data_path: str | os.PathLike[str],
        voice: str = "en-us",
        rate_wpm: int | None = None,
    ) -> Self: ...
    @property
    def sample_rate(self) -> int: ...
    @property
    def voice(self) -> str: ...
    @property
    def rate_wpm(self) -> int: ...
    def synthesize(self, text: str, voice: str | None = None) -> tuple[bytes, int]: ...
    def synthesize_8k(
        self, text: str, voice: str | None = None, language: str | None = None
    ) -> bytes: ...

def resample_pcm16(pcm: bytes, from_rate: int, to_rate: int) -> bytes: ...

# --- voice: providers, personas, the simulated caller, the judge ---------------------

@final
class LanguageModel:
    """A chat model (trialrun.voice.providers)."""

    @staticmethod
    def openai(
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        max_completion_tokens: bool = False,
        timeout: float = 60.0,
        limit_key: str | None = None,
    ) -> LanguageModel: ...
    @staticmethod
    def python(obj: Any) -> LanguageModel:
        """obj.chat(request: dict) -> str | dict (an OpenAI chat body without model in; text,
        {content, tool_calls} or an OpenAI completion out)"""
    def chat(self, request: dict[str, Any]) -> Awaitable[_ChatAnswer]:
        """One chat completion of an OpenAI chat body without `model` (messages, tools,
        tool_choice, response_format, temperature, max_tokens)."""

@final
class SpeechToText:
    @staticmethod
    def openai(
        model: str = "whisper-1",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
    ) -> SpeechToText: ...
    @staticmethod
    def deepgram(
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
    ) -> SpeechToText: ...
    @staticmethod
    def python(obj: Any) -> SpeechToText:
        """obj.transcribe(pcm: bytes, rate: int, language: str | None) -> str"""

@final
class TextToSpeech:
    @staticmethod
    def openai(
        model: str = "gpt-4o-mini-tts",
        *,
        voice: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
    ) -> TextToSpeech: ...
    @staticmethod
    def elevenlabs(
        voice: str | None = None,
        *,
        model_id: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
    ) -> TextToSpeech: ...
    @staticmethod
    def cartesia(
        voice: str | None = None,
        *,
        model_id: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
    ) -> TextToSpeech: ...
    @staticmethod
    def espeak(engine: EspeakSpeech) -> TextToSpeech: ...
    @staticmethod
    def python(obj: Any) -> TextToSpeech:
        """obj.synthesize(text: str, voice: str | None) -> (pcm: bytes, rate: int)"""

@final
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
        temperature: float | None = None,
        max_tokens: int | None = None,
        language: str | None = None,
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
    voice: str | None = None,
    language: str | None = "en",
    barge_in: bool = True,
    max_turns: int = 12,
    max_duration: float = 180.0,
    silence_turn: float = 6.0,
    turn_gap: float = 0.8,
    early_gap: float | None = 0.4,
    carrier: LoopbackCarrierCore | None = None,
) -> Awaitable[dict[str, Any]]: ...
def judge_call(
    model: LanguageModel,
    criteria: list[tuple[str, str]],
    transcript: list[Any],
    keys: list[Any],
    *,
    duration: float,
    ended_by: str,
    end_reason: str,
    caller_name: str,
    caller_prompt: str,
    scenario: str,
    metrics: str | None = None,
    response_format: str = "json_schema",
    retries: int = 2,
) -> Awaitable[list[dict[str, Any]]]: ...
