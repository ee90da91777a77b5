"""What a voice test call produces: the transcript, the recording, metrics, criteria verdicts.

Plain dataclasses, built from what the Rust caller returns; ``TestResults`` is the list of
them ``TestRunner.run_tests`` returns. Times are seconds from the start
of the call's media stream. Roles are the right way round: ``"caller"`` is trialrun's
simulated caller, ``"agent"`` the voice agent under test, ``"transferee"`` the party the
agent transferred the call to (``<Dial>``, simulated by the loopback carrier).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CallMetrics",
    "EvaluationResult",
    "Interruption",
    "KeyPress",
    "LineFaults",
    "NetworkFaultReport",
    "Silence",
    "TestResult",
    "TestResults",
    "ToolCall",
    "Transfer",
    "Utterance",
]


# A notebook embeds a call's recording up to this size (a 25 s call is about 800 KB).
_EMBEDDED_RECORDING_BYTES = 8_000_000


@dataclass(frozen=True)
class Utterance:
    """One stretch of speech. ``cut_off``: the caller stopped because the agent talked over it."""

    role: str  # "caller" | "agent" | "transferee"
    text: str
    start: float
    end: float
    cut_off: bool = False


@dataclass(frozen=True)
class KeyPress:
    """A phone key pressed by ``role`` at ``at`` seconds."""

    role: str  # "caller" | "agent"
    digit: str
    at: float


@dataclass(frozen=True)
class Interruption:
    """``by`` started talking while the other side was still speaking, at ``at``, for ``overlap`` s."""

    by: str  # "caller" | "agent"
    at: float
    overlap: float


@dataclass(frozen=True)
class Silence:
    """Nobody spoke from ``start`` for ``duration`` seconds."""

    start: float
    duration: float


@dataclass(frozen=True)
class LineFaults:
    """What network faults did to one direction of a call's audio, in 20 ms frames.

    ``frames`` were sent; ``dropped`` never arrived (``dropped_frames``: their indices from
    the call's first frame, the first 10,000); ``duplicated`` arrived twice; ``reordered``
    arrived after the frame sent after them; ``jittered`` arrived later than ``delay_ms``
    (the fixed delay), by up to ``max_jitter_ms``.
    """

    frames: int
    dropped: int
    duplicated: int
    reordered: int
    jittered: int
    delay_ms: int
    max_jitter_ms: int
    dropped_frames: list[int]


@dataclass(frozen=True)
class NetworkFaultReport:
    """What the loopback carrier's network faults did to a call: to what the caller said to
    the agent (``to_agent``) and to what the agent said (``from_agent``); None for a
    direction without faults."""

    to_agent: LineFaults | None
    from_agent: LineFaults | None


@dataclass(frozen=True)
class CallMetrics:
    """Timing and turn-taking of one call.

    ``time_to_first_word``: from the stream's start to the agent's first speech (None if it
    never spoke). ``response_latencies``: per caller turn, from the end of the caller's
    speech to the agent's first audio after it; ``latency_p50``/``latency_p95`` summarise
    them. ``ended_by`` is ``"caller"``, ``"agent"``, ``"timeout"`` or ``"error"``.
    ``underruns``: times the agent's audio ran out mid-speech and went on within 200 ms (a
    gap heard in its speech), counted by the loopback carrier's playout; None elsewhere.
    ``network_faults``: what the loopback carrier's ``NetworkFaults`` did to the call (None
    without faults).
    """

    duration: float
    time_to_first_word: float | None
    response_latencies: list[float]
    latency_p50: float | None
    latency_p95: float | None
    interruptions: list[Interruption]
    silences: list[Silence]
    ended_by: str
    end_reason: str
    dtmf_sent: str
    dtmf_heard: str
    turns: int  # caller replies given
    underruns: int | None = None
    network_faults: NetworkFaultReport | None = None


def transfer_target(target: str) -> str | None:
    """A transfer target as results name it: a number without punctuation (a ``tel:`` URI
    is read as one), a ``sip:`` URI or ``client:<identity>``; None if it is none of them."""
    name = target.strip()
    if name.lower().startswith("sip:") and len(name) > 4:
        return name
    if name.startswith("client:") and len(name) > len("client:"):
        return name
    if name.lower().startswith("tel:"):
        name = name[len("tel:") :]
    number = re.sub(r"[\s\-.()]", "", name)
    return number if re.fullmatch(r"\+?[0-9]+", number) else None


@dataclass(frozen=True)
class Transfer:
    """The agent transferred the call: ``via="dial"``, TwiML ``<Dial>`` (known with the
    loopback carrier), or ``via="refer"``, a SIP REFER through OpenAI's Realtime call
    control (``POST /v1/realtime/calls/{call_id}/refer``, known with
    ``TestRunner(model_server=...)``).

    ``target``: ``"+15550123"`` (a number, without punctuation), ``"sip:..."`` or
    ``"client:<identity>"``; ``kind``: ``"number"``, ``"sip"`` or ``"client"``. ``status`` is
    Twilio's DialCallStatus: ``"completed"`` (answered and connected), ``"busy"``,
    ``"no-answer"``, ``"failed"`` (``reason`` says why) or ``"canceled"`` (the call ended or
    was redirected while it rang). A transfer connected when the call ended is
    ``"completed"``, its ``duration`` up to the end.
    ``start``: when the ``<Dial>`` began, ``answered_at``: when the party answered (None if
    it did not), ``duration``: seconds the parties were connected (None if never). The
    party's own call sid is ``call_sid`` (Twilio's DialCallSid).

    A refer's ``target`` is its ``target_uri`` (``tel:`` read as a number); its ``status``
    is ``"accepted"`` (the API answered 200: the SIP leg that follows is OpenAI's and not
    simulated, so nobody answers) or ``"failed"`` (``reason``: the API's answer), and
    ``start`` is when the agent asked for it.
    """

    target: str
    kind: str
    status: str
    start: float
    answered_at: float | None = None
    duration: float | None = None
    call_sid: str | None = None
    reason: str | None = None
    via: str = "dial"

    def describe(self) -> str:
        """``transfer to +15550123 (number): completed, connected 6.2 s`` and the like
        (``(number, refer)`` for a refer)."""
        how = self.kind if self.via == "dial" else f"{self.kind}, {self.via}"
        text = f"transfer to {self.target} ({how}): {self.status}"
        if self.duration is not None:
            text += f", connected {self.duration:.1f} s"
        if self.reason:
            text += f" ({_one_line(self.reason)})"
        return text


@dataclass(frozen=True)
class ToolCall:
    """A tool call the agent's model made during the call, as trialrun's scripted model
    server answered it (``TestRunner(model_server=...)``): ``name``, ``arguments`` (parsed
    JSON) and ``at``, seconds of the call as the transcript's (0 for one made before the
    stream started)."""

    name: str
    arguments: Any
    at: float


@dataclass(frozen=True)
class EvaluationResult:
    """A scenario criterion's verdict (fixa's EvaluationResult)."""

    name: str
    passed: bool
    reason: str


@dataclass
class TestResult:
    """One test call: which test, what was said, the recording, metrics and verdicts.

    ``transcript`` lists both sides' utterances in order. ``evaluation_results`` are the
    judge's verdicts on the scenario's criteria; ``checks`` the suite evaluators' results
    (``trialrun.EvaluationResult``: evaluator_id, verdict, score, metadata). ``recording_path`` is the
    two-channel WAV (caller left, agent right) when recording was on; ``stereo_recording_url``
    is its ``file://`` URL (fixa's name). ``error`` says why the call failed, if it did.
    ``call_sid`` is the sid of trialrun's end of the call; ``agent_call_sid`` the sid the
    agent's webhook and stream saw (known with the loopback carrier, which carries both ends).
    ``run_id`` is the run in the store the call was recorded in (``trialrun compare``).
    ``transfers``: the agent's transfers of the call (``<Dial>``, and Realtime refers with
    ``model_server``), in order; what the party transferred to said is in ``transcript``
    with the role ``"transferee"``.
    ``tool_calls``: the tool calls of the agent's model during the call, with
    ``TestRunner(model_server=...)`` (trialrun's scripted OpenAI-compatible server).
    ``started_at``: when the call's stream started (Unix time), the origin of the
    transcript's times; None if it never started.
    """

    __test__ = False  # not a pytest class

    test: Any
    transcript: list[Utterance]
    metrics: CallMetrics | None
    evaluation_results: list[EvaluationResult] = field(default_factory=list)
    recording_path: str | None = None
    error: str | None = None
    call_sid: str | None = None
    keys: list[KeyPress] = field(default_factory=list)
    checks: list[Any] = field(default_factory=list)
    agent_call_sid: str | None = None
    run_id: str | None = None
    transfers: list[Transfer] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    started_at: float | None = None

    @property
    def stereo_recording_url(self) -> str | None:
        if self.recording_path is None:
            return None
        from pathlib import Path

        return Path(self.recording_path).resolve().as_uri()

    @property
    def passed(self) -> bool:
        """No error, every criterion passed, and no check failed or errored."""
        return (
            self.error is None
            and all(r.passed for r in self.evaluation_results)
            and all(c.verdict not in ("failed", "errored") for c in self.checks)
        )

    def failure_reasons(self) -> list[str]:
        """Why the test did not pass, one line each: the call's error, each failed criterion
        with the judge's reason, each failed or errored check with its reason (empty when
        it passed)."""
        reasons = []
        if self.error is not None:
            reasons.append(f"error: {_last_line(self.error)}")
        for r in self.evaluation_results:
            if not r.passed:
                reasons.append(f"criterion {r.name} failed: {_one_line(r.reason)}")
        for c in self.checks:
            if c.verdict == "failed":
                reasons.append(f"check {c.evaluator_id} failed: {_check_reason(c)}")
            elif c.verdict == "errored":
                reasons.append(f"check {c.evaluator_id} errored: {_last_line(c.error)}")
        return reasons

    def summary(self) -> str:
        """``passed: <scenario> x <agent>``, or ``failed:`` followed by the reasons, indented."""
        lines = [f"{'passed' if self.passed else 'failed'}: {_name(self.test)}"]
        lines += [f"  {reason}" for reason in self.failure_reasons()]
        return "\n".join(lines) + "\n"

    def _repr_html_(self) -> str:
        """Jupyter: the call's timeline (lanes, gaps, interruptions, keys, the end), its
        numbers, and its recording in a player (embedded when under 8 MB)."""
        import base64
        import html
        import json
        from pathlib import Path

        from trialrun import _core

        drawn = _core.call_timeline(json.dumps(self._timeline_data()))
        name = html.escape(_name(self.test))
        head = f"<h4>{name}: {'passed' if self.passed else 'failed'}</h4>"
        if drawn is None:
            return head + f"<pre>{html.escape(self.summary())}</pre>"
        svg, numbers = drawn
        parts = [head, svg, f"<p>{html.escape(numbers)}</p>"]
        recording = Path(self.recording_path) if self.recording_path else None
        if recording is not None and recording.is_file():
            if recording.stat().st_size <= _EMBEDDED_RECORDING_BYTES:
                data = base64.b64encode(recording.read_bytes()).decode()
                parts.append(f'<audio controls src="data:audio/wav;base64,{data}"></audio>')
            else:
                parts.append(f"<p>recording: {html.escape(str(recording))}</p>")
        if self.error:
            parts.append(f"<pre>{html.escape(self.error)}</pre>")
        return "\n".join(parts)

    def _timeline_data(self) -> dict[str, Any]:
        """What the timeline is drawn from, as the run store keeps a call's result."""
        return {
            "transcript": [dataclasses.asdict(u) for u in self.transcript],
            "metrics": dataclasses.asdict(self.metrics) if self.metrics is not None else None,
            "keys": [dataclasses.asdict(k) for k in self.keys],
            "transfers": [dataclasses.asdict(t) for t in self.transfers],
        }

    def assert_passed(self) -> None:
        """Raises AssertionError saying why unless the test passed."""
        if not self.passed:
            raise AssertionError("voice test did not pass:\n" + self.summary())

    def said(self, role: str) -> str:
        """Everything one side said, joined with spaces."""
        return " ".join(u.text for u in self.transcript if u.role == role)

    def transcript_text(self) -> str:
        """``[mm:ss.t-mm:ss.t] role: text`` lines, as judges read them, with a
        ``[mm:ss.t] transfer to ...`` line where the agent transferred the call."""
        timed = []
        for u in self.transcript:
            cut = " [cut off]" if u.cut_off else ""
            timed.append((u.start, f"[{_clock(u.start)}-{_clock(u.end)}] {u.role}: {u.text}{cut}"))
        for t in self.transfers:
            timed.append((t.start, f"[{_clock(t.start)}] {t.describe()}"))
        timed.sort(key=lambda pair: pair[0])
        return "\n".join(line for _, line in timed)


class TestResults(list[TestResult]):
    """What ``TestRunner.run_tests`` returns: its ``TestResult`` list (in the order the tests
    were added; iterate, index and compare it as any list), plus ``passed``, ``failures()``,
    ``summary()`` and ``assert_passed()`` as a suite's ``SuiteResult`` and a step sequence's
    ``SequenceResult`` have."""

    __test__ = False  # not a pytest class

    @property
    def passed(self) -> bool:
        """Every test passed (``TestResult.passed``); True when there were none."""
        return all(r.passed for r in self)

    def failures(self) -> list[TestResult]:
        """The tests that did not pass, in order."""
        return [r for r in self if not r.passed]

    def summary(self) -> str:
        """The counts, then each failing test with why: its error, its failed criteria and
        the judge's reasons, its failed or errored checks."""
        failures = self.failures()
        errored = sum(1 for r in failures if r.error is not None)
        counts = [f"{len(self) - len(failures)} passed"]
        if len(failures) - errored:
            counts.append(f"{len(failures) - errored} failed")
        if errored:
            counts.append(f"{errored} errored")
        calls = f"{len(self)} call" + ("" if len(self) == 1 else "s")
        lines = [f"voice tests: {', '.join(counts)} ({calls})"]
        lines += ["  " + line for r in failures for line in r.summary().splitlines()]
        return "\n".join(lines) + "\n"

    def assert_passed(self) -> None:
        """Raises AssertionError with the summary unless every test passed."""
        if not self.passed:
            raise AssertionError("voice tests did not pass:\n" + self.summary())


def _name(test: Any) -> str:
    """``<scenario> x <agent>`` (``@ <number>`` for a test with its own number: the test's
    hash in the run store), else the test's repr."""
    scenario, agent = getattr(test, "scenario", None), getattr(test, "agent", None)
    if scenario is not None and agent is not None:
        name = f"{getattr(scenario, 'name', scenario)} x {getattr(agent, 'name', agent)}"
        number = getattr(test, "phone_number", None)
        return name if number is None else f"{name} @ {number}"
    return repr(test)


def _check_reason(check: Any) -> str:
    """A failed check's reason: its metadata's ``reason`` (trialrun's call evaluators give
    one), else its score against its threshold."""
    metadata = check.metadata
    if isinstance(metadata, dict) and metadata.get("reason"):
        return _one_line(str(metadata["reason"]))
    score = check.score
    score = f"{score:g}" if isinstance(score, (int, float)) else score
    return f"score {score} outside {check.threshold}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _last_line(text: str | None) -> str:
    """The last non-blank line (a traceback's exception line), or "" for none."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _clock(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 60000:02d}:{ms // 1000 % 60:02d}.{ms // 100 % 10}"
