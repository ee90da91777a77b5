"""Deterministic checks of a voice test call: latency, interruptions, what was said, keys,
transfers, the end.

They are ordinary suite evaluators (``BaseTestEvaluator``): the output they judge is a
``trialrun.voice.results.TestResult``, or what ``output_mapper`` turns fn's output into. No
model is asked; each verdict is computed from the call's transcript and metrics.

Each scores 1 (or, for phrase lists, the fraction of phrases that pass) against a default
``Threshold(gte=1)``, and its metadata says why: a ``reason`` sentence, the numbers checked,
and where it applies the utterance concerned with its time (seconds from the stream start).
A call that produced no metrics (it failed before it started) fails every check, with the
call's error in the metadata. Bad configuration raises ``ValueError`` at construction.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from trialrun._core import Evaluation, Threshold
from trialrun.evaluators import _Configured
from trialrun.voice.results import CallMetrics, TestResult, Utterance, transfer_target

__all__ = [
    "DtmfHeard",
    "EndedBy",
    "MaxInterruptions",
    "MaxResponseLatency",
    "MustNotSay",
    "MustSay",
    "NoError",
    "ToolCalled",
    "TransferredTo",
]

ROLES = ("agent", "caller")
# Who can say something: the party the agent transferred the call to too.
SPEAKERS = (*ROLES, "transferee")
DIAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
TRANSFER_STATUSES = (*DIAL_STATUSES, "accepted")
END_CAUSES = ("caller", "agent", "timeout", "error")
DTMF_KEYS = "0123456789*#ABCD"
PERCENTILES = ("p50", "p95", "max")


class _CallCheck(_Configured):
    """Unwraps the TestResult and fails, instead of raising, when there is no call to judge."""

    def evaluate_test_case(self, test_case: Any, output: Any) -> Evaluation:
        result = self.output_mapper(output)
        if not isinstance(result, TestResult):
            return self._fail(
                f"the output is a {type(result).__name__}, not a trialrun.voice.results.TestResult"
            )
        if result.metrics is None:
            return self._fail(
                "the call produced no metrics: it failed before it started", call_error=result.error
            )
        return self.check(result, result.metrics)

    def check(self, result: TestResult, metrics: CallMetrics) -> Evaluation:
        raise NotImplementedError

    def _verdict(self, score: float, reason: str, **details: Any) -> Evaluation:
        return Evaluation(
            score=score, threshold=self.threshold, metadata={"reason": reason, **details}
        )

    def _fail(self, reason: str, **details: Any) -> Evaluation:
        return self._verdict(0.0, reason, **details)


class MaxResponseLatency(_CallCheck):
    """Passes when the agent's response latency is at most ``max_seconds``.

    ``percentile`` picks what is checked: ``"p95"`` (default) or ``"p50"`` of the measured
    turns (nearest-rank, as the call metrics compute them), or ``"max"``, the slowest turn.
    A call in which no turn was measured (the agent never answered after the caller
    finished) fails: there is no latency to vouch for.
    """

    def __init__(
        self,
        max_seconds: float,
        percentile: str = "p95",
        *,
        id: str = "max-response-latency",
        threshold: Threshold | None = Threshold(gte=1),
        output_mapper: Callable[[Any], Any] | None = None,
        max_concurrency: int = 10,
    ) -> None:
        super().__init__(
            id=id, threshold=threshold, output_mapper=output_mapper, max_concurrency=max_concurrency
        )
        self.max_seconds = _non_negative_number("max_seconds", max_seconds)
        self.percentile = _one_of("percentile", percentile, PERCENTILES)

    def check(self, result: TestResult, metrics: CallMetrics) -> Evaluation:
        latencies = list(metrics.response_latencies)
        value = {
            "p50": metrics.latency_p50,
            "p95": metrics.latency_p95,
            "max": max(latencies) if latencies else None,
        }[self.percentile]
        numbers = {
            "percentile": self.percentile,
            "value": value,
            "max_seconds": self.max_seconds,
            "response_latencies": latencies,
        }
        if value is None:
            return self._fail(
                "no response latency was measured: the agent answered no caller turn", **numbers
            )
        too_slow = [
            {"turn": i, "latency": s} for i, s in enumerate(latencies) if s > self.max_seconds
        ]
        if value <= self.max_seconds:
            reason = (
                f"{self.percentile} response latency {value:.3f} s is within {self.max_seconds:g} s"
            )
            return self._verdict(1.0, reason, too_slow=too_slow, **numbers)
        reason = f"{self.percentile} response latency {value:.3f} s exceeds {self.max_seconds:g} s"
        return self._fail(reason, too_slow=too_slow, **numbers)


class MaxInterruptions(_CallCheck):
    """Passes when at most ``max_count`` interruptions happened, by ``by`` ("agent",
    "caller") or by either side (None). Metadata lists each with what the interrupter said."""

    def __init__(
        self,
        max_count: int = 0,
        by: str | None = "agent",
        *,
        id: str = "max-interruptions",
        threshold: Threshold | None = Threshold(gte=1),
        output_mapper: Callable[[Any], Any] | None = None,
        max_concurrency: int = 10,
    ) -> None:
        super().__init__(
            id=id, threshold=threshold, output_mapper=output_mapper, max_concurrency=max_concurrency
        )
        if isinstance(max_count, bool) or not isinstance(max_count, int) or max_count < 0:
            raise ValueError(f"max_count must be a whole number >= 0, got {max_count!r}")
        self.max_count = max_count
        self.by = None if by is None else _one_of("by", by, ROLES)

    def check(self, result: TestResult, metrics: CallMetrics) -> Evaluation:
        counted = [i for i in metrics.interruptions if self.by is None or i.by == self.by]
        listed = []
        for interruption in counted:
            entry: dict[str, Any] = {
                "by": interruption.by,
                "at": interruption.at,
                "overlap": interruption.overlap,
            }
            utterance = _utterance_starting_at(result.transcript, interruption.by, interruption.at)
            if utterance is not None:
                entry["said"] = utterance.text
            listed.append(entry)
        who = "either side" if self.by is None else f"the {self.by}"
        details = {
            "count": len(counted),
            "max_count": self.max_count,
            "by": self.by,
            "interruptions": listed,
        }
        if len(counted) <= self.max_count:
            reason = f"{len(counted)} interruption(s) by {who}, at most {self.max_count} allowed"
            return self._verdict(1.0, reason, **details)
        first = listed[self.max_count]
        return self._fail(
            f"{len(counted)} interruption(s) by {who}, more than {self.max_count}; "
            f"the first over the limit at {first['at']:.3f} s",
            **details,
        )


class MustSay(_CallCheck):
    """Passes when ``role`` said every phrase. Score: the fraction of phrases said.

    Matching is on words: case, punctuation and spacing are ignored ("Nine to five." matches
    "nine to five", "nine-to-five" too), apostrophes are dropped ("don't" = "dont"), words
    may be joined or split ("good-bye" = "goodbye" = "good bye"), numbers match their
    words ("9" = "nine", "1,200" = "one thousand two hundred"), and a phrase must lie
    within one utterance.
    """

    _must_be_said = True

    def __init__(
        self,
        phrases: str | Sequence[str],
        role: str = "agent",
        *,
        id: str | None = None,
        threshold: Threshold | None = Threshold(gte=1),
        output_mapper: Callable[[Any], Any] | None = None,
        max_concurrency: int = 10,
    ) -> None:
        default_id = "must-say" if self._must_be_said else "must-not-say"
        super().__init__(
            id=default_id if id is None else id,
            threshold=threshold,
            output_mapper=output_mapper,
            max_concurrency=max_concurrency,
        )
        self.phrases = _phrases(phrases)
        self.role = _one_of("role", role, SPEAKERS)
        self._phrase_words = [_words(p) for p in self.phrases]

    def check(self, result: TestResult, metrics: CallMetrics) -> Evaluation:
        spoken = [(u, _words(u.text)) for u in result.transcript if u.role == self.role]
        said: list[dict[str, Any]] = []
        not_said: list[str] = []
        for phrase, words in zip(self.phrases, self._phrase_words):
            hit = next((u for u, heard in spoken if _contains_run(heard, words)), None)
            if hit is None:
                not_said.append(phrase)
            else:
                said.append(
                    {"phrase": phrase, "said": hit.text, "start": hit.start, "end": hit.end}
                )
        return self._judge(said, not_said)

    def _judge(self, said: list[dict[str, Any]], not_said: list[str]) -> Evaluation:
        score = len(said) / len(self.phrases)
        if not not_said:
            return self._verdict(
                score, f"the {self.role} said every phrase", role=self.role, said=said, missing=[]
            )
        reason = f"the {self.role} never said {', '.join(repr(p) for p in not_said)}"
        return self._verdict(score, reason, role=self.role, said=said, missing=not_said)


class MustNotSay(MustSay):
    """Passes when ``role`` said none of the phrases. Score: the fraction not said.

    Matching as in ``MustSay``; metadata gives each phrase said with the utterance and its time.
    """

    _must_be_said = False

    def _judge(self, said: list[dict[str, Any]], not_said: list[str]) -> Evaluation:
        score = len(not_said) / len(self.phrases)
        if not said:
            return self._verdict(
                score, f"the {self.role} said none of the phrases", role=self.role, said=[]
            )
        first = said[0]
        reason = (
            f"the {self.role} said {first['phrase']!r} at {first['start']:.3f} s: {first['said']!r}"
        )
        return self._verdict(score, reason, role=self.role, said=said)


class DtmfHeard(_CallCheck):
    """Passes when the keys ``pressed_by`` pressed contain ``sequence`` as consecutive keys
    (``exact=True``: are exactly ``sequence``). ``pressed_by="agent"`` (the default) checks
    the tones the agent played, which the caller heard; ``"caller"`` the keys the simulated
    caller pressed. ``role=`` is the earlier name of ``pressed_by``. Keys: 0-9, *, #, A-D."""

    def __init__(
        self,
        sequence: str,
        pressed_by: str | None = None,
        *,
        role: str | None = None,
        exact: bool = False,
        id: str = "dtmf-heard",
        threshold: Threshold | None = Threshold(gte=1),
        output_mapper: Callable[[Any], Any] | None = None,
        max_concurrency: int = 10,
    ) -> None:
        super().__init__(
            id=id, threshold=threshold, output_mapper=output_mapper, max_concurrency=max_concurrency
        )
        if not isinstance(sequence, str) or not sequence:
            raise ValueError(
                f"sequence must be a non-empty string of keys ({DTMF_KEYS}), got {sequence!r}"
            )
        sequence = sequence.upper()
        bad = sorted({k for k in sequence if k not in DTMF_KEYS})
        if bad:
            raise ValueError(
                f"sequence {sequence!r} holds {''.join(bad)!r}, which are not keys ({DTMF_KEYS})"
            )
        if pressed_by is not None and role is not None and pressed_by != role:
            raise ValueError(
                f"pressed_by={pressed_by!r} and role={role!r} disagree: role is the earlier "
                "name of pressed_by, give one"
            )
        self.sequence = sequence
        self.role = _one_of("pressed_by", pressed_by or role or "agent", ROLES)
        self.exact = bool(exact)

    def check(self, result: TestResult, metrics: CallMetrics) -> Evaluation:
        pressed = metrics.dtmf_heard if self.role == "agent" else metrics.dtmf_sent
        ok = pressed == self.sequence if self.exact else self.sequence in pressed
        details = {
            "pressed_by": self.role,
            "expected": self.sequence,
            "pressed": pressed,
            "exact": self.exact,
        }
        how = "exactly" if self.exact else "in a row"
        if ok:
            return self._verdict(1.0, f"the {self.role} pressed {self.sequence!r} {how}", **details)
        return self._fail(
            f"the {self.role} pressed {pressed!r}, not {self.sequence!r} {how}", **details
        )


class EndedBy(_CallCheck):
    """Passes when the call ended the expected way: ``who`` is one of "caller", "agent",
    "timeout", "error", or a list of acceptable ones."""

    def __init__(
        self,
        who: str | Sequence[str],
        *,
        id: str = "ended-by",
        threshold: Threshold | None = Threshold(gte=1),
        output_mapper: Callable[[Any], Any] | None = None,
        max_concurrency: int = 10,
    ) -> None:
        super().__init__(
            id=id, threshold=threshold, output_mapper=output_mapper, max_concurrency=max_concurrency
        )
        choices = (
            [who] if isinstance(who, str) else list(who) if isinstance(who, (list, tuple)) else None
        )
        if not choices:
            raise ValueError(
                f"who must be one of {', '.join(END_CAUSES)} or a non-empty list of them, got {who!r}"
            )
        self.who = [_one_of("who", w, END_CAUSES) for w in choices]

    def check(self, result: TestResult, metrics: CallMetrics) -> Evaluation:
        details = {
            "ended_by": metrics.ended_by,
            "end_reason": metrics.end_reason,
            "expected": self.who,
        }
        expected = " or ".join(self.who)
        if metrics.ended_by in self.who:
            return self._verdict(
                1.0, f"ended by {metrics.ended_by} ({metrics.end_reason})", **details
            )
        return self._fail(
            f"ended by {metrics.ended_by} ({metrics.end_reason}), not {expected}", **details
        )


class TransferredTo(_CallCheck):
    """Passes when the agent transferred the call to ``target`` and the transfer went
    through: a TwiML ``<Dial>`` "completed" (the party answered and was connected), a
    Realtime refer "accepted" (with ``TestRunner(model_server=...)``). ``status`` asks for
    another outcome: Twilio's DialCallStatus ("completed", "busy", "no-answer", "failed",
    "canceled") or a refer's ("accepted", "failed").
    ``target``: a phone number (compared without spaces, dashes, dots and parentheses; a
    refer's ``tel:`` URI is one), a ``sip:`` URI or ``client:<identity>``. ``<Dial>``
    transfers are known with the loopback carrier."""

    def __init__(
        self,
        target: str,
        status: str | None = None,
        *,
        id: str = "transferred-to",
        threshold: Threshold | None = Threshold(gte=1),
        output_mapper: Callable[[Any], Any] | None = None,
        max_concurrency: int = 10,
    ) -> None:
        super().__init__(
            id=id, threshold=threshold, output_mapper=output_mapper, max_concurrency=max_concurrency
        )
        self.target = _transfer_target(target)
        self.status = None if status is None else _one_of("status", status, TRANSFER_STATUSES)

    def _went_as_asked(self, t: dict[str, Any]) -> bool:
        if self.status is not None:
            return bool(t["status"] == self.status)
        return bool(t["status"] == ("accepted" if t["via"] == "refer" else "completed"))

    def check(self, result: TestResult, metrics: CallMetrics) -> Evaluation:
        transfers: list[dict[str, Any]] = [
            {"target": t.target, "kind": t.kind, "via": t.via, "status": t.status, "start": t.start}
            for t in result.transfers
        ]
        details = {
            "expected": {"target": self.target, "status": self.status},
            "transfers": transfers,
        }
        wanted = self.target if self.status is None else f"{self.target} ({self.status})"
        if not transfers:
            return self._fail(
                f"the call was not transferred; expected a transfer to {wanted}", **details
            )
        to_target = [t for t in transfers if t["target"] == self.target]
        if any(self._went_as_asked(t) for t in to_target):
            went = next(t for t in to_target if self._went_as_asked(t))
            return self._verdict(
                1.0,
                f"the call was transferred to {self.target} ({went['status']})",
                **details,
            )
        if to_target:
            how = ", ".join(t["status"] for t in to_target)
            went = "accepted" if to_target[0]["via"] == "refer" else "completed"
            return self._fail(
                f"the transfer to {self.target} ended {how}, not {self.status or went}",
                **details,
            )
        elsewhere = ", ".join(f"{t['target']} ({t['status']})" for t in transfers)
        return self._fail(
            f"the call was transferred to {elsewhere}, not to {self.target}", **details
        )


class ToolCalled(_CallCheck):
    """Passes when the agent's model called the tool ``name`` during the call, with
    arguments that include ``arguments`` (each key given equal to the call's; None: any
    arguments), at least ``times`` times. Needs ``TestRunner(model_server=...)``, which
    puts the model's tool calls on ``TestResult.tool_calls``."""

    def __init__(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        times: int = 1,
        id: str | None = None,
        threshold: Threshold | None = Threshold(gte=1),
        output_mapper: Callable[[Any], Any] | None = None,
        max_concurrency: int = 10,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name must be the tool's name, got {name!r}")
        if arguments is not None and not isinstance(arguments, Mapping):
            raise TypeError(
                f"arguments must be a dict of the arguments to match, got {arguments!r}"
            )
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise ValueError(f"times must be a whole number >= 1, got {times!r}")
        super().__init__(
            id=id or f"tool-called-{name}",
            threshold=threshold,
            output_mapper=output_mapper,
            max_concurrency=max_concurrency,
        )
        self.name = name
        self.arguments = dict(arguments) if arguments is not None else None
        self.times = times

    def _matches(self, arguments: Any) -> bool:
        if self.arguments is None:
            return True
        return isinstance(arguments, Mapping) and all(
            k in arguments and arguments[k] == v for k, v in self.arguments.items()
        )

    def check(self, result: TestResult, metrics: CallMetrics) -> Evaluation:
        made = [{"name": c.name, "arguments": c.arguments, "at": c.at} for c in result.tool_calls]
        details = {
            "expected": {"name": self.name, "arguments": self.arguments, "times": self.times},
            "tool_calls": made,
        }
        wanted = self.name if self.arguments is None else f"{self.name}({self.arguments})"
        named = [c for c in made if c["name"] == self.name]
        matching = [c for c in named if self._matches(c["arguments"])]
        if len(matching) >= self.times:
            return self._verdict(
                1.0, f"the agent called {wanted} {len(matching)} time(s)", **details
            )
        if not made:
            return self._fail(f"the agent's model made no tool call; expected {wanted}", **details)
        if named:
            seen = "; ".join(json.dumps(c["arguments"], sort_keys=True) for c in named)
            return self._fail(
                f"the agent called {self.name} {len(matching)} of {self.times} time(s) with "
                f"{self.arguments}; its arguments were: {seen}",
                **details,
            )
        others = ", ".join(sorted({c["name"] for c in made}))
        return self._fail(f"the agent did not call {self.name}; it called {others}", **details)


class NoError(_CallCheck):
    """Passes when the call completed without error (``TestResult.error`` is None)."""

    def __init__(
        self,
        *,
        id: str = "no-error",
        threshold: Threshold | None = Threshold(gte=1),
        output_mapper: Callable[[Any], Any] | None = None,
        max_concurrency: int = 10,
    ) -> None:
        super().__init__(
            id=id, threshold=threshold, output_mapper=output_mapper, max_concurrency=max_concurrency
        )

    def check(self, result: TestResult, metrics: CallMetrics) -> Evaluation:
        if result.error is None:
            return self._verdict(1.0, "the call completed without error", call_error=None)
        return self._fail(f"the call failed: {result.error}", call_error=result.error)


# --- configuration -----------------------------------------------------------------------


def _one_of(name: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(
            f"{name} must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}"
        )
    return value


def _transfer_target(target: Any) -> str:
    """A transfer target as results name it (``transfer_target``), or a clear error."""
    name = transfer_target(target) if isinstance(target, str) else None
    if name is None:
        raise ValueError(
            f"target must be a phone number, a tel: or sip: URI or client:<identity>, got {target!r}"
        )
    return name


def _non_negative_number(name: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


def _phrases(phrases: Any) -> list[str]:
    listed = (
        [phrases]
        if isinstance(phrases, str)
        else list(phrases)
        if isinstance(phrases, (list, tuple))
        else None
    )
    if not listed:
        raise ValueError(f"phrase must be a string or a non-empty list of strings, got {phrases!r}")
    for phrase in listed:
        if not isinstance(phrase, str) or not _words(phrase):
            raise ValueError(f"phrase {phrase!r} has no words to look for")
    return listed


# --- matching ----------------------------------------------------------------------------

_APOSTROPHES = re.compile(r"['\u2019\u02bc]")
# Runs of digits and runs of letters are words of their own ("9am" is "9", "am").
_WORD = re.compile(r"\d+|[^\W\d_]+")


def _words(text: str) -> list[str]:
    """The words of a transcript, as compared: case-folded, without punctuation or
    apostrophes, numbers spelled out ("1,200" and "twelve hundred" differ, "9" and "nine"
    do not; "3.5" is "three point five")."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = _THOUSANDS.sub("", _APOSTROPHES.sub("", folded))
    folded = _DECIMAL_POINT.sub(" point ", folded)
    words: list[str] = []
    for word in _WORD.findall(folded):
        words.extend(_spelled(int(word)) if word.isdigit() and len(word) <= 12 else [word])
    return words


def _contains_run(words: list[str], run: list[str]) -> bool:
    """Whether `run` occurs in `words` as consecutive whole words, where words may be
    joined or split ("good-bye", "good bye" and "goodbye" are one run): recognizers and
    speakers disagree on compounds."""
    target = "".join(run)
    for i in range(len(words)):
        joined = ""
        for word in words[i:]:
            joined += word
            if joined == target:
                return True
            if not target.startswith(joined):
                break
    return False


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")
_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))


def _spelled(n: int) -> list[str]:
    """A whole number's English words: 1205 -> one thousand two hundred five."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    for size, name in _SCALES:
        if n >= size:
            rest = _spelled(n % size) if n % size else []
            return _spelled(n // size) + [name] + rest
    raise AssertionError("unreachable")


def _utterance_starting_at(
    transcript: Sequence[Utterance], role: str, at: float
) -> Utterance | None:
    """The utterance of `role` that starts at `at` seconds (to the millisecond)."""
    return next((u for u in transcript if u.role == role and abs(u.start - at) < 0.0015), None)
