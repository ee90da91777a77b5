"""What a voice test call produces: the transcript, the recording, metrics, criteria verdicts.

Plain dataclasses, built from what the Rust caller returns. Times are seconds from the start
of the call's media stream. Roles are the right way round: ``"caller"`` is trialrun's
simulated caller, ``"agent"`` the voice agent under test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CallMetrics",
    "EvaluationResult",
    "Interruption",
    "KeyPress",
    "Silence",
    "TestResult",
    "Utterance",
]


@dataclass(frozen=True)
class Utterance:
    """One stretch of speech. ``cut_off``: the caller stopped because the agent talked over it."""

    role: str  # "caller" | "agent"
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
class CallMetrics:
    """Timing and turn-taking of one call.

    ``time_to_first_word``: from the stream's start to the agent's first speech (None if it
    never spoke). ``response_latencies``: per caller turn, from the end of the caller's
    speech to the agent's first audio after it; ``latency_p50``/``latency_p95`` summarise
    them. ``ended_by`` is ``"caller"``, ``"agent"``, ``"timeout"`` or ``"error"``.
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

    def said(self, role: str) -> str:
        """Everything one side said, joined with spaces."""
        return " ".join(u.text for u in self.transcript if u.role == role)

    def transcript_text(self) -> str:
        """``[mm:ss.t-mm:ss.t] role: text`` lines, as judges read them."""
        lines = []
        for u in self.transcript:
            cut = " [cut off]" if u.cut_off else ""
            lines.append(f"[{_clock(u.start)}-{_clock(u.end)}] {u.role}: {u.text}{cut}")
        return "\n".join(lines)


def _clock(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 60000:02d}:{ms // 1000 % 60:02d}.{ms // 100 % 10}"
